/**
 * What a ThreadLog (a worker thread's log) and its server (the thread that owns the log) say to
 * each other over a MessagePort. Records cross as one packed ArrayBuffer per append or batch,
 * transferred, not cloned: a structured clone of a Buffer copies the whole ArrayBuffer under it
 * (Buffer.from(string) slices an 8 KiB pool), and one message per record would cost a clone and
 * a port hop each.
 */
import type { MessagePort } from 'node:worker_threads';
import type { AppendRecord, AppendResult, LogRecord, SeekPosition, TopicPartition, TopicPartitionOffset, TopicSpec } from '../log.js';
import { toBuffer } from '../log.js';

/** A PlatformError (or any error) as it crosses the port. */
export interface WireError {
  readonly code?: string;
  readonly message: string;
  readonly details?: unknown;
  readonly retriable?: boolean;
}

/** The consumer options that cross the port: the callbacks stay in the worker. */
export interface WireConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly startFrom?: 'earliest' | 'latest';
  readonly maxBatchRecords?: number;
}

/** Worker → owner. Requests carry an id; the owner answers each with a {@link Reply}. */
export type Request =
  | { readonly op: 'ensureTopic'; readonly id: number; readonly spec: TopicSpec }
  | { readonly op: 'append'; readonly id: number; readonly topic: string; readonly records: ArrayBuffer }
  | { readonly op: 'appendThen'; readonly id: number; readonly batches: readonly WireBatch[] }
  | { readonly op: 'offsets'; readonly id: number; readonly topic: string }
  | { readonly op: 'consumerStart'; readonly id: number; readonly consumer: number; readonly options: WireConsumerOptions }
  | { readonly op: 'commit'; readonly id: number; readonly consumer: number; readonly offsets: readonly TopicPartitionOffset[] }
  | { readonly op: 'seek'; readonly id: number; readonly consumer: number; readonly topic: string; readonly partition: number; readonly position: SeekPosition }
  | { readonly op: 'consumerStop'; readonly id: number; readonly consumer: number }
  | { readonly op: 'close'; readonly id: number };

/** Worker → owner: the worker finished a call the owner made (a batch, an assignment or a revocation). */
export interface Done {
  readonly op: 'done';
  readonly call: number;
  readonly error?: WireError;
}

export type ToOwner = Request | Done;

/** Owner → worker: the answer to request `id`. */
export type Reply = { readonly op: 'reply'; readonly id: number; readonly value?: unknown } | { readonly op: 'reply'; readonly id: number; readonly error: WireError };

/** Owner → worker: a consumer's callback to run; the worker answers with {@link Done} for `call`. */
export type Call =
  | {
      readonly op: 'batch';
      readonly call: number;
      readonly consumer: number;
      readonly topic: string;
      readonly partition: number;
      readonly highWatermark: number;
      readonly records: ArrayBuffer;
    }
  | { readonly op: 'assigned' | 'revoked'; readonly call: number; readonly consumer: number; readonly partitions: readonly TopicPartition[] };

export type ToWorker = Reply | Call;

/**
 * The messages for one port, posted together as one array at the end of the current microtask
 * run: a port hop (a structured clone and a wake-up of the other thread) costs more than what
 * it carries, and a batch's handler often appends several times in one go.
 */
export class Outbox<M> {
  #messages: M[] = [];
  #transfer: ArrayBuffer[] = [];
  #scheduled = false;

  constructor(private readonly port: MessagePort) {}

  send(message: M, transfer?: readonly ArrayBuffer[]): void {
    this.#messages.push(message);
    if (transfer) this.#transfer.push(...transfer);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Posts what is waiting now (also before the port closes). */
  flush(): void {
    this.#scheduled = false;
    if (this.#messages.length === 0) return;
    const messages = this.#messages;
    const transfer = this.#transfer;
    this.#messages = [];
    this.#transfer = [];
    this.port.postMessage(messages, transfer);
  }
}

/** Details as plain data (what JSON keeps), so that no function or handle makes the port's copy throw. */
const plainData = (details: unknown): unknown => {
  try {
    return details === undefined ? undefined : JSON.parse(JSON.stringify(details));
  } catch {
    return undefined;
  }
};

export const toWireError = (err: unknown): WireError => {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; details?: unknown; retriable?: unknown };
    return { message: e.message, ...(typeof e.code === 'string' ? { code: e.code, details: plainData(e.details), retriable: e.retriable === true } : {}) };
  }
  return { message: String(err) };
};

// --- packing ------------------------------------------------------------------------------
//
// One record: offset (f64), timestamp (f64; NaN = none), partition (i32; -1 = none),
// key (i32 length; -1 = null, then bytes), value (the same), header count (u16), then per
// header its name (u16 length, UTF-8) and value (i32 length, bytes). Appends carry no offsets
// (NaN); batches carry no partition (-1, the batch names it).

const NONE = -1;

interface Sized {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly (readonly [Buffer, Buffer])[];
}

const sizeOf = (r: Sized): number => {
  let size = 8 + 8 + 4 + 4 + (r.key?.length ?? 0) + 4 + (r.value?.length ?? 0) + 2;
  for (const [name, value] of r.headers) size += 2 + name.length + 4 + value.length;
  return size;
};

class Writer {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  at = 0;
  constructor(size: number) {
    const buffer = new ArrayBuffer(size);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }
  f64(n: number) {
    this.view.setFloat64(this.at, n);
    this.at += 8;
  }
  i32(n: number) {
    this.view.setInt32(this.at, n);
    this.at += 4;
  }
  u16(n: number) {
    this.view.setUint16(this.at, n);
    this.at += 2;
  }
  raw(b: Buffer) {
    this.bytes.set(b, this.at);
    this.at += b.length;
  }
  blob(b: Buffer | null) {
    if (b === null) return this.i32(NONE);
    this.i32(b.length);
    this.raw(b);
  }
}

function pack(records: readonly (Sized & { readonly offset: number; readonly timestamp: number; readonly partition: number })[], size: number): ArrayBuffer {
  const w = new Writer(size);
  for (const r of records) {
    w.f64(r.offset);
    w.f64(r.timestamp);
    w.i32(r.partition);
    w.blob(r.key);
    w.blob(r.value);
    w.u16(r.headers.length);
    for (const [name, value] of r.headers) {
      w.u16(name.length);
      w.raw(name);
      w.i32(value.length);
      w.raw(value);
    }
  }
  return w.bytes.buffer as ArrayBuffer;
}

interface Unpacked {
  readonly offset: number;
  readonly timestamp: number;
  readonly partition: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, Buffer>;
}

/** Reads packed records; keys, values and headers are views into `buffer` (no copies). */
function unpack(buffer: ArrayBuffer, each: (r: Unpacked) => void): void {
  const view = new DataView(buffer);
  const all = Buffer.from(buffer);
  let at = 0;
  const blob = (): Buffer | null => {
    const length = view.getInt32(at);
    at += 4;
    if (length === NONE) return null;
    const b = all.subarray(at, at + length);
    at += length;
    return b;
  };
  while (at < buffer.byteLength) {
    const offset = view.getFloat64(at);
    const timestamp = view.getFloat64(at + 8);
    const partition = view.getInt32(at + 16);
    at += 20;
    const key = blob();
    const value = blob();
    const count = view.getUint16(at);
    at += 2;
    const headers: Record<string, Buffer> = {};
    for (let i = 0; i < count; i++) {
      const nameLength = view.getUint16(at);
      const name = all.toString('utf8', at + 2, at + 2 + nameLength);
      at += 2 + nameLength;
      headers[name] = blob()!;
    }
    each({ offset, timestamp, partition, key, value, headers });
  }
}

/** One batch of `Log.appendThen` on the wire: the first, then its consequences. */
export interface WireBatch {
  readonly topic: string;
  readonly records: ArrayBuffer;
}

/** How each batch of an `appendThen` ended (the reply's value). */
export type WireSettled = { readonly results: AppendResult[] } | { readonly error: WireError };

/** Packs an append's records (the worker's side). */
export function packAppend(records: readonly AppendRecord[]): ArrayBuffer {
  let size = 0;
  const sized = records.map((r) => {
    const s = {
      offset: Number.NaN,
      timestamp: r.timestamp ?? Number.NaN,
      partition: r.partition ?? NONE,
      key: r.key === undefined || r.key === null ? null : toBuffer(r.key),
      value: r.value === null ? null : toBuffer(r.value),
      headers: r.headers ? Object.entries(r.headers).map(([k, v]) => [headerName(k), toBuffer(v)] as const) : [],
    };
    size += sizeOf(s);
    return s;
  });
  return pack(sized, size);
}

/** The records of an append (the owner's side). */
export function unpackAppend(buffer: ArrayBuffer): AppendRecord[] {
  const out: AppendRecord[] = [];
  unpack(buffer, (r) => {
    const record: { -readonly [K in keyof AppendRecord]: AppendRecord[K] } = { key: r.key, value: r.value, headers: r.headers };
    if (!Number.isNaN(r.timestamp)) record.timestamp = r.timestamp;
    if (r.partition !== NONE) record.partition = r.partition;
    out.push(record);
  });
  return out;
}

/** Header names as bytes: records carry a handful of distinct names (the envelope's). */
const headerNames = new Map<string, Buffer>();
const headerName = (name: string): Buffer => {
  let bytes = headerNames.get(name);
  if (!bytes) {
    bytes = Buffer.from(name);
    if (headerNames.size < 1024) headerNames.set(name, bytes);
  }
  return bytes;
};

/** Packs a batch's records (the owner's side). */
export function packBatch(records: readonly LogRecord[]): ArrayBuffer {
  let size = 0;
  const sized = new Array<Sized & { offset: number; timestamp: number; partition: number }>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const headers: (readonly [Buffer, Buffer])[] = [];
    for (const name in r.headers) headers.push([headerName(name), r.headers[name]!]);
    const s = { offset: r.offset, timestamp: r.timestamp, partition: NONE, key: r.key, value: r.value, headers };
    size += sizeOf(s);
    sized[i] = s;
  }
  return pack(sized, size);
}

/** The records of a batch (the worker's side). */
export function unpackBatch(buffer: ArrayBuffer, topic: string, partition: number): LogRecord[] {
  const out: LogRecord[] = [];
  unpack(buffer, (r) => out.push({ topic, partition, offset: r.offset, key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp }));
  return out;
}

export type { AppendResult };
