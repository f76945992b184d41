/**
 * AWS IoT's data-plane retained-message operations over the gateway's `iot.retained` store:
 * ListRetainedMessages (`GET /retainedMessage`) and GetRetainedMessage
 * (`GET /retainedMessage/{topic}`), in the shapes `@aws-sdk/client-iot-data-plane` reads
 * (payload and user properties as base64 blobs, times in epoch milliseconds).
 */
import { PlatformError, type Envelope } from '../../core/index.js';
import { paginate } from '../../registry/index.js';
import type { AwsOperation } from '../operation.js';
import { pageRequest } from './aws-input.js';

/** What the operations read: the retained messages the gateway keeps. */
export interface RetainedReader {
  get(topic: string): Envelope | undefined;
  all(): Envelope[];
}

export function retainedMessageOperations(retained: RetainedReader): AwsOperation[] {
  return [
    {
      name: 'ListRetainedMessages',
      method: 'GET',
      path: '/retainedMessage',
      async handle(request) {
        const page = paginate(retained.all(), (e) => e.topic, pageRequest(request));
        return {
          retainedTopics: page.items.map((e) => ({ topic: e.topic, payloadSize: e.payload.length, qos: e.qos, lastModifiedTime: e.receivedAt })),
          ...(page.nextToken ? { nextToken: page.nextToken } : {}),
        };
      },
    },
    {
      name: 'GetRetainedMessage',
      method: 'GET',
      path: '/retainedMessage/{topic+}',
      async handle(request) {
        const topic = request.params['topic']!;
        const e = retained.get(topic);
        if (!e) throw new PlatformError('REGISTRY_NOT_FOUND', `No retained message for topic ${topic}`, { details: { resourceId: topic } });
        return {
          topic: e.topic,
          payload: e.payload.toString('base64'),
          qos: e.qos,
          lastModifiedTime: e.receivedAt,
          // AWS: the MQTT 5 user properties as a base64 JSON array of one-key objects.
          ...(e.userProperties.length > 0 ? { userProperties: Buffer.from(JSON.stringify(e.userProperties.map((p) => ({ [p.name]: p.value })))).toString('base64') } : {}),
        };
      },
    },
  ];
}
