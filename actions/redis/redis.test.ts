/**
 * The redis action's commands against a throw-away Redis server, each read back with a plain
 * client: SET with a TTL, HSET and XADD from fields or the output's own, PUBLISH to a channel,
 * and a pipeline whose refused command fails only its record.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError, silentLogger } from '../../core/index.js';
import { startRedis, type RedisServer } from '../../core/testing/redis.js';
import { problemsOf, signal, testRecord } from '../aws/testing/records.js';
import { createRedisDefinition, type RedisConfig } from './index.js';

let server: RedisServer;
let client: Redis;
beforeAll(async () => {
  server = await startRedis();
  client = new Redis(server.url);
}, 60_000);
afterAll(async () => {
  await client?.quit();
  await server?.close();
});

const def = createRedisDefinition();
const record = (params: Record<string, unknown>, output: unknown, i = 0) => testRecord<RedisConfig>(output, def.config.parse({ url: server.url, ...params }), i);
/** Writes `records` through a sink built from the first record's parameters. */
async function write(...records: ReturnType<typeof record>[]): Promise<unknown> {
  const sink = def.create(records[0]!.params, { logger: silentLogger() });
  try {
    return await sink.writeBatch(records, signal()).then(() => undefined, (e: unknown) => e);
  } finally {
    await sink.close();
  }
}

describe('redis action', () => {
  test('SET writes the output as JSON (or value), with an expiry from ttl_seconds', async () => {
    const k = randomUUID();
    expect(await write(record({ command: 'set', key: `${k}:a`, ttl_seconds: '60' }, { t: 1 }), record({ command: 'SET', key: `${k}:b`, value: 'plain' }, {}, 1))).toBeUndefined();
    expect(JSON.parse((await client.get(`${k}:a`))!)).toEqual({ t: 1 });
    expect(await client.ttl(`${k}:a`)).toBeGreaterThan(50);
    expect(await client.get(`${k}:b`)).toBe('plain');
  });

  test('HSET and XADD take fields, or the output\'s top-level fields', async () => {
    const k = randomUUID();
    expect(await write(record({ command: 'HSET', key: `${k}:h` }, { temperature: 21.5, site: 'a', tags: ['x'] }), record({ command: 'HSET', key: `${k}:h2`, fields: { t: '7' } }, {}, 1))).toBeUndefined();
    expect(await client.hgetall(`${k}:h`)).toEqual({ temperature: '21.5', site: 'a', tags: '["x"]' });
    expect(await client.hgetall(`${k}:h2`)).toEqual({ t: '7' });
    expect(await write(record({ command: 'XADD', key: `${k}:s`, max_len: 1000 }, { n: 1 }), record({ command: 'XADD', key: `${k}:s`, fields: { n: '2' } }, {}, 1))).toBeUndefined();
    expect((await client.xrange(`${k}:s`, '-', '+')).map(([, fields]) => fields)).toEqual([['n', '1'], ['n', '2']]);
  });

  test('PUBLISH sends the output to the channel named by key', async () => {
    const channel = randomUUID();
    const subscriber = new Redis(server.url);
    const got = new Promise<string>((resolve) => subscriber.on('message', (_c: string, message: string) => resolve(message)));
    await subscriber.subscribe(channel);
    expect(await write(record({ command: 'PUBLISH', key: channel }, { alert: true }))).toBeUndefined();
    expect(JSON.parse(await got)).toEqual({ alert: true });
    await subscriber.quit();
  });

  test('a command Redis refuses fails only its record; one the sink cannot build too', async () => {
    const k = randomUUID();
    await client.set(`${k}:string`, 'x');
    const err = await write(
      record({ command: 'SET', key: `${k}:ok` }, { ok: 1 }, 0),
      record({ command: 'HSET', key: `${k}:string`, fields: { a: '1' } }, {}, 1),
      record({ command: 'SET', key: `${k}:ttl`, ttl_seconds: 'soon' }, {}, 2),
      record({ command: 'HSET', key: `${k}:scalar` }, 42, 3),
    );
    expect(err).toBeInstanceOf(SinkBatchError);
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [2, false], [3, false]]);
    expect(failures[0]!.message).toMatch(/WRONGTYPE/);
    expect(await client.get(`${k}:ok`)).toBe('{"ok":1}');
  });

  test('parameters that do not fit the command are refused', () => {
    const problems = (params: Record<string, unknown>) => problemsOf(def.config, params);
    expect(problems({ command: 'SET', key: 'k', fields: { a: 'b' } })).toEqual(['fields go with HSET and XADD, not SET (use value)']);
    expect(problems({ command: 'HSET', key: 'k', value: 'v', ttl_seconds: 5 })).toEqual(['value goes with SET and PUBLISH, not HSET (use fields)', 'ttl_seconds goes with SET, not HSET']);
    expect(problems({ command: 'DEL', key: 'k' })[0]).toMatch(/^command: /);
    expect(problems({ command: 'SET' })).toEqual(['missing parameter key']);
    expect(problems({ command: 'SET', key: 'k', url: 'redis://${topic()}' })[0]).toMatch(/cannot be a substitution template/);
  });
});
