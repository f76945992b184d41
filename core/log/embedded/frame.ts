/**
 * On-disk record frames of the embedded log.
 *
 * A segment file starts with an 8-byte header, then frames back to back:
 *
 *   header  := "KIOTSEG" version:u8(=1)
 *   frame   := magic:u8(=0xA7) bodyLength:u32be crc32(body):u32be body
 *   body    := offset:u48be(2 zero bytes + 6) timestamp:i64be(as 2 zero bytes + i48)
 *              keyLength:i32be(-1 = null) key valueLength:i32be(-1 = null) value
 *              headerCount:u16be { nameLength:u16be name valueLength:u32be value }*
 *
 * The CRC covers the body, so a torn or flipped write is detected before anything is served.
 */
import { crc32 } from 'node:zlib';
import type { LogRecord } from '../log.js';

export const SEGMENT_HEADER = Buffer.from('KIOTSEG\x01', 'latin1');
export const FRAME_MAGIC = 0xa7;
export const FRAME_OVERHEAD = 9; // magic + length + crc
const BODY_FIXED = 8 + 8 + 4 + 4 + 2;
/** Frames larger than this are treated as damage, not data (no single record is this big). */
export const MAX_FRAME_BODY = 256 * 1024 * 1024;

export interface FrameInput {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly (readonly [string, Buffer])[];
}

export function frameSize(input: FrameInput): number {
  let size = FRAME_OVERHEAD + BODY_FIXED + (input.key?.length ?? 0) + (input.value?.length ?? 0);
  for (const [name, value] of input.headers) size += 2 + Buffer.byteLength(name) + 4 + value.length;
  return size;
}

/** Writes one frame at `pos` of `out` and returns the position after it. */
export function writeFrame(out: Buffer, pos: number, input: FrameInput): number {
  const start = pos;
  out[pos] = FRAME_MAGIC;
  pos += FRAME_OVERHEAD;
  const bodyStart = pos;
  out.writeUInt16BE(0, pos);
  out.writeUIntBE(input.offset, pos + 2, 6);
  out.writeInt16BE(input.timestamp < 0 ? -1 : 0, pos + 8);
  out.writeIntBE(input.timestamp, pos + 10, 6);
  pos += 16;
  pos = writeBytes(out, pos, input.key);
  pos = writeBytes(out, pos, input.value);
  out.writeUInt16BE(input.headers.length, pos);
  pos += 2;
  for (const [name, value] of input.headers) {
    const nameLength = out.write(name, pos + 2, 'utf8');
    out.writeUInt16BE(nameLength, pos);
    pos += 2 + nameLength;
    out.writeUInt32BE(value.length, pos);
    value.copy(out, pos + 4);
    pos += 4 + value.length;
  }
  out.writeUInt32BE(pos - bodyStart, start + 1);
  out.writeUInt32BE(crc32(out.subarray(bodyStart, pos)), start + 5);
  return pos;
}

function writeBytes(out: Buffer, pos: number, bytes: Buffer | null): number {
  if (bytes === null) {
    out.writeInt32BE(-1, pos);
    return pos + 4;
  }
  out.writeInt32BE(bytes.length, pos);
  bytes.copy(out, pos + 4);
  return pos + 4 + bytes.length;
}

export type FrameCheck =
  | { readonly kind: 'frame'; readonly length: number }
  | { readonly kind: 'incomplete' } // the buffer ends inside the frame: read more, or a torn tail
  | { readonly kind: 'bad'; readonly reason: string };

/** Checks the frame at `pos` of `buf` (which holds bytes up to `buf.length`). */
export function checkFrame(buf: Buffer, pos: number): FrameCheck {
  if (buf.length - pos < FRAME_OVERHEAD) return { kind: 'incomplete' };
  if (buf[pos] !== FRAME_MAGIC) return { kind: 'bad', reason: `bad frame marker 0x${buf[pos]!.toString(16)}` };
  const bodyLength = buf.readUInt32BE(pos + 1);
  if (bodyLength < BODY_FIXED || bodyLength > MAX_FRAME_BODY) return { kind: 'bad', reason: `impossible frame length ${bodyLength}` };
  const end = pos + FRAME_OVERHEAD + bodyLength;
  if (end > buf.length) return { kind: 'incomplete' };
  const expected = buf.readUInt32BE(pos + 5);
  if (crc32(buf.subarray(pos + FRAME_OVERHEAD, end)) !== expected) return { kind: 'bad', reason: 'checksum mismatch' };
  return { kind: 'frame', length: end - pos };
}

/** Declared total length of the frame at `pos` (header fields only; call checkFrame first). */
export const declaredFrameLength = (buf: Buffer, pos: number): number => FRAME_OVERHEAD + buf.readUInt32BE(pos + 1);

/** Offset and timestamp of a checked frame, without decoding the rest. */
export function frameOffset(buf: Buffer, pos: number): number {
  return buf.readUIntBE(pos + FRAME_OVERHEAD + 2, 6);
}
export function frameTimestamp(buf: Buffer, pos: number): number {
  return buf.readIntBE(pos + FRAME_OVERHEAD + 10, 6);
}
/** Key of a checked frame (a view into `buf`), or null. */
export function frameKey(buf: Buffer, pos: number): Buffer | null {
  const at = pos + FRAME_OVERHEAD + 16;
  const length = buf.readInt32BE(at);
  return length < 0 ? null : buf.subarray(at + 4, at + 4 + length);
}
export function frameIsTombstone(buf: Buffer, pos: number): boolean {
  const keyAt = pos + FRAME_OVERHEAD + 16;
  const keyLength = buf.readInt32BE(keyAt);
  const valueAt = keyAt + 4 + Math.max(0, keyLength);
  return buf.readInt32BE(valueAt) < 0;
}

/**
 * Decodes a checked frame. Key, value and header buffers are copies, so the read buffer can be
 * reused and records can outlive it.
 */
export function decodeFrame(buf: Buffer, pos: number, topic: string, partition: number): LogRecord {
  let at = pos + FRAME_OVERHEAD;
  const offset = buf.readUIntBE(at + 2, 6);
  const timestamp = buf.readIntBE(at + 10, 6);
  at += 16;
  const keyLength = buf.readInt32BE(at);
  at += 4;
  const key = keyLength < 0 ? null : Buffer.from(buf.subarray(at, at + keyLength));
  at += Math.max(0, keyLength);
  const valueLength = buf.readInt32BE(at);
  at += 4;
  const value = valueLength < 0 ? null : Buffer.from(buf.subarray(at, at + valueLength));
  at += Math.max(0, valueLength);
  const headerCount = buf.readUInt16BE(at);
  at += 2;
  const headers: Record<string, Buffer> = {};
  for (let i = 0; i < headerCount; i++) {
    const nameLength = buf.readUInt16BE(at);
    const name = buf.toString('utf8', at + 2, at + 2 + nameLength);
    at += 2 + nameLength;
    const length = buf.readUInt32BE(at);
    headers[name] = Buffer.from(buf.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return { topic, partition, offset, key, value, headers, timestamp };
}
