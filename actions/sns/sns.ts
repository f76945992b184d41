/**
 * `sns`: publishes each rule output to an SNS topic or a mobile push endpoint (AWS IoT developer
 * guide, sns-rule-action; API reference, SnsAction): `target_arn` (template), `message_format`
 * `RAW` (default: the output is the message) or `JSON` (MessageStructure `json`: the output is a
 * JSON object with a `default` message and one per protocol, as SNS's "send a different message
 * per platform" takes it; SNS refuses one without `default`). Topics get one PublishBatch per
 * batch (10 messages, 256 KiB, SNS API reference), entries SNS lists as Failed fail alone;
 * platform endpoints (`...:endpoint/...`), which PublishBatch does not take, get one Publish per
 * record. This is the one place that imports `@aws-sdk/client-sns`.
 */
import type { SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import { awsAction, classifyAwsError, type EntryError } from '../aws/index.js';
import { outputBytes } from '../runtime/deps.js';
import { paramsSchema } from '../runtime/params.js';

export const SNS_MAX_ENTRIES = 10;
export const SNS_MAX_REQUEST_BYTES = 262_144;

const schema = paramsSchema({
  target_arn: z.string().min(1),
  message_format: z.enum(['RAW', 'JSON']).optional(),
  role_arn: z.string().optional(),
});

export type SnsConfig = ReturnType<typeof schema.parse>;

const isEndpoint = (arn: string): boolean => /^arn:[^:]+:sns:[^:]*:[^:]*:endpoint\//.test(arn);

type SnsSdk = typeof import('@aws-sdk/client-sns');

export const createSnsDefinition = awsAction<SnsConfig, string, SnsSdk, SNSClient>({
  type: 'sns',
  awsKey: 'sns',
  summary: 'publish each output to an SNS topic (PublishBatch) or push endpoint (Publish)',
  config: schema,
  resourceParams: ['target_arn'],
  load: () => import('@aws-sdk/client-sns'),
  client: (m, options) => new m.SNSClient(options) as SNSClient,
  request: () => ({
    target: 'SNS',
    maxEntries: SNS_MAX_ENTRIES,
    maxRequestBytes: SNS_MAX_REQUEST_BYTES,
    group: (r) => r.params.target_arn,
    entries: (record) => [outputBytes(record.output).toString('utf8')],
    size: (message) => Buffer.byteLength(message),
    async send({ sdk: m, client }, { params }, messages, signal) {
      const structure = params.message_format === 'JSON' ? { MessageStructure: 'json' } : {};
      if (isEndpoint(params.target_arn) || messages.length === 1) {
        // One Publish per message; a refused one fails alone (a whole-request failure of a single entry).
        if (messages.length === 1) {
          await client.send(new m.PublishCommand({ TargetArn: params.target_arn, Message: messages[0]!, ...structure }), { abortSignal: signal });
          return [undefined];
        }
        return Promise.all(
          messages.map(async (Message): Promise<EntryError | undefined> => {
            try {
              await client.send(new m.PublishCommand({ TargetArn: params.target_arn, Message, ...structure }), { abortSignal: signal });
              return undefined;
            } catch (err) {
              const c = classifyAwsError(err);
              if (c.kind === 'unreachable' || c.kind === 'aborted') throw err;
              return { code: (err as Error).name, message: (err as Error).message, retriable: c.retriable };
            }
          }),
        );
      }
      const entries = messages.map((Message, i) => ({ Id: String(i), Message, ...structure }));
      const out = await client.send(new m.PublishBatchCommand({ TopicArn: params.target_arn, PublishBatchRequestEntries: entries }), { abortSignal: signal });
      const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
      return messages.map((_, i) => {
        const f = failed.get(String(i));
        return f ? { code: f.Code ?? 'Error', message: f.Message ?? 'refused', retriable: !f.SenderFault } : undefined;
      });
    },
  }),
});

export const snsAction = createSnsDefinition();
