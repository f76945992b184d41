/**
 * The rules worker: one member of a consumer group on `iot.ingress`. For each message, in
 * offset order per partition, it finds the enabled rules whose topic filter matches (index
 * first), evaluates them on one shared parse of the payload, and hands the outputs to the
 * rules' actions. Offsets are committed only up to the last message whose every action has
 * succeeded or been handed to the error action or dead-letter topic (CommitTracker), so a
 * worker that dies loses nothing: its uncommitted messages are redone by the member that gets
 * the partition next. Work in flight is bounded (`maxInFlight` messages, and no more than two
 * batches waiting for any one action): when actions are slow the worker stops taking batches,
 * and the log holds the rest.
 */
import {
  decodeEnvelope,
  envelopeTopic,
  TOPICS,
  type Consumer,
  type Envelope,
  type Log,
  type LogRecord,
  type Logger,
  type RecordBatch,
  type TopicPartition,
} from '../../core/index.js';
import { ABORTED, SQL_FAILURE_ACTION, type DeadLetterWriter, type DeliveryDone, type DeliveryOutcome, type ErrorActionMessage, type ErrorRecordFactory, type MessageInfo } from '../../actions/index.js';
import { createSqlMessage, type SqlMessage, type SqlResult, type SqlValue } from '../sql/index.js';
import type { CompiledRule } from './compiled-rule.js';
import { CommitTracker } from './commit-tracker.js';
import type { RuleSet } from './rule-set.js';

/** Default bound on messages whose actions are in flight, across partitions. */
export const DEFAULT_MAX_IN_FLIGHT = 5_000;
/** The consumer group every rules worker joins, so that workers share the partitions. */
export const DEFAULT_RULES_GROUP = 'kiot-rules';
/**
 * Default shortest time between two offset commits of one partition. A commit is a durable write
 * of its own (a write and an fdatasync on the embedded log, a request on Kafka): at a few
 * messages per second, committing each one would cost more than the message. A worker that dies
 * redoes at most this much more than it would otherwise (delivery is at least once either way).
 */
export const DEFAULT_COMMIT_INTERVAL_MS = 200;
/**
 * Messages a worker evaluates between two looks at whether to let the event loop handle I/O
 * (see #eachBatch): at 5-20 µs a message, a break every 0.3-1.3 ms at most, each costing
 * about a microsecond.
 */
const YIELD_EVERY_MESSAGES = 64;
const yieldToIo = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface RulesWorkerOptions {
  readonly log: Log;
  readonly logger: Logger;
  readonly rules: RuleSet;
  readonly deadLetter: DeadLetterWriter;
  readonly groupId?: string;
  readonly topic?: string;
  readonly maxInFlight?: number;
  /** Where a group with no committed offset starts; default `'earliest'` (nothing is skipped). */
  readonly startFrom?: 'earliest' | 'latest';
  readonly maxBatchRecords?: number;
  /** Shortest time between two commits of one partition; 0 = commit whenever the commit point moves. */
  readonly commitIntervalMs?: number;
}

interface PartitionState {
  readonly tracker: CommitTracker;
  committed: number;
  committing: Promise<void> | undefined;
  again: boolean;
  /** When the last commit started (performance.now()). */
  committedAt: number;
  /** The commit held back by the interval. */
  timer: NodeJS.Timeout | undefined;
  /** Being revoked: the revocation makes the last commit itself. */
  closing: boolean;
}

const partitionState = (): PartitionState => ({
  tracker: new CommitTracker(),
  committed: -1,
  committing: undefined,
  again: false,
  committedAt: Number.NEGATIVE_INFINITY,
  timer: undefined,
  closing: false,
});

/**
 * One message whose rules are in flight: each rule that fired on it tells it once how the
 * message ended there (DeliveryDone); the last one ends the message. One object per message (and
 * one per rule when several fired), rather than callbacks with their contexts, for what thousands
 * of messages in flight keep in the young generation.
 */
class MessageRun implements DeliveryDone {
  #left: number;
  #ok = true;

  constructor(
    /** The worker's end of a message (RulesWorker.#messageEnded): shared, not one per message. */
    readonly ended: (run: MessageRun, ok: boolean) => void,
    readonly state: PartitionState,
    readonly partition: number,
    readonly slot: number,
    rules: number,
    /** The rule, when only one fired: its count of messages in flight is kept here too. */
    readonly rule: CompiledRule | undefined,
  ) {
    this.#left = rules;
  }

  delivered(outcome: DeliveryOutcome): void {
    if (this.rule) this.rule.inFlight--;
    if (outcome === ABORTED) this.#ok = false;
    if (--this.#left === 0) this.ended(this, this.#ok);
  }
}

/** One of several rules that fired on a message. */
class RuleRun implements DeliveryDone {
  constructor(
    readonly rule: CompiledRule,
    readonly message: MessageRun,
  ) {}

  delivered(outcome: DeliveryOutcome): void {
    this.rule.inFlight--;
    this.message.delivered(outcome);
  }
}

export class RulesWorker {
  readonly #o: RulesWorkerOptions;
  readonly #logger: Logger;
  readonly #maxInFlight: number;
  readonly #commitIntervalMs: number;
  readonly #partitions = new Map<number, PartitionState>();
  #consumer: Consumer | undefined;
  #inFlight = 0;
  #slotWaiters: (() => void)[] = [];
  #processed = 0;
  #stopped: Promise<void> | undefined;

  constructor(options: RulesWorkerOptions) {
    this.#o = options;
    this.#logger = options.logger.child({ module: 'rules.worker' });
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    this.#commitIntervalMs = options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS;
  }

  get topic(): string {
    return this.#o.topic ?? TOPICS.ingress;
  }

  /** Messages read so far, and messages whose actions are in flight now. */
  stats(): { processed: number; inFlight: number } {
    return { processed: this.#processed, inFlight: this.#inFlight };
  }

  /** True when no message is in flight and every handled message's offset is committed. */
  settled(): boolean {
    if (this.#inFlight > 0) return false;
    for (const s of this.#partitions.values()) {
      const point = s.tracker.commitPoint;
      if (s.committing || (point !== undefined && point > s.committed)) return false;
    }
    return true;
  }

  /** Joins the group; resolves once the member has its first assignment. */
  async start(): Promise<void> {
    const consumer = this.#o.log.consumer({
      groupId: this.#o.groupId ?? DEFAULT_RULES_GROUP,
      topics: [this.topic],
      startFrom: this.#o.startFrom ?? 'earliest',
      ...(this.#o.maxBatchRecords ? { maxBatchRecords: this.#o.maxBatchRecords } : {}),
      eachBatch: (batch, c) => this.#eachBatch(batch, c),
      onAssigned: (tps) => this.#assigned(tps),
      onRevoked: (tps) => this.#revoked(tps),
    });
    this.#consumer = consumer;
    await consumer.start();
  }

  /**
   * Leaves the group: waits for the messages in flight of every partition (bounded by the
   * actions' retry bound, or cut short by closing the rule set), commits what is handled, and
   * stops. Safe to call twice.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await this.#consumer?.stop();
      for (const w of this.#slotWaiters.splice(0)) w();
    })();
    return this.#stopped;
  }

  #state(partition: number): PartitionState {
    let s = this.#partitions.get(partition);
    if (!s) this.#partitions.set(partition, (s = partitionState()));
    return s;
  }

  #assigned(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.#partitions.set(tp.partition, partitionState());
  }

  async #revoked(tps: readonly TopicPartition[]): Promise<void> {
    await Promise.all(
      tps.map(async (tp) => {
        const s = this.#partitions.get(tp.partition);
        if (!s) return;
        s.closing = true;
        clearTimeout(s.timer);
        await s.tracker.drained();
        await this.#commit(tp.partition, s);
        this.#partitions.delete(tp.partition);
      }),
    );
  }

  async #eachBatch(batch: RecordBatch, consumer: Consumer): Promise<void> {
    this.#consumer ??= consumer;
    const s = this.#state(batch.partition);
    let sinceYield = 0;
    const records = batch.records;
    // Indexed: an iterator's result objects in an async loop that awaits are not optimised away (120 B a message).
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      if (this.#inFlight >= this.#maxInFlight) await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
      this.#processed++;
      let rules: readonly CompiledRule[] | undefined;
      try {
        rules = this.#handle(record, s, batch.partition);
      } catch (err) {
        // A bug, not bad input: keep the message rather than lose it.
        this.#logger.error({ err, partition: batch.partition, offset: record.offset }, 'message handling failed');
        this.#undecodable(record, s, batch.partition, err);
      }
      // An action with two batches waiting holds the next message back (ActionRunner.room).
      if (rules !== undefined) {
        for (let r = 0; r < rules.length; r++) {
          const wait = rules[r]!.runtime.room();
          if (wait) await wait;
        }
        // Working ahead of an action that has a whole batch waiting: let I/O in (its reply, which
        // frees that batch to be written; the gateway's sockets when they share this process)
        // rather than evaluate the rest of a log batch (up to 500 messages, milliseconds) first.
        // While no batch is full, evaluating on is what fills one: no break, so a fast target
        // (a log append) still gets whole batches.
        if (++sinceYield >= YIELD_EVERY_MESSAGES) {
          sinceYield = 0;
          if (rules.some((r) => r.runtime.batchWaiting())) await yieldToIo();
        }
      }
    }
    this.#kick(batch.partition, s);
  }

  /** Starts the rules the message triggers and returns them (undefined when it triggers none). */
  #handle(record: LogRecord, s: PartitionState, partition: number): readonly CompiledRule[] | undefined {
    // No rule runs: nothing to read.
    if (this.#o.rules.idle) {
      s.tracker.skip(record.offset);
      return undefined;
    }
    // Most messages match no rule: read their topic, not the whole envelope. The rules it
    // matches stand for the decoded envelope's too (the same field), so the trie is walked once.
    const topic = record.value ? envelopeTopic(record.value) : undefined;
    let rules = topic === undefined ? undefined : this.#o.rules.match(topic);
    if (rules !== undefined && rules.length === 0) {
      s.tracker.skip(record.offset);
      return undefined;
    }
    let env: Envelope;
    try {
      env = decodeEnvelope(record.value ?? Buffer.alloc(0));
    } catch (err) {
      this.#undecodable(record, s, partition, err);
      return undefined;
    }
    rules ??= this.#o.rules.match(env.topic);
    if (rules.length === 0) {
      s.tracker.skip(record.offset);
      return undefined;
    }
    const msg = createSqlMessage({
      topic: env.topic,
      payload: env.payload,
      clientId: env.clientId,
      principal: env.principal,
      sourceIp: env.sourceAddress,
      traceId: env.traceId,
      messageId: env.messageId,
      timestamp: env.receivedAt,
      // get_mqtt_property() and get_user_properties() read the envelope's own fields.
      mqtt: env,
    });
    const slot = s.tracker.begin(record.offset);
    this.#inFlight++;
    const single = rules.length === 1 ? rules[0] : undefined;
    const run = new MessageRun(this.#messageEnded, s, partition, slot, rules.length, single);
    if (single) this.#run(single, msg, env, run);
    else for (const rule of rules) this.#run(rule, msg, env, new RuleRun(rule, run));
    return rules;
  }

  /** Every rule that fired on a message is done with it. */
  readonly #messageEnded = (run: MessageRun, ok: boolean): void => {
    this.#inFlight--;
    if (this.#slotWaiters.length > 0 && this.#inFlight < this.#maxInFlight) this.#slotWaiters.shift()!();
    if (run.state.tracker.finish(run.slot, ok)) this.#kick(run.partition, run.state);
  };

  #run(rule: CompiledRule, msg: SqlMessage, env: Envelope, end: DeliveryDone): void {
    rule.inFlight++;
    let result: SqlResult | undefined | Promise<SqlResult | undefined>;
    try {
      // The rule set's topic-filter index matched the topic with the rules' matching already.
      result = rule.sql.executeMatched(msg);
    } catch (err) {
      this.#failed(rule, msg, env, undefined, err, end);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (r) => this.#fire(rule, msg, env, r, end),
        (err: unknown) => this.#failed(rule, msg, env, undefined, err, end),
      );
    } else {
      this.#fire(rule, msg, env, result, end);
    }
  }

  #fire(rule: CompiledRule, msg: SqlMessage, env: Envelope, result: SqlResult | undefined, end: DeliveryDone): void {
    if (result === undefined) {
      end.delivered('ok');
      return;
    }
    rule.runtime.counters.matched++;
    const info = messageInfo(rule, env);
    let records;
    try {
      records = rule.records(msg, result.variables, info, result.output);
    } catch (err) {
      this.#failed(rule, msg, env, result.variables, err, end);
      return;
    }
    const errorRecord = this.#errorRecord(rule, msg, result.variables, info);
    if (records instanceof Promise) {
      records.then(
        (r) => rule.runtime.deliver(info, r, errorRecord, end),
        (err: unknown) => this.#failed(rule, msg, env, result.variables, err, end),
      );
    } else {
      rule.runtime.deliver(info, records, errorRecord, end);
    }
  }

  /** The SQL or a template failed for this message: the error action gets it, as AWS does for external functions. */
  #failed(rule: CompiledRule, msg: SqlMessage, env: Envelope, vars: ReadonlyMap<string, SqlValue> | undefined, err: unknown, end: DeliveryDone): void {
    rule.runtime.counters.errors++;
    const info = messageInfo(rule, env);
    const errorMessage = err instanceof Error ? err.message : String(err);
    this.#logger.debug({ rule: rule.name, topic: env.topic, error: errorMessage }, 'rule failed for a message');
    rule.runtime.fail(info, [{ failedAction: SQL_FAILURE_ACTION, failedResource: rule.name, errorMessage }], this.#errorRecord(rule, msg, vars, info), end);
  }

  #errorRecord(rule: CompiledRule, msg: SqlMessage, vars: ReadonlyMap<string, SqlValue> | undefined, info: MessageInfo): ErrorRecordFactory | undefined {
    const errorAction = rule.errorAction;
    if (!errorAction) return undefined;
    return (message: ErrorActionMessage) => {
      const params = errorAction.renderer.render(msg, vars);
      return params instanceof Promise ? params.then((p) => ({ ...info, output: message, params: p })) : { ...info, output: message, params };
    };
  }

  /** A record that is not an envelope goes to the dead-letter topic with its raw bytes. */
  #undecodable(record: LogRecord, s: PartitionState, partition: number, err: unknown): void {
    const slot = s.tracker.begin(record.offset);
    const payload = record.value ?? Buffer.alloc(0);
    const where = `${record.topic}/${partition}@${record.offset}`;
    const info: MessageInfo = { ruleName: '', topic: '', clientId: undefined, traceId: '', messageId: where, payload, receivedAt: record.timestamp };
    const message: ErrorActionMessage = {
      ruleName: '',
      topic: '',
      cloudwatchTraceId: '',
      clientId: 'n/a',
      base64OriginalPayload: payload.toString('base64'),
      failures: [{ failedAction: 'EnvelopeDecode', failedResource: where, errorMessage: err instanceof Error ? err.message : String(err) }],
    };
    this.#o.deadLetter.write(info, message, (outcome) => {
      if (s.tracker.finish(slot, outcome !== ABORTED)) this.#kick(partition, s);
    });
  }

  /**
   * Commits the partition's commit point if it moved: one commit in flight per partition, and
   * none sooner than the commit interval after the last (a timer makes the one held back).
   */
  #kick(partition: number, s: PartitionState): void {
    if (s.closing || s.timer) return;
    if (s.committing) {
      s.again = true;
      return;
    }
    const point = s.tracker.commitPoint;
    if (point === undefined || point <= s.committed) return;
    const now = performance.now();
    const wait = s.committedAt + this.#commitIntervalMs - now;
    if (wait > 0) {
      s.timer = setTimeout(() => {
        s.timer = undefined;
        this.#kick(partition, s);
      }, wait).unref();
      return;
    }
    s.committedAt = now;
    s.committing = this.#commit(partition, s).finally(() => {
      s.committing = undefined;
      if (s.again) {
        s.again = false;
        this.#kick(partition, s);
      }
    });
  }

  async #commit(partition: number, s: PartitionState): Promise<void> {
    if (s.committing) await s.committing.catch(() => undefined);
    const point = s.tracker.commitPoint;
    if (point === undefined || point <= s.committed || !this.#consumer) return;
    try {
      await this.#consumer.commit([{ topic: this.topic, partition, offset: point }]);
      s.committed = Math.max(s.committed, point);
    } catch (err) {
      // The next finished message retries; a lost commit only means redelivery.
      this.#logger.warn({ err, partition, offset: point }, 'commit failed');
    }
  }
}

function messageInfo(rule: CompiledRule, env: Envelope): MessageInfo {
  return { ruleName: rule.name, topic: env.topic, clientId: env.clientId, traceId: env.traceId, messageId: env.messageId, payload: env.payload, receivedAt: env.receivedAt };
}
