import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { blackHole, closedPort, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createS3Definition } from './s3-sink.js';
import { startS3rver, type S3rverServer } from './testing/s3rver.js';

let s3: S3rverServer;

beforeAll(async () => {
  s3 = await startS3rver(['telemetry', 'other']);
});
afterAll(async () => {
  await s3?.close();
});

const CREDENTIALS = { accessKeyId: 'x', secretAccessKey: 'x' };

describe('s3', () => {
  test('each output becomes an object whose key comes from the rendered template; bodies are the output as JSON', async () => {
    const def = createS3Definition({ settings: s3.settings });
    const rule = def.config.parse({ bucket_name: 'telemetry', key: '${topic(2)}/${timestamp()}.json', canned_acl: 'private' });
    const sink = def.create(rule, testDeps());
    await sink.connect(signal());
    const records = Array.from({ length: 20 }, (_, i) =>
      testRecord({ temperature: 20 + i, site: 'oslo' }, { ...rule, key: `dev-${i % 4}/${1000 + i}.json` }, i),
    );
    await sink.writeBatch(records, signal());
    const keys = await s3.listKeys('telemetry');
    expect(keys).toHaveLength(20);
    expect(keys).toContain('dev-3/1007.json');
    const obj = await s3.getObject('telemetry', 'dev-3/1007.json');
    expect(JSON.parse(obj.body.toString())).toEqual({ temperature: 27, site: 'oslo' });
    expect(obj.contentType).toBe('application/json');
    await sink.close();
    await sink.close();
  });

  test('bucket_name may be a template too; a Binary output is written as its bytes', async () => {
    const def = createS3Definition({ settings: s3.settings });
    const sink = def.create(def.config.parse({ bucket_name: '${bucket}', key: 'raw/${clientid()}' }), testDeps());
    await sink.writeBatch([testRecord(Buffer.from([0xde, 0xad, 0xbe, 0xef]), { bucket_name: 'other', key: 'raw/d1' })], signal());
    expect((await s3.getObject('other', 'raw/d1')).body).toEqual(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    await sink.close();
  });

  test('a bucket that does not exist fails exactly its records, non-retriable', async () => {
    const def = createS3Definition({ settings: s3.settings });
    const sink = def.create(def.config.parse({ bucket_name: 'telemetry', key: 'k' }), testDeps());
    const records = [
      testRecord({ a: 0 }, { bucket_name: 'telemetry', key: 'mixed/0' }, 0),
      testRecord({ a: 1 }, { bucket_name: 'no-such-bucket', key: 'mixed/1' }, 1),
      testRecord({ a: 2 }, { bucket_name: 'telemetry', key: 'mixed/2' }, 2),
      testRecord({ a: 3 }, { bucket_name: 'no-such-bucket', key: 'mixed/3' }, 3),
    ];
    const err = await sink.writeBatch(records, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    expect((err as SinkBatchError).failures.map((f) => f.index)).toEqual([1, 3]);
    expect((err as SinkBatchError).failures.every((f) => !f.retriable && /NoSuchBucket/.test(f.message))).toBe(true);
    expect((await s3.listKeys('telemetry')).filter((k) => k.startsWith('mixed/'))).toEqual(['mixed/0', 'mixed/2']);
    await sink.close();
  });

  test('the config schema checks the canned ACL and required fields', () => {
    const def = createS3Definition();
    expect(() => def.config.parse({ bucket_name: 'b', key: 'k', canned_acl: 'everyone' })).toThrow();
    expect(() => def.config.parse({ key: 'k' })).toThrow();
    expect(def.config.parse({ bucket_name: 'b', key: 'k', role_arn: 'arn:aws:iam::1:role/r' })).toEqual({ bucket_name: 'b', key: 'k', role_arn: 'arn:aws:iam::1:role/r' });
  });

  test('an S3 endpoint that is down rejects with a retriable SINK_UNAVAILABLE, and a stalled one times out', async () => {
    const port = await closedPort();
    const down = createS3Definition({ settings: { endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: CREDENTIALS, forcePathStyle: true } });
    const sink = down.create({ bucket_name: 'telemetry', key: 'k' }, testDeps());
    await expect(sink.connect(signal())).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
    const err = await sink.writeBatch([testRecord({ a: 1 }, { bucket_name: 'telemetry', key: 'k' }, 0), testRecord({ a: 2 }, { bucket_name: 'telemetry', key: 'k' }, 1)], signal()).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(SinkBatchError);
    expect(err).toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
    await sink.close();

    const hole = await blackHole();
    try {
      const stalled = createS3Definition({
        settings: { endpoint: `http://127.0.0.1:${hole.port}`, region: 'us-east-1', credentials: CREDENTIALS, forcePathStyle: true, requestTimeoutMs: 300, maxAttempts: 1 },
      });
      const sink2 = stalled.create({ bucket_name: 'telemetry', key: 'k' }, testDeps());
      await expect(sink2.writeBatch([testRecord({ a: 1 }, { bucket_name: 'telemetry', key: 'k' })], signal())).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
      await sink2.close();
    } finally {
      await hole.close();
    }
  });
});
