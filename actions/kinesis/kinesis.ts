/**
 * `kinesis`: writes each rule output as a record of a Kinesis data stream (AWS IoT developer
 * guide, kinesis-rule-action; API reference, KinesisAction): `stream_name` and `partition_key`
 * (both templates). A batch is one PutRecords request per stream (at most 500 records and 5 MiB,
 * Kinesis API reference, PutRecords); records Kinesis refuses in its answer
 * (`ProvisionedThroughputExceededException`, `InternalFailure`: retriable) fail alone, so only
 * they are retried. A record over 1 MiB gets Kinesis's own ValidationException. This is the one
 * place that imports `@aws-sdk/client-kinesis`.
 */
import type { KinesisClient, PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { z } from 'zod';
import { awsAction, entryError } from '../aws/index.js';
import { outputBytes } from '../runtime/deps.js';
import { paramsSchema } from '../runtime/params.js';

/** PutRecords limits (Kinesis API reference, PutRecords). */
export const KINESIS_MAX_RECORDS = 500;
export const KINESIS_MAX_REQUEST_BYTES = 5 * 1024 * 1024;
/** Per-record error codes of PutRecords that are worth retrying (all that it documents). */
const RETRIABLE = new Set(['ProvisionedThroughputExceededException', 'InternalFailure']);

const schema = paramsSchema({
  stream_name: z.string().min(1),
  /** Which shard a record goes to; usually a template such as `${topic()}`. Default: the message id. */
  partition_key: z.string().optional(),
  /** Accepted for AWS compatibility; kiot uses its own credentials (the AWS SDK's chain). */
  role_arn: z.string().optional(),
});

export type KinesisConfig = ReturnType<typeof schema.parse>;

type KinesisSdk = typeof import('@aws-sdk/client-kinesis') & Pick<typeof import('@smithy/node-http-handler'), 'NodeHttpHandler'>;

export const createKinesisDefinition = awsAction<KinesisConfig, PutRecordsRequestEntry, KinesisSdk, KinesisClient>({
  type: 'kinesis',
  awsKey: 'kinesis',
  summary: 'put each output as a Kinesis data stream record (PutRecords per stream)',
  config: schema,
  resourceParams: ['stream_name'],
  maxBatchSize: KINESIS_MAX_RECORDS,
  load: () => Promise.all([import('@aws-sdk/client-kinesis'), import('@smithy/node-http-handler')]).then(([client, http]) => ({ ...client, NodeHttpHandler: http.NodeHttpHandler })),
  // The Kinesis client alone defaults to HTTP/2, which local servers (kinesalite, LocalStack on
  // plain http) do not speak; Kinesis itself takes HTTP/1.1 for PutRecords as well.
  client: (m, options) =>
    new m.KinesisClient({ ...options, requestHandler: new m.NodeHttpHandler(options['requestHandler'] as ConstructorParameters<typeof m.NodeHttpHandler>[0]) }) as KinesisClient,
  request: () => ({
    target: 'Kinesis',
    maxEntries: KINESIS_MAX_RECORDS,
    maxRequestBytes: KINESIS_MAX_REQUEST_BYTES,
    group: (r) => r.params.stream_name,
    entries(record) {
      const key = record.params.partition_key === undefined ? record.messageId : record.params.partition_key;
      if (key === '') return 'partition_key rendered empty';
      return [{ Data: outputBytes(record.output), PartitionKey: key }];
    },
    size: (e) => e.Data!.length + Buffer.byteLength(e.PartitionKey!),
    async send({ sdk: m, client }, { params }, entries, signal) {
      const out = await client.send(new m.PutRecordsCommand({ StreamName: params.stream_name, Records: [...entries] }), { abortSignal: signal });
      return (out.Records ?? []).map((r) => (r.ErrorCode ? entryError(r.ErrorCode, r.ErrorMessage, RETRIABLE) : undefined));
    },
  }),
});

export const kinesisAction = createKinesisDefinition();
