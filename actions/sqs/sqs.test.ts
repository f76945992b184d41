import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { sqsService } from '../../core/testing/aws-services.js';
import { problemsOf, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createSqsDefinition, type SqsConfig } from './sqs.js';

let server: AwsServiceServer;
const sqs = sqsService();
let telemetry: string;
let alerts: string;

beforeAll(async () => {
  server = await startAwsServices([sqs.spec]);
  telemetry = sqs.createQueue('telemetry', server.endpoint);
  alerts = sqs.createQueue('alerts', server.endpoint);
});
afterAll(async () => {
  await server?.close();
});

const settings = () => ({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, requestTimeoutMs: 5_000 });
const params = (queue_url: string, use_base64?: boolean): SqsConfig => ({ queue_url, ...(use_base64 !== undefined ? { use_base64 } : {}) });

describe('sqs', () => {
  test('a batch becomes SendMessageBatch requests of 10 per queue, signed and shaped as the SDK sends them', async () => {
    const def = createSqsDefinition({ settings: settings() });
    const sink = def.create(def.config.parse({ queue_url: '${queue}' }), testDeps());
    await sink.connect(signal());
    const records = Array.from({ length: 25 }, (_, i) => testRecord({ n: i }, params(i < 21 ? telemetry : alerts), i));
    await sink.writeBatch(records, signal());
    expect(sqs.queues.get(telemetry)!.map((b) => JSON.parse(b).n)).toEqual(Array.from({ length: 21 }, (_, i) => i));
    expect(sqs.queues.get(alerts)).toEqual(['{"n":21}', '{"n":22}', '{"n":23}', '{"n":24}']);
    const batches = server.calls.filter((c) => c.operation === 'SendMessageBatch').map((c) => c.input['Entries'].length);
    expect(batches.sort()).toEqual([1, 10, 10, 4].sort());
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('use_base64 sends the bytes base64-encoded; without it a binary body SQS refuses fails alone (InvalidMessageContents)', async () => {
    const def = createSqsDefinition({ settings: settings() });
    const sink = def.create(def.config.parse({ queue_url: alerts, use_base64: true }), testDeps());
    sqs.queues.set(alerts, []);
    await sink.writeBatch([testRecord(Buffer.from([0, 1, 2, 0xff]), params(alerts, true), 0), testRecord({ a: 1 }, params(alerts, true), 1)], signal());
    expect(sqs.queues.get(alerts)).toEqual(['AAEC/w==', Buffer.from('{"a":1}').toString('base64')]);

    const err = await sink.writeBatch([testRecord({ ok: 1 }, params(alerts), 0), testRecord(Buffer.from([0, 1]), params(alerts), 1)], signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    expect((err as SinkBatchError).failures).toEqual([{ index: 1, retriable: false, message: expect.stringMatching(/^sqs http.*\/alerts: InvalidMessageContents: Invalid characters/) }]);
    expect(sqs.queues.get(alerts)!.at(-1)).toBe('{"ok":1}');
    await sink.close();
  });

  test('a message over 1 MiB gets SQS\'s error; a queue that does not exist fails its records, non-retriable', async () => {
    const def = createSqsDefinition({ settings: settings() });
    const sink = def.create(def.config.parse({ queue_url: telemetry }), testDeps());
    sqs.queues.set(telemetry, []);
    const records = [
      testRecord({ n: 0 }, params(telemetry), 0),
      testRecord({ blob: 'x'.repeat(1024 * 1024) }, params(telemetry), 1),
      testRecord({ n: 2 }, params(telemetry), 2),
      testRecord({ n: 3 }, params(`${server.endpoint}/000000000000/nope`), 3),
    ];
    const err = await sink.writeBatch(records, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [3, false]]);
    expect(failures[0]!.message).toMatch(/InvalidParameterValue.*Message must be shorter than 1048576 bytes/);
    expect(failures[1]!.message).toMatch(/NonExistentQueue|QueueDoesNotExist|does not exist/);
    expect(sqs.queues.get(telemetry)).toEqual(['{"n":0}', '{"n":2}']);
    await sink.close();
  });

  test('wrong credentials are refused by the server\'s SigV4 check and fail the batch non-retriable', async () => {
    const def = createSqsDefinition({ settings: { ...settings(), credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: 'wrong' } } });
    const sink = def.create(def.config.parse({ queue_url: telemetry }), testDeps());
    const err = await sink.writeBatch([testRecord({ n: 1 }, params(telemetry), 0)], signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    expect((err as SinkBatchError).failures[0]).toMatchObject({ retriable: false, message: expect.stringMatching(/InvalidSignatureException/) });
    expect(server.refused.at(-1)).toMatch(/^InvalidSignatureException/);
    server.refused.length = 0;
    await sink.close();
  });

  test('the schema', () => {
    const def = createSqsDefinition();
    expect(problemsOf(def.config, { use_base64: true })).toEqual(['missing parameter queue_url']);
    expect(problemsOf(def.config, { queue_url: 'q', use_base64: 'yes' })).toEqual(['use_base64: expected boolean, received string']);
  });
});
