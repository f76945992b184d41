/**
 * End to end through the real rules worker on an EmbeddedLog: an envelope on `iot.ingress` ->
 * a rule -> each AWS-API sink (dynamodbv2, dynamodb, s3, elasticsearch) -> read back from the
 * target with its own client. Endpoints come from kiot's Config, credentials from the AWS SDK's
 * chain (environment variables here), as in production.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { loadConfig, silentLogger, TOPICS, type Log, type LogRecord } from '../../core/index.js';
import { startDynalite, type DynaliteServer } from '../../actions/dynamodb-client/testing/dynalite.js';
import { startS3rver, type S3rverServer } from '../../actions/s3/testing/s3rver.js';
import { createRulesService, type RulesService } from './index.js';
import { closeTestLog, envelopesOf, openTestLog, publish, readN, waitFor } from './test-helpers.js';
import { serveLoopback } from '../../core/testing/http-server.js';

type Doc = Record<string, unknown>;

/**
 * A loopback server speaking just enough of Elasticsearch for the client: the product header
 * the client checks on every answer, `GET /` and `_bulk` with a per-item result for each action.
 */
async function fakeElasticsearch(): Promise<{ url: string; docs: { index: string; id: string; doc: Doc }[]; close(): Promise<void> }> {
  const docs: { index: string; id: string; doc: Doc }[] = [];
  const read = async (req: IncomingMessage): Promise<string> => {
    let text = '';
    for await (const chunk of req) text += chunk;
    return text;
  };
  const server = createServer(async (req, res) => {
    const body = await read(req);
    const headers = { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' };
    if (req.url?.startsWith('/_bulk')) {
      const lines = body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Doc);
      const items = [];
      for (let i = 0; i < lines.length; i += 2) {
        const { _index, _id } = (lines[i] as { index: { _index: string; _id: string } }).index;
        docs.push({ index: _index, id: _id, doc: lines[i + 1]! });
        items.push({ index: { _index, _id, status: 201, result: 'created' } });
      }
      res.writeHead(200, headers).end(JSON.stringify({ took: 1, errors: false, items }));
    } else {
      res.writeHead(200, headers).end(JSON.stringify({ name: 'fake', cluster_name: 'kiot-test', version: { number: '8.13.0' }, tagline: 'You Know, for Search' }));
    }
  });
  return { ...(await serveLoopback(server)), docs };
}

let db: DynaliteServer;
let s3: S3rverServer;
let es: Awaited<ReturnType<typeof fakeElasticsearch>>;

beforeAll(async () => {
  [db, s3, es] = await Promise.all([startDynalite(), startS3rver(['telemetry']), fakeElasticsearch()]);
  // No credentials in kiot's Config: the SDK's chain reads them from the environment, as in
  // production. s3rver checks signatures against its own fixed key pair; dynalite accepts any.
  vi.stubEnv('AWS_ACCESS_KEY_ID', s3.settings.credentials!.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.settings.credentials!.secretAccessKey);
  await db.createTable('readings', { name: 'deviceId', type: 'S' }, { name: 'ts', type: 'N' });
  await db.createTable('events', { name: 'device', type: 'S' }, { name: 'seq', type: 'N' });
});

afterAll(async () => {
  await Promise.all([db?.close(), s3?.close(), es?.close()]);
  vi.unstubAllEnvs();
});

let dir: string;
let log: Log;
let cleanups: (() => Promise<void>)[];

beforeEach(async () => ({ dir, log, cleanups } = await openTestLog('kiot-rules-aws-')));
afterEach(() => closeTestLog({ dir, log, cleanups }));

const FAST_RETRY = { retries: 2, initialBackoffMs: 30, maxBackoffMs: 100 };
const GROUP = 'kiot-rules';

async function start(rules: string): Promise<RulesService> {
  const rulesDir = join(dir, 'rules');
  await mkdir(rulesDir, { recursive: true });
  await writeFile(join(rulesDir, 'rules.sql'), rules);
  const config = loadConfig({
    flags: {
      dataDir: join(dir, 'data'),
      rulesDir,
      awsRegion: 'us-east-1',
      dynamodbEndpoint: db.endpoint,
      s3Endpoint: s3.settings.endpoint!,
      s3ForcePathStyle: 'true',
      elasticsearchEndpoint: es.url,
    },
    env: {},
  });
  const service = createRulesService(config.rules, { log, logger: silentLogger(), options: { groupId: GROUP, retry: FAST_RETRY, useTable: false } });
  cleanups.push(() => service.stop());
  await service.start();
  expect(service.list().rules.filter((r) => r.state !== 'enabled')).toEqual([]);
  return service;
}

describe('AWS sinks end to end (rules worker on the embedded log)', () => {
  test('dynamodbv2: each output becomes one item, read back with the DynamoDB SDK', async () => {
    const service = await start(`CREATE RULE v2 AS SELECT topic(2) AS deviceId, ts, temperature, tags FROM 'd2/+' WHERE temperature > 0 DO dynamodbv2(put_item = {table_name: 'readings'});`);
    await publish(log, [
      { topic: 'd2/dev-a', clientId: 'a', payload: Buffer.from('{"ts": 1, "temperature": 21.5, "tags": ["x", "y"]}') },
      { topic: 'd2/dev-b', clientId: 'b', payload: Buffer.from('{"ts": 2, "temperature": -3, "tags": []}') },
      { topic: 'd2/dev-b', clientId: 'b', payload: Buffer.from('{"ts": 3, "temperature": 19, "tags": []}') },
    ]);
    await waitFor(() => service.list().rules[0]!.counters.actionsOk === 2, 15_000, 'two items written');
    const got = await db.client.send(new GetItemCommand({ TableName: 'readings', Key: { deviceId: { S: 'dev-a' }, ts: { N: '1' } }, ConsistentRead: true }));
    expect(got.Item).toEqual({ deviceId: { S: 'dev-a' }, ts: { N: '1' }, temperature: { N: '21.5' }, tags: { L: [{ S: 'x' }, { S: 'y' }] } });
    // The WHERE clause kept ts 2 out; ts 3 went in.
    const items = (await db.scan('readings')).filter((i) => i['deviceId']?.S?.startsWith('dev-'));
    expect(items.map((i) => `${i['deviceId']!.S}/${i['ts']!.N}`).sort()).toEqual(['dev-a/1', 'dev-b/3']);
  });

  test('dynamodb: hash and range keys from templates, the output in the payload field', async () => {
    const service = await start(
      `CREATE RULE v1 AS SELECT temperature, status FROM 'd1/+/events' DO dynamodb(table_name = 'events', hash_key_field = 'device', hash_key_value = '\${topic(2)}', hash_key_type = 'STRING', range_key_field = 'seq', range_key_value = '\${seq}', range_key_type = 'NUMBER', payload_field = 'data');`,
    );
    await publish(log, [{ topic: 'd1/pump-7/events', clientId: 'pump-7', payload: Buffer.from('{"seq": 42, "temperature": 80, "status": "hot"}') }]);
    await waitFor(() => service.list().rules[0]!.counters.actionsOk === 1, 15_000, 'the item');
    const got = await db.client.send(new GetItemCommand({ TableName: 'events', Key: { device: { S: 'pump-7' }, seq: { N: '42' } }, ConsistentRead: true }));
    expect(got.Item).toEqual({ device: { S: 'pump-7' }, seq: { N: '42' }, data: { M: { temperature: { N: '80' }, status: { S: 'hot' } } } });
  });

  test('s3: the key comes from a substitution template; GetObject returns the output', async () => {
    const service = await start(`CREATE RULE arch AS SELECT * FROM 's3/+/data' DO s3(bucket_name = 'telemetry', key = '\${topic(2)}/\${clientid()}-\${n}.json');`);
    await publish(log, [
      { topic: 's3/line-1/data', clientId: 'cam', payload: Buffer.from('{"n": 1, "v": "first"}') },
      { topic: 's3/line-2/data', clientId: 'cam', payload: Buffer.from('{"n": 2, "v": "second"}') },
    ]);
    await waitFor(() => service.list().rules[0]!.counters.actionsOk === 2, 15_000, 'two objects');
    expect(await s3.listKeys('telemetry')).toEqual(['line-1/cam-1.json', 'line-2/cam-2.json']);
    const object = await s3.getObject('telemetry', 'line-2/cam-2.json');
    expect(JSON.parse(object.body.toString())).toEqual({ n: 2, v: 'second' });
  });

  test('elasticsearch: documents reach the configured endpoint through _bulk with rendered index and id', async () => {
    const service = await start(
      // The rule's endpoint is a placeholder: kiot's elasticsearchEndpoint setting replaces it.
      `CREATE RULE search AS SELECT temperature, topic() AS source FROM 'es/+' DO elasticsearch(endpoint = 'http://search.invalid:9200', index = 'telemetry-\${topic(2)}', id = '\${clientid()}-\${seq}', type = '_doc');`,
    );
    await publish(log, [
      { topic: 'es/kiln', clientId: 'k1', payload: Buffer.from('{"seq": 1, "temperature": 900}') },
      { topic: 'es/oven', clientId: 'o1', payload: Buffer.from('{"seq": 2, "temperature": 180}') },
    ]);
    await waitFor(() => service.list().rules[0]!.counters.actionsOk === 2, 15_000, 'two documents');
    expect([...es.docs].sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { index: 'telemetry-kiln', id: 'k1-1', doc: { temperature: 900, source: 'es/kiln' } },
      { index: 'telemetry-oven', id: 'o1-2', doc: { temperature: 180, source: 'es/oven' } },
    ]);
  });
});

describe('faults', () => {
  test('a DynamoDB table that does not exist: the error action gets AWS\'s error message and the offset is committed', async () => {
    const service = await start(
      `CREATE RULE lost AS SELECT * FROM 'nt/+' DO dynamodbv2(table_name = 'no-such-table') ERROR DO republish(topic = 'errors/\${topic(2)}');`,
    );
    const payload = Buffer.from('{"deviceId": "x", "ts": 5}');
    await publish(log, [{ topic: 'nt/dev9', clientId: 'dev9', payload }]);
    const [errorEnvelope] = envelopesOf(await readN(log, TOPICS.egress, 1));
    expect(errorEnvelope!.topic).toBe('errors/dev9');
    const error = JSON.parse(errorEnvelope!.payload.toString());
    expect(error).toMatchObject({
      ruleName: 'lost',
      topic: 'nt/dev9',
      clientId: 'dev9',
      base64OriginalPayload: payload.toString('base64'),
      failures: [{ failedAction: 'DynamoDBv2Action', failedResource: 'no-such-table', errorMessage: expect.stringMatching(/ResourceNotFound|not found|non-existent/i) }],
    });
    expect(service.list().rules[0]!.counters).toMatchObject({ matched: 1, actionsOk: 0, actionsFailed: 1, errorActions: 1, deadLetters: 0 });
    await waitFor(() => service.list().worker.inFlight === 0, 10_000, 'nothing in flight');
    await service.stop();

    // The group's committed offset is past the failed message: a new member of the group,
    // reading from its committed position, gets only a marker appended afterwards (same key,
    // so same partition and after it in order).
    const [marker] = await publish(log, [{ topic: 'marker', clientId: 'dev9', payload: Buffer.from('{}') }]);
    const seen: LogRecord[] = [];
    const consumer = log.consumer({
      groupId: GROUP,
      topics: [TOPICS.ingress],
      startFrom: 'earliest',
      eachBatch: async (batch) => {
        seen.push(...batch.records);
      },
    });
    await consumer.start();
    try {
      await waitFor(() => envelopesOf(seen).some((e) => e.messageId === marker!.messageId), 10_000, 'the marker');
    } finally {
      await consumer.stop();
    }
    expect(envelopesOf(seen).map((e) => e.topic)).toEqual(['marker']);
  });
});
