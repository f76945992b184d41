import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { closedPort } from '../aws/testing/records.js';
import { startDynalite, TEST_CREDENTIALS, type DynaliteServer } from '../dynamodb-client/testing/dynalite.js';
import { createDynamoDbReader, type DynamoDbReader } from './get-dynamodb.js';

let db: DynaliteServer;
let reader: DynamoDbReader;

beforeAll(async () => {
  db = await startDynalite();
  await db.createTable('InServiceDevices', { name: 'deviceId', type: 'S' });
  await db.createTable('Readings', { name: 'site', type: 'S' }, { name: 'seq', type: 'N' });
  await db.putItem('InServiceDevices', {
    deviceId: { S: 'd1' },
    location: { S: 'Oslo' },
    limits: { M: { max: { N: '80.5' }, enabled: { BOOL: true }, tags: { SS: ['a', 'b'] } } },
    history: { L: [{ N: '1' }, { NULL: true }, { B: Buffer.from('hi') }] },
  });
  await db.putItem('Readings', { site: { S: 'north' }, seq: { N: '7' }, value: { N: '-3' } });
  reader = createDynamoDbReader({ settings: db.settings });
});
afterAll(async () => {
  await reader?.close();
  await reader?.close();
  await db?.close();
});

describe('get_dynamodb', () => {
  test('returns the item as a plain object', async () => {
    expect(await reader.getDynamoDb('InServiceDevices', 'deviceId', 'd1', undefined, undefined, 'arn:aws:iam::1:role/r')).toEqual({
      deviceId: 'd1',
      location: 'Oslo',
      limits: { max: 80.5, enabled: true, tags: ['a', 'b'] },
      history: [1, null, Buffer.from('hi')],
    });
  });

  test('reads by partition and sort key', async () => {
    expect(await reader.getDynamoDb('Readings', 'site', 'north', 'seq', 7, 'role')).toEqual({ site: 'north', seq: 7, value: -3 });
  });

  test('an absent item is Undefined', async () => {
    expect(await reader.getDynamoDb('InServiceDevices', 'deviceId', 'nobody', undefined, undefined, 'role')).toBeUndefined();
    expect(await reader.getDynamoDb('Readings', 'site', 'north', 'seq', 8, 'role')).toBeUndefined();
  });

  test('a missing table or a key of the wrong type fails the evaluation, not retriable', async () => {
    await expect(reader.getDynamoDb('Nope', 'deviceId', 'd1', undefined, undefined, 'role')).rejects.toMatchObject({
      code: 'RULES_SQL_RUNTIME',
      retriable: false,
      message: expect.stringMatching(/ResourceNotFound/),
    });
    await expect(reader.getDynamoDb('InServiceDevices', 'deviceId', 42, undefined, undefined, 'role')).rejects.toMatchObject({ code: 'RULES_SQL_RUNTIME' });
    await expect(reader.getDynamoDb('InServiceDevices', 'deviceId', { a: 1 }, undefined, undefined, 'role')).rejects.toMatchObject({
      code: 'RULES_SQL_RUNTIME',
      message: expect.stringMatching(/deviceId must be/),
    });
  });

  test('an endpoint that is down rejects with a retriable SINK_UNAVAILABLE', async () => {
    const port = await closedPort();
    const down = createDynamoDbReader({ settings: { endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: TEST_CREDENTIALS } });
    await expect(down.getDynamoDb('InServiceDevices', 'deviceId', 'd1', undefined, undefined, 'role')).rejects.toMatchObject({
      code: 'SINK_UNAVAILABLE',
      retriable: true,
    });
    await down.close();
  });
});
