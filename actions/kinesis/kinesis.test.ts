import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { silentLogger, SinkBatchError } from '../../core/index.js';
import { problemsOf, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { ActionRunner, type RecordOutcome } from '../runtime/index.js';
import { createKinesisDefinition, type KinesisConfig } from './kinesis.js';
import { startKinesalite, type KinesaliteServer } from './testing/kinesalite.js';

let kinesis: KinesaliteServer;

beforeAll(async () => {
  kinesis = await startKinesalite();
  await Promise.all([kinesis.createStream('telemetry', 3), kinesis.createStream('other', 1), kinesis.createStream('partial', 1)]);
});
afterAll(async () => {
  await kinesis?.close();
});

const params = (stream_name: string, partition_key?: string): KinesisConfig => ({ stream_name, ...(partition_key !== undefined ? { partition_key } : {}) });

describe('kinesis', () => {
  test('a batch becomes one PutRecords per stream; data is the output as JSON, keyed by the rendered partition key', async () => {
    const def = createKinesisDefinition({ settings: kinesis.settings });
    const sink = def.create(def.config.parse({ stream_name: '${topic(1)}', partition_key: '${clientid()}' }), testDeps());
    await sink.connect(signal());
    const records = Array.from({ length: 30 }, (_, i) => testRecord({ n: i, site: 'oslo' }, params(i % 3 === 0 ? 'other' : 'telemetry', `dev-${i % 5}`), i));
    await sink.writeBatch(records, signal());
    const telemetry = await kinesis.records('telemetry');
    const other = await kinesis.records('other');
    expect(telemetry).toHaveLength(20);
    expect(other).toHaveLength(10);
    expect(other.map((r) => JSON.parse(r.data).n)).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
    expect(other[1]).toEqual({ data: JSON.stringify({ n: 3, site: 'oslo' }), partitionKey: 'dev-3' });
    await sink.close();
    await sink.close();
  });

  test('without partition_key, the message id is the key; a Binary output is written as its bytes', async () => {
    const def = createKinesisDefinition({ settings: kinesis.settings });
    const sink = def.create(def.config.parse({ stream_name: 'other' }), testDeps());
    const before = (await kinesis.records('other')).length;
    await sink.writeBatch([testRecord(Buffer.from('raw bytes'), params('other'), 77)], signal());
    const after = await kinesis.records('other');
    expect(after.slice(before)).toEqual([{ data: 'raw bytes', partitionKey: 'm77' }]);
    await sink.close();
  });

  test('a record over 1 MiB and a missing stream fail alone with Kinesis\'s error; the rest is written', async () => {
    const def = createKinesisDefinition({ settings: kinesis.settings });
    const sink = def.create(def.config.parse({ stream_name: 'partial' }), testDeps());
    const records = [
      testRecord({ n: 0 }, params('partial', 'k'), 0),
      testRecord({ blob: 'x'.repeat(1024 * 1024 + 10) }, params('partial', 'k'), 1),
      testRecord({ n: 2 }, params('partial', 'k'), 2),
      testRecord({ n: 3 }, params('no-such-stream', 'k'), 3),
      testRecord({ n: 4 }, params('partial', ''), 4),
    ];
    const err = await sink.writeBatch(records, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [3, false], [4, false]]);
    expect(failures[0]!.message).toMatch(/^kinesis partial: ValidationException: .*1048576/);
    expect(failures[1]!.message).toMatch(/^kinesis no-such-stream: ResourceNotFoundException/);
    expect(failures[2]!.message).toBe('kinesis partial: partition_key rendered empty');
    expect((await kinesis.records('partial')).map((r) => JSON.parse(r.data).n)).toEqual([0, 2]);
    await sink.close();
  });

  test('records PutRecords answers with a per-record error are the only ones retried', async () => {
    // Kinesis refuses some records of a PutRecords it otherwise takes (a hot shard): the first answer
    // for every odd record is ProvisionedThroughputExceededException, as the real service words it.
    let calls = 0;
    const sent: number[][] = [];
    const { createServer } = await import('node:http');
    const proxy = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      const upstream = await fetch(kinesis.endpoint, { method: 'POST', headers: req.headers as Record<string, string>, body });
      const text = await upstream.text();
      if (req.headers['x-amz-target'] !== 'Kinesis_20131202.PutRecords' || calls++ > 0) {
        sent.push(JSON.parse(body).Records.map((r: { Data: string }) => JSON.parse(Buffer.from(r.Data, 'base64').toString()).n));
        return void res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? '' }).end(text);
      }
      const records = JSON.parse(body).Records as { Data: string }[];
      sent.push(records.map((r) => JSON.parse(Buffer.from(r.Data, 'base64').toString()).n));
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(
        JSON.stringify({
          FailedRecordCount: Math.floor(records.length / 2),
          Records: records.map((_, i) => (i % 2 === 1 ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard shardId-000000000000 in stream telemetry.' } : { SequenceNumber: '1', ShardId: 'shardId-000000000000' })),
        }),
      );
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as { port: number }).port;
    try {
      const def = createKinesisDefinition({ settings: { ...kinesis.settings, endpoint: `http://127.0.0.1:${port}` } });
      const sink = def.create(def.config.parse({ stream_name: 'telemetry' }), testDeps());
      const runner = new ActionRunner({ sink, name: 'kinesis', retry: { retries: 3, initialBackoffMs: 1, maxBackoffMs: 5 }, logger: silentLogger() });
      const records = Array.from({ length: 6 }, (_, i) => testRecord({ n: 100 + i }, params('telemetry', 'k'), i));
      const outcomes = await Promise.all(records.map((r) => new Promise<RecordOutcome>((resolve) => runner.submit(r, resolve))));
      expect(outcomes).toEqual(records.map(() => undefined));
      await runner.close();
      // The retry carried exactly the three refused records.
      expect(sent).toEqual([[100, 101, 102, 103, 104, 105], [101, 103, 105]]);
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  test('the schema: stream_name is required, unknown parameters are named', () => {
    const def = createKinesisDefinition();
    expect(problemsOf(def.config, {})).toEqual(['missing parameter stream_name']);
    expect(problemsOf(def.config, { stream_name: 's', partitionkey: 'x' })).toEqual(['unknown parameter partitionkey (known: stream_name, partition_key, role_arn)']);
    expect(def.config.parse({ stream_name: 's', partition_key: '${topic()}', role_arn: 'arn:aws:iam::1:role/r' })).toEqual({ stream_name: 's', partition_key: '${topic()}', role_arn: 'arn:aws:iam::1:role/r' });
  });
});
