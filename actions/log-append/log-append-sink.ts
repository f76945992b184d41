/**
 * The one sink that appends to a log topic, shared by everything that writes rule output to a
 * log: the kafka action (kiot's log or another cluster), republish (`iot.egress`) and the
 * dead-letter writer (`iot.dead-letter`). Each of them supplies only how a record becomes a log
 * record ({@link LogAppendTarget.encode}) and where it is appended.
 *
 * Records are grouped per topic and appended in the order they came, one append per topic. A
 * record that cannot be encoded fails alone, non-retriable; an append that fails fails that
 * topic's records; an append that does not finish within `appendTimeoutMs` fails them retriable
 * (it may still land: writes are at least once).
 */
import { PlatformError, endBatch, sinkUnavailable, type ActionRecord, type AppendRecord, type RecordFailure, type Sink } from '../../core/index.js';

/**
 * The largest batch of the kinds that append to a log (republish, kafka). An action writes one
 * batch at a time, so a batch must hold what arrives while the previous append is made durable,
 * or records pile up to the rules worker's in-flight bound and the young generation copies them
 * at every scavenge: at 500, the pipeline benchmark kept ~4,000 messages in flight; at 2,000 it
 * keeps ~1,000 and spends a fifth less CPU per message (one append costs one write and one
 * fdatasync, or one produce request, whatever its size). Not more: Kafka refuses a partition's
 * batch over `message.max.bytes` (1 MB by default), and 2,000 records of ~400 B stay under it.
 */
export const LOG_APPEND_MAX_BATCH = 2_000;

/** How long one append may take before its records fail retriable (as an AWS request's timeout). */
export const DEFAULT_APPEND_TIMEOUT_MS = 10_000;

/** What a kind built on this sink lets its creator tune (tests bound a stalled target's wait with it). */
export interface LogAppendSinkOptions {
  /** Longest wait for one append (default {@link DEFAULT_APPEND_TIMEOUT_MS}). */
  readonly appendTimeoutMs?: number;
}

export interface LogAppendTarget<P> extends LogAppendSinkOptions {
  /** Names the target in messages: `kafka`, `republish`, `dead-letter`. */
  readonly name: string;
  /** The topic and log record for one record; throws when this record cannot be written (it fails alone, non-retriable). */
  encode(record: ActionRecord<P>): { readonly topic: string; readonly record: AppendRecord };
  /** Appends to `topic` (ensuring it first where the log needs that). */
  append(topic: string, records: readonly AppendRecord[]): Promise<unknown>;
  /**
   * Whether the records of a failed append may be retried. Default: yes, unless the log said
   * the append can never succeed (a non-retriable PlatformError other than LOG_UNAVAILABLE).
   */
  readonly retriable?: (err: unknown) => boolean;
}

const defaultRetriable = (err: unknown): boolean => !(err instanceof PlatformError) || err.retriable || err.code === 'LOG_UNAVAILABLE' || err.code === 'SINK_UNAVAILABLE';

export class LogAppendSink<P> implements Sink<P> {
  readonly #timeoutMs: number;
  readonly #retriable: (err: unknown) => boolean;

  constructor(private readonly target: LogAppendTarget<P>) {
    this.#timeoutMs = target.appendTimeoutMs ?? DEFAULT_APPEND_TIMEOUT_MS;
    this.#retriable = target.retriable ?? defaultRetriable;
  }

  async connect(): Promise<void> {}

  async writeBatch(records: readonly ActionRecord<P>[], signal: AbortSignal): Promise<void> {
    const { name } = this.target;
    const failures: RecordFailure[] = [];
    const byTopic = new Map<string, { indexes: number[]; appends: AppendRecord[] }>();
    for (let index = 0; index < records.length; index++) {
      let encoded: { topic: string; record: AppendRecord };
      try {
        encoded = this.target.encode(records[index]!);
      } catch (err) {
        failures.push({ index, message: `${name}: ${(err as Error).message}`, retriable: false });
        continue;
      }
      let group = byTopic.get(encoded.topic);
      if (!group) byTopic.set(encoded.topic, (group = { indexes: [], appends: [] }));
      group.indexes.push(index);
      group.appends.push(encoded.record);
    }
    let unavailable: PlatformError | undefined;
    for (const [topic, group] of byTopic) {
      try {
        await this.#append(topic, group.appends, signal);
      } catch (err) {
        const retriable = this.#retriable(err);
        const message = `${name}: append to ${topic} failed: ${(err as Error).message}`;
        if (retriable) unavailable ??= sinkUnavailable(name, message, err);
        for (const index of group.indexes) failures.push({ index, message, retriable });
      }
    }
    endBatch(name, failures, records.length, unavailable);
  }

  /** The append, bounded by the timeout and the caller's signal (a plain timer: this runs once per batch on the hot path). */
  async #append(topic: string, appends: readonly AppendRecord[], signal: AbortSignal): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const bounded = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PlatformError('SINK_UNAVAILABLE', `no answer within ${this.#timeoutMs} ms`, { retriable: true })), this.#timeoutMs);
      onAbort = () => reject(new PlatformError('SINK_UNAVAILABLE', 'the write was aborted', { retriable: true }));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([this.target.append(topic, appends), bounded]);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort!);
    }
  }

  async close(): Promise<void> {}
}
