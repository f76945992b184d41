/**
 * The embedded log's journal: one group commit for every partition.
 *
 * A partition stages each frame on its segment (which writes it to the file later, with others:
 * segment.ts) and commits it here; the frames committed in one turn of the event loop, whatever
 * their topic and partition, go to the journal in one write and one fdatasync, and only then are
 * they acknowledged. Without it each partition fsynced its own file: an MQTT message, its rule's
 * output and a shadow update with its reply cost one fdatasync each per turn, where one suffices
 * for all of them.
 *
 * The segments themselves are written and fsynced by checkpoints: once a journal file holds
 * {@link CHECKPOINT_BYTES} or is {@link CHECKPOINT_MS} old, commits go on in the other file while
 * every segment written through the first writes what it staged and is fsynced, and then the
 * first is emptied. A partition also writes and fsyncs its active segment before it rolls to the
 * next, so only a partition's last segment can hold frames that are durable in the journal alone.
 *
 * Files: `log/journal/0.wal` and `log/journal/1.wal`, each a header and entries back to back:
 *
 *   file   := header entry*
 *   header := magic:u8(=0x4B) generation:u32be crc32(generation):u32be
 *   entry  := magic:u8(=0x4A) bodyLength:u32be crc32(place):u32be place frame
 *   place  := generation:u32be topicLength:u16be topic partition:u32be segmentBase:i64be position:i64be
 *
 * `position` is the frame's byte position in the segment file named by `segmentBase`; the frame
 * is the segment's (frame.ts), which carries a checksum of its own, so the entry's covers only
 * where the frame goes. Reading a file stops at the first entry that is incomplete, fails either
 * checksum or belongs to another generation than the header's: a crash cut that write short,
 * and nothing in it was acknowledged.
 *
 * A file is written over, never emptied while the log is open: an fdatasync that also has to
 * make a file's new length durable commits the filesystem's own journal as well, and costs
 * about a third more CPU and time on ext4 than one over blocks the file already has. So a
 * checkpoint invalidates the file it emptied by zeroing its header, and the next use of the file
 * writes a header with a new generation at its start and its entries after it, over those of
 * the last use, which are then refused by their generation. A file that has to grow grows by
 * whole {@link GROWTH_BYTES} of zeros written after the entries, in the same write, so its
 * length changes once per that many bytes of entries. The log empties both files when it closes
 * and after a replay, so generations count from 1 in each process. A file without a header (its
 * first byte is an entry's magic) is one an earlier kiot wrote: entries from byte 0, whose
 * bodies start at `topicLength`; it is read as such.
 *
 * Recovery (`replayJournal`, before the topics are opened): for each partition, the entries for
 * its last segment are written back in order from the first one's position, and the segment is
 * cut there first, so whatever a crash left in the page cache after the last durable frame, or
 * lost before it, the segment holds exactly the journalled frames. Rewriting what is already
 * there is harmless, so a crash during recovery is recovered the same way.
 */
import { constants, ftruncateSync, writevSync } from 'node:fs';
import { mkdir, open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { checkFrame, frameBaseOffset } from './frame.js';
import { SEGMENT_FILE, corrupt, segmentFileName, type Segment } from './segment.js';

const ENTRY_MAGIC = 0x4a;
const ENTRY_OVERHEAD = 9; // magic + length + crc
const HEADER_MAGIC = 0x4b;
const HEADER_BYTES = 9; // magic + generation + crc
/** An entry's body before its frame: generation, topic length (the topic follows it), partition, segment base, position. */
const BODY_FIXED = 4 + 2 + 4 + 8 + 8;
/** As BODY_FIXED in a file an earlier kiot wrote: no generation. */
const LEGACY_BODY_FIXED = 2 + 4 + 8 + 8;
const FILES = ['0.wal', '1.wal'] as const;
/** Read and write, created if missing, and not O_APPEND: a file is written over from its start (see the module comment). */
const FILE_FLAGS = constants.O_RDWR | constants.O_CREAT;

/** A file that has to grow grows by this much at a time (see the module comment). */
export const GROWTH_BYTES = 1024 * 1024;
const ZEROS = Buffer.alloc(GROWTH_BYTES);
/** What a checkpoint writes over the header of the file it emptied: no header, so no entries. */
const NO_HEADER = Buffer.alloc(HEADER_BYTES);

/** A journal file is checkpointed once it holds this much... */
export const CHECKPOINT_BYTES = 32 * 1024 * 1024;
/** ...or once its first entry is this old: bounds what a restart replays. */
export const CHECKPOINT_MS = 2_000;

export interface JournalEntry {
  readonly topic: string;
  readonly partition: number;
  readonly segmentBase: number;
  readonly position: number;
  readonly frame: Buffer;
}

/**
 * What an append made after another (`Log.appendThen`) depends on: the other's frames were
 * handed to the journal when it counted this many failed writes, so it is stored only if none
 * failed since (they are in the same write as this one, or an earlier one that succeeded).
 */
export interface Dependency {
  readonly journalFailures: number;
}

interface PendingCommit {
  readonly topic: string;
  readonly partition: number;
  readonly position: number;
  /** Written after the entry's head, from the partition's own buffer (not copied). */
  readonly frame: Buffer;
  readonly segment: Segment;
  /** `Dependency.journalFailures`: refused if a write failed since. */
  readonly after: number | undefined;
  resolve(): void;
  reject(err: unknown): void;
}

export class Journal {
  readonly #files: FileHandle[];
  #current = 0;
  /** Bytes of the current file in use: its header and entries (0: its next write starts with a header). */
  #size = 0;
  /** Per file, the bytes it is known to hold (entries of this use or an earlier one, or zeros). */
  readonly #allocated = [0, 0];
  /** The generation of the current file's header. */
  #generation = 0;
  /** When the current file got its first entry since it was emptied (performance.now()). */
  #since = Number.POSITIVE_INFINITY;
  /** Segments written through the current file: what its checkpoint fsyncs. */
  #dirty = new Set<Segment>();
  #pending: PendingCommit[] = [];
  #flushing = false;
  #checkpoint: Promise<void> | undefined;
  #closed = false;
  /** Journal writes (each one write and one fdatasync) so far. */
  writes = 0;
  #failures = 0;
  /** Dependent appends on their way to the journal (see {@link expect}). */
  #expected = 0;

  private constructor(
    readonly dir: string,
    files: FileHandle[],
    readonly logger: Logger,
  ) {
    this.#files = files;
  }

  /** Opens (creating) the journal files in `dir`; they must be empty (replayJournal empties them). */
  static async open(dir: string, logger: Logger): Promise<Journal> {
    const files: FileHandle[] = [];
    try {
      for (const name of FILES) {
        const fh = await open(join(dir, name), FILE_FLAGS);
        files.push(fh);
        if ((await fh.stat()).size !== 0) throw new PlatformError('LOG_CORRUPT', `${join(dir, name)}: journal not replayed before opening`);
      }
    } catch (err) {
      await Promise.all(files.map((f) => f.close()));
      throw err;
    }
    return new Journal(dir, files, logger);
  }

  /**
   * Commits a frame that `segment` (of `topic`/`partition`) holds at `position`: resolves once
   * it is durable in the journal, together with every frame committed in the same turn.
   */
  commit(topic: string, partition: number, segment: Segment, position: number, frame: Buffer, dependents?: { readonly count: number; readonly after: number }): Promise<void> {
    if (dependents) this.unexpect(dependents.count);
    if (this.#closed) return Promise.reject(new Error('journal is closed'));
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ topic, partition, position, frame, segment, after: dependents?.after, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  /** Journal writes that failed so far (a {@link Dependency} counts on none failing after it). */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Announces `count` frames of dependent appends, released just now, that their partitions
   * will commit in their next turn: the next write waits one more turn for them, so that they
   * share it (and its fdatasync) with what they depend on. Each is counted off when committed
   * or when its partition gives up on it ({@link unexpect}).
   */
  expect(count: number): void {
    this.#expected += count;
  }

  unexpect(count: number): void {
    this.#expected = Math.max(0, this.#expected - count);
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        // Every partition that writes in this turn joins (see Partition.#flush), and dependent
        // appends released in it, which their partitions write in the next.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.#expected > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        let batch = this.#pending;
        this.#pending = [];
        if (batch.some((c) => c.after !== undefined && c.after !== this.#failures)) {
          const refused = new PlatformError('LOG_UNAVAILABLE', 'an append this one depends on failed to be written');
          for (const c of batch) if (c.after !== undefined && c.after !== this.#failures) c.reject(refused);
          batch = batch.filter((c) => c.after === undefined || c.after === this.#failures);
          if (batch.length === 0) continue;
        }
        const index = this.#current;
        const fh = this.#files[index]!;
        const start = this.#size;
        try {
          const buffers: Buffer[] = [];
          if (start === 0) buffers.push(fileHeader(++this.#generation));
          for (const c of batch) buffers.push(entryHead(this.#generation, c.topic, c.partition, c.segment.baseOffset, c.position, c.frame), c.frame);
          let length = 0;
          for (const b of buffers) length += b.length;
          // Zeros to the next multiple of GROWTH_BYTES when the entries go past what the file holds.
          const allocated = this.#allocated[index]!;
          const grow = start + length > allocated ? Math.ceil((start + length) / GROWTH_BYTES) * GROWTH_BYTES - (start + length) : 0;
          let written = writevSync(fh.fd, grow > 0 ? [...buffers, ZEROS.subarray(0, grow)] : buffers, start);
          // A short write (a full disk, a file size limit): the rest of the entries from where it
          // stopped; zeros it did not write are not needed.
          if (written < length) written += writevSync(fh.fd, [Buffer.concat(buffers).subarray(written)], start + written);
          this.#allocated[index] = Math.max(allocated, start + written);
          await fh.datasync();
          this.writes++;
          this.#size = start + length;
        } catch (err) {
          try {
            ftruncateSync(fh.fd, start); // nothing of a failed write is left for a replay to read
            this.#allocated[index] = start;
          } catch {
            // the next write goes to the same place; a replay stops at the damage
          }
          this.#failures++;
          for (const c of batch) c.reject(err);
          continue;
        }
        if (this.#since === Number.POSITIVE_INFINITY) this.#since = performance.now();
        for (const c of batch) {
          this.#dirty.add(c.segment);
          c.resolve();
        }
        if (!this.#checkpoint && (this.#size >= CHECKPOINT_BYTES || performance.now() - this.#since >= CHECKPOINT_MS)) {
          this.#checkpoint = this.#runCheckpoint()
            .catch(() => undefined) // closed while retrying: close() fsyncs and empties both files
            .finally(() => (this.#checkpoint = undefined));
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /**
   * Moves commits to the other file (emptied by the checkpoint before), fsyncs every segment
   * written through this one, then empties it. Retried until it succeeds: meanwhile commits go on
   * in the other file, and no other checkpoint starts.
   *
   * The segments are fsynced one at a time. All at once, they flushed every segment's few MB
   * together, and the commits' fdatasyncs meanwhile waited for it (on ext4: the e2e benchmark's
   * rule paced at 5,000 messages/s, 16 segments, 2-3 MB: 4.3-6.8 ms each, up to 9.2 ms, against
   * 0.4-0.8 ms outside checkpoints); one at a time, 1.2-1.5 ms, up to 4.2 ms.
   */
  async #runCheckpoint(): Promise<void> {
    const fh = this.#files[this.#current]!;
    const dirty = this.#dirty;
    this.#current = 1 - this.#current;
    this.#size = 0;
    this.#since = Number.POSITIVE_INFINITY;
    this.#dirty = new Set();
    for (let attempt = 0; ; attempt++) {
      try {
        for (const segment of dirty) await segment.sync();
        // What it held is in the segments now: a replay must not write it again.
        await fh.write(NO_HEADER, 0, HEADER_BYTES, 0);
        await fh.datasync();
        return;
      } catch (err) {
        if (this.#closed) throw err;
        this.logger.error({ err, attempt }, 'journal checkpoint failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
  }

  /** Waits for commits in flight, fsyncs every segment written since the last checkpoint and empties the journal. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#flushing) await new Promise((resolve) => setTimeout(resolve, 1));
    this.#closed = true;
    await this.#checkpoint?.catch(() => undefined);
    try {
      await Promise.all([...this.#dirty].map((segment) => segment.sync()));
      for (const fh of this.#files) {
        await fh.truncate(0);
        await fh.datasync();
      }
    } finally {
      await Promise.all(this.#files.map((fh) => fh.close()));
    }
  }
}

/** A file's header: the generation its entries carry. */
function fileHeader(generation: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES);
  out[0] = HEADER_MAGIC;
  out.writeUInt32BE(generation, 1);
  out.writeUInt32BE(crc32(out.subarray(1, 5)), 5);
  return out;
}

/** An entry's bytes before its frame (see the module comment); its checksum covers them, the frame's its own body. */
function entryHead(generation: number, topic: string, partition: number, segmentBase: number, position: number, frame: Buffer): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const out = Buffer.allocUnsafe(ENTRY_OVERHEAD + BODY_FIXED + topicLength);
  let at = ENTRY_OVERHEAD;
  out.writeUInt32BE(generation, at);
  out.writeUInt16BE(topicLength, at + 4);
  at += 6;
  at += out.write(topic, at, 'utf8');
  out.writeUInt32BE(partition, at);
  writeInt64(out, at + 4, segmentBase);
  writeInt64(out, at + 12, position);
  out[0] = ENTRY_MAGIC;
  out.writeUInt32BE(BODY_FIXED + topicLength + frame.length, 1);
  out.writeUInt32BE(crc32(out.subarray(ENTRY_OVERHEAD)), 5);
  return out;
}

const writeInt64 = (out: Buffer, at: number, value: number): void => {
  out.writeInt32BE(Math.floor(value / 0x1_0000_0000), at);
  out.writeUInt32BE(value >>> 0, at + 4);
};
const readInt64 = (buf: Buffer, at: number): number => buf.readInt32BE(at) * 0x1_0000_0000 + buf.readUInt32BE(at + 4);

/**
 * The whole entries of a journal file, in order: after its header, those of the header's
 * generation up to the first incomplete, damaged or older one; in a file an earlier kiot wrote
 * (no header), those from byte 0 up to the first incomplete or damaged one.
 */
export function decodeEntries(buf: Buffer): JournalEntry[] {
  if (buf.length > 0 && buf[0] === ENTRY_MAGIC) return readEntries(buf, 0, undefined);
  if (buf.length < HEADER_BYTES || buf[0] !== HEADER_MAGIC || crc32(buf.subarray(1, 5)) !== buf.readUInt32BE(5)) return [];
  return readEntries(buf, HEADER_BYTES, buf.readUInt32BE(1));
}

/** Entries from `pos`: of `generation`, or (undefined) without one, as an earlier kiot wrote them. */
function readEntries(buf: Buffer, pos: number, generation: number | undefined): JournalEntry[] {
  const entries: JournalEntry[] = [];
  const fixed = generation === undefined ? LEGACY_BODY_FIXED : BODY_FIXED;
  while (buf.length - pos >= ENTRY_OVERHEAD && buf[pos] === ENTRY_MAGIC) {
    const bodyLength = buf.readUInt32BE(pos + 1);
    const end = pos + ENTRY_OVERHEAD + bodyLength;
    if (bodyLength < fixed || end > buf.length) break;
    const body = buf.subarray(pos + ENTRY_OVERHEAD, end);
    let at = 0;
    if (generation !== undefined) {
      if (body.readUInt32BE(0) !== generation) break;
      at = 4;
    }
    const topicLength = body.readUInt16BE(at);
    if (fixed + topicLength > bodyLength) break;
    const topicAt = at + 2;
    at = topicAt + topicLength;
    if (generation === undefined) {
      if (crc32(body) !== buf.readUInt32BE(pos + 5)) break;
    } else {
      // The place, then the frame by its own checksum, which must span the rest of the entry.
      if (crc32(body.subarray(0, at + 20)) !== buf.readUInt32BE(pos + 5)) break;
      const frame = checkFrame(body, at + 20);
      if (frame.kind !== 'frame' || at + 20 + frame.length !== bodyLength) break;
    }
    entries.push({
      topic: body.toString('utf8', topicAt, at),
      partition: body.readUInt32BE(at),
      segmentBase: readInt64(body, at + 4),
      position: readInt64(body, at + 12),
      frame: body.subarray(at + 20),
    });
    pos = end;
  }
  return entries;
}

/**
 * Writes what the journal in `journalDir` holds back into the segments under `topicsDir` (see
 * the module comment), fsyncs them and empties the journal. Creates the journal directory.
 */
export async function replayJournal(journalDir: string, topicsDir: string, logger: Logger): Promise<void> {
  await mkdir(journalDir, { recursive: true });
  for (const name of await readdir(journalDir)) {
    if (!(FILES as readonly string[]).includes(name)) throw corrupt(join(journalDir, name), 'is not a file the embedded log writes');
  }
  const byPartition = new Map<string, JournalEntry[]>();
  for (const name of FILES) {
    const path = join(journalDir, name);
    let buf: Buffer;
    try {
      const fh = await open(path, 'r');
      try {
        buf = await fh.readFile();
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const entry of decodeEntries(buf)) {
      const key = `${entry.topic}/${entry.partition}`;
      let list = byPartition.get(key);
      if (!list) byPartition.set(key, (list = []));
      list.push(entry);
    }
  }
  for (const entries of byPartition.values()) {
    const { topic, partition } = entries[0]!;
    const dir = join(topicsDir, topic, String(partition));
    const bases = (await readdir(dir).catch(() => [] as string[])).map((n) => SEGMENT_FILE.exec(n)).filter((m) => m !== null).map((m) => Number(m[1]));
    if (bases.length === 0) continue; // the topic is gone
    const last = Math.max(...bases);
    // Earlier segments were fsynced when the partition rolled past them.
    const mine = entries.filter((e) => e.segmentBase === last).sort((a, b) => frameBaseOffset(a.frame, 0) - frameBaseOffset(b.frame, 0));
    if (mine.length === 0) continue;
    const path = join(dir, segmentFileName(last));
    for (let i = 1; i < mine.length; i++) {
      if (mine[i]!.position !== mine[i - 1]!.position + mine[i - 1]!.frame.length) throw corrupt(path, `journalled frames do not follow each other at byte ${mine[i]!.position}`);
    }
    const fh = await open(path, 'r+');
    try {
      const from = mine[0]!.position;
      const before = (await fh.stat()).size;
      await fh.truncate(from);
      let at = from;
      for (const e of mine) {
        await fh.write(e.frame, 0, e.frame.length, at);
        at += e.frame.length;
      }
      await fh.datasync();
      if (before !== at) logger.warn({ file: path, before, after: at }, 'segment restored from the journal');
    } finally {
      await fh.close();
    }
  }
  for (const name of FILES) {
    const fh = await open(join(journalDir, name), 'a+');
    try {
      if ((await stat(join(journalDir, name))).size > 0) {
        await fh.truncate(0);
        await fh.datasync();
      }
    } finally {
      await fh.close();
    }
  }
}
