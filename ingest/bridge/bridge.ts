/**
 * The bridge from an existing MQTT broker (Mosquitto, EMQX, HiveMQ) to the log: it subscribes
 * at the broker with mqtt.js and puts what arrives on iot.ingress, and it publishes iot.egress
 * back to the broker. See the README, "Bridge", for the user-facing rules.
 *
 * Delivery guarantees, and how mqtt.js gives them:
 * - mqtt.js handles one incoming packet at a time and sends PUBACK (QoS 1) only after
 *   `handleMessage`'s callback, so the bridge calls back once the append is durable. With
 *   MQTT 5, `customHandleAcks` runs before PUBREC, so QoS 2 is appended before PUBREC too
 *   (mqtt.js keeps a QoS 2 message in memory between PUBREC and PUBREL, which a crash
 *   would lose). mqtt.js ignores `customHandleAcks` on MQTT 3.1.1, so there the bridge
 *   subscribes with QoS 1 and the broker downgrades QoS 2 messages to it.
 * - The session at the broker is persistent (clean start off, a session expiry on MQTT 5),
 *   so a message that was never acknowledged is redelivered when the bridge reconnects. When
 *   an append fails the bridge drops the connection and reconnects with backoff: the broker
 *   only redelivers on a new connection (MQTT 5.0, 4.4).
 * - QoS 0 messages are not waited for (at most once, as MQTT defines them), but they share one
 *   in-order append queue with QoS 1/2, so one connection's messages keep their order.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { IClientOptions, IClientSubscribeOptions, IPublishPacket, MqttClient } from 'mqtt';
import {
  backoffMs,
  PlatformError,
  TOPICS,
  decodeEnvelope,
  topicSpec,
  type BackoffPolicy,
  type BridgeConfig,
  type Consumer,
  type Envelope,
  type Log,
  type Logger,
  type RecordBatch,
  type UserProperty,
  topicMatches,
} from '../../core/index.js';
import { envelopeFromMqtt, userPropertiesToPacket } from '../mqtt-envelope.js';
import { createIngestWriter } from '../writer.js';

/**
 * User property that marks what a bridge published to the broker (value: the share group, or
 * `kiot` without one), so that a bridge subscribed to the same topics does not ingest it again.
 * The MQTT 5 alternative, No Local, is a protocol error on shared subscriptions (MQTT 5.0, 3.8.3.1).
 */
export const BRIDGE_ORIGIN_PROPERTY = 'kiot-bridge';
/** Consumer group of the bridges on iot.egress: every egress message goes to the broker once. */
export const BRIDGE_EGRESS_GROUP = 'kiot-bridge';
/** Reconnect backoff: doubles from the initial delay up to the maximum, with jitter. */
export const DEFAULT_INITIAL_BACKOFF_MS = 250;
export const DEFAULT_MAX_BACKOFF_MS = 30_000;
/** How long the broker keeps the bridge's session (and queues its messages) while it is away. */
export const DEFAULT_SESSION_EXPIRY_SEC = 24 * 60 * 60;
/** `start()` waits this long for the first subscription, then goes on retrying in the background. */
export const DEFAULT_START_TIMEOUT_MS = 10_000;
/** QoS 0 messages queued for append beyond this make the bridge stop reading from the broker. */
const QOS0_HIGH_WATER = 1_000;

export interface BridgeDeps {
  readonly log: Log;
  readonly logger: Logger;
  /** Tuning for tests; defaults are the constants above. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly startTimeoutMs?: number;
  readonly sessionExpirySec?: number;
}

export interface Bridge {
  /**
   * Reads the TLS files, connects, subscribes and joins the egress consumer group. Resolves
   * after the first subscription, or after the start timeout with a warning (the bridge keeps
   * retrying with backoff). Throws CONFIG_INVALID for an unreadable TLS file, or when the
   * broker refuses the first connection or subscription (credentials, protocol, shared
   * subscriptions), naming the setting to fix.
   */
  start(): Promise<void>;
  /**
   * Stops the egress consumer (uncommitted egress is published again by the next bridge),
   * then disconnects. Unacknowledged ingress stays in the broker session. Safe to call twice.
   */
  stop(): Promise<void>;
  /** Successful connections (subscribed) so far; grows on every reconnect. */
  connections(): number;
}

export function createBridge(config: BridgeConfig, deps: BridgeDeps): Bridge {
  const { log } = deps;
  const logger = deps.logger.child({ module: 'ingest.bridge' });
  const clientId = config.clientId ?? `kiot-bridge-${hostname()}`;
  const marker = config.shareGroup ?? 'kiot';
  const v5 = config.mqttVersion === 5;
  const reconnectBackoff: BackoffPolicy = {
    initialBackoffMs: deps.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS,
    maxBackoffMs: deps.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
  };
  const where = redact(config.url);

  let client: MqttClient | undefined;
  let egress: Consumer | undefined;
  let connectionCount = 0;
  /** Bumped on every (re)connect; an append that finishes under an older one is not acknowledged. */
  let generation = 0;
  /** The connection of this generation is being dropped: acknowledge nothing more on it. */
  let resetting = false;
  let attempts = 0;
  let appendFailing = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  let stopPromise: Promise<void> | undefined;
  const stopController = new AbortController();
  let firstReady: { resolve(): void; reject(err: unknown): void } | undefined;

  // The one ingest writer, in order (one append at a time). No retained store: a retained
  // message stays the external broker's, and the envelope only records the flag.
  const writer = createIngestWriter({ log, logger });
  const write = (topic: string, packet: IPublishPacket): Promise<void> => {
    const envelope = envelopeFromMqtt({ ...packet, topic }, { clientId });
    const origin = originClientId(topic, envelope.userProperties);
    return writer.write(origin === undefined ? envelope : { ...envelope, clientId: origin }).then(
      () => {
        appendFailing = false;
      },
      (err: unknown) => {
        appendFailing = true;
        throw err;
      },
    );
  };

  const originClientId = (topic: string, props: readonly UserProperty[]): string | undefined => {
    const from = config.clientIdFrom;
    if (from?.kind === 'property') return props.find((p) => p.name === from.name)?.value || undefined;
    if (from?.kind === 'topic') return topic.split('/')[from.level - 1] || undefined;
    return undefined;
  };

  const isEcho = (packet: IPublishPacket): boolean => {
    const mine = packet.properties?.userProperties?.[BRIDGE_ORIGIN_PROPERTY];
    return Array.isArray(mine) ? mine.includes(marker) : mine === marker;
  };

  /** Drops the current connection so that the broker redelivers what was not acknowledged. */
  const resetConnection = (gen: number, err: unknown): void => {
    if (gen !== generation || resetting || stopping) return;
    resetting = true;
    logger.warn({ err }, 'append to iot.ingress failed; reconnecting so the broker redelivers');
    client?.stream?.destroy();
  };

  /**
   * Appends one message and calls `done` with no error once it is durable (the caller then
   * acknowledges it), or with an error when it must not be acknowledged.
   */
  const ingest = (topic: string, packet: IPublishPacket, done: (err?: Error) => void): void => {
    const gen = generation;
    if (resetting) return done(new Error('connection is being reset'));
    if (isEcho(packet)) return done();
    let appended: Promise<void>;
    try {
      appended = write(topic, packet);
    } catch (err) {
      // The message cannot be an envelope (e.g. a topic that is not valid UTF-8): acknowledging
      // it drops it, which redelivery could never fix.
      logger.warn({ err, topic }, 'dropping a bridged message that does not fit the envelope');
      return done();
    }
    if (packet.qos === 0) {
      appended.catch((err) => logger.warn({ err, topic }, 'QoS 0 message lost: append to iot.ingress failed'));
      if (writer.pending < QOS0_HIGH_WATER) return done();
      // Backpressure: stop reading from the socket until the queue has gone out.
      appended.then(() => done(), () => done());
      return;
    }
    appended.then(
      () => done(gen === generation && !resetting ? undefined : new Error('connection was reset')),
      (err: unknown) => {
        resetConnection(gen, err);
        done(err instanceof Error ? err : new Error(String(err)));
      },
    );
  };

  const subscribe = async (c: MqttClient): Promise<void> => {
    const subscriptions: Record<string, IClientSubscribeOptions> = {};
    for (const filter of config.topics) {
      const topic = config.shareGroup ? `$share/${config.shareGroup}/${filter}` : filter;
      // QoS 2 only where customHandleAcks lets the bridge append before PUBREC (MQTT 5).
      subscriptions[topic] = v5 ? { qos: 2, rap: true, nl: !config.shareGroup } : { qos: 1 };
    }
    const granted = await c.subscribeAsync(subscriptions);
    const refused = granted.filter((g) => g.qos > 2);
    if (refused.length > 0) {
      const hint = config.shareGroup ? ' (does the broker support shared subscriptions? bridgeShareGroup none turns them off)' : '';
      throw new PlatformError('CONFIG_INVALID', `bridgeTopics: the broker at ${where} refused ${refused.map((g) => g.topic).join(', ')}${hint}`, {
        details: { field: 'bridgeTopics', topics: refused.map((g) => g.topic) },
      });
    }
  };

  const scheduleReconnect = (): void => {
    if (stopping || reconnectTimer) return;
    const delay = backoffMs(reconnectBackoff, attempts); // jittered, so bridges do not reconnect in step
    attempts++;
    logger.debug({ delayMs: delay, attempt: attempts }, 'reconnecting to the broker');
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (stopping || !client) return;
      generation++;
      resetting = false;
      // Keep the stores: egress publishes in flight are resent after the reconnect.
      client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
    }, delay);
  };

  const clientOptions = async (): Promise<IClientOptions> => {
    const file = async (field: string, path: string | undefined): Promise<Buffer | undefined> => {
      if (path === undefined) return undefined;
      try {
        return await readFile(path);
      } catch (err) {
        throw new PlatformError('CONFIG_INVALID', `${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { details: { field }, cause: err });
      }
    };
    const [ca, cert, key] = await Promise.all([file('bridgeCa', config.ca), file('bridgeCert', config.cert), file('bridgeKey', config.key)]);
    return {
      clientId,
      protocolVersion: config.mqttVersion,
      clean: false,
      reconnectPeriod: 0, // the bridge reconnects itself, with backoff
      connectTimeout: 10_000,
      ...(v5 ? { properties: { sessionExpiryInterval: deps.sessionExpirySec ?? DEFAULT_SESSION_EXPIRY_SEC } } : {}),
      ...(config.username !== undefined ? { username: config.username } : {}),
      ...(config.password !== undefined ? { password: config.password } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      rejectUnauthorized: true,
      ...(v5
        ? {
            // A number as the first argument is the reason code; 0 = success (mqtt.js handlers/publish.js).
            customHandleAcks: (topic: string, _message: Buffer, packet: IPublishPacket, ack: (err: Error | number, code?: number) => void) => {
              if (packet.qos !== 2) return ack(0);
              ingest(topic, packet, (err) => ack(err ?? 0));
            },
          }
        : {}),
    };
  };

  const wire = (c: MqttClient): void => {
    c.handleMessage = (packet, callback) => {
      // MQTT 5 QoS 2 was appended in customHandleAcks; this call comes with PUBREL.
      if (packet.qos === 2 && v5) return callback();
      // packet.topic is complete: the bridge advertises no topic alias maximum, so brokers send no aliases.
      ingest(packet.topic, packet, (err) => callback(err));
    };
    c.on('connect', (connack) => {
      if (!appendFailing) attempts = 0;
      const first = connectionCount === 0;
      // A present session still holds the subscriptions; subscribing again would resend
      // retained messages on plain subscriptions.
      const ready = connack.sessionPresent && !first ? Promise.resolve() : subscribe(c);
      ready.then(
        () => {
          connectionCount++;
          if (!first) logger.info({ broker: where }, 'reconnected to the broker');
          firstReady?.resolve();
        },
        (err: unknown) => {
          if (firstReady) firstReady.reject(err);
          else logger.error({ err }, 'subscribing at the broker failed');
          c.stream?.destroy();
        },
      );
    });
    c.on('close', () => scheduleReconnect());
    c.on('error', (err: Error & { code?: number | string }) => {
      // Refused connections (bad credentials, protocol) fail start(); later ones keep retrying.
      if (typeof err.code === 'number' && firstReady && connectionCount === 0) {
        const field = refusalField(err.code);
        firstReady.reject(new PlatformError('CONFIG_INVALID', `${field}: the broker at ${where} refused the connection: ${err.message}`, { details: { field, reasonCode: err.code }, cause: err }));
        return;
      }
      logger.warn({ err, broker: where }, 'broker connection error');
    });
  };

  const publishEgress = async (batch: RecordBatch, consumer: Consumer): Promise<void> => {
    const c = client;
    if (!c || batch.records.length === 0) return;
    const sends: Promise<unknown>[] = [];
    for (const record of batch.records) {
      if (record.value === null) continue;
      let envelope: Envelope;
      try {
        envelope = decodeEnvelope(record.value);
      } catch (err) {
        logger.warn({ err, partition: record.partition, offset: record.offset }, 'skipping an iot.egress record that is not an envelope');
        continue;
      }
      if (!config.egressTopics.some((filter) => topicMatches(filter, envelope.topic))) continue;
      const topic = envelope.topic;
      const sent = c.publishAsync(topic, envelope.payload, { qos: envelope.qos, retain: envelope.retain, ...(v5 ? { properties: publishProperties(envelope, marker) } : {}) });
      sends.push(
        sent.catch((err: Error & { code?: unknown }) => {
          // A reason code is the broker's verdict on this message (e.g. 0x87 not authorized):
          // sending it again gets the same answer, so it is dropped. Anything else is retried.
          if (typeof err.code !== 'number') throw err;
          logger.warn({ err, topic, reasonCode: err.code }, 'the broker refused an egress message; dropping it');
        }),
      );
    }
    // Publishes resolve when the broker acknowledged them (QoS 1/2) or they were written (QoS 0);
    // while the broker is away they wait in mqtt.js's store. Stopping abandons the wait, and
    // the uncommitted batch goes to the next bridge.
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => reject(new PlatformError('INTERNAL', 'bridge is stopping'));
      if (stopController.signal.aborted) onAbort();
      else stopController.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([Promise.all(sends), stopped]);
    } finally {
      stopController.signal.removeEventListener('abort', onAbort!);
    }
    const last = batch.records[batch.records.length - 1]!;
    await consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: last.offset + 1 }]);
  };

  return {
    async start() {
      if (client || stopping) return;
      await log.ensureTopic(topicSpec(TOPICS.ingress));
      await log.ensureTopic(topicSpec(TOPICS.egress));
      const options = await clientOptions();
      const ready = new Promise<void>((resolve, reject) => (firstReady = { resolve, reject }));
      // mqtt.js is loaded by a bridge that starts, not by every `kiot up` (~1.5 MB of heap, more resident).
      const { connect } = await import('mqtt');
      const c = connect(config.url, options);
      client = c;
      wire(c);
      if (config.mqttVersion === 4 && config.egressTopics.length > 0) {
        logger.warn({}, 'MQTT 3.1.1 has no user properties: keep bridgeEgressTopics apart from bridgeTopics, or egress comes back as ingress');
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), deps.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS)));
      try {
        const outcome = await Promise.race([ready, timeout]);
        if (outcome === 'timeout') logger.warn({ broker: where }, 'broker not reachable yet; the bridge keeps retrying in the background');
      } catch (err) {
        await this.stop();
        throw err;
      } finally {
        clearTimeout(timer);
        firstReady = undefined;
      }
      if (config.egressTopics.length > 0 && !stopping) {
        egress = log.consumer({ groupId: BRIDGE_EGRESS_GROUP, topics: [TOPICS.egress], startFrom: 'latest', eachBatch: publishEgress });
        await egress.start();
      }
    },

    stop() {
      stopPromise ??= (async () => {
        stopping = true;
        clearTimeout(reconnectTimer);
        stopController.abort();
        try {
          await egress?.stop();
        } finally {
          const c = client;
          if (c) {
            // A clean DISCONNECT keeps the session (MQTT 5: its expiry; 3.1.1: clean start off).
            const ended = await Promise.race([c.endAsync(!c.connected).then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 2_000).unref())]);
            if (!ended) c.end(true); // the broker did not take the DISCONNECT in time
          }
          // Appends in flight are not waited for: they may hang on a broken log, and nothing
          // they carry is acknowledged any more (the broker redelivers it to the next bridge).
        }
      })();
      return stopPromise;
    },

    connections: () => connectionCount,
  };
}

function publishProperties(envelope: Envelope, marker: string) {
  return {
    userProperties: userPropertiesToPacket([...envelope.userProperties, { name: BRIDGE_ORIGIN_PROPERTY, value: marker }]),
    ...(envelope.contentType !== undefined ? { contentType: envelope.contentType } : {}),
    ...(envelope.responseTopic !== undefined ? { responseTopic: envelope.responseTopic } : {}),
    ...(envelope.correlationData !== undefined ? { correlationData: envelope.correlationData } : {}),
    ...(envelope.payloadFormatIndicator !== undefined ? { payloadFormatIndicator: envelope.payloadFormatIndicator === 1 } : {}),
    ...(envelope.messageExpiryIntervalSec !== undefined ? { messageExpiryInterval: envelope.messageExpiryIntervalSec } : {}),
  };
}

/**
 * The setting to fix for a refused CONNECT: CONNACK return codes 4/5 (MQTT 3.1.1) and reason
 * codes 0x86/0x87 (MQTT 5) are credentials; 1 and 0x84 the protocol version.
 */
function refusalField(code: number): string {
  if ([4, 5, 0x86, 0x87, 0x8c].includes(code)) return 'bridgeUsername/bridgePassword';
  if (code === 1 || code === 0x84) return 'bridgeMqttVersion';
  if (code === 2 || code === 0x85) return 'bridgeClientId';
  return 'bridge';
}

/** The broker URL without credentials, for logs and errors. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return url;
  }
}
