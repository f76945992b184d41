import { ftruncateSync, writeSync, writevSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import {
  SEGMENT_HEADER,
  checkFrame,
  declaredFrameLength,
  frameBaseOffset,
  frameLastOffset,
  frameMaxTimestamp,
  FRAME_OVERHEAD,
} from './frame.js';

/**
 * Frames staged for the file are written once they take this many bytes or frames (and whenever
 * a read or an fsync needs them): one write for many turns' frames, not one per partition per turn.
 * The count bounds what small frames hold: one under 4 KB is a slice of an 8 KB Buffer pool.
 */
const WRITE_OUT_BYTES = 128 * 1024;
const WRITE_OUT_FRAMES = 64;
/** A sparse index entry every INDEX_INTERVAL_BYTES of frames. */
const INDEX_INTERVAL_BYTES = 16 * 1024;
const SCAN_CHUNK_BYTES = 1024 * 1024;

export const segmentFileName = (baseOffset: number): string => `${String(baseOffset).padStart(20, '0')}.seg`;
export const SEGMENT_FILE = /^(\d{20})\.seg$/;

/**
 * One segment file of a partition: frames with increasing offsets from `baseOffset`. Only the
 * last segment of a partition is appended to. `size` counts durable bytes only; reads never go
 * past it, so nothing that could still vanish in a crash is served.
 *
 * An appended frame is staged (`stage`), not written at once: the journal makes it durable, and
 * the segment writes its staged frames to the file together, once they are many (or a read or an
 * fsync needs them). The journal's checkpoint fsyncs the segment (`sync`, which writes them
 * first) before it empties the journal file that holds them, so a frame is always in one or the
 * other; a crash in between is what the journal's replay repairs.
 */
export class Segment {
  /** Sparse index of frame starts: the frame with base offsets[i] is at byte positions[i]; maxTimestamps[i] is the max timestamp up to it. */
  readonly #offsets: number[] = [];
  readonly #positions: number[] = [];
  readonly #maxTimestamps: number[] = [];
  #lastIndexedPosition = -Infinity;
  /** Offset after the last record in the segment (baseOffset when empty). */
  nextOffset: number;
  /** Highest record timestamp in the segment (-Infinity when empty). */
  maxTimestamp = -Infinity;
  /** Frames (record batches) in the segment. */
  frames = 0;
  #closed = false;
  /** Bytes written to the file: the frames staged after them are not, yet. */
  #written: number;
  #staged: Buffer[] = [];
  #stagedBytes = 0;

  private constructor(
    readonly path: string,
    readonly baseOffset: number,
    readonly fh: FileHandle,
    public size: number,
  ) {
    this.nextOffset = baseOffset;
    this.#written = size;
  }

  static async create(path: string, baseOffset: number): Promise<Segment> {
    const fh = await open(path, 'wx+');
    await fh.write(SEGMENT_HEADER, 0, SEGMENT_HEADER.length, 0);
    await fh.datasync();
    return new Segment(path, baseOffset, fh, SEGMENT_HEADER.length);
  }

  /**
   * Opens and verifies an existing segment. On the active (last) segment, a torn tail — an
   * incomplete frame or a damaged final frame, as a crash mid-write leaves — is truncated with a
   * warning. Damage followed by more data, a wrong header, or offsets that go backwards stop
   * startup with LOG_CORRUPT naming the file: that is not a torn write and must not be papered over.
   */
  static async open(path: string, baseOffset: number, active: boolean, logger: Logger): Promise<Segment> {
    const fh = await open(path, 'r+');
    try {
      const fileSize = (await fh.stat()).size;
      const header = Buffer.alloc(SEGMENT_HEADER.length);
      await fh.read(header, 0, header.length, 0);
      if (fileSize < SEGMENT_HEADER.length || !header.equals(SEGMENT_HEADER)) {
        if (active && fileSize < SEGMENT_HEADER.length && SEGMENT_HEADER.subarray(0, fileSize).equals(header.subarray(0, fileSize))) {
          // Crashed while creating the segment: nothing in it was ever acknowledged.
          await fh.truncate(0);
          await fh.write(SEGMENT_HEADER, 0, SEGMENT_HEADER.length, 0);
          await fh.datasync();
          return new Segment(path, baseOffset, fh, SEGMENT_HEADER.length);
        }
        throw corrupt(path, 'is not a kiot log segment (bad header)');
      }
      const segment = new Segment(path, baseOffset, fh, SEGMENT_HEADER.length);
      await segment.#scan(fileSize, active, logger);
      return segment;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async #scan(fileSize: number, active: boolean, logger: Logger): Promise<void> {
    let chunk = Buffer.alloc(SCAN_CHUNK_BYTES);
    let chunkStart = SEGMENT_HEADER.length; // file position of chunk[0]
    let chunkLength = 0;
    let pos = SEGMENT_HEADER.length; // file position of the next frame
    let previousOffset = this.baseOffset - 1;
    for (;;) {
      const rel = pos - chunkStart;
      const view = chunk.subarray(0, chunkLength);
      const check = checkFrame(view, rel);
      if (check.kind === 'frame') {
        const base = frameBaseOffset(view, rel);
        const last = frameLastOffset(view, rel);
        if (base <= previousOffset || last < base) throw corrupt(this.path, `offsets go backwards at byte ${pos}`);
        previousOffset = last;
        this.#noteFrame(base, last, pos, frameMaxTimestamp(view, rel));
        pos += check.length;
        continue;
      }
      if (check.kind === 'incomplete' && chunkStart + chunkLength < fileSize) {
        // Refill from the frame start, growing the buffer if one frame is larger than it.
        const need = chunkLength - rel >= FRAME_OVERHEAD ? declaredFrameLength(view, rel) : FRAME_OVERHEAD;
        if (need > chunk.length) chunk = Buffer.alloc(need);
        chunkStart = pos;
        const { bytesRead } = await this.fh.read(chunk, 0, chunk.length, chunkStart);
        chunkLength = bytesRead;
        continue;
      }
      if (pos >= fileSize) break; // clean end
      // Damage at `pos`: a torn tail only if nothing valid can follow it.
      const reason = check.kind === 'bad' ? check.reason : 'incomplete frame at end of file';
      const tail = await this.#isTornTail(pos, fileSize, view, rel, check.kind === 'incomplete');
      if (!active || !tail) throw corrupt(this.path, `${reason} at byte ${pos}`);
      logger.warn({ file: this.path, position: pos, lost: fileSize - pos, reason }, 'truncating torn write at segment tail');
      await this.fh.truncate(pos);
      await this.fh.datasync();
      break;
    }
    this.size = this.#written = pos;
  }

  async #isTornTail(pos: number, fileSize: number, view: Buffer, rel: number, incomplete: boolean): Promise<boolean> {
    if (incomplete) return true;
    // A damaged frame whose declared end reaches the end of the file is the last write, torn.
    if (view.length - rel >= FRAME_OVERHEAD && pos + declaredFrameLength(view, rel) >= fileSize) return true;
    // So is a tail of zeros (a file system may extend a file before the data lands).
    const rest = Buffer.alloc(Math.min(fileSize - pos, 64 * 1024 * 1024));
    await this.fh.read(rest, 0, rest.length, pos);
    return rest.every((b) => b === 0);
  }

  #noteFrame(base: number, last: number, position: number, maxTimestamp: number): void {
    if (maxTimestamp > this.maxTimestamp) this.maxTimestamp = maxTimestamp;
    if (position - this.#lastIndexedPosition >= INDEX_INTERVAL_BYTES) {
      this.#offsets.push(base);
      this.#positions.push(position);
      this.#maxTimestamps.push(this.maxTimestamp);
      this.#lastIndexedPosition = position;
    } else {
      this.#maxTimestamps[this.#maxTimestamps.length - 1] = this.maxTimestamp;
    }
    this.nextOffset = last + 1;
    this.frames++;
  }

  /**
   * Puts a frame after the last one, to be written to the file later with others (see the class
   * comment). Only the last frame staged may not be durable yet: `noteAppended` once it is,
   * `unstage` if it never will be.
   */
  stage(frame: Buffer): void {
    this.#staged.push(frame);
    this.#stagedBytes += frame.length;
  }

  /** Takes back the last frame staged, which did not become durable; if it reached the file, the file is cut back to the durable end. */
  unstage(frame: Buffer): void {
    if (this.#staged[this.#staged.length - 1] === frame) {
      this.#staged.pop();
      this.#stagedBytes -= frame.length;
    }
    if (this.#written > this.size) {
      ftruncateSync(this.fh.fd, this.size);
      this.#written = this.size;
    }
  }

  /** Records that the frame staged last (see frame.ts) was made durable at the end of the segment. */
  noteAppended(frame: Buffer): void {
    this.#noteFrame(frameBaseOffset(frame, 0), frameLastOffset(frame, 0), this.size, frameMaxTimestamp(frame, 0));
    this.size += frame.length;
    if (this.#stagedBytes < WRITE_OUT_BYTES && this.#staged.length < WRITE_OUT_FRAMES) return;
    try {
      this.#writeOut();
    } catch {
      // Left staged: the next write-out tries again, and the journal's checkpoint (sync) reports and retries a failure.
    }
  }

  /** Writes the staged frames to the file, at its end. Synchronous: it copies into the page cache, as one append did before. */
  #writeOut(): void {
    if (this.#staged.length === 0) return;
    const frames = this.#staged;
    const start = this.#written;
    const end = start + this.#stagedBytes;
    const at = start + writevSync(this.fh.fd, frames, start);
    // A short write (a full disk part way): the rest from where it stopped.
    if (at < end) {
      const rest = Buffer.concat(frames).subarray(at - start);
      for (let done = 0; done < rest.length; ) done += writeSync(this.fh.fd, rest, done, rest.length - done, at + done);
    }
    this.#staged = [];
    this.#stagedBytes = 0;
    this.#written = end;
  }

  /** Byte position to start reading for `offset` (the indexed frame at or before it). */
  positionFor(offset: number): number {
    const i = lastAtOrBefore(this.#offsets, offset);
    return i < 0 ? SEGMENT_HEADER.length : this.#positions[i]!;
  }

  /** Byte position to start scanning for the first record with timestamp >= `timestamp`. */
  positionForTimestamp(timestamp: number): number {
    // maxTimestamps is non-decreasing: find the first entry that reaches the timestamp, back up one.
    let lo = 0;
    let hi = this.#maxTimestamps.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#maxTimestamps[mid]! >= timestamp) hi = mid;
      else lo = mid + 1;
    }
    const i = lo - 1;
    return i < 0 ? SEGMENT_HEADER.length : this.#positions[i]!;
  }

  /** Reads up to `maxBytes` durable bytes from `position` (writing the staged frames first when the range reaches them). */
  async read(position: number, maxBytes: number): Promise<Buffer> {
    const length = Math.min(maxBytes, this.size - position);
    if (length <= 0) return Buffer.alloc(0);
    if (position + length > this.#written) this.#writeOut();
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.fh.read(buf, 0, length, position);
    return bytesRead === length ? buf : buf.subarray(0, bytesRead);
  }

  /** Writes the staged frames and makes the file durable (the journal's checkpoints, a roll). A closed segment was synced before it closed. */
  async sync(): Promise<void> {
    if (this.#closed) return;
    this.#writeOut();
    await this.fh.datasync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // The journal's close synced every segment it holds frames of; a frame left staged (a sync that failed) is still in the journal for the next open to replay.
    if (this.#staged.length > 0) await this.sync().catch(() => undefined);
    this.#closed = true;
    await this.fh.close().catch(() => undefined);
  }
}

function lastAtOrBefore(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

export const corrupt = (file: string, what: string): PlatformError =>
  new PlatformError('LOG_CORRUPT', `${file}: ${what}; move the file away or restore it from a backup, then start again`, {
    details: { file },
  });
