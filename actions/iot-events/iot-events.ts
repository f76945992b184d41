/**
 * `iot_events`: sends each rule output as a message to an AWS IoT Events input (AWS IoT
 * developer guide, iotevents-rule-action; API reference, IotEventsAction): `input_name`,
 * `message_id` (template; default a new UUID, as AWS assigns), `batch_mode` (an array output gives
 * one message per element, each with a new UUID, so message_id is refused with it). A batch is
 * BatchPutMessage requests of 10 messages (IoT Events data API reference); messages listed in
 * BatchPutMessageErrorEntries fail alone (throttling and internal errors retriable).
 * AWS ended support for AWS IoT Events on 20 May 2026; kiot keeps the action so that rules
 * written for it run against a compatible endpoint. This is the one place that imports
 * `@aws-sdk/client-iot-events-data`.
 */
import { randomUUID } from 'node:crypto';
import type { IoTEventsDataClient } from '@aws-sdk/client-iot-events-data';
import { z } from 'zod';
import { awsAction, batchElements, entryError } from '../aws/index.js';
import { outputBytes } from '../runtime/deps.js';
import { crossChecked, paramsSchema } from '../runtime/params.js';

export const IOT_EVENTS_MAX_MESSAGES = 10;
const RETRIABLE = new Set(['ThrottlingException', 'InternalFailureException', 'ServiceUnavailableException']);

const schema = crossChecked(
  paramsSchema({
    input_name: z.string().min(1),
    message_id: z.string().optional(),
    batch_mode: z.boolean().optional(),
    role_arn: z.string().optional(),
  }),
  (p, problem) => {
    if (p.batch_mode && p.message_id !== undefined) problem('message_id', 'message_id cannot be set with batch_mode = true (each message gets a new UUID)');
  },
);

export type IotEventsConfig = ReturnType<typeof schema.parse>;

interface Message {
  messageId: string;
  inputName: string;
  payload: Buffer;
}

type Sdk = typeof import('@aws-sdk/client-iot-events-data');

export const createIotEventsDefinition = awsAction<IotEventsConfig, Message, Sdk, IoTEventsDataClient>({
  type: 'iot_events',
  awsKey: 'iotEvents',
  summary: 'send each output to an AWS IoT Events input (BatchPutMessage)',
  config: schema,
  resourceParams: ['input_name'],
  load: () => import('@aws-sdk/client-iot-events-data'),
  client: (m, options) => new m.IoTEventsDataClient(options) as IoTEventsDataClient,
  request: () => ({
    target: 'IoT Events',
    maxEntries: IOT_EVENTS_MAX_MESSAGES,
    group: () => 'inputs',
    entries(record) {
      const p = record.params;
      const elements = batchElements(record.output, p.batch_mode, Number.MAX_SAFE_INTEGER);
      if (typeof elements === 'string') return elements;
      if (p.message_id === '') return 'message_id rendered empty';
      return elements.map((e) => ({ messageId: p.message_id ?? randomUUID(), inputName: p.input_name, payload: outputBytes(e) }));
    },
    async send({ sdk: m, client }, _record, messages, signal) {
      const out = await client.send(new m.BatchPutMessageCommand({ messages: [...messages] }), { abortSignal: signal });
      const errors = new Map((out.BatchPutMessageErrorEntries ?? []).map((e) => [e.messageId, e]));
      return messages.map((msg) => {
        const e = errors.get(msg.messageId);
        return e ? entryError(e.errorCode, e.errorMessage, RETRIABLE) : undefined;
      });
    },
  }),
});

export const iotEventsAction = createIotEventsDefinition();
