/**
 * `republish`: publishes the rule's output to an MQTT topic, by appending an envelope to
 * `iot.egress`, which the gateway delivers to subscribers (AWS IoT, republish-rule-action).
 * Parameters: `topic` (template), `qos` (0 or 1), `headers` (MQTT 5: payload_format_indicator,
 * content_type, response_topic, correlation_data, message_expiry, user_properties), `role_arn`
 * (accepted, unused). Reserved topics are written `$$aws/...` and published as `$aws/...`, as
 * AWS asks ("use $$ instead of $ for a reserved topic").
 */
import { z } from 'zod';
import { TOPICS, createEnvelope, envelopeKey, topicNameProblem, type SinkDefinition, envelopeRecord } from '../../core/index.js';
import { LOG_APPEND_MAX_BATCH, LogAppendSink, type LogAppendSinkOptions } from '../log-append/log-append-sink.js';
import { outputBytes, type ActionDeps } from '../runtime/deps.js';
import { keyValueList, paramsSchema } from '../runtime/params.js';

const headers = z.strictObject({
  payload_format_indicator: z.string().optional(),
  content_type: z.string().optional(),
  response_topic: z.string().optional(),
  correlation_data: z.string().optional(),
  message_expiry: z.union([z.string(), z.number()]).optional(),
  user_properties: keyValueList.optional(),
});

const config = paramsSchema({
  topic: z.string().min(1),
  qos: z.union([z.literal(0), z.literal(1)]).optional(),
  role_arn: z.string().optional(),
  headers: headers.optional(),
});

export type RepublishConfig = ReturnType<typeof config.parse>;
type Headers = z.infer<typeof headers>;

/** `$$aws/...` -> `$aws/...`; throws for a topic no MQTT client could subscribe to. */
export function republishTopic(rendered: string): string {
  const topic = rendered.startsWith('$$') ? rendered.slice(1) : rendered;
  const problem = topicNameProblem(topic);
  if (problem) throw new Error(`topic ${JSON.stringify(topic)}: ${problem}`);
  return topic;
}

function mqttProperties(h: Headers | undefined): Partial<Parameters<typeof createEnvelope>[0]> {
  if (!h) return {};
  const expiry = h.message_expiry === undefined ? undefined : Number(h.message_expiry);
  return {
    ...(h.content_type ? { contentType: h.content_type } : {}),
    ...(h.response_topic ? { responseTopic: h.response_topic } : {}),
    ...(h.correlation_data ? { correlationData: Buffer.from(h.correlation_data, 'base64') } : {}),
    ...(h.payload_format_indicator ? { payloadFormatIndicator: h.payload_format_indicator === 'UTF8_DATA' ? 1 : 0 } : {}),
    ...(expiry !== undefined && Number.isFinite(expiry) ? { messageExpiryIntervalSec: expiry } : {}),
    ...(h.user_properties ? { userProperties: h.user_properties.map((p) => ({ name: p.key, value: p.value })) } : {}),
  };
}

export const createRepublishDefinition = (options: LogAppendSinkOptions = {}): SinkDefinition<RepublishConfig, Pick<ActionDeps, 'log'>> => ({
  type: 'republish',
  awsKey: 'republish',
  summary: 'publish the output to an MQTT topic (through iot.egress)',
  config,
  resourceParams: ['topic'],
  maxBatchSize: LOG_APPEND_MAX_BATCH,
  create: (_config, { log }) =>
    new LogAppendSink<RepublishConfig>({
      ...options,
      name: 'republish',
      encode: (r) => {
        const p = r.params;
        const topic = republishTopic(p.topic);
        const payload = outputBytes(r.output);
        const qos = p.qos ?? 0;
        // No spread when there are no MQTT 5 headers (most rules): a spread costs more than the rest of the encode.
        const envelope = p.headers ? createEnvelope({ topic, payload, qos, ...mqttProperties(p.headers) }) : createEnvelope({ topic, payload, qos });
        // Keyed by destination (the thing for `$aws/things/...`), so one topic's messages stay in order.
        const key = envelopeKey({ topic: envelope.topic, clientId: envelope.topic, messageId: envelope.messageId });
        return { topic: TOPICS.egress, record: envelopeRecord(envelope, key) };
      },
      // iot.egress is ensured by the rules service at start.
      append: (topic, records) => log.append(topic, records),
    }),
});

export const republishAction = createRepublishDefinition();
