/**
 * `iot_analytics`: sends each rule output to an AWS IoT Analytics channel (AWS IoT developer
 * guide, iotanalytics-rule-action; API reference, IotAnalyticsAction): `channel_name` (or the
 * deprecated `channel_arn`, whose last part names the channel), `batch_mode` (an array output
 * gives one message per element). A batch is BatchPutMessage requests of 100 messages per channel
 * (IoT Analytics API reference); messages listed in batchPutMessageErrorEntries fail alone, and a
 * payload over 128 KiB gets IoT Analytics' own error. AWS ended support for AWS IoT Analytics on
 * 15 December 2025; kiot keeps the action so that rules written for it run against a compatible
 * endpoint. This is the one place that imports `@aws-sdk/client-iotanalytics`.
 */
import { randomUUID } from 'node:crypto';
import type { IoTAnalyticsClient } from '@aws-sdk/client-iotanalytics';
import { z } from 'zod';
import { awsAction, batchElements, entryError } from '../aws/index.js';
import { outputBytes } from '../runtime/deps.js';
import { crossChecked, paramsSchema } from '../runtime/params.js';

export const IOT_ANALYTICS_MAX_MESSAGES = 100;
const RETRIABLE = new Set(['ThrottlingException', 'InternalFailureException', 'ServiceUnavailableException']);

const schema = crossChecked(
  paramsSchema({
    channel_name: z.string().optional(),
    channel_arn: z.string().optional(),
    batch_mode: z.boolean().optional(),
    role_arn: z.string().optional(),
  }),
  (p, problem) => {
    if (!p.channel_name && !p.channel_arn) problem('channel_name', 'missing parameter channel_name (or the deprecated channel_arn)');
  },
);

export type IotAnalyticsConfig = ReturnType<typeof schema.parse>;

/** `channel_name`, or the name at the end of `arn:aws:iotanalytics:<region>:<account>:channel/<name>`. */
const channelOf = (p: IotAnalyticsConfig): string => p.channel_name || (p.channel_arn ?? '').split('/').pop() || '';

type Sdk = typeof import('@aws-sdk/client-iotanalytics');

export const createIotAnalyticsDefinition = awsAction<IotAnalyticsConfig, { messageId: string; payload: Buffer }, Sdk, IoTAnalyticsClient>({
  type: 'iot_analytics',
  awsKey: 'iotAnalytics',
  summary: 'send each output to an AWS IoT Analytics channel (BatchPutMessage)',
  config: schema,
  resourceParams: ['channel_name', 'channel_arn'],
  maxBatchSize: IOT_ANALYTICS_MAX_MESSAGES,
  load: () => import('@aws-sdk/client-iotanalytics'),
  client: (m, options) => new m.IoTAnalyticsClient(options) as IoTAnalyticsClient,
  request: () => ({
    target: 'IoT Analytics',
    maxEntries: IOT_ANALYTICS_MAX_MESSAGES,
    group: (r) => channelOf(r.params),
    entries(record) {
      const elements = batchElements(record.output, record.params.batch_mode, Number.MAX_SAFE_INTEGER);
      if (typeof elements === 'string') return elements;
      if (!channelOf(record.params)) return 'channel_name rendered empty';
      return elements.map((e) => ({ messageId: randomUUID(), payload: outputBytes(e) }));
    },
    async send({ sdk: m, client }, { params }, messages, signal) {
      const out = await client.send(new m.BatchPutMessageCommand({ channelName: channelOf(params), messages: [...messages] }), { abortSignal: signal });
      const errors = new Map((out.batchPutMessageErrorEntries ?? []).map((e) => [e.messageId, e]));
      return messages.map((msg) => {
        const e = errors.get(msg.messageId);
        return e ? entryError(e.errorCode, e.errorMessage, RETRIABLE) : undefined;
      });
    },
  }),
});

export const iotAnalyticsAction = createIotAnalyticsDefinition();
