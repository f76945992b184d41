/**
 * How a state service's values are stored on its compacted topic: a small frame around the
 * value's own encoding, so that every record says which schema version wrote it and which
 * revision of its key it is.
 *
 * Frame layout (big-endian):
 *   u8  magic 0xC5          (never the first byte of JSON text or of an Avro envelope)
 *   u8  frame version (1)
 *   u16 schema version      (the codec's `version` when the record was written)
 *   u32 revision            (1 for the first value of a key, +1 for each write after it)
 *   ... the codec's bytes
 *
 * A value written before frames existed (plain JSON, or a bare envelope) decodes as schema
 * version 0 and revision 0, and goes through the codec's `upgrade`.
 */
import type { ZodType } from 'zod';
import { PlatformError } from '../errors.js';

const MAGIC = 0xc5;
const FRAME_VERSION = 1;
const HEADER_BYTES = 8;

/** Turns one kind of state value into bytes and back, checking what it reads. */
export interface StateCodec<T> {
  /** Names the kind of value in errors (`thing`, `session`). */
  readonly name: string;
  /** The schema version this codec writes; records of older versions go through `upgrade`. */
  readonly version: number;
  /** The value's bytes; a string stands for its UTF-8 bytes (written into the frame without a Buffer of its own). */
  encode(value: T): Buffer | string;
  /**
   * Reads the bytes of `key` written with schema version `version` (0 = before frames existed).
   * @throws PlatformError STATE_RECORD_INVALID when they do not hold a valid value.
   */
  decode(bytes: Buffer, version: number, key: string): T;
}

/** A decoded record: the value, and the revision of its key that it is. */
export interface StateFrame<T> {
  readonly value: T;
  readonly revision: number;
}

export function encodeFrame<T>(codec: StateCodec<T>, value: T, revision: number): Buffer {
  const body = codec.encode(value);
  const out = Buffer.allocUnsafe(HEADER_BYTES + (typeof body === 'string' ? Buffer.byteLength(body) : body.length));
  out[0] = MAGIC;
  out[1] = FRAME_VERSION;
  out.writeUInt16BE(codec.version, 2);
  out.writeUInt32BE(revision, 4);
  if (typeof body === 'string') out.write(body, HEADER_BYTES);
  else body.copy(out, HEADER_BYTES);
  return out;
}

/** @throws PlatformError STATE_RECORD_INVALID for a frame of an unknown version or a value the codec refuses. */
export function decodeFrame<T>(codec: StateCodec<T>, bytes: Buffer, key: string): StateFrame<T> {
  if (bytes.length === 0 || bytes[0] !== MAGIC) return { value: decodeValue(codec, bytes, 0, key), revision: 0 };
  if (bytes.length < HEADER_BYTES || bytes[1] !== FRAME_VERSION) {
    throw new PlatformError('STATE_RECORD_INVALID', `${codec.name} ${key}: unknown state frame version ${bytes[1]}`, { details: { key } });
  }
  const version = bytes.readUInt16BE(2);
  if (version > codec.version) {
    // Written by a newer kiot: refuse rather than drop the fields this one does not know.
    throw new PlatformError('STATE_RECORD_INVALID', `${codec.name} ${key}: schema version ${version} is newer than this kiot reads (${codec.version})`, { details: { key, version } });
  }
  return { value: decodeValue(codec, bytes.subarray(HEADER_BYTES), version, key), revision: bytes.readUInt32BE(4) };
}

/**
 * Decodes bytes without a frame (what a frame holds, or a record that has none, such as the
 * router's requests and replies) with the codec.
 * @throws PlatformError STATE_RECORD_INVALID, naming the codec and key, for anything the codec refuses.
 */
export function decodeValue<T>(codec: StateCodec<T>, bytes: Buffer, version: number, key: string): T {
  try {
    return codec.decode(bytes, version, key);
  } catch (err) {
    if (err instanceof PlatformError && err.code === 'STATE_RECORD_INVALID') throw err;
    throw new PlatformError('STATE_RECORD_INVALID', `${codec.name} ${key}: ${(err as Error).message}`, { details: { key, version }, cause: err });
  }
}

export interface JsonCodecOptions<T> {
  readonly name: string;
  /** Bump when the shape changes, and teach `upgrade` the old one. */
  readonly version: number;
  /** The schema of every value, or of the value under one key (a topic holding several kinds). */
  readonly schema: ZodType<T> | ((key: string) => ZodType<T>);
  /**
   * Turns a value parsed from an older schema version (0 = written before frames) into the
   * current shape; it is checked against `schema` afterwards. Default: the value as it is.
   * `key` is the record's key: old records may have left to the key what the value now holds
   * (a rule's name).
   */
  readonly upgrade?: (value: unknown, fromVersion: number, key: string) => unknown;
}

/** Values as UTF-8 JSON, checked with a zod schema on every decode (AWS-style state is small). */
export function jsonCodec<T>(options: JsonCodecOptions<T>): StateCodec<T> {
  const { name, version, schema, upgrade } = options;
  return {
    name,
    version,
    encode: (value) => JSON.stringify(value),
    decode(bytes, from, key) {
      let raw: unknown = JSON.parse(bytes.toString('utf8'));
      if (from < version && upgrade) raw = upgrade(raw, from, key);
      const parsed = (typeof schema === 'function' ? schema(key) : schema).safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const path = issue && issue.path.length > 0 ? issue.path.join('.') : '(value)';
        throw new PlatformError('STATE_RECORD_INVALID', `${name}: ${path}: ${issue?.message ?? 'does not match the schema'}`);
      }
      return parsed.data;
    },
  };
}
