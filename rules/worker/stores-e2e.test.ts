/**
 * End to end through the real rules worker on an EmbeddedLog: an envelope on `iot.ingress` ->
 * a rule -> the postgres, redis, influxdb and mqtt actions -> read back from throw-away
 * PostgreSQL, Redis and InfluxDB servers and a Mosquitto broker with their own clients. Also: a
 * message carrying SQL is stored as text, and an oversized row (PostgreSQL) or value (Redis)
 * reaches the rule's error action with the server's error while the others land.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { loadConfig, silentLogger, TOPICS, type Log } from '../../core/index.js';
import { startPostgres, type PostgresServer } from '../../core/testing/postgres.js';
import { startRedis, type RedisServer } from '../../core/testing/redis.js';
import { startMosquitto, type Mosquitto } from '../../core/testing/mosquitto.js';
import { startInfluxDb, type InfluxDbServer } from '../../core/testing/influxdb.js';
import { createRulesService, type RulesService } from './index.js';
import { closeTestLog, envelopesOf, openTestLog, publish, readN, waitFor } from './test-helpers.js';

let postgres: PostgresServer;
let redis: RedisServer;
let mosquitto: Mosquitto;
let influx: InfluxDbServer;
let sql: pg.Client;
let kv: Redis;

beforeAll(async () => {
  [postgres, redis, mosquitto, influx] = await Promise.all([startPostgres(), startRedis(), startMosquitto(), startInfluxDb()]);
  sql = new pg.Client({ connectionString: postgres.url });
  await sql.connect();
  kv = new Redis(redis.url);
  await sql.query('CREATE TABLE readings (device text PRIMARY KEY, temperature double precision, note text)');
}, 60_000);

afterAll(async () => {
  await sql?.end();
  await kv?.quit();
  await Promise.all([postgres?.close(), redis?.close(), mosquitto?.close(), influx?.close()]);
});

let dir: string;
let log: Log;
let cleanups: (() => Promise<void>)[];
beforeEach(async () => ({ dir, log, cleanups } = await openTestLog('kiot-rules-stores-')));
afterEach(() => closeTestLog({ dir, log, cleanups }));

async function start(rules: string): Promise<RulesService> {
  const rulesDir = join(dir, 'rules');
  await mkdir(rulesDir, { recursive: true });
  await writeFile(join(rulesDir, 'rules.sql'), rules);
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), rulesDir }, env: {} });
  // Retries enough for a reconnect (Redis ends the connection after a protocol error) to fit in the bound.
  const service = createRulesService(config.rules, { log, logger: silentLogger(), options: { groupId: 'kiot-rules', retry: { retries: 6, initialBackoffMs: 30, maxBackoffMs: 200 }, useTable: false } });
  cleanups.push(() => service.stop());
  await service.start();
  expect(service.list().rules.filter((r) => r.state !== 'enabled')).toEqual([]);
  return service;
}

const message = (device: string, body: Record<string, unknown>) => ({ topic: `plant/${device}/telemetry`, clientId: device, payload: Buffer.from(JSON.stringify(body)) });

describe('self-hosted stores end to end (rules worker on the embedded log)', () => {
  test('postgres and redis: each output becomes a row, a stream entry and a hash, from templates', async () => {
    const service = await start(`CREATE RULE store AS SELECT temperature, note FROM 'plant/+/telemetry'
DO postgres(url = '${postgres.url}', table = 'readings', columns = {device: '\${topic(2)}', temperature: '\${temperature}', note: '\${note}'},
            on_conflict = {columns: ['device'], update: ['temperature', 'note']}),
   redis(url = '${redis.url}', command = 'XADD', key = 'telemetry:\${topic(2)}', max_len = 100),
   redis(url = '${redis.url}', command = 'HSET', key = 'last:\${topic(2)}', fields = {temperature: '\${temperature}'});`);
    const hostile = `x'); DROP TABLE readings; --`;
    await publish(log, [message('boiler-1', { temperature: 81.5, note: 'hot' }), message('boiler-2', { temperature: 20, note: hostile }), message('boiler-1', { temperature: 82 })]);
    await waitFor(() => service.list().rules[0]!.counters.actionsOk === 9, 15_000, 'nine writes');
    const rows = (await sql.query('SELECT device, temperature, note FROM readings WHERE device LIKE $1 ORDER BY device', ['boiler-%'])).rows;
    // The second boiler-1 message has no note: Undefined renders empty and is stored as NULL.
    expect(rows).toEqual([
      { device: 'boiler-1', temperature: 82, note: null },
      { device: 'boiler-2', temperature: 20, note: hostile },
    ]);
    expect((await kv.xrange('telemetry:boiler-1', '-', '+')).map(([, f]) => JSON.parse(f[1]!))).toEqual([81.5, 82]);
    expect(await kv.xrange('telemetry:boiler-2', '-', '+')).toHaveLength(1);
    expect(await kv.hgetall('last:boiler-1')).toEqual({ temperature: '82' });
  });

  test('mqtt: each output is published to the external broker on its templated topic', async () => {
    const subscriber = await mqtt.connectAsync(mosquitto.url);
    cleanups.push(() => subscriber.endAsync());
    const got: [string, string][] = [];
    subscriber.on('message', (topic, payload) => got.push([topic, payload.toString()]));
    await subscriber.subscribeAsync('relayed/#', { qos: 1 });
    const service = await start(`CREATE RULE relay AS SELECT temperature FROM 'plant/+/telemetry'
DO mqtt(url = '${mosquitto.url}', topic = 'relayed/\${topic(2)}', qos = 1),
   mqtt(url = '${mosquitto.url}', topic = 'relayed/\${topic(2)}/raw', payload = '\${temperature}', qos = 0);`);
    await publish(log, [message('boiler-1', { temperature: 81.5 }), message('boiler-2', { temperature: 20 })]);
    await waitFor(() => service.list().rules[0]!.counters.actionsOk === 4, 15_000, 'four publishes');
    await waitFor(() => got.length === 4, 5_000, 'four messages at the subscriber');
    expect(got.sort()).toEqual([['relayed/boiler-1', '{"temperature":81.5}'], ['relayed/boiler-1/raw', '81.5'], ['relayed/boiler-2', '{"temperature":20}'], ['relayed/boiler-2/raw', '20']]);
  });

  test('an oversized row goes to the error action with PostgreSQL\'s error; the rest of the batch lands', async () => {
    const service = await start(`CREATE RULE big AS SELECT * FROM 'plant/+/telemetry'
DO postgres(url = '${postgres.url}', table = 'readings', columns = {device: '\${device}', temperature: '\${temperature}'})
ERROR DO republish(topic = 'errors/\${topic(2)}');`);
    const huge = randomBytes(20_000).toString('hex');
    await publish(log, [message('ok-1', { device: 'ok-1', temperature: 1 }), message('huge', { device: huge, temperature: 2 }), message('ok-2', { device: 'ok-2', temperature: 3 })]);
    const [errorEnvelope] = envelopesOf(await readN(log, TOPICS.egress, 1));
    expect(errorEnvelope!.topic).toBe('errors/huge');
    expect(JSON.parse(errorEnvelope!.payload.toString())).toMatchObject({
      ruleName: 'big',
      failures: [{ failedAction: 'PostgresAction', failedResource: 'readings', errorMessage: expect.stringMatching(/index row|exceeds|maximum/i) }],
    });
    await waitFor(() => service.list().rules[0]!.counters.actionsOk === 2, 15_000, 'two rows');
    expect((await sql.query('SELECT device FROM readings WHERE device LIKE $1 ORDER BY device', ['ok-%'])).rows).toEqual([{ device: 'ok-1' }, { device: 'ok-2' }]);
  });

  test('influxdb: each output is a point, measurement, tags and typed fields from templates', async () => {
    await influx.query('CREATE DATABASE plant');
    const service = await start(`CREATE RULE points AS SELECT temperature, state FROM 'plant/+/telemetry'
DO influxdb(url = '${influx.url}', database = 'plant', username = '${influx.user}', password = '${influx.password}',
            measurement = 'climate', tags = {device: '\${topic(2)}'},
            fields = {temperature: '\${temperature}', state: '"\${state}"', seq: '\${seq}i'}, timestamp = '\${at}');`);
    await publish(log, [message('boiler-1', { temperature: 81.5, state: 'hot', seq: 1, at: 1_700_000_000_001 }), message('boiler-2', { temperature: 20, state: '1', seq: 2, at: 1_700_000_000_002 })]);
    await waitFor(() => service.list().rules[0]!.counters.actionsOk === 2, 15_000, 'two points');
    const [result] = await influx.query('SELECT temperature, state, seq FROM climate GROUP BY device', 'plant');
    expect(result!.series!.map((s) => [s.tags!['device'], s.values[0]])).toEqual([
      ['boiler-1', [1_700_000_000_001_000_000, 81.5, 'hot', 1]],
      ['boiler-2', [1_700_000_000_002_000_000, 20, '1', 2]],
    ]);
  });

  test('an oversized Redis value (over proto-max-bulk-len) goes to the error action with Redis\'s error; the others land', async () => {
    // Redis's smallest allowed bulk limit: a value over it is a protocol error that also ends the connection.
    await kv.config('SET', 'proto-max-bulk-len', '1mb');
    try {
      const service = await start(`CREATE RULE big AS SELECT * FROM 'plant/+/telemetry'
DO redis(url = '${redis.url}', command = 'SET', key = 'big:\${topic(2)}')
ERROR DO republish(topic = 'errors/\${topic(2)}');`);
      const huge = 'x'.repeat(2 * 1024 * 1024);
      await publish(log, [message('small-1', { n: 1 }), message('huge', { blob: huge }), message('small-2', { n: 2 })]);
      const [errorEnvelope] = envelopesOf(await readN(log, TOPICS.egress, 1));
      expect(errorEnvelope!.topic).toBe('errors/huge');
      expect(JSON.parse(errorEnvelope!.payload.toString())).toMatchObject({
        ruleName: 'big',
        failures: [{ failedAction: 'RedisAction', failedResource: 'big:huge', errorMessage: expect.stringMatching(/Protocol error: invalid bulk length/) }],
      });
      await waitFor(() => service.list().rules[0]!.counters.actionsOk === 2, 15_000, 'two values');
      expect(await kv.mget('big:small-1', 'big:small-2', 'big:huge')).toEqual(['{"n":1}', '{"n":2}', null]);
    } finally {
      await kv.config('SET', 'proto-max-bulk-len', '512mb');
    }
  });
});
