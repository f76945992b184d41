import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { LogRecord } from '../log.js';
import {
  SEGMENT_HEADER,
  declaredFrameLength,
  encodeFrame,
  forEachRecord,
  frameLastOffset,
  frameMaxTimestamp,
  hasWholeFrame,
  toFrameInput,
  decodeRecords,
  type FrameInput,
} from './frame.js';
import type { Dependency, Journal } from './journal.js';
import { SEGMENT_FILE, Segment, corrupt, segmentFileName } from './segment.js';

export interface PartitionSettings {
  readonly compacted: boolean;
  /** Non-compacted topics: closed segments whose newest record is older than this are deleted. */
  readonly retentionMs: number;
  /** Non-compacted topics: oldest closed segments are deleted while the partition is bigger. -1 = no limit. */
  readonly retentionBytes: number;
  /** The active segment is closed and a new one started past this size... */
  readonly segmentBytes: number;
  /** ...or once its first record is this old, so compaction and retention can reach it. */
  readonly segmentMs: number;
  /** Compacted topics: tombstones older than this are dropped (Kafka's delete.retention.ms). */
  readonly tombstoneGraceMs: number;
}

export interface PendingRecord {
  /** A string key is written as UTF-8 into the frame (frame.ts). */
  readonly key: Buffer | string | null;
  readonly value: Buffer | string | null;
  /** String values, as string keys and values, are written as UTF-8 into the frame. */
  readonly headers: readonly (readonly [string, Buffer | string])[];
  readonly timestamp: number;
}

/** How an append relates to others (EmbeddedLog.appendThen). */
export interface AppendOptions {
  /** Called when the append's frame is handed to the journal (its order among journal commits is then fixed). */
  readonly sequenced?: () => void;
  /** An append it depends on (announced to the journal with `Journal.expect`). */
  readonly after?: Dependency;
}

interface PendingAppend {
  readonly records: readonly PendingRecord[];
  readonly options: AppendOptions | undefined;
  resolve(offsets: number[]): void;
  reject(err: unknown): void;
}

/** Most bytes one read of a segment takes (a larger frame is read whole). */
const READ_CHUNK_BYTES = 1024 * 1024;
/** Fewest bytes one read of a segment takes, however few records are wanted. */
const MIN_READ_CHUNK_BYTES = 16 * 1024;
/** Bytes of memory the newest frames a partition keeps for consumers at its end may take, their decoded records counted. */
const TAIL_CACHE_BYTES = 256 * 1024;
/**
 * What a frame of the tail takes besides its bytes (its TailFrame, and the ArrayBuffer of its own
 * that #remember gives a small frame), and what each of its records takes once decoded (a
 * LogRecord and two Buffer views: 350 bytes measured on Node 20), so that a tail of small
 * records is bounded by the memory it holds rather than by its frames' bytes alone.
 */
const TAIL_FRAME_OVERHEAD_BYTES = 200;
const DECODED_RECORD_BYTES = 350;
/** A partition keeps its tail while a consumer waited for it or read from it this recently. */
const TAIL_FOLLOWED_MS = 1_000;
/**
 * ...and its frames at most this long (performance clock, ms): consumers following the end read a
 * frame within milliseconds of its write. Bounded by bytes alone, at paced rates the tail held
 * seconds of small frames, each of which outlived two scavenges and was promoted, for the
 * old generation's GC to collect (e2e's rule at 5,000 messages/s: 0.47-0.57 MB promoted per
 * scavenge, half of it the tail; 0.23-0.31 MB with this bound, and no read of a segment file
 * more, at that rate or saturated).
 */
export const TAIL_MAX_AGE_MS = 100;

/**
 * A frame of the partition's tail, and its records once a consumer read them: decoded once, the
 * same (immutable) LogRecords go to every consumer that reads the frame (a topic's groups all
 * follow its end, so each record would otherwise be decoded once per group).
 */
interface TailFrame {
  readonly first: number;
  readonly last: number;
  readonly frame: Buffer;
  records: LogRecord[] | undefined;
  /** What it counts toward TAIL_CACHE_BYTES: its bytes and overhead, and its records once decoded. */
  bytes: number;
  /** When it was remembered (performance clock, ms), for TAIL_MAX_AGE_MS. */
  readonly at: number;
}

/** What a slot of #tail before #tailStart holds: nothing of the frame that was there. */
const DROPPED: TailFrame = Object.freeze({ first: -1, last: -1, frame: Buffer.alloc(0), records: undefined, bytes: 0, at: 0 }) as TailFrame;

/** Old file handles are closed this long after compaction replaced them, so in-flight reads finish. */
const RETIRED_SEGMENT_CLOSE_MS = 30_000;

/**
 * One partition of the embedded log: its segment files, appends with group commit (every append
 * that arrives while a write is being fsynced goes into the next single write + fsync), reads of
 * durable records, timestamp lookup, retention and compaction.
 */
export class Partition {
  #segments: Segment[];
  #pending: PendingAppend[] = [];
  #flushing = false;
  #waiters = new Set<() => void>();
  /**
   * The newest frames as written, so that consumers following the end of the partition (every
   * group and table does) read them from memory instead of the file: oldest first, at most
   * TAIL_CACHE_BYTES together.
   */
  readonly #tail: TailFrame[] = [];
  /** Where #tail's live entries start: dropping the oldest moves it on (Array.shift is O(n) per append). */
  #tailStart = 0;
  #tailBytes = 0;
  /** When a consumer last read from #tail (performance.now()). */
  #tailReadAt = Number.NEGATIVE_INFINITY;
  #activeSince: number;
  #closed = false;
  #maintaining: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly topic: string,
    readonly id: number,
    public settings: PartitionSettings,
    segments: Segment[],
    readonly journal: Journal,
    readonly logger: Logger,
  ) {
    this.#segments = segments;
    this.#activeSince = Date.now();
  }

  static async open(dir: string, topic: string, id: number, settings: PartitionSettings, journal: Journal, logger: Logger): Promise<Partition> {
    await mkdir(dir, { recursive: true });
    const bases: number[] = [];
    for (const name of await readdir(dir)) {
      const match = SEGMENT_FILE.exec(name);
      if (match) bases.push(Number(match[1]));
      else if (name.endsWith('.seg.compacting')) await unlink(join(dir, name)); // an unfinished compaction; the original is intact
      else throw corrupt(join(dir, name), 'is not a file the embedded log writes');
    }
    bases.sort((a, b) => a - b);
    const segments: Segment[] = [];
    try {
      for (let i = 0; i < bases.length; i++) {
        const base = bases[i]!;
        const segment = await Segment.open(join(dir, segmentFileName(base)), base, i === bases.length - 1, logger);
        const previous = segments[segments.length - 1];
        if (previous && previous.nextOffset > base) throw corrupt(segment.path, `overlaps the previous segment (which ends at offset ${previous.nextOffset})`);
        segments.push(segment);
      }
      if (segments.length === 0) {
        segments.push(await Segment.create(join(dir, segmentFileName(0)), 0));
        await fsyncDir(dir);
      }
    } catch (err) {
      await Promise.all(segments.map((s) => s.close()));
      throw err;
    }
    return new Partition(dir, topic, id, settings, segments, journal, logger);
  }

  /** First offset still stored. */
  get low(): number {
    return this.#segments[0]!.baseOffset;
  }

  /** Offset the next record will get; everything below it is durable. */
  get high(): number {
    return this.#active.nextOffset;
  }

  get sizeBytes(): number {
    return this.#segments.reduce((sum, s) => sum + s.size, 0);
  }

  get #active(): Segment {
    return this.#segments[this.#segments.length - 1]!;
  }

  /** Appends records; resolves with their offsets once they are on disk and fsynced. */
  append(records: readonly PendingRecord[], options?: AppendOptions): Promise<number[]> {
    if (this.#closed) {
      if (options?.after) this.journal.unexpect(1);
      return Promise.reject(new Error('partition is closed'));
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ records, options, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        // Group commit per turn of the event loop: the appends that this turn's callbacks (an
        // fsync that completed, a socket read) and their promise chains make all join this
        // write, not only those that arrived while the last one was in flight. Each write
        // costs a write and an fdatasync whatever its size.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const batch = this.#pending;
        this.#pending = [];
        try {
          await this.#rollIfDue().catch((err: unknown) => {
            this.journal.unexpect(dependentsOf(batch).count);
            throw err;
          });
          await this.#write(batch);
        } catch (err) {
          // After the writes before it are acknowledged (completeSoon keeps the order).
          completeSoon(() => {
            for (const p of batch) p.reject(err);
          });
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #write(batch: readonly PendingAppend[]): Promise<void> {
    const segment = this.#active;
    const first = segment.nextOffset;
    let offset = first;
    const inputs: FrameInput[] = [];
    for (const p of batch) {
      for (const r of p.records) inputs.push({ offset: offset++, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers });
    }
    const frame = encodeFrame(inputs);
    // Staged at the durable end of the segment, which writes it to the file later with other
    // frames (segment.ts); the journal's group commit (journal.ts) makes it durable, together
    // with every other partition's frames of this turn.
    const dependents = dependentsOf(batch);
    let committed: Promise<void> | undefined;
    try {
      segment.stage(frame);
      committed = this.journal.commit(this.topic, this.id, segment, segment.size, frame, dependents.count > 0 ? dependents : undefined);
      for (const p of batch) p.options?.sequenced?.();
      await committed;
    } catch (err) {
      if (!committed) this.journal.unexpect(dependents.count);
      // Not durable: taken back, and cut from the file should it have been written, so that no
      // part of it is left past the durable end for the next open to read as damage; the next
      // write goes to the same place.
      try {
        segment.unstage(frame);
      } catch {
        // the next write overwrites what it can; an open cuts a torn tail
      }
      const errno = (err as NodeJS.ErrnoException).code;
      throw new PlatformError('LOG_UNAVAILABLE', `writing ${this.topic}/${this.id} failed: ${(err as Error).message}`, { details: { errno, topic: this.topic, partition: this.id }, cause: err });
    }
    segment.noteAppended(frame);
    // Kept only while a consumer follows the end (waits for data, or read the tail a moment
    // ago): held for nobody, the frames would outlive young-generation GC and cost every append.
    if (this.#waiters.size > 0 || performance.now() - this.#tailReadAt < TAIL_FOLLOWED_MS) this.#remember(first, offset - 1, frame);
    else this.#forgetTail();
    completeSoon(() => {
      let next = first;
      for (const p of batch) {
        const offsets = new Array<number>(p.records.length);
        for (let i = 0; i < offsets.length; i++) offsets[i] = next++;
        p.resolve(offsets);
      }
      this.#wakeWaiters();
    });
  }

  #remember(first: number, last: number, frame: Buffer): void {
    if (frame.length > TAIL_CACHE_BYTES) {
      this.#forgetTail();
      return;
    }
    // A frame under 4 KB is a slice of Buffer.allocUnsafe's shared 8 KB pool (encodeFrame): kept
    // as it is, it would keep the whole slab alive, so that TAIL_CACHE_BYTES of small frames held
    // up to 8 KB each (a gateway announcing 10,000 sessions: 18 MB of slabs for 2 MB of frames).
    if (frame.byteLength < frame.buffer.byteLength) {
      const own = Buffer.allocUnsafeSlow(frame.length);
      frame.copy(own);
      frame = own;
    }
    // The decoded records of the frame before the last go: the consumers following the end have
    // read it by now (a late one decodes it again). Kept for the whole tail, they outlived a
    // young-generation GC and were promoted, a third of what the old generation took in.
    const older = this.#tail.length - 2 >= this.#tailStart ? this.#tail[this.#tail.length - 2]! : undefined;
    if (older?.records !== undefined) {
      const decoded = older.records.length * DECODED_RECORD_BYTES;
      older.records = undefined;
      older.bytes -= decoded;
      this.#tailBytes -= decoded;
    }
    const bytes = frame.length + TAIL_FRAME_OVERHEAD_BYTES;
    const at = performance.now();
    this.#tail.push({ first, last, frame, records: undefined, bytes, at });
    this.#tailBytes += bytes;
    this.#trimTail(at - TAIL_MAX_AGE_MS);
  }

  /** Drops the oldest frames of the tail until it fits TAIL_CACHE_BYTES, and, when `before` is given, those remembered before it. */
  #trimTail(before = Number.NEGATIVE_INFINITY): void {
    const tail = this.#tail;
    while (this.#tailStart < tail.length && (this.#tailBytes > TAIL_CACHE_BYTES || tail[this.#tailStart]!.at < before)) {
      this.#tailBytes -= tail[this.#tailStart]!.bytes;
      // Its slot is reused only at the next splice: a dropped frame left in it would keep its
      // bytes and decoded records alive until then (up to 1,024 frames a partition).
      tail[this.#tailStart++] = DROPPED;
    }
    if (this.#tailStart >= 1024 && this.#tailStart * 2 >= tail.length) {
      tail.splice(0, this.#tailStart);
      this.#tailStart = 0;
    }
  }

  #forgetTail(): void {
    this.#tail.length = 0;
    this.#tailStart = 0;
    this.#tailBytes = 0;
  }

  async #rollIfDue(): Promise<void> {
    const active = this.#active;
    if (active.frames === 0) {
      this.#activeSince = Date.now();
      return;
    }
    const tooBig = active.size >= this.settings.segmentBytes;
    const tooOld = Date.now() - this.#activeSince >= this.settings.segmentMs;
    if (!tooBig && !tooOld) return;
    // Durable before the next segment exists: a replay of the journal restores only the last one.
    await active.sync();
    const next = await Segment.create(join(this.dir, segmentFileName(active.nextOffset)), active.nextOffset);
    await fsyncDir(this.dir);
    this.#segments.push(next);
    this.#activeSince = Date.now();
  }

  /**
   * Reads durable records from `offset` (an offset below `low` reads from `low`), at most
   * `maxRecords`. Returns [] at the end of the partition.
   */
  async read(offset: number, maxRecords: number): Promise<readonly LogRecord[]> {
    const out: LogRecord[] = [];
    let from = Math.max(offset, this.low);
    const tail = this.#tail;
    if (tail.length > this.#tailStart && from >= tail[this.#tailStart]!.first) {
      // From memory: the frames that hold `from` and after (see #tail).
      this.#tailReadAt = performance.now();
      let decoded = 0;
      let whole: readonly LogRecord[] | undefined;
      const start = tailIndexFor(tail, this.#tailStart, from);
      for (let i = start; i < tail.length && out.length < maxRecords; i++) {
        const t = tail[i]!;
        if (t.records === undefined) {
          decodeRecords(t.frame, 0, t.first, Infinity, (t.records = []), this.topic, this.id);
          const bytes = t.records.length * DECODED_RECORD_BYTES;
          t.bytes += bytes;
          decoded += bytes;
        }
        // A frame #write made numbers its records one by one from `first`.
        const records = t.records;
        // A consumer following the end reads one whole frame, the newest: every such consumer
        // gets the frame's own array (read-only), rather than a copy each.
        if (i === start && from === t.first && records.length <= maxRecords && (i === tail.length - 1 || records.length === maxRecords)) {
          whole = records;
          break;
        }
        for (let j = Math.max(0, from - t.first); j < records.length && out.length < maxRecords; j++) out.push(records[j]!);
      }
      if (decoded > 0) {
        this.#tailBytes += decoded;
        this.#trimTail();
      }
      return whole ?? out;
    }
    const segments = this.#segments;
    for (let i = segmentIndexFor(segments, from); i < segments.length && out.length === 0; i++) {
      const segment = segments[i]!;
      // Read about what `maxRecords` records take, not a whole chunk: a consumer catching up
      // reads (and holds, as its records' values are views of the read) each byte once.
      await forEachFrame(
        segment,
        segment.positionFor(from),
        (buf, at) => {
          if (frameLastOffset(buf, at) < from) return true;
          decodeRecords(buf, at, from, maxRecords, out, this.topic, this.id);
          return out.length < maxRecords;
        },
        readChunkFor(segment, maxRecords),
      );
      from = Math.max(from, segment.nextOffset);
    }
    return out;
  }

  /** Offset of the first record with timestamp >= `timestamp`, or `high` if none. */
  async offsetForTimestamp(timestamp: number): Promise<number> {
    for (const segment of this.#segments) {
      if (segment.maxTimestamp < timestamp) continue;
      let found: number | undefined;
      await forEachFrame(segment, segment.positionForTimestamp(timestamp), (buf, at) => {
        if (frameMaxTimestamp(buf, at) < timestamp) return true;
        forEachRecord(buf, at, (raw) => {
          if (raw.timestamp >= timestamp) found = raw.offset;
          return found === undefined;
        });
        return found === undefined;
      });
      if (found !== undefined) return found;
    }
    return this.high;
  }

  /**
   * Calls `wake` once, when a record at or after `offset` is readable (at once, if one is) or the
   * partition closes; `offData` takes it back. A consumer following the end of the partition
   * registers the same function for every wait (no promise, signal or listener per wait).
   */
  onData(offset: number, wake: () => void): void {
    if (this.high > offset || this.#closed) wake();
    else this.#waiters.add(wake);
  }

  offData(wake: () => void): void {
    this.#waiters.delete(wake);
  }

  #wakeWaiters(): void {
    if (this.#waiters.size === 0) return;
    const due = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of due) wake();
  }

  /** Retention or compaction, whichever the topic has; runs one at a time. */
  maintain(now: number): Promise<void> {
    this.#maintaining = this.#maintaining.then(async () => {
      if (this.#closed) return;
      if (this.settings.compacted) await this.#compact(now);
      else await this.#enforceRetention(now);
    });
    return this.#maintaining;
  }

  async #enforceRetention(now: number): Promise<void> {
    const { retentionMs, retentionBytes } = this.settings;
    while (this.#segments.length > 1) {
      const oldest = this.#segments[0]!;
      const expired = retentionMs >= 0 && oldest.maxTimestamp < now - retentionMs;
      const oversize = retentionBytes >= 0 && this.sizeBytes - oldest.size >= retentionBytes;
      if (!expired && !oversize) break;
      this.#segments = this.#segments.slice(1);
      this.#retire(oldest, true);
    }
  }

  /**
   * Rewrites closed segments keeping, per key, only the record with the highest offset in the
   * whole partition; tombstones older than the grace period go too. Offsets are kept, so
   * consumers see gaps, never renumbering. Each rewrite goes to a temporary file that replaces
   * the segment by rename only once it is fsynced.
   */
  async #compact(now: number): Promise<void> {
    if (this.#segments.length < 2) return;
    const latest = new Map<string, number>();
    for (const segment of this.#segments) {
      await forEachFrame(segment, SEGMENT_HEADER.length, (buf, at) => {
        forEachRecord(buf, at, (raw) => {
          if (raw.key) latest.set(raw.key.toString('latin1'), raw.offset);
        });
      });
    }
    const closed = this.#segments.slice(0, -1);
    for (const segment of closed) {
      const kept: Buffer[] = [];
      let dropped = 0;
      await forEachFrame(segment, SEGMENT_HEADER.length, (buf, at) => {
        const keep: FrameInput[] = [];
        forEachRecord(buf, at, (raw) => {
          const superseded = raw.key !== null && latest.get(raw.key.toString('latin1')) !== raw.offset;
          const expiredTombstone = raw.value === null && raw.timestamp < now - this.settings.tombstoneGraceMs;
          if (superseded || expiredTombstone) dropped++;
          else keep.push(toFrameInput(buf, raw));
        });
        if (keep.length > 0) kept.push(encodeFrame(keep));
      });
      if (dropped === 0) continue;
      const index = this.#segments.indexOf(segment);
      if (index < 0 || this.#closed) return;
      if (kept.length === 0 && index === 0) {
        this.#segments = this.#segments.filter((s) => s !== segment);
        this.#forgetTail(); // what it held may be gone
        this.#retire(segment, true);
        continue;
      }
      const tmp = `${segment.path}.compacting`;
      const fh = await open(tmp, 'w');
      try {
        await fh.writev([SEGMENT_HEADER, ...kept]);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, segment.path);
      await fsyncDir(this.dir);
      const replacement = await Segment.open(segment.path, segment.baseOffset, false, this.logger);
      // The rewritten segment keeps covering the original offset range.
      replacement.nextOffset = Math.max(replacement.nextOffset, segment.nextOffset);
      this.#segments = this.#segments.map((s) => (s === segment ? replacement : s));
      this.#forgetTail(); // compaction dropped records the cached frames still hold
      this.#retire(segment, false);
    }
  }

  #retire(segment: Segment, deleteFile: boolean): void {
    const timer = setTimeout(() => void segment.close(), RETIRED_SEGMENT_CLOSE_MS);
    timer.unref();
    if (deleteFile) void unlink(segment.path).then(() => fsyncDir(this.dir)).catch(() => undefined);
  }

  /** Resolves once no write is in flight. */
  async settle(): Promise<void> {
    while (this.#flushing) await new Promise((resolve) => setTimeout(resolve, 1));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.settle();
    await this.#maintaining.catch(() => undefined);
    this.#closed = true;
    this.#wakeWaiters();
    await Promise.all(this.#segments.map((s) => s.close()));
  }
}

/** What writes that became durable in this turn of the event loop have to tell (see {@link completeSoon}). */
let completions: (() => void)[] = [];

/**
 * Tells appenders and waiting readers about a durable write once this turn's callbacks are done,
 * together with every other partition's write that became durable in it, in one callback. Each
 * fdatasync completes in a callback of its own; told there, what each one sets off (replies an
 * MQTT gateway writes to its sockets, corked until the end of the tick; the appends of commands
 * that waited for these writes) would leave in as many pieces as there were writes. Partitions
 * are told in the order their writes completed, a partition's writes in their order.
 */
function completeSoon(complete: () => void): void {
  if (completions.length === 0) setImmediate(completeAll);
  completions.push(complete);
}

function completeAll(): void {
  const due = completions;
  completions = [];
  for (const complete of due) complete();
}

/** Index of the first frame of `tail` from `start` on whose last offset is at least `offset`. */
function tailIndexFor(tail: readonly TailFrame[], start: number, offset: number): number {
  let lo = start;
  let hi = tail.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tail[mid]!.last < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function segmentIndexFor(segments: readonly Segment[], offset: number): number {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segments[mid]!.baseOffset <= offset) lo = mid + 1;
    else hi = mid;
  }
  return Math.max(0, lo - 1);
}

/**
 * Calls `visit` with each whole frame of the segment from byte `position` on, until it returns
 * false. Frames were verified when the segment was opened or written, so only lengths are read.
 */
async function forEachFrame(segment: Segment, position: number, visit: (buf: Buffer, at: number) => boolean | void, chunkBytes = READ_CHUNK_BYTES): Promise<void> {
  while (position < segment.size) {
    let buf = await segment.read(position, chunkBytes);
    if (!hasWholeFrame(buf, 0)) buf = await segment.read(position, declaredFrameLength(buf, 0)); // a frame bigger than a chunk
    if (!hasWholeFrame(buf, 0)) throw corrupt(segment.path, `unreadable frame at byte ${position}`);
    let at = 0;
    while (hasWholeFrame(buf, at)) {
      if (visit(buf, at) === false) return;
      at += declaredFrameLength(buf, at);
    }
    position += at;
  }
}

/**
 * Bytes to read for `records` records of `segment`: its average bytes per record times the
 * count, plus a quarter (the first frame may start before the offset wanted), within
 * [MIN_READ_CHUNK_BYTES, READ_CHUNK_BYTES]. A short guess costs one more read, not a wrong answer.
 */
function readChunkFor(segment: Segment, records: number): number {
  const count = segment.nextOffset - segment.baseOffset;
  if (count <= 0) return MIN_READ_CHUNK_BYTES;
  const perRecord = (segment.size - SEGMENT_HEADER.length) / count;
  return Math.min(READ_CHUNK_BYTES, Math.max(MIN_READ_CHUNK_BYTES, Math.ceil(perRecord * records * 1.25)));
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** How many of a batch's appends depend on others, and the earliest journal state they depend on. */
function dependentsOf(batch: readonly PendingAppend[]): { count: number; after: number } {
  let count = 0;
  let after = Number.POSITIVE_INFINITY;
  for (const p of batch) {
    const dependency = p.options?.after;
    if (!dependency) continue;
    count++;
    after = Math.min(after, dependency.journalFailures);
  }
  return { count, after };
}
