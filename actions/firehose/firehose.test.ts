import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { silentLogger, SinkBatchError } from '../../core/index.js';
import { ActionRunner, type RecordOutcome } from '../runtime/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { firehoseService } from '../../core/testing/aws-services.js';
import { outcomeOf, problemsOf, serverSettings, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createFirehoseDefinition, type FirehoseConfig } from './firehose.js';

let server: AwsServiceServer;
const firehose = firehoseService();
beforeAll(async () => {
  server = await startAwsServices([firehose.spec]);
  firehose.createDeliveryStream('archive');
  firehose.createDeliveryStream('lines');
});
afterAll(() => server?.close());

const text = (stream: string) => Buffer.concat(firehose.streams.get(stream)!).toString();

describe('firehose', () => {
  test('records go in one PutRecordBatch per stream, each followed by the separator', async () => {
    const def = createFirehoseDefinition({ settings: serverSettings(server) });
    const p: FirehoseConfig = def.config.parse({ delivery_stream_name: 'lines', separator: '\n' });
    const sink = def.create(p, testDeps());
    await sink.writeBatch(Array.from({ length: 12 }, (_, i) => testRecord({ n: i }, p, i)), signal());
    expect(text('lines').split('\n').filter(Boolean).map((l) => JSON.parse(l).n)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(server.calls.filter((c) => c.operation === 'PutRecordBatch')).toHaveLength(1);
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('batch_mode: each element of an array output is a record; an output that is not an array fails alone', async () => {
    const def = createFirehoseDefinition({ settings: serverSettings(server) });
    const p: FirehoseConfig = def.config.parse({ delivery_stream_name: 'archive', separator: ',', batch_mode: true });
    const sink = def.create(p, testDeps());
    const err = await outcomeOf(sink.writeBatch([testRecord([{ a: 1 }, { a: 2 }], p, 0), testRecord({ a: 3 }, p, 1), testRecord([{ a: 4 }], p, 2)], signal()));
    expect(err).toBeInstanceOf(SinkBatchError);
    expect((err as SinkBatchError).failures).toEqual([{ index: 1, retriable: false, message: 'firehose archive: batch_mode needs the rule output to be an array' }]);
    expect(text('archive')).toBe('{"a":1},{"a":2},{"a":4},');
    await sink.close();
  });

  test('a record over 1,000 KiB gets Firehose\'s ValidationException; a missing stream fails its records', async () => {
    const def = createFirehoseDefinition({ settings: serverSettings(server) });
    const p = (s: string): FirehoseConfig => ({ delivery_stream_name: s });
    const sink = def.create(p('archive'), testDeps());
    firehose.streams.set('archive', []);
    const err = await outcomeOf(sink.writeBatch([testRecord({ n: 0 }, p('archive'), 0), testRecord({ x: 'x'.repeat(1_024_000) }, p('archive'), 1), testRecord({ n: 2 }, p('nope'), 2)], signal()));
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [2, false]]);
    expect(failures[0]!.message).toMatch(/ValidationException: .*1024000/);
    expect(failures[1]!.message).toMatch(/^firehose nope: ResourceNotFoundException/);
    expect(text('archive')).toBe('{"n":0}');
    await sink.close();
  });

  test('records Firehose answers with ServiceUnavailableException are the only ones the runtime sends again', async () => {
    const def = createFirehoseDefinition({ settings: serverSettings(server) });
    const p: FirehoseConfig = def.config.parse({ delivery_stream_name: 'lines', separator: '\n' });
    firehose.streams.set('lines', []);
    firehose.throttled.add('{"n":1}\n');
    firehose.throttled.add('{"n":3}\n');
    const sink = def.create(p, testDeps());
    const runner = new ActionRunner({ sink, name: 'firehose', retry: { retries: 3, initialBackoffMs: 1, maxBackoffMs: 5 }, logger: silentLogger() });
    const records = Array.from({ length: 5 }, (_, i) => testRecord({ n: i }, p, i));
    const before = server.calls.length;
    const outcomes = await Promise.all(records.map((r) => new Promise<RecordOutcome>((resolve) => runner.submit(r, resolve))));
    expect(outcomes).toEqual(records.map(() => undefined));
    await runner.close();
    const sent = server.calls.slice(before).map((c) => c.input['Records'].map((r: { Data: string }) => JSON.parse(Buffer.from(r.Data, 'base64').toString()).n));
    expect(sent).toEqual([[0, 1, 2, 3, 4], [1, 3]]);
    expect(text('lines').split('\n').filter(Boolean).map((l) => JSON.parse(l).n).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  test('the schema', () => {
    const def = createFirehoseDefinition();
    expect(problemsOf(def.config, { separator: ';' })).toEqual(['missing parameter delivery_stream_name', expect.stringMatching(/^separator: /)]);
  });
});
