import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PlatformError, silentLogger, SinkBatchError } from '../../core/index.js';
import { ActionRunner, type RecordOutcome } from '../runtime/index.js';
import { blackHole, closedPort, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createDynamoDbApi, type DynamoDbApi, type WriteRequest } from '../dynamodb-client/index.js';
import { startDynalite, TEST_CREDENTIALS, type DynaliteServer } from '../dynamodb-client/testing/dynalite.js';
import { createDynamoDbV2Definition } from './dynamodbv2-sink.js';

let db: DynaliteServer;

beforeAll(async () => {
  db = await startDynalite();
  await db.createTable('readings', { name: 'deviceId', type: 'S' }, { name: 'ts', type: 'N' });
});
afterAll(async () => {
  await db?.close();
});

const READINGS = { table_name: 'readings' };
const reading = (i: number) => ({ deviceId: `dev-${i % 7}`, ts: 1000 + i, temperature: 20 + i / 10, tags: ['a', `t${i}`], meta: { ok: i % 2 === 0, note: null } });

describe('dynamodbv2', () => {
  test('a batch of 60 outputs becomes 60 items, one column per field', async () => {
    const def = createDynamoDbV2Definition({ settings: db.settings });
    const sink = def.create(def.config.parse({ table_name: 'readings' }), testDeps());
    await sink.connect(signal());
    const records = Array.from({ length: 60 }, (_, i) => testRecord(reading(i), { table_name: 'readings' }, i));
    // The runtime hands at most maxBatchSize; the sink must also cope with more (it splits by 25).
    await sink.writeBatch(records, signal());
    const items = await db.scan('readings');
    expect(items).toHaveLength(60);
    const item = await db.getItem('readings', { deviceId: { S: 'dev-3' }, ts: { N: '1010' } });
    expect(item).toEqual({
      deviceId: { S: 'dev-3' },
      ts: { N: '1010' },
      temperature: { N: '21' },
      tags: { L: [{ S: 'a' }, { S: 't10' }] },
      meta: { M: { ok: { BOOL: true }, note: { NULL: true } } },
    });
    expect(def.maxBatchSize).toBe(25);
    await sink.close();
    await sink.close();
  });

  test('the nested put_item.table_name form parses to the same config', () => {
    const def = createDynamoDbV2Definition();
    expect(def.config.parse({ put_item: { table_name: 't' }, role_arn: 'arn:aws:iam::1:role/r' })).toEqual({ table_name: 't', role_arn: 'arn:aws:iam::1:role/r' });
    expect(() => def.config.parse({})).toThrow();
    expect(() => def.config.parse({ table_name: 't', bucket: 'x' })).toThrow();
  });

  test('a table that does not exist fails every record, non-retriable', async () => {
    const def = createDynamoDbV2Definition({ settings: db.settings });
    const sink = def.create({ table_name: 'nope' }, testDeps());
    const records = Array.from({ length: 3 }, (_, i) => testRecord(reading(i), { table_name: 'nope' }, i));
    const err = await sink.writeBatch(records, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([0, 1, 2]);
    expect(failures.every((f) => !f.retriable && /ResourceNotFound/.test(f.message))).toBe(true);
    expect((err as SinkBatchError).retriable).toBe(false);
    await sink.close();
  });

  test('only the records DynamoDB rejects fail: a missing key, an item over 400 KB, a non-object output', async () => {
    const def = createDynamoDbV2Definition({ settings: db.settings });
    const sink = def.create({ table_name: 'readings' }, testDeps());
    const records = [
      testRecord({ deviceId: 'bad-1', ts: 1 }, READINGS, 0),
      testRecord({ deviceId: 'bad-1', temperature: 3 }, READINGS, 1), // no sort key
      testRecord({ deviceId: 'bad-1', ts: 2, blob: 'x'.repeat(410 * 1024) }, READINGS, 2), // over DynamoDB's item limit
      testRecord('just a string', READINGS, 3),
      testRecord({ deviceId: 'bad-1', ts: 4 }, READINGS, 4),
    ];
    const err = await sink.writeBatch(records, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([1, 2, 3]);
    expect(failures.every((f) => !f.retriable)).toBe(true);
    const written = (await db.scan('readings')).filter((i) => i['deviceId']?.S === 'bad-1').map((i) => i['ts']?.N);
    expect(written.sort()).toEqual(['1', '4']);
    await sink.close();
  });

  test('UnprocessedItems fail retriable; the runtime retries exactly those until DynamoDB takes them', async () => {
    let calls = 0;
    const withhold = (real: DynamoDbApi): DynamoDbApi => ({
      ...real,
      // The first two calls write only half the requests and return the rest unprocessed.
      async batchWrite(items, s) {
        calls++;
        if (calls > 2) return real.batchWrite(items, s);
        const [table, requests] = Object.entries(items)[0]!;
        const half = Math.ceil(requests.length / 2);
        await real.batchWrite({ [table]: requests.slice(0, half) }, s);
        return { [table]: requests.slice(half) };
      },
    });
    const def = createDynamoDbV2Definition({ settings: db.settings, api: (s) => withhold(createDynamoDbApi(s)) });
    const sink = def.create({ table_name: 'readings' }, testDeps());
    const runner = new ActionRunner({ sink, name: 'unprocessed', retry: { retries: 3, initialBackoffMs: 1, maxBackoffMs: 5 }, logger: silentLogger() });
    const records = Array.from({ length: 10 }, (_, i) => testRecord({ deviceId: 'unproc', ts: i }, READINGS, i));
    const outcomes = await Promise.all(records.map((r) => new Promise<RecordOutcome>((resolve) => runner.submit(r, resolve))));
    expect(outcomes).toEqual(records.map(() => undefined));
    expect(calls).toBe(3);
    expect((await db.scan('readings')).filter((i) => i['deviceId']?.S === 'unproc')).toHaveLength(10);
    await runner.close();
  });

  test('items that stay unprocessed fail as retriable, exactly those records', async () => {
    const stuck = (real: DynamoDbApi): DynamoDbApi => ({
      ...real,
      // Records with an odd ts are never processed (a hot partition, say).
      async batchWrite(items, s) {
        const [table, requests] = Object.entries(items)[0]!;
        const odd = (r: WriteRequest) => Number(r.PutRequest?.Item?.['ts']?.N) % 2 === 1;
        const go = requests.filter((r) => !odd(r));
        if (go.length > 0) await real.batchWrite({ [table]: go }, s);
        return { [table]: requests.filter(odd) };
      },
    });
    const def = createDynamoDbV2Definition({ settings: db.settings, api: (s) => stuck(createDynamoDbApi(s)) });
    const sink = def.create({ table_name: 'readings' }, testDeps());
    const records = Array.from({ length: 6 }, (_, i) => testRecord({ deviceId: 'stuck', ts: i }, READINGS, i));
    const err = await sink.writeBatch(records, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    expect((err as SinkBatchError).failures.map((f) => f.index)).toEqual([1, 3, 5]);
    expect((err as SinkBatchError).failures.every((f) => f.retriable && /unprocessed/i.test(f.message))).toBe(true);
    expect((err as SinkBatchError).retriable).toBe(true);
    const written = (await db.scan('readings')).filter((i) => i['deviceId']?.S === 'stuck').map((i) => Number(i['ts']?.N));
    expect(written.sort()).toEqual([0, 2, 4]);
    await sink.close();
  });

  test('a DynamoDB endpoint that is down rejects the batch with a retriable SINK_UNAVAILABLE', async () => {
    const port = await closedPort();
    const def = createDynamoDbV2Definition({ settings: { endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: TEST_CREDENTIALS } });
    const sink = def.create({ table_name: 'readings' }, testDeps());
    const connectErr = await sink.connect(signal()).catch((e: unknown) => e);
    expect(connectErr).toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
    const err = await sink.writeBatch([testRecord({ deviceId: 'x', ts: 1 }, READINGS)], signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformError);
    expect(err).not.toBeInstanceOf(SinkBatchError);
    expect(err).toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
    await sink.close();
  });

  test('a DynamoDB endpoint that never answers times out instead of hanging', async () => {
    const hole = await blackHole();
    try {
      const def = createDynamoDbV2Definition({
        settings: { endpoint: `http://127.0.0.1:${hole.port}`, region: 'us-east-1', credentials: TEST_CREDENTIALS, requestTimeoutMs: 300, maxAttempts: 1 },
      });
      const sink = def.create({ table_name: 'readings' }, testDeps());
      const started = Date.now();
      const err = await sink.writeBatch([testRecord({ deviceId: 'x', ts: 1 }, READINGS)], signal()).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
      expect(Date.now() - started).toBeLessThan(10_000);
      await sink.close();
    } finally {
      await hole.close();
    }
  });
});
