/**
 * Answers device requests on AWS IoT's reserved topics of services kiot does not have yet
 * (Jobs) with the service's `/rejected` reply, so that a device written for
 * AWS IoT is told at once instead of waiting for an answer that never comes. It reads
 * `iot.ingress` as its own consumer group and answers on `iot.egress`, the way the real
 * services will; each service's entry goes when that service lands.
 *
 * Error payloads are the service's own (AWS IoT developer guide, "Jobs device MQTT API: error
 * response"), with the request's clientToken echoed.
 */
import { createEnvelope, createEnvelopeConsumer, TOPICS, type Envelope, type EnvelopeConsumer, type Log, type Logger, envelopeRecord } from '../core/index.js';

interface PendingService {
  readonly name: string;
  /** The request topics, with the reply going to `<topic>/rejected`. */
  readonly requests: RegExp;
  readonly error: (message: string, clientToken: string | undefined, now: number) => Record<string, unknown>;
}

/** The jobs request topics (`$aws/things/<thing>/jobs/...`). */
const PENDING: readonly PendingService[] = [
  {
    name: 'Jobs',
    requests: /^\$aws\/things\/[^/]+\/jobs\/(get|start-next|[^/]+\/get|[^/]+\/update)$/,
    error: (message, clientToken, now) => ({ code: 'InternalError', message, timestamp: Math.floor(now / 1000), ...(clientToken ? { clientToken } : {}) }),
  },
];

/** The consumer group of the responder (one answer per request, whichever process runs it). */
export const NOT_IMPLEMENTED_GROUP = 'kiot-not-implemented';

export interface NotImplementedResponderDeps {
  readonly log: Log;
  readonly logger: Logger;
}

/** Starts answering; `stop()` leaves the group. */
export function createNotImplementedResponder(deps: NotImplementedResponderDeps): EnvelopeConsumer {
  const logger = deps.logger.child({ module: 'ingest.reserved-topics' });
  return createEnvelopeConsumer({
    log: deps.log,
    logger,
    groupId: NOT_IMPLEMENTED_GROUP,
    topics: [TOPICS.ingress],
    commitIntervalMs: 1000,
    topicFilter: (topic) => PENDING.some((s) => s.requests.test(topic)),
    deliver: (request) => {
      const service = PENDING.find((s) => s.requests.test(request.topic));
      if (!service) return;
      const reply = createEnvelope({
        topic: `${request.topic}/rejected`,
        payload: Buffer.from(JSON.stringify(service.error(`kiot does not implement ${service.name} yet`, clientTokenOf(request), Date.now()))),
        qos: 1,
        ...(request.thingName !== undefined ? { thingName: request.thingName } : {}),
      });
      return deps.log
        .append(TOPICS.egress, [envelopeRecord(reply)])
        .then(() => undefined);
    },
  });
}

function clientTokenOf(request: Envelope): string | undefined {
  try {
    const body: unknown = JSON.parse(request.payload.toString('utf8'));
    const token = typeof body === 'object' && body !== null ? (body as { clientToken?: unknown }).clientToken : undefined;
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}
