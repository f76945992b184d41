import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as KafkaJs from 'kafkajs';
import type { Admin, Kafka, LogEntry, Message, Producer } from 'kafkajs';
import { PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import {
  appendThenSequentially,
  partitionForKey,
  toBuffer,
  type AppendBatch,
  type AppendRecord,
  type AppendResult,
  type Consumer,
  type ConsumerOptions,
  type Log,
  type LogStats,
  type SeekPosition,
  type Table,
  type TableOptions,
  type TopicPartition,
  type TopicPartitionOffset,
  type TopicSpec,
} from '../log.js';
import { KafkaConsumer, type ConsumerHost, type GroupSettings } from './kafka-consumer.js';
import { fromKafkaError, isUnknownTopicError } from './kafka-errors.js';
import { LogTable, type TableHost } from '../table.js';

/**
 * kafkajs (CommonJS) is loaded when the first KafkaLog is made, so that a kiot on the embedded
 * log never loads it (issue 12: about 1.5 MB of heap at rest, its code and sources).
 */
let kafkajs: typeof KafkaJs | undefined;
const loadKafkaJs = (): typeof KafkaJs => (kafkajs ??= createRequire(import.meta.url)('kafkajs') as typeof KafkaJs);

/** The Kafka mock's auto-created topics have 4 partitions; new topics match it (log.ts). */
export const DEFAULT_PARTITIONS = 4;
/** kafkajs's own default; a member silent this long is dropped from its group. */
export const DEFAULT_SESSION_TIMEOUT_MS = 30_000;
/** kafkajs's default; well below the session timeout, as Kafka recommends. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 3_000;
/**
 * How long an idle fetch waits at the broker. kafkajs heartbeats between fetches, so this also
 * bounds how late an idle member notices a rebalance (kafkajs's default is 5 s).
 */
export const DEFAULT_MAX_WAIT_TIME_MS = 500;
/** Pause before a batch whose handler threw is delivered again. */
export const DEFAULT_RETRY_PAUSE_MS = 1_000;
/** How long `Consumer.start()` waits to join its group before failing with LOG_UNAVAILABLE. */
export const DEFAULT_START_TIMEOUT_MS = 60_000;

/** kafkajs's default count; with the waits capped below, a call gives up after at most ~8 s of failures. */
export const DEFAULT_RETRIES = 5;
/** Longest wait between two retries (kafkajs's default is 30 s, which left `--kafka` to a closed port hanging). */
const MAX_RETRY_TIME_MS = 3_000;

export interface KafkaLogOptions {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: string[];
  readonly clientId?: string;
  readonly logger: Logger;
  /** Partitions of topics created without a count. Default {@link DEFAULT_PARTITIONS}. */
  readonly defaultPartitions?: number;
  /** Consumer group session timeout. Default {@link DEFAULT_SESSION_TIMEOUT_MS}. */
  readonly sessionTimeoutMs?: number;
  /** Default {@link DEFAULT_HEARTBEAT_INTERVAL_MS}; keep it well below the session timeout. */
  readonly heartbeatIntervalMs?: number;
  /** Default {@link DEFAULT_MAX_WAIT_TIME_MS}. */
  readonly maxWaitTimeMs?: number;
  /** Default {@link DEFAULT_RETRY_PAUSE_MS}. */
  readonly retryPauseMs?: number;
  /** Default {@link DEFAULT_START_TIMEOUT_MS}. */
  readonly startTimeoutMs?: number;
  /**
   * How often kafkajs retries a failed request (with exponential backoff from 300 ms) before
   * the call fails with LOG_UNAVAILABLE. Default {@link DEFAULT_RETRIES}.
   */
  readonly retries?: number;
}

/**
 * The bytes of records one produce request gathers from several appends, at most (an append
 * larger than this goes alone, as before): under the brokers' default limit of a record batch,
 * 1 MB (`message.max.bytes`), which one partition's share of a request must fit.
 */
const MAX_PRODUCE_BYTES = 512 * 1024;

/** An append waiting for its produce request (KafkaLog.#drainSends). */
interface QueuedSend {
  readonly topic: string;
  readonly messages: readonly (Message & { partition: number })[];
  /** Its keys' and values' bytes. */
  readonly bytes: number;
  resolve(results: AppendResult[]): void;
  reject(err: unknown): void;
}

/**
 * The log on a Kafka cluster, through kafkajs. This folder is the only place kafkajs is used.
 *
 * - Appends go through one idempotent producer with `acks=all` (-1) and one request in flight,
 *   so a retried produce is neither duplicated nor reordered by the broker. The appends made
 *   while a request is in flight go together in the next one (kafkajs's `sendBatch`, every
 *   topic in one request), in the order they were made: with one request at a time, a request
 *   per append held the log to about one append per round trip to the broker. Partitions are
 *   chosen here with log.ts's murmur2 `partitionForKey`, the Java client's default, so a key
 *   lands where Kafka's own clients put it; keyless records of one append share a partition
 *   that rotates per append (Kafka's "sticky" idea).
 * - `ensureTopic` uses CreateTopics and, where the broker refuses it (librdkafka's mock) or the
 *   topic exists, reads the metadata instead, which auto-creates the topic on brokers that do
 *   so; whatever partition count exists is then used. Only the partition count of an existing
 *   topic is compared (and a difference logged); its configs are not read back.
 * - Consumers are kafkajs group members with auto-commit off: see KafkaConsumer for how the
 *   revoke callback is derived.
 * - Seek by timestamp uses ListOffsets. A broker that cannot look up timestamps (librdkafka's
 *   mock answers "none" for every timestamp) is recognised by asking for timestamp 0 on a
 *   non-empty partition; the consumer then reads from the earliest offset and skips records
 *   older than the timestamp until the first one that is not, which gives the same answer.
 * - Tables are LogTable: a consumer in a throwaway group that replays every partition.
 */
export class KafkaLog implements Log {
  readonly kind = 'kafka';
  readonly #kafka: Kafka;
  readonly #log: Logger;
  readonly #defaultPartitions: number;
  readonly #settings: GroupSettings;
  readonly #partitions = new Map<string, number>();
  readonly #rotation = new Map<string, number>();
  readonly #consumers = new Set<KafkaConsumer>();
  readonly #tables = new Set<LogTable<unknown>>();
  readonly #consumerHost: ConsumerHost;
  readonly #tableHost: TableHost;
  #producer: Promise<Producer> | undefined;
  #admin: Promise<Admin> | undefined;
  /** The admin request running now, which the next one waits for (#withAdmin). */
  #adminQueue: Promise<void> = Promise.resolve();
  /** undefined until a timestamp lookup on a non-empty partition told us. */
  #timestampLookup: boolean | undefined;
  #closed: Promise<void> | undefined;
  #connectedOnce = false;
  readonly #brokers: readonly string[];
  #appendedRecords = 0;
  #appendedBytes = 0;
  /** Appends waiting for the produce request in flight: they go together in the next (#drainSends). */
  #queuedSends: QueuedSend[] = [];
  #sending = false;
  #consumedRecords = 0;

  constructor(options: KafkaLogOptions) {
    if (options.brokers.length === 0) throw new PlatformError('CONFIG_INVALID', 'kafka brokers: expected at least one host:port');
    this.#brokers = options.brokers;
    this.#log = options.logger.child({ module: 'log.kafka' });
    this.#defaultPartitions = options.defaultPartitions ?? DEFAULT_PARTITIONS;
    this.#settings = {
      sessionTimeoutMs: options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
      maxWaitTimeMs: options.maxWaitTimeMs ?? DEFAULT_MAX_WAIT_TIME_MS,
      retryPauseMs: options.retryPauseMs ?? DEFAULT_RETRY_PAUSE_MS,
      startTimeoutMs: options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
    };
    const kafkaLog = this.#log.child({ module: 'kafkajs' });
    const { Kafka: KafkaClient, logLevel } = loadKafkaJs();
    this.#kafka = new KafkaClient({
      clientId: options.clientId ?? 'kiot',
      brokers: options.brokers,
      logLevel: logLevel.INFO,
      // Waits between retries capped at 3 s: a call that fails every retry gives up within ~8 s.
      retry: { retries: options.retries ?? DEFAULT_RETRIES, maxRetryTime: MAX_RETRY_TIME_MS },
      // Until the first connection succeeds, a refused or unreachable broker is reported once,
      // by whoever awaited the connection, rather than as kafkajs's retry-by-retry warnings.
      logCreator: () => (entry: LogEntry) => logKafkaJs(kafkaLog, entry, this.#connectedOnce),
    });
    this.#consumerHost = {
      kafka: this.#kafka,
      logger: this.#log,
      settings: this.#settings,
      resolveSeek: (topic, partition, position) => this.#resolveSeek(topic, partition, position),
      uncommittedStarts: (groupId, partitions, startFrom) => this.#uncommittedStarts(groupId, partitions, startFrom),
      countConsumed: (records) => {
        this.#consumedRecords += records;
      },
      forget: (consumer) => {
        this.#consumers.delete(consumer);
      },
    };
    this.#tableHost = {
      logger: this.#log,
      append: (topic, records) => this.append(topic, records),
      offsets: (topic) => this.offsets(topic),
      tableConsumer: (options) => this.#newConsumer(options, true),
      forgetTable: (table) => {
        this.#tables.delete(table);
      },
    };
  }

  async ensureTopic(spec: TopicSpec): Promise<void> {
    this.#assertOpen();
    const partitions = spec.partitions ?? this.#defaultPartitions;
    const configEntries: { name: string; value: string }[] = [];
    if (spec.compacted) configEntries.push({ name: 'cleanup.policy', value: 'compact' });
    else {
      if (spec.retentionMs !== undefined) configEntries.push({ name: 'retention.ms', value: String(spec.retentionMs) });
      if (spec.retentionBytes !== undefined) configEntries.push({ name: 'retention.bytes', value: String(spec.retentionBytes) });
    }
    let created = false;
    try {
      created = await this.#withAdmin((admin) =>
        admin.createTopics({
          topics: [{ topic: spec.name, numPartitions: partitions, configEntries }],
          waitForLeaders: true,
        }),
      );
    } catch (err) {
      // Brokers may refuse CreateTopics (librdkafka's mock does not implement it, a locked-down
      // cluster may forbid it) yet auto-create topics on metadata requests: try that next.
      this.#log.debug({ err, topic: spec.name }, 'CreateTopics failed; reading metadata instead');
    }
    const actual = await this.#fetchPartitionCount(spec.name);
    if (!created && actual !== partitions) {
      this.#log.warn({ topic: spec.name, partitions: actual, wanted: partitions }, 'topic exists with a different partition count; keeping it');
    }
  }

  /** Kafka orders no writes across topics: `then` goes once `first` is acknowledged. */
  appendThen(first: AppendBatch, then: readonly AppendBatch[]): Promise<AppendResult[]>[] {
    return appendThenSequentially(this, first, then);
  }

  async append(topic: string, records: readonly AppendRecord[]): Promise<AppendResult[]> {
    this.#assertOpen();
    if (records.length === 0) return [];
    const partitions = this.#partitions.get(topic) ?? (await this.#fetchPartitionCount(topic));
    let keyless: number | undefined;
    let bytes = 0;
    const messages: (Message & { partition: number })[] = new Array(records.length);
    const now = Date.now();
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const key = r.key == null ? null : toBuffer(r.key);
      const value = r.value === null ? null : toBuffer(r.value);
      let partition = r.partition;
      if (partition === undefined) {
        if (key) partition = partitionForKey(key, partitions);
        else partition = keyless ??= this.#nextKeylessPartition(topic, partitions);
      } else if (!Number.isInteger(partition) || partition < 0 || partition >= partitions) {
        throw new PlatformError('INPUT_INVALID', `append: partition ${partition} is outside 0..${partitions - 1} of ${topic}`, {
          details: { topic, partition, partitions },
        });
      }
      bytes += (key?.length ?? 0) + (value?.length ?? 0);
      messages[i] = { key, value, partition, timestamp: String(r.timestamp ?? now), headers: r.headers };
    }
    const results = await new Promise<AppendResult[]>((resolve, reject) => {
      this.#queuedSends.push({ topic, messages, bytes, resolve, reject });
      if (!this.#sending) void this.#drainSends();
    });
    this.#appendedRecords += records.length;
    this.#appendedBytes += bytes;
    return results;
  }

  /**
   * Sends the queued appends, all of them in one request, then those queued meanwhile, and so
   * on. A request that fails fails the appends in it, not the ones after it.
   */
  async #drainSends(): Promise<void> {
    this.#sending = true;
    try {
      while (this.#queuedSends.length > 0) {
        // At least one append; more while the request stays under the cap.
        const queued = this.#queuedSends;
        let take = 1;
        let bytes = queued[0]!.bytes;
        while (take < queued.length && bytes + queued[take]!.bytes <= MAX_PRODUCE_BYTES) bytes += queued[take++]!.bytes;
        const batch = queued.splice(0, take);
        // One entry per topic, its appends' messages in append order: kafkajs writes one record
        // batch per partition, in the order given, so offsets count up from its base offset.
        const byTopic = new Map<string, Message[]>();
        for (const q of batch) {
          let messages = byTopic.get(q.topic);
          if (!messages) byTopic.set(q.topic, (messages = []));
          for (const m of q.messages) messages.push(m);
        }
        let sent: Awaited<ReturnType<Producer['sendBatch']>>;
        try {
          const producer = await this.#connectProducer();
          sent = await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
        } catch (err) {
          for (const q of batch) {
            if (isUnknownTopicError(err)) this.#partitions.delete(q.topic);
            q.reject(fromKafkaError(err, `append to ${q.topic} failed`, { topic: q.topic }));
          }
          continue;
        }
        const next = new Map<string, number>();
        for (const meta of sent) next.set(`${meta.topicName}\u0000${meta.partition}`, Number(meta.baseOffset));
        for (const q of batch) {
          const results: AppendResult[] = new Array(q.messages.length);
          let missing: string | undefined;
          for (let i = 0; i < q.messages.length; i++) {
            const partition = q.messages[i]!.partition;
            const at = `${q.topic}\u0000${partition}`;
            const offset = next.get(at);
            if (offset === undefined) {
              missing = `${q.topic}/${partition}`;
              break;
            }
            next.set(at, offset + 1);
            results[i] = { partition, offset };
          }
          if (missing) q.reject(new PlatformError('INTERNAL', `kafka acknowledged no offset for ${missing}`));
          else q.resolve(results);
        }
      }
    } finally {
      this.#sending = false;
    }
  }

  consumer(options: ConsumerOptions): Consumer {
    return this.#newConsumer(options, false);
  }

  #newConsumer(options: ConsumerOptions, internal: boolean): KafkaConsumer {
    this.#assertOpen();
    const consumer = new KafkaConsumer(this.#consumerHost, options, internal);
    this.#consumers.add(consumer);
    return consumer;
  }

  async openTable<V = Buffer>(topic: string, options: TableOptions<V> = {}): Promise<Table<V>> {
    this.#assertOpen();
    await this.ensureTopic({ name: topic, compacted: true });
    const table = await LogTable.open<V>(topic, this.#tableHost, options);
    this.#tables.add(table as LogTable<unknown>);
    if (this.#closed) {
      await table.close();
      throw new PlatformError('LOG_CLOSED');
    }
    return table;
  }

  async offsets(topic: string): Promise<readonly { partition: number; low: number; high: number }[]> {
    this.#assertOpen();
    try {
      const offsets = await this.#withAdmin((admin) => admin.fetchTopicOffsets(topic));
      return offsets
        .map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
        .sort((a, b) => a.partition - b.partition);
    } catch (err) {
      throw fromKafkaError(err, `offsets of ${topic} could not be read`, { topic });
    }
  }

  stats(): LogStats {
    return {
      appendedRecords: this.#appendedRecords,
      appendedBytes: this.#appendedBytes,
      consumedRecords: this.#consumedRecords,
      lag: [...this.#consumers].filter((c) => !c.internal).flatMap((c) => c.lag()),
    };
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.allSettled([...this.#tables].map((t) => t.close()));
      await Promise.allSettled([...this.#consumers].map((c) => c.stop()));
      const clients = [this.#producer, this.#admin];
      this.#producer = undefined;
      this.#admin = undefined;
      await Promise.allSettled(
        clients.map(async (client) => {
          if (!client) return;
          const connected = await client.catch(() => undefined);
          await connected?.disconnect();
        }),
      );
    })();
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new PlatformError('LOG_CLOSED');
  }

  #nextKeylessPartition(topic: string, partitions: number): number {
    const next = ((this.#rotation.get(topic) ?? -1) + 1) % partitions;
    this.#rotation.set(topic, next);
    return next;
  }

  async #fetchPartitionCount(topic: string): Promise<number> {
    try {
      let count: number;
      try {
        count = await this.#readPartitionCount(topic);
      } catch (err) {
        if (!isUnknownTopicError(err)) throw err;
        await this.#autoCreate(topic);
        count = await this.#readPartitionCount(topic);
      }
      this.#partitions.set(topic, count);
      return count;
    } catch (err) {
      throw fromKafkaError(err, `metadata of ${topic} could not be read`, { topic });
    }
  }

  async #readPartitionCount(topic: string): Promise<number> {
    const { topics } = await this.#withAdmin((admin) => admin.fetchTopicMetadata({ topics: [topic] }));
    const count = topics[0]?.partitions.length ?? 0;
    if (count === 0) throw new PlatformError('LOG_TOPIC_UNKNOWN', `topic ${topic} has no partitions`, { details: { topic } });
    return count;
  }

  /**
   * kafkajs's admin never asks the broker to auto-create topics; its consumers do, when they
   * subscribe. A consumer that subscribes and never runs (so never joins a group) asks for us.
   */
  async #autoCreate(topic: string): Promise<void> {
    const probe = this.#kafka.consumer({ groupId: `kiot.metadata.${randomUUID()}`, allowAutoTopicCreation: true });
    await probe.connect();
    try {
      await probe.subscribe({ topic });
    } finally {
      await probe.disconnect();
    }
  }

  #connectProducer(): Promise<Producer> {
    this.#producer ??= this.#connect(
      this.#kafka.producer({
        idempotent: true,
        // kafkajs allows at most one request in flight for an idempotent producer.
        maxInFlightRequests: 1,
        allowAutoTopicCreation: true,
        // Partitions are chosen in append(); this only silences kafkajs's v2 partitioner notice.
        createPartitioner: loadKafkaJs().Partitioners.DefaultPartitioner,
      }),
      'producer',
      () => (this.#producer = undefined),
    );
    return this.#producer;
  }

  #connectAdmin(): Promise<Admin> {
    this.#admin ??= this.#connect(this.#kafka.admin(), 'admin', () => (this.#admin = undefined));
    return this.#admin;
  }

  /**
   * Runs one admin request at a time. kafkajs's admin keeps one metadata cache for the topics
   * its calls name, and a call that runs while another refreshes it can find its topic missing
   * (fetchTopicOffsets then fails with a TypeError); services opening their tables together
   * at start made that happen. `call` must make admin requests only, not call back into this.
   */
  #withAdmin<T>(call: (admin: Admin) => Promise<T>): Promise<T> {
    const result = this.#adminQueue.then(async () => call(await this.#connectAdmin()));
    this.#adminQueue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  async #connect<C extends { connect(): Promise<void> }>(client: C, what: string, reset: () => void): Promise<C> {
    try {
      await client.connect();
      this.#connectedOnce = true;
      return client;
    } catch (err) {
      reset(); // the next call tries again
      const brokers = this.#brokers.join(',');
      throw fromKafkaError(err, this.#connectedOnce ? `kafka ${what} could not connect` : `cannot reach Kafka at ${brokers} (is it running, and is --kafka right?)`);
    }
  }

  async #resolveSeek(topic: string, partition: number, position: SeekPosition): Promise<{ offset: number; notBefore?: number }> {
    if (typeof position === 'object' && 'offset' in position) return { offset: position.offset };
    const range = (await this.offsets(topic)).find((o) => o.partition === partition);
    if (!range) throw new PlatformError('LOG_OFFSET_OUT_OF_RANGE', `${topic} has no partition ${partition}`, { details: { topic, partition } });
    if (position === 'earliest') return { offset: range.low };
    if (position === 'latest') return { offset: range.high };
    const offset = await this.#offsetForTimestamp(topic, partition, position.timestamp);
    if (offset < range.high || range.low >= range.high) return { offset };
    // "No record at or after the timestamp": true on Kafka, but a broker that cannot look up
    // timestamps says the same for every timestamp. Timestamp 0 tells them apart.
    this.#timestampLookup ??= (await this.#offsetForTimestamp(topic, partition, 0)) < range.high;
    return this.#timestampLookup ? { offset: range.high } : { offset: range.low, notBefore: position.timestamp };
  }

  async #uncommittedStarts(
    groupId: string,
    partitions: readonly TopicPartition[],
    startFrom: 'earliest' | 'latest',
  ): Promise<TopicPartitionOffset[]> {
    const topics = [...new Set(partitions.map((tp) => tp.topic))];
    const committed = await this.#withAdmin((admin) => admin.fetchOffsets({ groupId, topics }));
    const starts: TopicPartitionOffset[] = [];
    for (const topic of topics) {
      const known = committed.find((c) => c.topic === topic)?.partitions ?? [];
      const missing = partitions.filter(
        (tp) => tp.topic === topic && Number(known.find((k) => k.partition === tp.partition)?.offset ?? -1) < 0,
      );
      if (missing.length === 0) continue;
      const ranges = await this.offsets(topic);
      for (const tp of missing) {
        const range = ranges.find((r) => r.partition === tp.partition);
        if (range) starts.push({ ...tp, offset: startFrom === 'earliest' ? range.low : range.high });
      }
    }
    return starts;
  }

  /** ListOffsets by timestamp; kafkajs answers the end offset where the broker found nothing. */
  async #offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    const found = (await this.#withAdmin((admin) => admin.fetchTopicOffsetsByTimestamp(topic, timestamp))).find((o) => o.partition === partition);
    if (!found) throw new PlatformError('LOG_OFFSET_OUT_OF_RANGE', `${topic} has no partition ${partition}`, { details: { topic, partition } });
    return Number(found.offset);
  }
}

/** kafkajs logs through the module logger; its ERROR lines are mostly retried failures, hence warn (debug before the first connection). */
function logKafkaJs(logger: Logger, { level, log }: LogEntry, connectedOnce: boolean): void {
  const { message, ...fields } = log;
  const { logLevel } = loadKafkaJs();
  if (connectedOnce && (level === logLevel.ERROR || level === logLevel.WARN)) logger.warn(fields, message);
  else logger.debug(fields, message);
}
