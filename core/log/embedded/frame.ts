/**
 * On-disk record batches of the embedded log.
 *
 * A segment file starts with an 8-byte header, then frames back to back. A frame holds one
 * batch of records (everything one write + fsync made durable), under one checksum, as
 * Kafka's record batches do:
 *
 *   header  := "KIOTSEG" version:u8(=2)
 *   frame   := magic:u8(=0xA7) bodyLength:u32be crc32(body):u32be body
 *   body    := baseOffset:i64be lastOffsetDelta:u32be maxTimestamp:i64be count:u32be record{count}
 *   record  := offsetDelta:u32be timestamp:i64be keyLength:i32be(-1 = null) key
 *              valueLength:i32be(-1 = null) value headerCount:u16be { nameLength:u16be name valueLength:u32be value }*
 *
 * 64-bit integers are written as two 32-bit halves (exact below 2^53). The CRC covers the
 * whole body, so a torn or flipped write is detected before anything in the batch is served.
 */
import { crc32 } from 'node:zlib';
import type { LogRecord } from '../log.js';

export const SEGMENT_HEADER = Buffer.from('KIOTSEG\x02', 'latin1');
export const FRAME_MAGIC = 0xa7;
export const FRAME_OVERHEAD = 9; // magic + length + crc
const BATCH_FIXED = 8 + 4 + 8 + 4;
const RECORD_FIXED = 4 + 8 + 4 + 4 + 2;
/** Frames larger than this are treated as damage, not data. */
export const MAX_FRAME_BODY = 512 * 1024 * 1024;

export interface FrameInput {
  readonly offset: number;
  readonly timestamp: number;
  /** A string (key or value) is written as UTF-8 straight into the frame, saving a copy. */
  readonly key: Buffer | string | null;
  readonly value: Buffer | string | null;
  /** A string value is written as UTF-8, as a key or value is. */
  readonly headers: readonly (readonly [string, Buffer | string])[];
}

const byteLength = (value: Buffer | string | null): number =>
  value === null ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value.length;

function recordSize(input: FrameInput): number {
  let size = RECORD_FIXED + byteLength(input.key) + byteLength(input.value);
  for (let i = 0; i < input.headers.length; i++) {
    const [name, value] = input.headers[i]!;
    size += 2 + Buffer.byteLength(name) + 4 + byteLength(value);
  }
  return size;
}

/** Encodes records with increasing offsets (the first is the base) as one frame. */
export function encodeFrame(inputs: readonly FrameInput[]): Buffer {
  let total = FRAME_OVERHEAD + BATCH_FIXED;
  for (let i = 0; i < inputs.length; i++) total += recordSize(inputs[i]!);
  const out = Buffer.allocUnsafe(total);
  const base = inputs[0]!.offset;
  let maxTimestamp = -Infinity;
  let pos = FRAME_OVERHEAD + BATCH_FIXED;
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    if (input.timestamp > maxTimestamp) maxTimestamp = input.timestamp;
    out.writeUInt32BE(input.offset - base, pos);
    writeInt64(out, pos + 4, input.timestamp);
    pos = writeBytes(out, pos + 12, input.key);
    pos = writeBytes(out, pos, input.value);
    out.writeUInt16BE(input.headers.length, pos);
    pos += 2;
    for (const [name, value] of input.headers) {
      const nameLength = out.write(name, pos + 2, 'utf8');
      out.writeUInt16BE(nameLength, pos);
      pos += 2 + nameLength;
      pos = writeBytes(out, pos, value);
    }
  }
  const body = FRAME_OVERHEAD;
  writeInt64(out, body, base);
  out.writeUInt32BE(inputs[inputs.length - 1]!.offset - base, body + 8);
  writeInt64(out, body + 12, maxTimestamp);
  out.writeUInt32BE(inputs.length, body + 20);
  out[0] = FRAME_MAGIC;
  out.writeUInt32BE(total - FRAME_OVERHEAD, 1);
  out.writeUInt32BE(crc32(out.subarray(FRAME_OVERHEAD)), 5);
  return out;
}

function writeBytes(out: Buffer, pos: number, bytes: Buffer | string | null): number {
  if (bytes === null) {
    out.writeInt32BE(-1, pos);
    return pos + 4;
  }
  const length = typeof bytes === 'string' ? out.write(bytes, pos + 4, 'utf8') : bytes.copy(out, pos + 4);
  out.writeInt32BE(length, pos);
  return pos + 4 + length;
}

const writeInt64 = (out: Buffer, at: number, value: number): void => {
  out.writeInt32BE(Math.floor(value / 0x1_0000_0000), at);
  out.writeUInt32BE(value >>> 0, at + 4);
};
const readInt64 = (buf: Buffer, at: number): number => buf.readInt32BE(at) * 0x1_0000_0000 + buf.readUInt32BE(at + 4);

export type FrameCheck =
  | { readonly kind: 'frame'; readonly length: number }
  | { readonly kind: 'incomplete' } // the buffer ends inside the frame: read more, or a torn tail
  | { readonly kind: 'bad'; readonly reason: string };

/** Checks the frame at `pos` of `buf`, including its checksum. */
export function checkFrame(buf: Buffer, pos: number): FrameCheck {
  if (buf.length - pos < FRAME_OVERHEAD) return { kind: 'incomplete' };
  if (buf[pos] !== FRAME_MAGIC) return { kind: 'bad', reason: `bad frame marker 0x${buf[pos]!.toString(16)}` };
  const bodyLength = buf.readUInt32BE(pos + 1);
  if (bodyLength < BATCH_FIXED || bodyLength > MAX_FRAME_BODY) return { kind: 'bad', reason: `impossible frame length ${bodyLength}` };
  const end = pos + FRAME_OVERHEAD + bodyLength;
  if (end > buf.length) return { kind: 'incomplete' };
  if (crc32(buf.subarray(pos + FRAME_OVERHEAD, end)) !== buf.readUInt32BE(pos + 5)) return { kind: 'bad', reason: 'checksum mismatch' };
  return { kind: 'frame', length: end - pos };
}

/** Whether `buf` holds the whole frame at `pos` (header fields only; no checksum). */
export const hasWholeFrame = (buf: Buffer, pos: number): boolean =>
  buf.length - pos >= FRAME_OVERHEAD && declaredFrameLength(buf, pos) <= buf.length - pos;
/** Declared total length of the frame at `pos`. */
export const declaredFrameLength = (buf: Buffer, pos: number): number => FRAME_OVERHEAD + buf.readUInt32BE(pos + 1);
export const frameBaseOffset = (buf: Buffer, pos: number): number => readInt64(buf, pos + FRAME_OVERHEAD);
export const frameLastOffset = (buf: Buffer, pos: number): number =>
  frameBaseOffset(buf, pos) + buf.readUInt32BE(pos + FRAME_OVERHEAD + 8);
export const frameMaxTimestamp = (buf: Buffer, pos: number): number => readInt64(buf, pos + FRAME_OVERHEAD + 12);

/** A record inside a frame, positioned but not copied. */
export interface RawRecord {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Position of the header count; decode headers only when needed. */
  readonly headersAt: number;
}

const NO_HEADERS: Readonly<Record<string, Buffer>> = Object.freeze({});

/**
 * Calls `visit` for every record of the whole frame at `pos`, in offset order, until it
 * returns false. Key and value are views into `buf`.
 */
export function forEachRecord(buf: Buffer, pos: number, visit: (record: RawRecord) => boolean | void): void {
  const base = frameBaseOffset(buf, pos);
  const count = buf.readUInt32BE(pos + FRAME_OVERHEAD + 20);
  let at = pos + FRAME_OVERHEAD + BATCH_FIXED;
  for (let i = 0; i < count; i++) {
    const offset = base + buf.readUInt32BE(at);
    const timestamp = readInt64(buf, at + 4);
    at += 12;
    const keyLength = buf.readInt32BE(at);
    at += 4;
    const key = keyLength < 0 ? null : buf.subarray(at, at + keyLength);
    if (keyLength > 0) at += keyLength;
    const valueLength = buf.readInt32BE(at);
    at += 4;
    const value = valueLength < 0 ? null : buf.subarray(at, at + valueLength);
    if (valueLength > 0) at += valueLength;
    const headersAt = at;
    const headerCount = buf.readUInt16BE(at);
    at += 2;
    for (let h = 0; h < headerCount; h++) {
      at += 2 + buf.readUInt16BE(at);
      at += 4 + buf.readUInt32BE(at);
    }
    if (visit({ offset, timestamp, key, value, headersAt }) === false) return;
  }
}

/** The headers of a raw record, as views into `buf`. */
export function readHeaders(buf: Buffer, headersAt: number): Readonly<Record<string, Buffer>> {
  const count = buf.readUInt16BE(headersAt);
  if (count === 0) return NO_HEADERS;
  const headers: Record<string, Buffer> = {};
  let at = headersAt + 2;
  for (let i = 0; i < count; i++) {
    const nameLength = buf.readUInt16BE(at);
    const name = buf.toString('utf8', at + 2, at + 2 + nameLength);
    at += 2 + nameLength;
    const length = buf.readUInt32BE(at);
    headers[name] = buf.subarray(at + 4, at + 4 + length);
    at += 4 + length;
  }
  return headers;
}

/**
 * Appends the frame's records with offset >= `from` to `out` as LogRecords, stopping at `max`
 * records in `out`. Keys, values and headers are views into `buf`: hand in a buffer that is
 * never reused. This is the consume hot path, so it decodes in one pass without closures.
 */
export function decodeRecords(buf: Buffer, pos: number, from: number, max: number, out: LogRecord[], topic: string, partition: number): void {
  const base = frameBaseOffset(buf, pos);
  const count = buf.readUInt32BE(pos + FRAME_OVERHEAD + 20);
  let at = pos + FRAME_OVERHEAD + BATCH_FIXED;
  for (let i = 0; i < count && out.length < max; i++) {
    const offset = base + buf.readUInt32BE(at);
    const timestamp = buf.readInt32BE(at + 4) * 0x1_0000_0000 + buf.readUInt32BE(at + 8);
    at += 12;
    const keyLength = buf.readInt32BE(at);
    at += 4;
    const keyAt = at;
    if (keyLength > 0) at += keyLength;
    const valueLength = buf.readInt32BE(at);
    at += 4;
    const valueAt = at;
    if (valueLength > 0) at += valueLength;
    const headersAt = at;
    const headerCount = buf.readUInt16BE(at);
    at += 2;
    for (let h = 0; h < headerCount; h++) {
      at += 2 + buf.readUInt16BE(at);
      at += 4 + buf.readUInt32BE(at);
    }
    if (offset < from) continue;
    out.push({
      topic,
      partition,
      offset,
      key: keyLength < 0 ? null : buf.subarray(keyAt, keyAt + keyLength),
      value: valueLength < 0 ? null : buf.subarray(valueAt, valueAt + valueLength),
      headers: headerCount === 0 ? NO_HEADERS : readHeaders(buf, headersAt),
      timestamp,
    });
  }
}

/** The record as input for re-encoding (compaction). */
export function toFrameInput(buf: Buffer, raw: RawRecord): FrameInput {
  return {
    offset: raw.offset,
    timestamp: raw.timestamp,
    key: raw.key,
    value: raw.value,
    headers: Object.entries(readHeaders(buf, raw.headersAt)),
  };
}
