/**
 * Reads envelopes off the log and hands them to a delivery function, in log order per
 * partition. Every gateway process runs one in a consumer group of its own (so each sees every
 * record) starting at the latest offset: messages published on other gateways (`iot.ingress`)
 * and messages the platform sends to devices (`iot.egress`). State services (shadow) run one
 * in a shared group to serve the requests devices publish on their reserved topics.
 *
 * Offsets are committed only after every delivery of the records before them is durable (the
 * promise `deliver` returns: messages queued for offline persistent sessions written to their
 * session records), so a consumer that restarts in the same group delivers again, rather than
 * loses, what a crash caught in between.
 */
import { HANDLED_HEADER, ORIGIN_HEADER, decodeEnvelope, envelopeTopic, envelopeTopicStartsWith, type Envelope } from './envelope.js';
import type { Consumer, Log, LogRecord, TopicPartitionOffset } from './log/log.js';
import type { Logger } from './logger.js';
import { TOPICS, topicSpec } from './topics.js';

export interface EnvelopeConsumerOptions {
  readonly log: Log;
  readonly logger: Logger;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Records carrying this origin header were delivered locally already and are skipped. */
  readonly skipOrigin?: string;
  /** Records whose `kiot-handled` header is this were answered already, as they were written (MessageTaker), and are skipped. */
  readonly skipHandled?: string;
  /** Only envelopes whose MQTT topic starts with this are looked at (compared in the encoded bytes). */
  readonly topicPrefix?: string;
  /** Only envelopes whose MQTT topic passes are decoded and delivered (the topic is read without decoding). */
  readonly topicFilter?: (topic: string) => boolean;
  /**
   * Called in log order per partition; must not throw for one bad message (it is logged and
   * skipped). May return a promise that resolves once the delivery is durable; the batch's
   * offsets are committed only after it (a rejection makes the batch be delivered again).
   */
  readonly deliver: (envelope: Envelope, record: LogRecord) => void | Promise<void>;
  /**
   * How often, at most, offsets are committed per partition (a commit costs a durable write); a
   * commit held back is made once the interval has passed, so that a partition gone quiet has
   * everything delivered committed (a rebalance then delivers none of it again); undefined = never: the group starts at the latest offset every time (a fresh group id).
   */
  readonly commitIntervalMs?: number;
}

export interface EnvelopeConsumer {
  /** Resolves once the consumer holds its partitions. */
  start(): Promise<void>;
  /** Safe twice. */
  stop(): Promise<void>;
}

export function createEnvelopeConsumer(options: EnvelopeConsumerOptions): EnvelopeConsumer {
  const logger = options.logger.child({ module: 'envelope-consumer' });
  const skip = options.skipOrigin === undefined ? undefined : Buffer.from(options.skipOrigin);
  const handled = options.skipHandled === undefined ? undefined : Buffer.from(options.skipHandled);
  const prefix = options.topicPrefix === undefined ? undefined : Buffer.from(options.topicPrefix);
  let consumer: Consumer | undefined;
  let stopping: Promise<void> | undefined;
  /** Per partition: the next offset to commit (everything before it delivered durably) and when the last commit was. */
  const progress = new Map<string, { next: TopicPartitionOffset; committed: number; at: number }>();
  /** Makes the commits held back by the interval once it has passed, so that a quiet partition's offset catches up. */
  let held: NodeJS.Timeout | undefined;
  const commit = async (c: Consumer, keys: Iterable<string>, force: boolean) => {
    const due: TopicPartitionOffset[] = [];
    const now = Date.now();
    let wait = Infinity;
    for (const key of keys) {
      const p = progress.get(key);
      if (!p || p.next.offset === p.committed) continue;
      const left = p.at + options.commitIntervalMs! - now;
      if (!force && left > 0) {
        wait = Math.min(wait, left);
        continue;
      }
      due.push(p.next);
      p.committed = p.next.offset;
      p.at = now;
    }
    if (wait !== Infinity && !held && !stopping) {
      held = setTimeout(() => {
        held = undefined;
        commit(c, progress.keys(), false).catch((err: unknown) => logger.warn({ err }, 'could not commit delivered offsets'));
      }, wait).unref();
    }
    if (due.length > 0) await c.commit(due);
  };
  return {
    async start() {
      consumer = options.log.consumer({
        groupId: options.groupId,
        topics: options.topics,
        startFrom: 'latest',
        // Partitions taken away: commit what was delivered, so that their next owner goes on from there.
        onRevoked: async (partitions) => {
          if (options.commitIntervalMs === undefined || !consumer) return;
          const keys = partitions.map((p) => `${p.topic}/${p.partition}`);
          await commit(consumer, keys, true).catch((err) => logger.warn({ err }, 'could not commit delivered offsets'));
          // Should a partition come back, its progress starts from what is committed then, not from this.
          for (const key of keys) progress.delete(key);
        },
        eachBatch: async (batch, c) => {
          const durable: Promise<void>[] = [];
          for (const record of batch.records) {
            const origin = record.headers[ORIGIN_HEADER];
            if (skip && origin && origin.equals(skip)) continue;
            if (handled && record.headers[HANDLED_HEADER]?.equals(handled)) continue;
            if (!record.value) continue;
            if (prefix && !envelopeTopicStartsWith(record.value, prefix)) continue;
            if (options.topicFilter) {
              const topic = envelopeTopic(record.value);
              if (topic !== undefined && !options.topicFilter(topic)) continue;
            }
            let envelope: Envelope;
            try {
              envelope = decodeEnvelope(record.value);
            } catch (err) {
              logger.warn({ err, topic: record.topic, partition: record.partition, offset: record.offset }, 'skipping a record that is not an envelope');
              continue;
            }
            try {
              const done = options.deliver(envelope, record);
              if (done) durable.push(done);
            } catch (err) {
              logger.error({ err, topic: envelope.topic }, 'delivery failed');
            }
          }
          if (options.commitIntervalMs === undefined) return;
          // Throws if a queued message could not be made durable: the batch comes again.
          await Promise.all(durable);
          const last = batch.records[batch.records.length - 1];
          if (!last) return;
          const key = `${batch.topic}/${batch.partition}`;
          const next = { topic: batch.topic, partition: batch.partition, offset: last.offset + 1 };
          const p = progress.get(key);
          if (p) p.next = next;
          else progress.set(key, { next, committed: -1, at: 0 });
          // At most one commit per interval per partition: a commit is a durable write of its own.
          await commit(c, [key], false);
        },
      });
      await consumer.start();
    },
    stop() {
      return (stopping ??= (async () => {
        // Stopping revokes every partition, which commits what was delivered.
        clearTimeout(held);
        held = undefined;
        await consumer?.stop();
      })());
    },
  };
}

/**
 * How a state service (shadow, jobs, fleet provisioning) reads the requests devices publish on
 * its reserved topics: one consumer group per service on `iot.ingress` (one answer per request,
 * whichever process runs it), only the topics `accepts` names decoded, offsets committed at most
 * once a second. `start()` ensures the topic first.
 */
export function createRequestConsumer(options: {
  readonly log: Log;
  readonly logger: Logger;
  readonly groupId: string;
  readonly accepts: (topic: string) => boolean;
  readonly deliver: EnvelopeConsumerOptions['deliver'];
}): EnvelopeConsumer {
  const consumer = createEnvelopeConsumer({
    log: options.log,
    logger: options.logger,
    groupId: options.groupId,
    topics: [TOPICS.ingress],
    commitIntervalMs: REQUEST_COMMIT_INTERVAL_MS,
    topicPrefix: RESERVED_TOPIC_PREFIX,
    topicFilter: options.accepts,
    // Requests a service of the receiving gateway's process answered as they were written.
    skipHandled: options.groupId,
    deliver: options.deliver,
  });
  return {
    async start() {
      await options.log.ensureTopic(topicSpec(TOPICS.ingress));
      await consumer.start();
    },
    stop: () => consumer.stop(),
  };
}

const REQUEST_COMMIT_INTERVAL_MS = 1000;
/** Every state service's request topic is one of AWS IoT's reserved topics. */
const RESERVED_TOPIC_PREFIX = '$aws/';
