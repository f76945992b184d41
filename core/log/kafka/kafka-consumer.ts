import type { Consumer as KafkaJsConsumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { sleep } from '../../backoff.js';
import { PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type {
  Consumer,
  ConsumerOptions,
  LogRecord,
  SeekPosition,
  TopicPartition,
  TopicPartitionOffset,
} from '../log.js';
import { fromKafkaError, isRebalanceError, isRejoinableError } from './kafka-errors.js';

/** Group timings, see KafkaLogOptions for what each one means. */
export interface GroupSettings {
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxWaitTimeMs: number;
  readonly retryPauseMs: number;
  readonly startTimeoutMs: number;
}

/** What a consumer needs from the KafkaLog that made it. */
export interface ConsumerHost {
  readonly kafka: Kafka;
  readonly logger: Logger;
  readonly settings: GroupSettings;
  /** Turns a seek position into an offset; `notBefore` asks to skip records older than it. */
  resolveSeek(topic: string, partition: number, position: SeekPosition): Promise<{ offset: number; notBefore?: number }>;
  /**
   * Start offsets for partitions this group has no committed offset for, resolved now
   * (`startFrom` 'earliest' → low, 'latest' → high); partitions with a committed offset are left out.
   */
  uncommittedStarts(groupId: string, partitions: readonly TopicPartition[], startFrom: 'earliest' | 'latest'): Promise<TopicPartitionOffset[]>;
  countConsumed(records: number): void;
  forget(consumer: KafkaConsumer): void;
}

const DEFAULT_MAX_BATCH_RECORDS = 500;

const tpKey = (topic: string, partition: number) => `${partition}\u0000${topic}`;

/**
 * One member of a Kafka consumer group, on kafkajs's `eachBatch` with auto-commit off: offsets
 * reach Kafka only through `commit()`.
 *
 * kafkajs differs from the Java client in two ways that show through here:
 * - it has no revoke callback. As the Java client's eager protocol does, every partition is
 *   passed to `onRevoked` when the member learns that the group rebalances (kafkajs's
 *   REBALANCING event, after it stopped fetching and before it rejoins), so what runs on them
 *   here (a state store's own commands, core/state/router.ts) stops before another member can
 *   be assigned them; the new assignment, kept partitions included, goes to `onAssigned` once
 *   the member has synced (GROUP_JOIN). A join with no REBALANCING before it (a member that
 *   was given up) passes what it lost to `onRevoked` then. kafkajs does not wait for
 *   `onRevoked`: a commit made in it is still stored (such commits are let through), yet the
 *   new owner may have read the older offset and deliver those records once more. Commit after
 *   each batch, as the rules worker does, and this window holds no records. On `stop()` the
 *   order is exact: batches finish, `onRevoked` runs, then the member leaves.
 * - after any rebalance kafkajs restarts every partition, kept ones included, from the
 *   committed offset, so records processed but not committed before a rebalance come again.
 * A commit refused because the group is rebalancing is ignored like a commit of a partition
 * this member does not own: those records are delivered again (at-least-once).
 * kafkajs heartbeats only between batches; this member also heartbeats while a batch is handled
 * (#keepingAlive), so a slow handler does not cost it its membership.
 */
export class KafkaConsumer implements Consumer {
  readonly #host: ConsumerHost;
  readonly #options: ConsumerOptions;
  readonly #log: Logger;
  readonly #maxBatchRecords: number;
  /** Table consumers are internal: their lag is not reported. */
  readonly internal: boolean;
  #consumer: KafkaJsConsumer | undefined;
  #assignment: TopicPartition[] = [];
  /** Partitions passed to a running `onRevoked`: commits for them are still let through. */
  readonly #revoking = new Set<string>();
  /** Settles once the last `onRevoked`/`onAssigned` finished; batches wait for it. */
  #callbacks: Promise<void> = Promise.resolve();
  readonly #inFlight = new Set<Promise<void>>();
  /** Timestamp seeks on brokers that cannot look timestamps up: skip records older than this. */
  readonly #notBefore = new Map<string, number>();
  readonly #progress = new Map<string, { topic: string; partition: number; position: number; highWatermark: number }>();
  readonly #abort = new AbortController();
  #started: Promise<void> | undefined;
  #joined: { resolve(): void; reject(err: unknown): void } | undefined;
  #stopped: Promise<void> | undefined;

  constructor(host: ConsumerHost, options: ConsumerOptions, internal = false) {
    if (options.topics.length === 0) throw new PlatformError('INPUT_INVALID', 'consumer: topics must not be empty');
    this.#host = host;
    this.#options = options;
    this.internal = internal;
    this.#log = host.logger.child({ groupId: options.groupId });
    this.#maxBatchRecords = Math.max(1, options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS);
  }

  get groupId(): string {
    return this.#options.groupId;
  }

  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    if (this.#stopped) throw new PlatformError('LOG_CLOSED', 'consumer was stopped');
    const { settings } = this.#host;
    const joined = new Promise<void>((resolve, reject) => {
      this.#joined = { resolve, reject };
      this.#abort.signal.addEventListener('abort', () =>
        reject(new PlatformError('LOG_CLOSED', 'consumer was stopped before it joined its group')),
      );
    });
    // A member that never joins is as good as stopped: the abort ends the wait below.
    const timeout = setTimeout(() => this.#abort.abort(), settings.startTimeoutMs);
    try {
      await this.#run();
      await joined;
      await this.#callbacks;
    } catch (err) {
      await this.#consumer?.disconnect().catch(() => undefined);
      if (!this.#stopped && this.#abort.signal.aborted) {
        throw new PlatformError('LOG_UNAVAILABLE', `consumer group ${this.#options.groupId} did not join within ${settings.startTimeoutMs} ms`, {
          retriable: true,
          cause: err,
        });
      }
      throw fromKafkaError(err, `consumer group ${this.#options.groupId} could not start`);
    } finally {
      clearTimeout(timeout);
    }
  }

  /** Creates the kafkajs member and runs it; again after a crash kafkajs does not restart from itself. */
  async #run(): Promise<void> {
    const { settings } = this.#host;
    const consumer = this.#host.kafka.consumer({
      groupId: this.#options.groupId,
      sessionTimeout: settings.sessionTimeoutMs,
      // kafkajs requires rebalanceTimeout >= sessionTimeout; members rejoin within a heartbeat or two.
      rebalanceTimeout: Math.max(settings.sessionTimeoutMs, 2 * settings.heartbeatIntervalMs),
      heartbeatInterval: settings.heartbeatIntervalMs,
      maxWaitTimeInMs: settings.maxWaitTimeMs,
      allowAutoTopicCreation: true,
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.REBALANCING, () => this.#onRebalancing());
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.#onJoin(event.payload.memberAssignment);
      this.#joined?.resolve();
    });
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      if (restart || this.#abort.signal.aborted) {
        this.#log.warn({ err: error, restart }, 'kafka consumer crashed');
      } else if (isRejoinableError(error)) {
        // kafkajs gave this member up (and left the group); a new member joins in its place.
        this.#log.warn({ err: error }, 'kafka consumer crashed; joining the group again');
        setTimeout(() => {
          if (!this.#abort.signal.aborted) this.#run().catch((err: unknown) => this.#crashed(err));
        }, settings.retryPauseMs);
      } else {
        this.#crashed(error);
      }
    });
    await consumer.connect();
    for (const topic of this.#options.topics) {
      await consumer.subscribe({ topic, fromBeginning: this.#options.startFrom === 'earliest' });
    }
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.#eachBatch(payload),
    });
  }

  #crashed(err: unknown): void {
    this.#log.error({ err }, 'kafka consumer crashed and stopped');
    this.#joined?.reject(fromKafkaError(err, `consumer group ${this.#options.groupId} stopped`));
  }

  /** The group rebalances and this member is about to rejoin: it gives every partition up first (see the class comment). */
  #onRebalancing(): void {
    const lost = this.#assignment;
    if (lost.length === 0) return;
    this.#assignment = [];
    for (const tp of lost) {
      const key = tpKey(tp.topic, tp.partition);
      this.#progress.delete(key);
      this.#revoking.add(key);
    }
    const previous = this.#callbacks;
    this.#callbacks = (async () => {
      await previous;
      await this.#revoke(lost);
    })();
  }

  /** kafkajs reports each new assignment once the member has synced with the group. */
  #onJoin(memberAssignment: Record<string, number[]>): void {
    const next: TopicPartition[] = Object.entries(memberAssignment)
      .flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })))
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    const nextKeys = new Set(next.map((tp) => tpKey(tp.topic, tp.partition)));
    const prevKeys = new Set(this.#assignment.map((tp) => tpKey(tp.topic, tp.partition)));
    const lost = this.#assignment.filter((tp) => !nextKeys.has(tpKey(tp.topic, tp.partition)));
    const gained = next.filter((tp) => !prevKeys.has(tpKey(tp.topic, tp.partition)));
    this.#assignment = next;
    for (const tp of lost) {
      const key = tpKey(tp.topic, tp.partition);
      this.#progress.delete(key);
      this.#revoking.add(key);
    }
    // A timestamp seek still to be met holds for a partition kept through the rebalance.
    for (const key of this.#notBefore.keys()) if (!nextKeys.has(key)) this.#notBefore.delete(key);
    const previous = this.#callbacks;
    this.#callbacks = (async () => {
      await previous;
      if (lost.length > 0) await this.#revoke(lost);
      if (gained.length > 0) await this.#pinStarts(gained);
      if (gained.length > 0 && this.#options.onAssigned) {
        try {
          await this.#options.onAssigned(gained);
        } catch (err) {
          this.#log.error({ err }, 'onAssigned failed');
        }
      }
    })();
  }

  /**
   * kafkajs resolves "latest" for a partition without a committed offset only when it first
   * fetches it, so a record appended between `start()` and that fetch would be skipped. Pinning
   * the start offset here, before the first batch, and committing it, makes "latest" mean "when
   * the group first had the partition".
   */
  async #pinStarts(partitions: readonly TopicPartition[]): Promise<void> {
    const consumer = this.#consumer;
    if (!consumer) return;
    try {
      const starts = (await this.#host.uncommittedStarts(this.#options.groupId, partitions, this.#options.startFrom ?? 'latest')).filter((s) => this.#owns(s.topic, s.partition));
      for (const start of starts) consumer.seek({ topic: start.topic, partition: start.partition, offset: String(start.offset) });
      // The start is the group's, not this member's: a member that takes the partition over
      // before anything is committed goes on from here, not from a later "latest".
      if (starts.length > 0 && (this.#options.startFrom ?? 'latest') === 'latest') await this.commit(starts);
    } catch (err) {
      // kafkajs's own reset (at first fetch) still applies; only the window above reopens.
      this.#log.warn({ err }, 'start offsets of new partitions could not be read');
    }
  }

  async #revoke(partitions: readonly TopicPartition[]): Promise<void> {
    try {
      await this.#options.onRevoked?.(partitions);
    } catch (err) {
      this.#log.error({ err }, 'onRevoked failed');
    } finally {
      for (const tp of partitions) this.#revoking.delete(tpKey(tp.topic, tp.partition));
    }
  }

  /**
   * Runs the handler while heartbeating every interval: kafkajs heartbeats only between batches,
   * so a handler that took longer than the session timeout (a state owner working through a
   * batch of requests, an action retrying its target) got this member expelled, and its
   * uncommitted records delivered to another member while it still worked on them. A rebalance
   * a heartbeat reports here is left to the one after the batch, which reports it again.
   */
  async #keepingAlive(heartbeat: () => Promise<void>, handler: () => Promise<void>): Promise<void> {
    const timer = setInterval(() => {
      heartbeat().catch((err: unknown) => {
        if (!isRebalanceError(err)) this.#log.debug({ err }, 'heartbeat during a batch failed');
      });
    }, this.#host.settings.heartbeatIntervalMs);
    try {
      await handler();
    } finally {
      clearInterval(timer);
    }
  }

  #owns(topic: string, partition: number): boolean {
    return this.#assignment.some((tp) => tp.topic === topic && tp.partition === partition);
  }

  #eachBatch(payload: EachBatchPayload): Promise<void> {
    const run = this.#processBatch(payload);
    this.#inFlight.add(run);
    return run.finally(() => this.#inFlight.delete(run));
  }

  async #processBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    await this.#callbacks; // onAssigned (which may seek) runs before the partition's first batch
    const { topic, partition } = batch;
    const key = tpKey(topic, partition);
    const live = () => !this.#stopped && isRunning() && !isStale() && this.#owns(topic, partition);
    if (!live() || batch.messages.length === 0) return;
    const highWatermark = Number(batch.highWatermark);
    let messages = batch.messages;

    const notBefore = this.#notBefore.get(key);
    if (notBefore !== undefined) {
      const first = messages.findIndex((m) => Number(m.timestamp) >= notBefore);
      const skipped = first === -1 ? messages : messages.slice(0, first);
      const lastSkipped = skipped[skipped.length - 1];
      if (lastSkipped) {
        resolveOffset(lastSkipped.offset);
        this.#setProgress(topic, partition, Number(lastSkipped.offset) + 1, highWatermark);
      }
      if (first === -1) return;
      this.#notBefore.delete(key);
      messages = messages.slice(first);
    }

    for (let i = 0; i < messages.length; i += this.#maxBatchRecords) {
      const records = messages.slice(i, i + this.#maxBatchRecords).map((m) => toLogRecord(topic, partition, m));
      for (let attempt = 1; ; attempt++) {
        if (!live()) return;
        try {
          await this.#keepingAlive(heartbeat, () => this.#options.eachBatch({ topic, partition, records, highWatermark }, this));
          break;
        } catch (err) {
          this.#log.warn({ err, topic, partition, offset: records[0]!.offset, attempt }, 'eachBatch failed; the batch is delivered again');
          await sleep(this.#host.settings.retryPauseMs, this.#abort.signal);
          if (!live()) return;
          await heartbeat();
        }
      }
      if (isStale()) return; // the handler seeked: the next batch starts there
      const next = records[records.length - 1]!.offset + 1;
      resolveOffset(String(next - 1));
      this.#setProgress(topic, partition, next, highWatermark);
      this.#host.countConsumed(records.length);
      await heartbeat();
    }
  }

  #setProgress(topic: string, partition: number, position: number, highWatermark: number): void {
    this.#progress.set(tpKey(topic, partition), { topic, partition, position, highWatermark });
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    const consumer = this.#consumer;
    const owned = offsets.filter(
      (o) => this.#owns(o.topic, o.partition) || this.#revoking.has(tpKey(o.topic, o.partition)),
    );
    if (!consumer || owned.length === 0) return;
    try {
      await consumer.commitOffsets(owned.map((o) => ({ topic: o.topic, partition: o.partition, offset: String(o.offset) })));
    } catch (err) {
      if (isRebalanceError(err)) {
        this.#log.debug({ err }, 'commit refused during a rebalance; the records will be delivered again');
        return;
      }
      throw fromKafkaError(err, `commit for group ${this.#options.groupId} failed`, { groupId: this.#options.groupId });
    }
  }

  async seek(topic: string, partition: number, position: SeekPosition): Promise<void> {
    const consumer = this.#consumer;
    if (!consumer || !this.#owns(topic, partition)) {
      throw new PlatformError('INPUT_INVALID', `seek: ${topic}/${partition} is not assigned to this member`, {
        details: { topic, partition },
      });
    }
    let target: { offset: number; notBefore?: number };
    try {
      target = await this.#host.resolveSeek(topic, partition, position);
    } catch (err) {
      throw fromKafkaError(err, `seek on ${topic}/${partition} failed`);
    }
    const key = tpKey(topic, partition);
    if (target.notBefore === undefined) this.#notBefore.delete(key);
    else this.#notBefore.set(key, target.notBefore);
    consumer.seek({ topic, partition, offset: String(target.offset) });
    const progress = this.#progress.get(key);
    if (progress) progress.position = target.offset;
  }

  assignment(): readonly TopicPartition[] {
    return this.#assignment.slice();
  }

  /** Lag of every owned partition that has delivered a batch. */
  lag(): { groupId: string; topic: string; partition: number; lag: number }[] {
    return [...this.#progress.values()]
      .filter((p) => this.#owns(p.topic, p.partition))
      .map((p) => ({ groupId: this.#options.groupId, topic: p.topic, partition: p.partition, lag: Math.max(0, p.highWatermark - p.position) }));
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#abort.abort();
    await this.#started?.catch(() => undefined);
    const consumer = this.#consumer;
    if (consumer) {
      try {
        // Stop fetching; batches already handed out finish (or stop at their next chunk).
        consumer.pause(this.#options.topics.map((topic) => ({ topic })));
      } catch {
        // not running: nothing to pause
      }
      await Promise.allSettled([...this.#inFlight]);
      await this.#callbacks;
      const owned = this.#assignment;
      for (const tp of owned) this.#revoking.add(tpKey(tp.topic, tp.partition));
      this.#assignment = [];
      if (owned.length > 0) await this.#revoke(owned); // still a member: its commits land
      try {
        await consumer.disconnect(); // leaves the group
      } catch (err) {
        this.#log.warn({ err }, 'kafka consumer did not disconnect cleanly');
      }
    }
    this.#progress.clear();
    this.#host.forget(this);
  }
}

function toLogRecord(topic: string, partition: number, m: KafkaMessage): LogRecord {
  const headers: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(m.headers ?? {})) {
    // Kafka allows a header name more than once; the record shape keeps the last one.
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) headers[name] = typeof last === 'string' ? Buffer.from(last) : last;
  }
  return {
    topic,
    partition,
    offset: Number(m.offset),
    key: m.key ?? null,
    value: m.value,
    headers,
    timestamp: Number(m.timestamp),
  };
}
