/**
 * Runs one action of one rule: queues its records, writes them in batches of up to the
 * kind's `maxBatchSize`, retries retriable failures with backoff up to a bound, and tells each
 * record's caller how it ended. Only one batch of an action is in flight at a time, so records
 * reach the target in the order they were submitted (retries of a record hold the ones behind it,
 * at most for the retry bound).
 */
import { backoffMs, PlatformError, SinkBatchError, sleep, type ActionRecord, type Logger, type Sink } from '../../core/index.js';
import type { RetryPolicy } from './retry.js';

/** How a record ended: `undefined` = durable in the target; a failure; or aborted by stop(). */
export type RecordOutcome = undefined | RecordFailed | typeof ABORTED;

export interface RecordFailed {
  readonly failed: true;
  /** The target's last error, for the error action's `errorMessage`. */
  readonly message: string;
}

/** The runner stopped before the record ended: its message must not be committed. */
export const ABORTED: unique symbol = Symbol('kiot.actions.aborted');

/** Default largest batch for kinds that do not name one (an append or a request fan-out). */
export const DEFAULT_MAX_BATCH_SIZE = 500;

export interface ActionRunnerOptions {
  readonly sink: Sink;
  /** For logs: `rule/actionType`. */
  readonly name: string;
  readonly maxBatchSize?: number;
  readonly retry: RetryPolicy;
  readonly logger: Logger;
}

/**
 * Who is told how a record ended: an object with a method, rather than a callback, so that a
 * message's records in flight share their caller's one object (RuleActions' delivery) instead of
 * holding a closure and its context each, which the young generation copies at every scavenge
 * while thousands of messages wait for their targets.
 */
export interface RecordOwner {
  /** `index` is what `submitTo` was given with the record. */
  recordDone(index: number, outcome: RecordOutcome, record: ActionRecord): void;
}

interface Pending {
  readonly record: ActionRecord;
  readonly owner: RecordOwner;
  readonly index: number;
}

/** A callback as a RecordOwner (submit). */
class CallbackOwner implements RecordOwner {
  constructor(readonly done: (outcome: RecordOutcome) => void) {}

  recordDone(_index: number, outcome: RecordOutcome): void {
    this.done(outcome);
  }
}

const settle = (p: Pending, outcome: RecordOutcome): void => p.owner.recordDone(p.index, outcome, p.record);

export class ActionRunner {
  readonly name: string;
  readonly #sink: Sink;
  readonly #maxBatch: number;
  readonly #retry: RetryPolicy;
  readonly #logger: Logger;
  readonly #abort = new AbortController();
  #queue: Pending[] = [];
  #roomWaiters: (() => void)[] = [];
  #running: Promise<void> | undefined;
  #connected = false;
  /**
   * An early connect() in progress, resolving with its error (undefined once connected): a batch
   * that comes meanwhile waits for it and takes its outcome as its own first attempt's.
   */
  #connecting: Promise<unknown> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: ActionRunnerOptions) {
    this.name = options.name;
    this.#sink = options.sink;
    this.#maxBatch = Math.max(1, options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE);
    this.#retry = options.retry;
    this.#logger = options.logger;
  }

  /** Records waiting or in flight. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Undefined while fewer than two full batches wait behind the one being written; else a
   * promise that resolves once a batch is taken off the queue (or the runner closes). A caller
   * that waits on it keeps no more records waiting than the action can write next, rather than
   * holding thousands of them alive while a slow target works through them.
   */
  room(): Promise<void> | undefined {
    if (this.#queue.length < 2 * this.#maxBatch || this.#abort.signal.aborted) return undefined;
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /**
   * True when a whole batch is queued and waits for the write in flight: records submitted now
   * cannot reach the target before that write returns, so a caller may let I/O in first.
   */
  batchWaiting(): boolean {
    return this.#queue.length >= this.#maxBatch;
  }

  #wakeRoomWaiters(): void {
    if (this.#roomWaiters.length === 0) return;
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Connects the sink now rather than at the first batch, so that the first records do not wait
   * for a connection (a pool, a TLS handshake, a login) and a target that cannot be reached is
   * logged when the rule starts, not when a device first sends. Resolves once connected or once
   * the attempt failed: a failure is logged, never thrown, and the first batch connects again
   * under the retry policy, as it does without this call. Meant for before the first record;
   * safe to call twice.
   */
  async connect(): Promise<void> {
    if (this.#connected || this.#abort.signal.aborted) return;
    this.#connecting ??= this.#sink.connect(this.#abort.signal).then(
      () => {
        this.#connected = true;
        this.#connecting = undefined;
        return undefined;
      },
      (err: unknown) => {
        this.#connecting = undefined;
        if (!this.#abort.signal.aborted) this.#logger.warn({ action: this.name, error: err instanceof Error ? err.message : String(err) }, 'action could not connect; its first batch tries again');
        return err;
      },
    );
    await this.#connecting;
  }

  /**
   * Queues one record; `done` is called exactly once, never synchronously. After `close()`
   * the record is aborted at once.
   */
  submit(record: ActionRecord, done: (outcome: RecordOutcome) => void): void {
    this.submitTo(record, new CallbackOwner(done), 0);
  }

  /** As `submit`, telling `owner.recordDone(index, outcome)`. */
  submitTo(record: ActionRecord, owner: RecordOwner, index: number): void {
    if (this.#abort.signal.aborted) {
      queueMicrotask(() => owner.recordDone(index, ABORTED, record));
      return;
    }
    this.#queue.push({ record, owner, index });
    this.#running ??= this.#drain();
  }

  async #drain(): Promise<void> {
    // Let the rest of the current message batch queue up behind this record first.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0 && !this.#abort.signal.aborted) {
        const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
        this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
        if (this.#queue.length < 2 * this.#maxBatch) this.#wakeRoomWaiters();
        await this.#write(batch);
      }
    } finally {
      this.#running = undefined;
      if (this.#abort.signal.aborted) this.#abortQueued();
    }
  }

  /** Writes one batch to the end: every record gets its outcome before this resolves. */
  async #write(batch: Pending[]): Promise<void> {
    const signal = this.#abort.signal;
    let pending = batch;
    let lastError = 'unknown error';
    for (let attempt = 0; ; attempt++) {
      let retry: Pending[] = [];
      try {
        const early = this.#connected ? undefined : this.#connecting;
        if (early) {
          const err = await early;
          if (err !== undefined) throw err;
        }
        if (!this.#connected) {
          await this.#sink.connect(signal);
          this.#connected = true;
        }
        await this.#sink.writeBatch(
          pending.map((p) => p.record),
          signal,
        );
        for (const p of pending) settle(p, undefined);
        return;
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof SinkBatchError) {
          const failed = new Map(err.failures.map((f) => [f.index, f]));
          pending.forEach((p, i) => {
            const f = failed.get(i);
            if (!f) settle(p, undefined);
            else if (f.retriable) retry.push(p);
            else settle(p, { failed: true, message: f.message });
          });
          lastError = err.failures.find((f) => f.retriable)?.message ?? err.message;
        } else if (err instanceof PlatformError && err.retriable) {
          if (err.code === 'SINK_UNAVAILABLE') this.#connected = false;
          retry = pending;
          lastError = err.message;
        } else {
          const message = err instanceof Error ? err.message : String(err);
          for (const p of pending) settle(p, { failed: true, message });
          return;
        }
      }
      if (retry.length === 0) return;
      if (attempt >= this.#retry.retries) {
        this.#logger.warn({ action: this.name, records: retry.length, error: lastError }, 'action failed after retries');
        for (const p of retry) settle(p, { failed: true, message: lastError });
        return;
      }
      pending = retry;
      if (!(await sleep(backoffMs(this.#retry, attempt), signal))) break;
    }
    for (const p of pending) settle(p, ABORTED);
  }

  #abortQueued(): void {
    this.#wakeRoomWaiters();
    const queued = this.#queue;
    this.#queue = [];
    for (const p of queued) settle(p, ABORTED);
  }

  /**
   * Aborts queued and in-flight records (their callers see ABORTED and do not commit), waits
   * for the write in flight to return, then closes the sink. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#abort.abort();
      this.#abortQueued();
      await this.#running?.catch(() => undefined);
      await this.#connecting;
      try {
        await this.#sink.close();
      } catch (err) {
        this.#logger.warn({ err, action: this.name }, 'closing an action failed');
      }
    })();
    return this.#closed;
  }

  /** Waits until nothing is queued or in flight (for a graceful hand-over of partitions). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running.catch(() => undefined);
  }
}
