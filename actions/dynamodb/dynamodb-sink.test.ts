import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { signal, testDeps, testRecord } from '../aws/testing/records.js';
import { startDynalite, type DynaliteServer } from '../dynamodb-client/testing/dynalite.js';
import { createDynamoDbDefinition } from './dynamodb-sink.js';

let db: DynaliteServer;

beforeAll(async () => {
  db = await startDynalite();
  await db.createTable('telemetry', { name: 'device', type: 'S' }, { name: 'ts', type: 'N' });
  await db.createTable('latest', { name: 'device', type: 'S' });
});
afterAll(async () => {
  await db?.close();
});

// What the rule file says; the runtime renders the templates per message into record.params.
const RULE_PARAMS = {
  table_name: 'telemetry',
  hash_key_field: 'device',
  hash_key_value: '${topic(2)}',
  range_key_field: 'ts',
  range_key_value: '${timestamp()}',
  range_key_type: 'NUMBER',
};

describe('dynamodb', () => {
  test('60 messages become 60 items with keys from the rendered templates and the output in "payload"', async () => {
    const def = createDynamoDbDefinition({ settings: db.settings });
    const sink = def.create(def.config.parse(RULE_PARAMS), testDeps());
    await sink.connect(signal());
    const records = Array.from({ length: 60 }, (_, i) =>
      testRecord({ temperature: i, site: 'oslo' }, { ...RULE_PARAMS, hash_key_value: `dev-${i % 5}`, range_key_value: String(5000 + i) }, i),
    );
    await sink.writeBatch(records, signal());
    expect(await db.scan('telemetry')).toHaveLength(60);
    expect(await db.getItem('telemetry', { device: { S: 'dev-2' }, ts: { N: '5007' } })).toEqual({
      device: { S: 'dev-2' },
      ts: { N: '5007' },
      payload: { M: { temperature: { N: '7' }, site: { S: 'oslo' } } },
    });
    await sink.close();
  });

  test('payload_field names the column; a non-JSON payload is stored as Binary', async () => {
    const def = createDynamoDbDefinition({ settings: db.settings });
    const params = { table_name: 'latest', hash_key_field: 'device', hash_key_value: 'bin-1', payload_field: 'data' };
    const sink = def.create(def.config.parse(params), testDeps());
    await sink.writeBatch([testRecord(Buffer.from([0, 1, 2, 255]), params)], signal());
    const item = await db.getItem('latest', { device: { S: 'bin-1' } });
    expect(Buffer.from(item?.['data']?.B ?? [])).toEqual(Buffer.from([0, 1, 2, 255]));
    await sink.close();
  });

  test('two writes to one key in a batch both succeed, the later one last; UPDATE keeps other columns; DELETE removes', async () => {
    const def = createDynamoDbDefinition({ settings: db.settings });
    const base = { table_name: 'latest', hash_key_field: 'device', hash_key_value: 'same' };
    const sink = def.create(def.config.parse({ ...base, operation: '${op}' }), testDeps());
    await sink.writeBatch(
      [testRecord({ v: 1 }, { ...base, operation: 'INSERT' }, 0), testRecord({ v: 2 }, { ...base, operation: 'INSERT' }, 1)],
      signal(),
    );
    expect((await db.getItem('latest', { device: { S: 'same' } }))?.['payload']).toEqual({ M: { v: { N: '2' } } });

    await sink.writeBatch([testRecord({ v: 3 }, { ...base, operation: 'UPDATE', payload_field: 'other' }, 0)], signal());
    expect(await db.getItem('latest', { device: { S: 'same' } })).toEqual({
      device: { S: 'same' },
      payload: { M: { v: { N: '2' } } },
      other: { M: { v: { N: '3' } } },
    });

    await sink.writeBatch([testRecord({}, { ...base, operation: 'delete' }, 0)], signal());
    expect(await db.getItem('latest', { device: { S: 'same' } })).toBeUndefined();
    await sink.close();
  });

  test('records whose keys cannot be built fail alone, non-retriable; the others are written', async () => {
    const def = createDynamoDbDefinition({ settings: db.settings });
    const sink = def.create(def.config.parse(RULE_PARAMS), testDeps());
    const records = [
      testRecord({ n: 0 }, { ...RULE_PARAMS, hash_key_value: 'k-ok', range_key_value: '1' }, 0),
      testRecord({ n: 1 }, { ...RULE_PARAMS, hash_key_value: 'k-bad', range_key_value: 'not-a-number' }, 1),
      testRecord({ n: 2 }, { ...RULE_PARAMS, hash_key_value: '', range_key_value: '2' }, 2),
      testRecord({ n: 3 }, { ...RULE_PARAMS, hash_key_value: 'k-ok', range_key_value: '3', operation: 'UPSERT' }, 3),
      testRecord({ n: 4 }, { ...RULE_PARAMS, hash_key_value: 'k-ok', range_key_value: '4' }, 4),
    ];
    const err = await sink.writeBatch(records, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([1, 2, 3]);
    expect(failures.every((f) => !f.retriable)).toBe(true);
    expect(failures[0]!.message).toMatch(/NUMBER/);
    const ok = (await db.scan('telemetry')).filter((i) => i['device']?.S === 'k-ok').map((i) => i['ts']?.N);
    expect(ok.sort()).toEqual(['1', '4']);
    await sink.close();
  });

  test('a table that does not exist fails every record of the batch, non-retriable', async () => {
    const def = createDynamoDbDefinition({ settings: db.settings });
    const params = { ...RULE_PARAMS, table_name: 'missing' };
    const sink = def.create(def.config.parse(params), testDeps());
    const records = Array.from({ length: 30 }, (_, i) => testRecord({ i }, { ...params, hash_key_value: 'd', range_key_value: String(i) }, i));
    const err = await sink.writeBatch(records, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    expect((err as SinkBatchError).failures.map((f) => f.index)).toEqual(records.map((_, i) => i));
    expect((err as SinkBatchError).failures.every((f) => !f.retriable && /ResourceNotFound/.test(f.message))).toBe(true);
    await sink.close();
  });

  test('the config schema takes AWS fields in snake_case and rejects a half range key', () => {
    const def = createDynamoDbDefinition();
    expect(() => def.config.parse({ table_name: 't', hash_key_field: 'h' })).toThrow();
    expect(() => def.config.parse({ table_name: 't', hash_key_field: 'h', hash_key_value: 'v', range_key_field: 'r' })).toThrow(/range_key/);
    expect(def.config.parse({ ...RULE_PARAMS, role_arn: 'arn:aws:iam::1:role/x', payload_field: 'p' })).toMatchObject({ payload_field: 'p' });
  });
});
