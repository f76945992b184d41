/**
 * `firehose`: puts each rule output as a record of a Firehose delivery stream (AWS IoT developer
 * guide, kinesis-firehose-rule-action; API reference, FirehoseAction): `delivery_stream_name`
 * (template), `separator` (one of `\n`, `\t`, `\r\n`, `,`, appended to each record so that the
 * delivered objects split back into records), `batch_mode` (an array output gives one record per
 * element, at most 500). kiot writes every batch with PutRecordBatch (500 records, 4 MiB per
 * request), also without batch_mode; records Firehose lists as failed
 * (`ServiceUnavailableException`, `InternalFailure`: retriable) fail alone. This is the one place
 * that imports `@aws-sdk/client-firehose`.
 */
import type { FirehoseClient } from '@aws-sdk/client-firehose';
import { z } from 'zod';
import { awsAction, batchElements, entryError } from '../aws/index.js';
import { outputBytes } from '../runtime/deps.js';
import { paramsSchema } from '../runtime/params.js';

/** PutRecordBatch limits (Firehose API reference). */
export const FIREHOSE_MAX_RECORDS = 500;
export const FIREHOSE_MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** The separators AWS IoT accepts (FirehoseAction.separator). */
export const FIREHOSE_SEPARATORS = ['\n', '\t', '\r\n', ','] as const;
const RETRIABLE = new Set(['ServiceUnavailableException', 'InternalFailure']);

const schema = paramsSchema({
  delivery_stream_name: z.string().min(1),
  separator: z.enum(FIREHOSE_SEPARATORS, { message: `expected one of ${FIREHOSE_SEPARATORS.map((v) => JSON.stringify(v)).join(', ')}` }).optional(),
  batch_mode: z.boolean().optional(),
  role_arn: z.string().optional(),
});

export type FirehoseConfig = ReturnType<typeof schema.parse>;

type FirehoseSdk = typeof import('@aws-sdk/client-firehose');

export const createFirehoseDefinition = awsAction<FirehoseConfig, Buffer, FirehoseSdk, FirehoseClient>({
  type: 'firehose',
  awsKey: 'firehose',
  summary: 'put each output as a Firehose record (PutRecordBatch per delivery stream)',
  config: schema,
  resourceParams: ['delivery_stream_name'],
  maxBatchSize: FIREHOSE_MAX_RECORDS,
  load: () => import('@aws-sdk/client-firehose'),
  client: (m, options) => new m.FirehoseClient(options) as FirehoseClient,
  request: () => ({
    target: 'Firehose',
    maxEntries: FIREHOSE_MAX_RECORDS,
    maxRequestBytes: FIREHOSE_MAX_REQUEST_BYTES,
    group: (r) => r.params.delivery_stream_name,
    entries(record) {
      const elements = batchElements(record.output, record.params.batch_mode, FIREHOSE_MAX_RECORDS);
      if (typeof elements === 'string') return elements;
      const separator = Buffer.from(record.params.separator ?? '');
      return elements.map((e) => Buffer.concat([outputBytes(e), separator]));
    },
    size: (data) => data.length,
    async send({ sdk: m, client }, { params }, records, signal) {
      const out = await client.send(new m.PutRecordBatchCommand({ DeliveryStreamName: params.delivery_stream_name, Records: records.map((Data) => ({ Data })) }), { abortSignal: signal });
      return (out.RequestResponses ?? []).map((r) => (r.ErrorCode ? entryError(r.ErrorCode, r.ErrorMessage, RETRIABLE) : undefined));
    },
  }),
});

export const firehoseAction = createFirehoseDefinition();
