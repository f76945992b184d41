/**
 * `sqs`: sends each rule output as a message to an SQS queue (AWS IoT developer guide,
 * sqs-rule-action; API reference, SqsAction): `queue_url` (template), `use_base64` (the body is
 * the output's bytes in base64, so binary payloads survive SQS's character rules). A batch is one
 * SendMessageBatch per queue (10 messages, 1 MiB, SQS API reference); entries SQS lists as Failed
 * fail alone (retriable unless SenderFault), and a message over the size limit gets SQS's own
 * InvalidParameterValue. This is the one place that imports `@aws-sdk/client-sqs`.
 */
import type { SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { awsAction } from '../aws/index.js';
import { outputBytes } from '../runtime/deps.js';
import { paramsSchema } from '../runtime/params.js';

/** SendMessageBatch limits (SQS API reference; quotas since 2025: 1 MiB per message and per batch). */
export const SQS_MAX_ENTRIES = 10;
export const SQS_MAX_BATCH_BYTES = 1024 * 1024;

const schema = paramsSchema({
  queue_url: z.string().min(1),
  use_base64: z.boolean().optional(),
  role_arn: z.string().optional(),
});

export type SqsConfig = ReturnType<typeof schema.parse>;

type SqsSdk = typeof import('@aws-sdk/client-sqs');

export const createSqsDefinition = awsAction<SqsConfig, string, SqsSdk, SQSClient>({
  type: 'sqs',
  awsKey: 'sqs',
  summary: 'send each output as an SQS message (SendMessageBatch per queue)',
  config: schema,
  resourceParams: ['queue_url'],
  load: () => import('@aws-sdk/client-sqs'),
  client: (m, options) => new m.SQSClient(options) as SQSClient,
  request: () => ({
    target: 'SQS',
    maxEntries: SQS_MAX_ENTRIES,
    maxRequestBytes: SQS_MAX_BATCH_BYTES,
    group: (r) => r.params.queue_url,
    entries(record) {
      const bytes = outputBytes(record.output);
      return [record.params.use_base64 ? bytes.toString('base64') : bytes.toString('utf8')];
    },
    size: (body) => Buffer.byteLength(body),
    async send({ sdk: m, client }, { params }, bodies, signal) {
      const entries: SendMessageBatchRequestEntry[] = bodies.map((body, i) => ({ Id: String(i), MessageBody: body }));
      const out = await client.send(new m.SendMessageBatchCommand({ QueueUrl: params.queue_url, Entries: entries }), { abortSignal: signal });
      const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
      return bodies.map((_, i) => {
        const f = failed.get(String(i));
        // SenderFault: the message itself is wrong; otherwise SQS had trouble and a retry may pass.
        return f ? { code: f.Code ?? 'Error', message: f.Message ?? 'refused', retriable: !f.SenderFault } : undefined;
      });
    },
  }),
});

export const sqsAction = createSqsDefinition();
