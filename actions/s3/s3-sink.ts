/**
 * `s3`: writes each rule output as one S3 object (AWS IoT developer guide, "S3"): bucket and
 * key from (templated) parameters, optional canned ACL. The body is the output as JSON text, or
 * the bytes of a Binary output. S3 has no batch put, so a batch is written as concurrent
 * PutObject requests and each record's outcome is reported on its own. This is the one place
 * that imports `@aws-sdk/client-s3` and `@aws-sdk/s3-request-presigner` (the jobs service's
 * presigned URLs and documentSource reads go through `createS3Api` too).
 */
import type { ObjectCannedACL, S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { endBatch, type ActionRecord, type RecordFailure, type Sink, type SinkDefinition } from '../../core/index.js';
import { classifyAwsError, outputBytes, sdkClientOptions, unavailable, type AwsClientSettings } from '../aws/index.js';
import { paramsSchema } from '../runtime/params.js';
import type { ActionDeps } from '../runtime/deps.js';

/** The canned ACLs the AWS IoT S3 action accepts (API reference, S3Action.cannedAcl). */
export const S3_CANNED_ACLS = [
  'private', 'public-read', 'public-read-write', 'aws-exec-read', 'authenticated-read',
  'bucket-owner-read', 'bucket-owner-full-control', 'log-delivery-write',
] as const;

/** PutObject requests in flight per batch: enough to hide latency, few enough to be polite. */
export const S3_PUT_CONCURRENCY = 8;
export const S3_MAX_BATCH_SIZE = 64;

const schema = paramsSchema({
  bucket_name: z.string().min(1),
  /** Object key; usually a template such as `${topic()}/${timestamp()}`. */
  key: z.string().min(1),
  canned_acl: z.enum(S3_CANNED_ACLS).optional(),
  /** Accepted for AWS compatibility; kiot uses its own credentials (the AWS SDK's chain). */
  role_arn: z.string().optional(),
});

export type S3Config = ReturnType<typeof schema.parse>;

/** The one S3 operation the sink needs, so a test can wrap it. */
export interface S3Api {
  putObject(input: { bucket: string; key: string; body: Buffer; contentType: string; acl?: string }, signal: AbortSignal): Promise<void>;
  probe(signal: AbortSignal): Promise<void>;
  /**
   * An object's bytes from `start` (a ranged GET), streamed, and their count; for readers of
   * large inputs (provisioning's bulk registration tasks).
   */
  getObjectStream(input: { bucket: string; key: string; start: number }, signal?: AbortSignal): Promise<{ body: AsyncIterable<Uint8Array>; size: number }>;
  /** A presigned GET URL of one object on this client's endpoint, valid for `expiresInSec` (jobs' presigned URLs). */
  presignGetObject(input: { bucket: string; key: string; expiresInSec: number }): Promise<string>;
  destroy(): void;
}

export interface S3SinkOptions {
  /** Region, endpoint, path style, credentials, timeouts; unset fields fall back to the AWS SDK's own. */
  readonly settings?: AwsClientSettings;
  readonly api?: (settings: AwsClientSettings) => S3Api;
}

type S3Sdk = typeof import('@aws-sdk/client-s3');
let sdk: Promise<S3Sdk> | undefined;
/** Loaded on first use, so that `kiot` commands that write nothing to S3 do not pay for the import. */
const loadSdk = (): Promise<S3Sdk> => (sdk ??= import('@aws-sdk/client-s3'));
type PresignerSdk = typeof import('@aws-sdk/s3-request-presigner');
let presigner: Promise<PresignerSdk> | undefined;
const loadPresigner = (): Promise<PresignerSdk> => (presigner ??= import('@aws-sdk/s3-request-presigner'));

export function createS3Api(settings: AwsClientSettings = {}): S3Api {
  let ready: Promise<{ m: S3Sdk; client: S3Client }> | undefined;
  let destroyed = false;
  const client = () =>
    (ready ??= loadSdk().then((m) => {
      const c = new m.S3Client({
        ...sdkClientOptions(settings),
        ...(settings.forcePathStyle !== undefined ? { forcePathStyle: settings.forcePathStyle } : {}),
      });
      if (destroyed) c.destroy();
      return { m, client: c };
    }));
  return {
    async putObject({ bucket, key, body, contentType, acl }, signal) {
      const { m, client: c } = await client();
      await c.send(
        new m.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType, ...(acl ? { ACL: acl as ObjectCannedACL } : {}) }),
        { abortSignal: signal },
      );
    },
    async getObjectStream({ bucket, key, start }, signal) {
      const { m, client: c } = await client();
      let out;
      try {
        out = await c.send(new m.GetObjectCommand({ Bucket: bucket, Key: key, ...(start > 0 ? { Range: `bytes=${start}-` } : {}) }), signal ? { abortSignal: signal } : {});
      } catch (err) {
        // A range that starts at the end (nothing left to read) is 416 InvalidRange.
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) return { body: (async function* () {})(), size: 0 };
        throw err;
      }
      const body = out.Body as AsyncIterable<Uint8Array> | undefined;
      return { body: body ?? (async function* () {})(), size: out.ContentLength ?? 0 };
    },
    async presignGetObject({ bucket, key, expiresInSec }) {
      const [{ m, client: c }, p] = await Promise.all([client(), loadPresigner()]);
      return p.getSignedUrl(c, new m.GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: expiresInSec });
    },
    async probe(signal) {
      const { m, client: c } = await client();
      await c.send(new m.ListBucketsCommand({}), { abortSignal: signal });
    },
    destroy() {
      destroyed = true;
      void ready?.then(({ client: c }) => c.destroy());
    },
  };
}

export function createS3Definition(options: S3SinkOptions = {}): SinkDefinition<S3Config, Pick<ActionDeps, 'aws'>> {
  return {
    type: 's3',
    awsKey: 's3',
    summary: 'Writes each rule output as an S3 object (bucket, key template, canned ACL)',
    config: schema,
    resourceParams: ['bucket_name'],
    maxBatchSize: S3_MAX_BATCH_SIZE,
    create: (_config, deps) => new S3Sink({ ...options, settings: options.settings ?? deps.aws.s3 }),
  };
}

/** The definition with the AWS SDK's own settings (environment, credentials chain). */
export const s3Action = createS3Definition();

class S3Sink implements Sink<S3Config> {
  readonly #api: S3Api;
  #closed = false;

  constructor(options: S3SinkOptions) {
    this.#api = (options.api ?? createS3Api)(options.settings ?? {});
  }

  async connect(signal: AbortSignal): Promise<void> {
    try {
      await this.#api.probe(signal);
    } catch (err) {
      // Any HTTP answer (AccessDenied for ListBuckets included) means S3 is reachable.
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === undefined || status >= 500) throw unavailable('S3', err);
    }
  }

  async writeBatch(records: readonly ActionRecord<S3Config>[], signal: AbortSignal): Promise<void> {
    const failures: RecordFailure[] = [];
    let unreachable: unknown;
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let index = next++; index < records.length; index = next++) {
        const failure = await this.#put(records[index]!, index, signal);
        if (failure === undefined) continue;
        failures.push(failure.failure);
        if (failure.unreachable !== undefined) unreachable ??= failure.unreachable;
      }
    };
    await Promise.all(Array.from({ length: Math.min(S3_PUT_CONCURRENCY, records.length) }, worker));
    endBatch('S3', failures, records.length, unreachable === undefined ? undefined : unavailable('S3', unreachable));
  }

  async #put(record: ActionRecord<S3Config>, index: number, signal: AbortSignal): Promise<{ failure: RecordFailure; unreachable?: unknown } | undefined> {
    const { bucket_name: bucket, key, canned_acl: acl } = record.params;
    if (!bucket) return { failure: { index, message: 's3: bucket_name rendered empty', retriable: false } };
    if (!key) return { failure: { index, message: 's3: key rendered empty', retriable: false } };
    const { body, contentType } = outputBytes(record.output, record.payload);
    try {
      await this.#api.putObject({ bucket, key, body, contentType, ...(acl ? { acl } : {}) }, signal);
      return undefined;
    } catch (err) {
      const c = classifyAwsError(err);
      const failure = { index, message: `s3: ${bucket}/${key}: ${c.message}`, retriable: c.retriable };
      return c.kind === 'unreachable' || c.kind === 'aborted' ? { failure, unreachable: err } : { failure };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#api.destroy();
  }
}
