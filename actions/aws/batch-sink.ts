/**
 * The one sink shape of the AWS-API kinds that write through an SDK request which takes a list
 * of entries and answers per entry (Kinesis PutRecords, SQS SendMessageBatch, Firehose
 * PutRecordBatch, SNS PublishBatch, CloudWatch Logs PutLogEvents, IoT Events and IoT Analytics
 * BatchPutMessage, Timestream WriteRecords, Location BatchUpdateDevicePosition, SiteWise
 * BatchPutAssetPropertyValue), or of one entry per call (Step Functions StartExecution, CloudWatch
 * SetAlarmState: `maxEntries` 1). A kind says how a record becomes entries and how one request
 * is sent; this file does the rest the same way for all of them:
 *
 * - records are grouped by target (a stream, a queue, a table) and cut into requests of at most
 *   `maxEntries` entries and `maxRequestBytes` bytes, sent up to {@link AWS_REQUESTS_IN_FLIGHT} at once;
 * - an entry the target refuses fails its record, retriable or not as the kind judges the code
 *   (the runtime retries exactly those records: a partly failed batch never resends the others);
 * - a request the target refuses as a whole as invalid (ValidationException, too large) is sent
 *   again one entry at a time, so only the entries at fault fail, each with the target's own error;
 * - a target that does not answer rejects the batch with a retriable SINK_UNAVAILABLE.
 */
import { endBatch, type ActionRecord, type RecordFailure, type Sink } from '../../core/index.js';
import { classifyAwsError, unavailable } from './aws-errors.js';

/** Requests one action keeps in flight per batch. */
export const AWS_REQUESTS_IN_FLIGHT = 8;

/** Why the target refused one entry of a request that it otherwise took. */
export interface EntryError {
  readonly code: string;
  readonly message: string;
  readonly retriable: boolean;
}

/** What a kind tells {@link AwsBatchSink} about its target. */
export interface AwsBatchWriter<P, E> {
  /** The action kind, as messages name it (`kinesis`). */
  readonly type: string;
  /** The service, as SINK_UNAVAILABLE names it (`Kinesis`). */
  readonly target: string;
  /** Most entries the API takes in one request. */
  readonly maxEntries: number;
  /** Most bytes of entries the API takes in one request (by {@link size}), when it has such a limit. */
  readonly maxRequestBytes?: number;
  /** The target a record writes to, as text: records with the same one may share a request. */
  group(record: ActionRecord<P>): string;
  /**
   * The entries a record becomes (one, or one per element in batch mode); a string says why the
   * record cannot be written at all (it then fails, non-retriable, without a request).
   */
  entries(record: ActionRecord<P>): readonly E[] | string;
  /** Bytes an entry counts against {@link maxRequestBytes}. */
  size?(entry: E): number;
  /**
   * Sends one request for entries that share a target (`record` is the first of them).
   * Resolves with each entry's error, or undefined where written; rejects when the request
   * failed as a whole (the SDK's error, classified here).
   */
  send(record: ActionRecord<P>, entries: readonly E[], signal: AbortSignal): Promise<readonly (EntryError | undefined)[]>;
  /** Loads the SDK and builds its client ahead of the first request (which opens the connection). */
  open?(): Promise<void>;
  /** Releases the SDK client. */
  close(): void;
}

interface Item<E> {
  readonly entry: E;
  /** The record's index in the batch. */
  readonly index: number;
  readonly bytes: number;
}

export class AwsBatchSink<P, E> implements Sink<P> {
  #closed = false;

  constructor(private readonly writer: AwsBatchWriter<P, E>) {}

  /**
   * Loads the SDK and builds the client, so that the first batch does not; no request is sent (the
   * SDK connects per request, and a target that is down fails the batch retriable).
   */
  async connect(): Promise<void> {
    try {
      await this.writer.open?.();
    } catch (err) {
      throw unavailable(this.writer.target, err);
    }
  }

  async writeBatch(records: readonly ActionRecord<P>[], signal: AbortSignal): Promise<void> {
    const w = this.writer;
    const failed = new Map<number, RecordFailure>();
    // A record with several entries fails once; a non-retriable failure outweighs a retriable one.
    const fail = (index: number, message: string, retriable: boolean) => {
      const known = failed.get(index);
      if (!known || (known.retriable && !retriable)) failed.set(index, { index, message, retriable });
    };
    let unreachable: unknown;

    const groups = new Map<string, { record: ActionRecord<P>; resource: string; items: Item<E>[] }>();
    records.forEach((record, index) => {
      let entries: readonly E[] | string;
      try {
        entries = w.entries(record);
      } catch (err) {
        entries = err instanceof Error ? err.message : String(err);
      }
      const resource = w.group(record);
      if (typeof entries === 'string') return fail(index, `${w.type} ${resource}: ${entries}`, false);
      let group = groups.get(resource);
      if (!group) groups.set(resource, (group = { record, resource, items: [] }));
      for (const entry of entries) group.items.push({ entry, index, bytes: w.size?.(entry) ?? 0 });
    });

    const requests: { record: ActionRecord<P>; resource: string; items: Item<E>[] }[] = [];
    for (const group of groups.values()) {
      let items: Item<E>[] = [];
      let bytes = 0;
      for (const item of group.items) {
        const full = items.length === w.maxEntries || (w.maxRequestBytes !== undefined && items.length > 0 && bytes + item.bytes > w.maxRequestBytes);
        if (full) {
          requests.push({ ...group, items });
          items = [];
          bytes = 0;
        }
        items.push(item);
        bytes += item.bytes;
      }
      if (items.length > 0) requests.push({ ...group, items });
    }

    const send = async (first: ActionRecord<P>, resource: string, items: readonly Item<E>[]): Promise<void> => {
      try {
        const results = await w.send(first, items.map((i) => i.entry), signal);
        items.forEach((item, k) => {
          const e = results[k];
          if (e) fail(item.index, `${w.type} ${resource}: ${e.code}: ${e.message}`, e.retriable);
        });
      } catch (err) {
        const c = classifyAwsError(err);
        if (c.kind === 'invalid' && items.length > 1) {
          // Which entry is at fault? Ask the target about each one on its own.
          for (const item of items) await send(first, resource, [item]);
          return;
        }
        for (const item of items) fail(item.index, `${w.type} ${resource}: ${c.message}`, c.retriable);
        if (c.kind === 'unreachable' || c.kind === 'aborted') unreachable ??= err;
      }
    };
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < requests.length; i = next++) await send(requests[i]!.record, requests[i]!.resource, requests[i]!.items);
    };
    await Promise.all(Array.from({ length: Math.min(AWS_REQUESTS_IN_FLIGHT, requests.length) }, worker));
    endBatch(w.target, [...failed.values()], records.length, unreachable === undefined ? undefined : unavailable(w.target, unreachable));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.writer.close();
  }
}

/** An entry error from the code and message the API put in its per-entry result. */
export function entryError(code: string | undefined, message: string | undefined, retriableCodes: ReadonlySet<string>): EntryError {
  const c = code ?? 'Error';
  return { code: c, message: message ?? 'refused', retriable: retriableCodes.has(c) };
}
