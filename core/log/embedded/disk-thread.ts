/**
 * The embedded log's durable writes, done on a thread of their own: the event loop hands over
 * the frames every partition wants written (one message per cycle, all of them in one
 * transferred buffer) and gets one answer once each is written and fdatasynced. On the event
 * loop a write cost a `writeSync` (the copy into the page cache, ~15 µs for a few KB here)
 * and an fdatasync's dispatch to libuv's pool and back (~20 µs), per partition per cycle; a
 * shadow update touches four partitions, a rule's republish two.
 *
 * Group commit across partitions: while a cycle is on the disk thread, the writes asked for
 * meanwhile wait and go together in the next one. The disk thread writes a cycle's frames
 * (positional, at each segment's durable end, so a failed attempt is overwritten by the next)
 * and then fdatasyncs their files in parallel (libuv's pool, from that thread).
 *
 * The thread runs plain JavaScript given as source (`eval`), so it starts the same from the
 * compiled code and from the TypeScript sources under tsx or vitest.
 */
import { Worker } from 'node:worker_threads';
import { PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';

/** One cycle, main → disk thread: `writes` is [fd, position, start, length] per frame in `bytes`. */
interface Cycle {
  readonly id: number;
  readonly bytes: ArrayBuffer;
  readonly writes: readonly (readonly [number, number, number, number])[];
}

/** Disk thread → main: per write, undefined or what failed. */
interface CycleDone {
  readonly id: number;
  readonly errors: readonly ({ readonly message: string; readonly code?: string } | null)[];
}

const DISK_THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const datasync = (fd) => new Promise((resolve) => fs.fdatasync(fd, (err) => resolve(err)));
const describe = (err) => ({ message: err.message, ...(err.code ? { code: err.code } : {}) });
// A failed write (or fdatasync) is cut back to the durable end, so that no part of it stays past
// it for the next open to read as damage; the next write goes to the same position.
const cutBack = (fd, position) => {
  try {
    fs.ftruncateSync(fd, position);
  } catch {}
};
parentPort.on('message', async ({ id, bytes, writes }) => {
  const all = new Uint8Array(bytes);
  const errors = writes.map(() => null);
  const byFd = new Map();
  writes.forEach(([fd, position, start, length], i) => {
    try {
      let written = 0;
      while (written < length) written += fs.writeSync(fd, all, start + written, length - written, position + written);
      const list = byFd.get(fd) ?? [];
      list.push(i);
      byFd.set(fd, list);
    } catch (err) {
      errors[i] = describe(err);
      cutBack(fd, position);
    }
  });
  const synced = await Promise.all([...byFd.keys()].map(datasync));
  [...byFd.values()].forEach((indexes, k) => {
    if (!synced[k]) return;
    for (const i of indexes) {
      errors[i] = describe(synced[k]);
      cutBack(writes[i][0], writes[i][1]);
    }
  });
  parentPort.postMessage({ id, errors });
});
`;

interface Pending {
  readonly fd: number;
  readonly bytes: Buffer;
  readonly position: number;
  resolve(): void;
  reject(err: Error): void;
}

export class DiskThread {
  readonly #worker: Worker;
  #queued: Pending[] = [];
  /** The cycle on the disk thread, by id. */
  readonly #inFlight = new Map<number, Pending[]>();
  #nextId = 1;
  #scheduled = false;
  #closed = false;

  constructor(private readonly logger: Logger) {
    this.#worker = new Worker(DISK_THREAD_SOURCE, { eval: true });
    this.#worker.on('message', (done: CycleDone) => this.#done(done));
    this.#worker.on('error', (err) => this.#failAll(err));
    this.#worker.on('exit', (code) => this.#failAll(new Error(`the log's disk thread exited with code ${code}`)));
    // Referenced only while a cycle is on it: an append waiting for its fdatasync keeps the
    // process up, an idle log does not (as before the disk thread).
    this.#worker.unref();
  }

  /** Writes `bytes` at `position` of `fd` and fdatasyncs the file; resolves once both are done. */
  write(fd: number, bytes: Buffer, position: number): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("the log's disk thread is closed"));
    return new Promise<void>((resolve, reject) => {
      this.#queued.push({ fd, bytes, position, resolve, reject });
      this.#schedule();
    });
  }

  /** Waits for the writes asked for, then stops the thread. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#queued.length > 0 || this.#inFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 1));
    this.#closed = true;
    await this.#worker.terminate();
  }

  /** One cycle in flight; the next is sent once it is done, or after this turn of the event loop. */
  #schedule(): void {
    if (this.#scheduled || this.#inFlight.size > 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#send();
    });
  }

  #send(): void {
    const batch = this.#queued;
    if (batch.length === 0) return;
    this.#queued = [];
    let size = 0;
    for (const p of batch) size += p.bytes.length;
    const bytes = new Uint8Array(size);
    const writes: [number, number, number, number][] = [];
    let at = 0;
    for (const p of batch) {
      bytes.set(p.bytes, at);
      writes.push([p.fd, p.position, at, p.bytes.length]);
      at += p.bytes.length;
    }
    const id = this.#nextId++;
    this.#inFlight.set(id, batch);
    this.#worker.ref();
    this.#worker.postMessage({ id, bytes: bytes.buffer, writes } satisfies Cycle, [bytes.buffer]);
  }

  #done({ id, errors }: CycleDone): void {
    const batch = this.#inFlight.get(id);
    this.#inFlight.delete(id);
    batch?.forEach((p, i) => {
      const e = errors[i];
      if (!e) return p.resolve();
      p.reject(new PlatformError('LOG_UNAVAILABLE', `writing the log failed: ${e.message}`, { details: { errno: e.code }, cause: e }));
    });
    if (this.#queued.length > 0) this.#send();
    else this.#worker.unref();
  }

  #failAll(err: Error): void {
    if (!this.#closed) this.logger.error({ err }, "the log's disk thread stopped; appends fail until kiot restarts");
    this.#closed = true;
    for (const batch of this.#inFlight.values()) for (const p of batch) p.reject(new PlatformError('LOG_UNAVAILABLE', err.message, { cause: err }));
    this.#inFlight.clear();
    for (const p of this.#queued.splice(0)) p.reject(new PlatformError('LOG_UNAVAILABLE', err.message, { cause: err }));
  }
}
