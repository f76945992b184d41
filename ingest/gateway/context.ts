/**
 * What every connection of a gateway shares: its limits and clock, the session store, the
 * router and the ingest writer, and the egress consumer that delivers what other gateways and
 * services publish. The old `broker.ts`, split into those parts; this file only composes them.
 *
 * Where state lives:
 * - every published message is appended to `iot.ingress` before it is acknowledged or
 *   delivered (`IngestWriter`); other gateways on the same log receive it through their
 *   egress consumer;
 * - sessions in `iot.sessions` (`SessionStore`), retained messages in `iot.retained`
 *   (`RetainedStore`): every gateway follows both, so a client may reconnect to any gateway.
 */
import { createEnvelope, createEnvelopeConsumer, TOPICS, topicSpec, type Envelope, type EnvelopeConsumer, type Log, type Logger, type MessageTaker } from '../../core/index.js';
import type { GatewayClock } from '../clock.js';
import { RetainedStore } from '../retained-store.js';
import { createIngestWriter, type IngestWriter } from '../writer.js';
import { hasLifecycleEvents, type LifecycleEvent } from './lifecycle.js';
import type { GatewayLimits } from './limits.js';
import type { GatewayMetrics } from './metrics.js';
import { KeepAliveWatch } from './keep-alive.js';
import { KeyedRate } from './rate-limit.js';
import { Router } from './router.js';
import { DURABLE, SessionStore } from './session-store.js';
import { SubscriptionIndex } from './subscription-index.js';

/**
 * How often the delivery consumer commits what it delivered (and made durable). Its group is
 * named after the gateway id, so a gateway that restarts with the same id (kiot up on the
 * embedded log) goes on from there: what it read after the last commit is delivered again
 * (at least once), nothing queued for an offline session is lost in between.
 */
const EGRESS_COMMIT_INTERVAL_MS = 1000;

export interface GatewayContextDeps {
  readonly log: Log;
  readonly logger: Logger;
  readonly gatewayId: string;
  readonly limits: GatewayLimits;
  readonly metrics: GatewayMetrics;
  readonly clock: GatewayClock;
  /** See `GatewayDeps.isDeviceClientId`. */
  readonly isDeviceClientId?: ((clientId: string) => boolean) | undefined;
  /** A retained store shared with the rest of the process; when absent the context opens one and closes it on stop. */
  readonly retained?: RetainedStore;
  /** The ingest writer's `takers` (services of this process that answer some messages as they are written). */
  readonly takers?: readonly MessageTaker[];
}

export interface GatewayContext {
  readonly gatewayId: string;
  readonly limits: GatewayLimits;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly clock: GatewayClock;
  readonly sessions: SessionStore;
  readonly router: Router;
  readonly writer: IngestWriter;
  readonly isDeviceClientId?: ((clientId: string) => boolean) | undefined;
  /** Authenticated CONNECTs by client id (`limits.maxConnectsPerSecond`). */
  readonly connectRate: KeyedRate;
  /** Every connection with a keep-alive, checked by one timer per keep-alive value. */
  readonly keepAlive: KeepAliveWatch;
  /** Publishes a message the gateway itself makes (a will): written, then delivered here. */
  publishInternal(envelope: Envelope): Promise<void>;
  /** Publishes an AWS IoT lifecycle event for `clientId` (not awaited; a failure is logged). */
  lifecycle(event: LifecycleEvent, clientId: string): void;
  /** Leaves the consumer group, writes every persistent session, closes the stores. Connections are closed first. Safe twice. */
  stop(): Promise<void>;
}

/** Ensures the topics, loads sessions and retained messages, joins the delivery consumer. */
export async function openGatewayContext(deps: GatewayContextDeps): Promise<GatewayContext> {
  const { log, gatewayId, clock } = deps;
  const logger = deps.logger.child({ module: 'ingest.gateway' });
  await log.ensureTopic(topicSpec(TOPICS.ingress));
  await log.ensureTopic(topicSpec(TOPICS.egress));
  const index = new SubscriptionIndex();
  const own = deps.retained ? undefined : await RetainedStore.open({ log, logger });
  const retained = deps.retained ?? own!;
  const sessions = await SessionStore.open({ log, logger, gatewayId, limits: deps.limits, clock, index });
  const router = new Router({ index, sessions, retained, clock });
  const writer = createIngestWriter({ log, logger, retained, origin: gatewayId, ...(deps.takers ? { takers: deps.takers } : {}) });
  let stopped = false;
  let stopping: Promise<void> | undefined;

  const publishInternal = async (envelope: Envelope): Promise<void> => {
    await writer.write(envelope);
    await router.deliver(envelope, envelope.clientId);
  };

  const consumer: EnvelopeConsumer = createEnvelopeConsumer({
    log,
    logger: deps.logger,
    groupId: `kiot-gateway-${gatewayId}`,
    topics: [TOPICS.ingress, TOPICS.egress],
    skipOrigin: gatewayId,
    // A message no session here subscribes to is not decoded: with several gateways, most are
    // for the others' devices (and a shadow's /update/documents, for instance, often for nobody).
    topicFilter: (topic) => index.match(topic).length > 0,
    deliver: (envelope) => {
      const durable = router.deliver(envelope, undefined);
      // Nothing queued for an offline session: nothing for the batch's commit to wait for.
      return durable === DURABLE ? undefined : durable;
    },
    commitIntervalMs: EGRESS_COMMIT_INTERVAL_MS,
  });
  await consumer.start();

  return {
    gatewayId,
    limits: deps.limits,
    metrics: deps.metrics,
    logger,
    clock,
    sessions,
    router,
    writer,
    isDeviceClientId: deps.isDeviceClientId,
    connectRate: new KeyedRate(deps.limits.maxConnectsPerSecond),
    keepAlive: new KeepAliveWatch(clock),
    publishInternal,
    lifecycle(event, clientId) {
      if (stopped || !hasLifecycleEvents(clientId)) return;
      const envelope = createEnvelope({ topic: event.topic, payload: Buffer.from(JSON.stringify(event.payload)), qos: 1, clientId, receivedAt: clock.now() });
      publishInternal(envelope).catch((err) => logger.warn({ err, topic: event.topic }, 'lifecycle event was not published'));
    },
    stop() {
      return (stopping ??= (async () => {
        stopped = true;
        // The consumer first: its last batch is delivered (and queued durably) before the
        // sessions' final write, and nothing arrives for a store that is closing.
        await consumer.stop();
        await sessions.stop();
        await own?.close();
      })());
    },
  };
}
