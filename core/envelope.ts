/**
 * The message envelope: how one MQTT message is stored on the log (DESIGN.md, "Envelope").
 * Ingest and the HTTP publish API write envelopes to `iot.ingress`; the rules worker, the
 * state services and egress read them. Encoding and decoding run once per message on the
 * hot path, so every avsc Type and resolver is built once, when this module loads.
 */
import { randomInt, randomUUID } from 'node:crypto';
import avro from 'avsc';
import type { Schema, Type } from 'avsc';
import { ENVELOPE_SCHEMA_V1 } from './envelope-schemas/v1.js';
import { invalidInput, PlatformError } from './errors.js';
import type { AppendRecord } from './log/log.js';

/** One MQTT 5 user property. Names may repeat; order is kept. */
export interface UserProperty {
  readonly name: string;
  readonly value: string;
}

/**
 * One MQTT message as kiot carries it. Optional fields are `undefined` when absent (a
 * decoded envelope never holds `null`).
 */
export interface Envelope {
  /** Unique id of this message (a UUID from `createEnvelope`). */
  readonly messageId: string;
  /** MQTT topic name (never a filter); may hold any Unicode. */
  readonly topic: string;
  /** Payload bytes as published. */
  readonly payload: Buffer;
  /** MQTT QoS: 0, 1 or 2. */
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** MQTT client id; absent for publishes that have none (HTTP API). */
  readonly clientId?: string;
  /** Registry thing name, when the publisher is known to be a thing. */
  readonly thingName?: string;
  /** Authenticated principal: certificate id for devices, access key id for HTTP. */
  readonly principal?: string;
  /** Publisher's address, `ip:port`, when known (not for bridged messages). */
  readonly sourceAddress?: string;
  /** When kiot received the message, ms since the epoch. */
  readonly receivedAt: number;
  /** Trace id (IoT SQL `traceid()`). */
  readonly traceId: string;
  /** MQTT 5 user properties in the order received; `[]` when there are none. */
  readonly userProperties: readonly UserProperty[];
  /** MQTT 5 content type (`get_mqtt_property('content_type')`). */
  readonly contentType?: string;
  /** MQTT 5 response topic (`get_mqtt_property('response_topic')`). */
  readonly responseTopic?: string;
  /** MQTT 5 correlation data (`get_mqtt_property('correlation_data')`). */
  readonly correlationData?: Buffer;
  /** MQTT 5 payload format indicator: 0 unspecified bytes, 1 UTF-8 text (`format_indicator`). */
  readonly payloadFormatIndicator?: number;
  /** MQTT 5 message expiry interval, in seconds. */
  readonly messageExpiryIntervalSec?: number;
}

/** First byte of every envelope. See the layout comment above `createEnvelopeCodec`. */
export const ENVELOPE_MAGIC = 0x9e;

/** Header a gateway puts on the records it appends, so that it can skip its own on the way back (envelope-consumer.ts). */
export const ORIGIN_HEADER = 'kiot-origin';
/**
 * Header on a request a service of the gateway's own process answered as it was written (a
 * {@link MessageTaker}), naming the service's request group, whose consumer then skips it.
 */
export const HANDLED_HEADER = 'kiot-handled';

/**
 * A service that answers some messages in the process that receives them (the shadow service,
 * for requests on shadows it owns): handed a message's record by the ingest writer, it appends
 * the record itself, marked {@link HANDLED_HEADER}, in the same append as its answer, so that a
 * request and its answer cost one durable write and no read back from the log.
 */
export interface MessageTaker {
  /**
   * Undefined when not taken: the writer appends the record as any other. Else resolves (with
   * whatever the service answered) once the record is durable; a rejection means it was not
   * appended, and the writer appends it as any other (the service's consumer then answers it
   * from the log).
   */
  take(envelope: Envelope, record: AppendRecord): Promise<unknown> | undefined;
}
/** The schema version this build writes. */
export const ENVELOPE_SCHEMA_VERSION = 1;
/**
 * Every schema version ever shipped, by the version byte it is written with. Entries are
 * only ever added; see the evolution rule above `createEnvelopeCodec`.
 */
export const ENVELOPE_SCHEMAS: ReadonlyMap<number, Schema> = new Map<number, Schema>([[1, ENVELOPE_SCHEMA_V1]]);

const HEADER_BYTES = 2;
/** Initial encode buffer; an envelope with a 200-byte payload takes about 300 to 450 bytes. */
const INITIAL_SCRATCH_BYTES = 4096;
/** Larger records are encoded straight into their own buffer rather than growing the scratch one for good. */
const MAX_SCRATCH_BYTES = 1 << 20;

/** Encodes and decodes envelopes for one set of schema versions. */
export interface EnvelopeCodec {
  /** The schema version `encode` writes. */
  readonly version: number;
  /** See `encodeEnvelope`. */
  encode(envelope: Envelope): Buffer;
  /** See `decodeEnvelope`. */
  decode(bytes: Buffer): Envelope;
}

/**
 * Builds a codec that writes `schemas.get(version)` and reads every version up to it.
 * kiot itself uses the one codec over `ENVELOPE_SCHEMAS`; this factory exists so that tests
 * (and a future migration tool) can write records with an older schema.
 *
 * Layout of an encoded envelope (all integers as single bytes):
 * ```
 *   0      magic 0x9e   a UTF-8 continuation byte, so no text (JSON, plain strings) starts
 *                       with it; it also differs from Confluent's 0x00 and Avro's
 *                       single-object 0xc3, so those tools fail loudly rather than misread
 *   1      version      schema version the record was written with: 1..255 (0 is
 *                       never shipped; tests use it for an older writer)
 *   2..n   record       Avro binary encoding of the record under that version's schema;
 *                       the record ends exactly at the end of the buffer
 * ```
 * Evolution rule: a new version may only ADD fields, after the existing ones (`envelopeTopic`
 * reads the first two), each with a default (optional fields:
 * `["null", T]` with default `null`); it never removes, renames or retypes a field and never
 * reorders union branches. Every shipped schema stays in `ENVELOPE_SCHEMAS`, and the reader
 * resolves older records with avsc's `createResolver`, filling new fields from their
 * defaults. Records newer than the reader are refused (ENVELOPE_INVALID), so upgrade
 * readers before writers.
 *
 * @throws PlatformError CONFIG_INVALID at construction if a version is out of range, is
 *   missing, or cannot be resolved by the newest schema (the rule above was broken).
 */
export function createEnvelopeCodec(schemas: ReadonlyMap<number, Schema>, version: number): EnvelopeCodec {
  const readerSchema = schemas.get(version);
  if (readerSchema === undefined || !Number.isInteger(version) || version < 0 || version > 255) {
    throw new PlatformError('CONFIG_INVALID', `envelope schema version ${version} is not defined`);
  }
  const type = buildType(readerSchema);
  // Index = version byte. `null` reads with the reader type itself, a resolver reads an older
  // writer's records, `undefined` is a version this reader does not know.
  const readers: (avro.Resolver | null | undefined)[] = [];
  readers[version] = null;
  for (const [writerVersion, writerSchema] of schemas) {
    if (writerVersion >= version) continue;
    try {
      readers[writerVersion] = type.createResolver(buildType(writerSchema));
    } catch (err) {
      throw new PlatformError(
        'CONFIG_INVALID',
        `envelope schema ${version} cannot read version ${writerVersion}: ${oneLine(err)}`,
        { cause: err },
      );
    }
  }

  let scratch = newScratch(INITIAL_SCRATCH_BYTES, version);

  const encode = (envelope: Envelope): Buffer => {
    if (typeof envelope !== 'object' || envelope === null) throw invalidInput('envelope', 'an object', envelope);
    const qos = envelope.qos;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw invalidInput('envelope.qos', '0, 1 or 2', qos);
    const record = toRecord(envelope);
    let end: number;
    try {
      end = type.encode(record, scratch, HEADER_BYTES);
    } catch (err) {
      throw describeInvalid(type, record, err);
    }
    if (end < 0) {
      // avsc returns minus the number of bytes missing; nothing was lost, encode again.
      const size = scratch.length - end;
      const out = newScratch(size, version);
      type.encode(record, out, HEADER_BYTES);
      if (size <= MAX_SCRATCH_BYTES) {
        scratch = newScratch(Math.min(MAX_SCRATCH_BYTES, Math.max(size, scratch.length * 2)), version);
      }
      return out;
    }
    const out = Buffer.allocUnsafe(end);
    scratch.copy(out, 0, 0, end);
    return out;
  };

  const decode = (bytes: Buffer): Envelope => {
    if (!Buffer.isBuffer(bytes)) throw invalidEnvelope(`expected a Buffer, received ${typeof bytes}`, bytes);
    if (bytes.length < HEADER_BYTES) {
      throw invalidEnvelope(`expected at least ${HEADER_BYTES} bytes, received ${bytes.length}`, bytes);
    }
    if (bytes[0] !== ENVELOPE_MAGIC) {
      throw invalidEnvelope(`expected magic byte 0x${hex(ENVELOPE_MAGIC)}, received 0x${hex(bytes[0]!)}`, bytes);
    }
    const writerVersion = bytes[1]!;
    const resolver = readers[writerVersion];
    if (resolver === undefined) {
      const why = writerVersion > version ? `is newer than this reader (${version})` : 'is unknown';
      throw invalidEnvelope(`schema version ${writerVersion} ${why}`, bytes);
    }
    let decoded: { value: RawEnvelope; offset: number };
    try {
      decoded = type.decode(bytes, HEADER_BYTES, resolver ?? undefined);
    } catch (err) {
      throw invalidEnvelope(`corrupt version ${writerVersion} record (${oneLine(err)})`, bytes, err);
    }
    if (decoded.offset < 0) throw invalidEnvelope(`version ${writerVersion} record is truncated`, bytes);
    if (decoded.offset !== bytes.length) {
      const extra = bytes.length - decoded.offset;
      throw invalidEnvelope(`${extra} byte${extra === 1 ? '' : 's'} of trailing data after the record`, bytes);
    }
    const raw = decoded.value;
    if (raw.qos !== 0 && raw.qos !== 1 && raw.qos !== 2) throw invalidEnvelope(`qos ${raw.qos} is not 0, 1 or 2`, bytes);
    return toEnvelope(raw);
  };

  return { version, encode, decode };
}

/**
 * Encodes an envelope with the current schema version. Absent optional fields are written
 * as null. Pure and synchronous; safe to call again with the same input.
 *
 * @throws PlatformError INPUT_INVALID naming the field when a value does not fit the schema
 *   (e.g. `envelope.qos: expected 0, 1 or 2, received 3`).
 */
export const encodeEnvelope = (envelope: Envelope): Buffer => codec.encode(envelope);

/**
 * Decodes bytes written by `encodeEnvelope` of this or any earlier kiot version. The
 * returned Buffers (payload, correlation data) are copies, independent of `bytes`.
 *
 * @throws PlatformError ENVELOPE_INVALID, with a one-line message, for anything that is
 *   not exactly one envelope: empty or short input, wrong magic byte, a schema version this
 *   build does not know (including newer ones), a truncated or corrupt record, trailing
 *   bytes. Retrying will not help; the record should go to the caller's error path.
 */
export const decodeEnvelope = (bytes: Buffer): Envelope => codec.decode(bytes);

/**
 * The MQTT topic of an encoded envelope, read without decoding the rest, or undefined when the
 * bytes are not an envelope (decode them to learn why). Every schema version starts with
 * `messageId` and `topic` (versions only add fields after them), so consumers that want a few
 * topics skip the others at the cost of reading two strings.
 */
export function envelopeTopic(bytes: Buffer): string | undefined {
  const end = topicEnd(bytes);
  return end < 0 ? undefined : bytes.toString('utf8', topicStart, end);
}

/**
 * Whether an encoded envelope's topic starts with `prefix` (UTF-8 bytes), compared in place: a
 * consumer that wants one family of topics (`$aws/...`) skips the rest without making a string.
 * False when the bytes are not an envelope.
 */
export function envelopeTopicStartsWith(bytes: Buffer, prefix: Buffer): boolean {
  const end = topicEnd(bytes);
  if (end < 0 || end - topicStart < prefix.length) return false;
  // A loop, not Buffer#compare with offsets: a prefix is a few bytes, and every consumer of a
  // request topic asks this of every record (compare's argument handling allocated ~80 B a call).
  for (let i = 0; i < prefix.length; i++) if (bytes[topicStart + i] !== prefix[i]) return false;
  return true;
}

/** Where the last `topicEnd` call found the topic to start. */
let topicStart = 0;

/** The end of an encoded envelope's topic (its start in `topicStart`), or -1 when the bytes are not an envelope. */
function topicEnd(bytes: Buffer): number {
  if (bytes.length < HEADER_BYTES || bytes[0] !== ENVELOPE_MAGIC) return -1;
  const idAt = avroStringAt(bytes, HEADER_BYTES);
  if (idAt < 0) return -1;
  const idEnd = idAt + avroLength;
  if (idEnd > bytes.length) return -1;
  const at = avroStringAt(bytes, idEnd);
  if (at < 0 || at + avroLength > bytes.length) return -1;
  topicStart = at;
  return at + avroLength;
}

/** The length the last `avroStringAt` call read. */
let avroLength = 0;

/** Reads the Avro string length (a zigzag varint) at `pos` into `avroLength`; returns where the string's bytes start, or -1. */
function avroStringAt(bytes: Buffer, pos: number): number {
  let n = 0;
  let scale = 1;
  for (;;) {
    if (pos >= bytes.length || scale > 2 ** 28) return -1;
    const b = bytes[pos++]!;
    n += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) break;
    scale *= 128;
  }
  if (n % 2 !== 0) return -1;
  avroLength = n / 2;
  return pos;
}

/** What `createEnvelope` needs: a topic and a payload; everything else has a default. */
export type EnvelopeInit = Pick<Envelope, 'topic' | 'payload'> & Partial<Omit<Envelope, 'topic' | 'payload'>>;

/** The first 24 characters of every id `newMessageId` returns: a random version 4 UUID's, drawn once per process. */
const ID_PREFIX = randomUUID().slice(0, 24);
/** Two hex digits per byte value. */
const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
/** The id's last 12 hex digits count up: the upper 10 (`idHigh`, as text in `idStem`) and the last 2 (`idLow`). */
let idHigh = randomInt(2 ** 40 - 1);
let idLow = 0;
let idStem = ID_PREFIX + idHigh.toString(16).padStart(10, '0');

/**
 * A new message id: a UUID in version 4's layout whose last 12 hex digits count up from a random
 * start under a prefix drawn once per process (74 random bits), so ids never repeat within a
 * process and are as unlikely as random UUIDs to meet another's. The text of all but the last
 * byte is reused for 256 ids: one concatenation per message on the ingest path instead of a
 * random UUID (a call into the entropy pool and its formatting).
 */
export function newMessageId(): string {
  if (idLow === 256) {
    idLow = 0;
    idHigh = idHigh + 1 === 2 ** 40 ? 0 : idHigh + 1;
    idStem = ID_PREFIX + idHigh.toString(16).padStart(10, '0');
  }
  return idStem + HEX_BYTES[idLow++]!;
}

/**
 * Builds an envelope, filling what the caller left out: `messageId` and `traceId` (distinct
 * ids from `newMessageId`), `receivedAt` (now), `qos` 0, `retain` false, `userProperties` [].
 */
export function createEnvelope(fields: EnvelopeInit): Envelope {
  // A literal, not a spread of `fields`: Node 20 builds a spread of this many fields ~100x slower.
  const e: { -readonly [K in keyof Envelope]: Envelope[K] } = {
    messageId: fields.messageId ?? newMessageId(),
    topic: fields.topic,
    payload: fields.payload,
    qos: fields.qos ?? 0,
    retain: fields.retain ?? false,
    receivedAt: fields.receivedAt ?? Date.now(),
    traceId: fields.traceId ?? newMessageId(),
    userProperties: fields.userProperties ?? [],
  };
  if (fields.clientId !== undefined) e.clientId = fields.clientId;
  if (fields.thingName !== undefined) e.thingName = fields.thingName;
  if (fields.principal !== undefined) e.principal = fields.principal;
  if (fields.sourceAddress !== undefined) e.sourceAddress = fields.sourceAddress;
  if (fields.contentType !== undefined) e.contentType = fields.contentType;
  if (fields.responseTopic !== undefined) e.responseTopic = fields.responseTopic;
  if (fields.correlationData !== undefined) e.correlationData = fields.correlationData;
  if (fields.payloadFormatIndicator !== undefined) e.payloadFormatIndicator = fields.payloadFormatIndicator;
  if (fields.messageExpiryIntervalSec !== undefined) e.messageExpiryIntervalSec = fields.messageExpiryIntervalSec;
  return e;
}

const THING_TOPIC_PREFIX = '$aws/things/';

/**
 * The log key for an envelope (DESIGN.md, "Envelope"), so that one device's messages land
 * in one partition and stay in order: the thing name for `$aws/things/<thing>/...` topics,
 * else the client id, else (no client id, e.g. an HTTP publish) the message id.
 */
export function envelopeKey(envelope: Pick<Envelope, 'topic' | 'clientId' | 'messageId'>): string {
  const topic = envelope.topic;
  if (topic.startsWith(THING_TOPIC_PREFIX)) {
    const end = topic.indexOf('/', THING_TOPIC_PREFIX.length);
    if (end > THING_TOPIC_PREFIX.length) return topic.slice(THING_TOPIC_PREFIX.length, end);
  }
  return envelope.clientId || envelope.messageId;
}

/**
 * Log (Kafka) headers carrying an envelope's MQTT 5 user properties, so that plain Kafka
 * consumers see them. Header name = property name, value = property value. The log's
 * headers are a map, so a name that repeats becomes one header whose values are joined
 * with ", " in the order received (as Node's http module joins repeated HTTP headers).
 * That join is lossy when values themselves contain ", "; the envelope's `userProperties`
 * remain the exact record. The result has no prototype, so a property named `__proto__`
 * is an ordinary header.
 */
export function envelopeHeaders(envelope: Pick<Envelope, 'userProperties'>): Record<string, string> {
  const headers: Record<string, string> = Object.create(null);
  for (const { name, value } of envelope.userProperties) {
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous}, ${value}`;
  }
  return headers;
}

/**
 * An envelope as a log record: encoded, with its user properties as headers (none when it has
 * none: most messages, and a prototype-less object costs a dictionary per record), keyed by
 * `envelopeKey` unless `key` says otherwise (a destination, a registry resource).
 */
export function envelopeRecord(envelope: Envelope, key: string = envelopeKey(envelope)): { key: string; value: Buffer; headers: Record<string, string> | undefined } {
  return { key, value: encodeEnvelope(envelope), headers: envelope.userProperties.length === 0 ? undefined : envelopeHeaders(envelope) };
}

/** The record as avsc decodes it: absent optional fields are null. */
interface RawEnvelope {
  messageId: string;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  clientId: string | null;
  thingName: string | null;
  principal: string | null;
  sourceAddress: string | null;
  receivedAt: number;
  traceId: string;
  userProperties: UserProperty[];
  contentType?: string | null;
  responseTopic?: string | null;
  correlationData?: Buffer | null;
  payloadFormatIndicator?: number | null;
  messageExpiryIntervalSec?: number | null;
}

/**
 * The record avsc writes. avsc writes an `undefined` field by copying its default's bytes
 * through a native call, which costs about a fifth of the encode; an explicit null is a
 * single varint, so absent fields become null here (a fresh object, the caller's is untouched).
 */
const toRecord = (e: Envelope): RawEnvelope => ({
  messageId: e.messageId,
  topic: e.topic,
  payload: e.payload,
  qos: e.qos,
  retain: e.retain,
  clientId: e.clientId ?? null,
  thingName: e.thingName ?? null,
  principal: e.principal ?? null,
  sourceAddress: e.sourceAddress ?? null,
  receivedAt: e.receivedAt,
  traceId: e.traceId,
  userProperties: e.userProperties as UserProperty[],
  contentType: e.contentType ?? null,
  responseTopic: e.responseTopic ?? null,
  correlationData: e.correlationData ?? null,
  payloadFormatIndicator: e.payloadFormatIndicator ?? null,
  messageExpiryIntervalSec: e.messageExpiryIntervalSec ?? null,
});

// Every key is always set, in one order, so decoded envelopes share one hidden class.
const toEnvelope = (raw: RawEnvelope): Envelope => ({
  messageId: raw.messageId,
  topic: raw.topic,
  payload: raw.payload,
  qos: raw.qos as 0 | 1 | 2,
  retain: raw.retain,
  clientId: raw.clientId ?? undefined,
  thingName: raw.thingName ?? undefined,
  principal: raw.principal ?? undefined,
  sourceAddress: raw.sourceAddress ?? undefined,
  receivedAt: raw.receivedAt,
  traceId: raw.traceId,
  userProperties: raw.userProperties,
  contentType: raw.contentType ?? undefined,
  responseTopic: raw.responseTopic ?? undefined,
  correlationData: raw.correlationData ?? undefined,
  payloadFormatIndicator: raw.payloadFormatIndicator ?? undefined,
  messageExpiryIntervalSec: raw.messageExpiryIntervalSec ?? undefined,
});

function buildType(schema: Schema): Type {
  return avro.Type.forSchema(schema, { omitRecordMethods: true, typeHook: boundedArrays });
}

/** The avsc internals that `BoundedArrayType` touches (avsc 5.7: lib/types.js, lib/utils.js). */
interface AvscTap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  skipLong(): void;
}
type AvscReadable = Type & { _read(tap: AvscTap): unknown };

/**
 * avsc trusts an array block's item count: a corrupt count of a billion makes it loop a
 * billion times (reads past the end return empty values), so garbage bytes would hang or
 * exhaust memory instead of failing. This array type refuses a count larger than the bytes
 * left; every item of our arrays takes at least one byte, so a real record never trips it.
 * Resolvers copy the reader type's `_read`, so records of older versions are bounded too.
 * avsc freezes its types, hence a subclass (through `typeHook`) rather than a patch.
 * `envelope.test.ts` feeds such a count to keep this honest across avsc upgrades.
 */
class BoundedArrayType extends avro.types.ArrayType {
  _read(tap: AvscTap): unknown[] {
    const items = this.itemsType as AvscReadable;
    const out: unknown[] = [];
    for (let n = tap.readLong(); n !== 0; n = tap.readLong()) {
      if (n < 0) {
        n = -n; // a negative count is followed by the block's size in bytes
        tap.skipLong();
      }
      const left = tap.buf.length - tap.pos;
      if (n > left) throw new Error(`array block of ${n} items but ${Math.max(left, 0)} bytes left`);
      for (; n > 0; n--) out.push(items._read(tap));
    }
    return out;
  }
}

function boundedArrays(schema: Schema, opts: unknown): Type | undefined {
  if (typeof schema !== 'object' || schema === null || avro.Type.isType(schema)) return undefined;
  const s = schema as { type?: unknown; items?: unknown };
  // Zero-byte items (null) would make the bound wrong; none of our schemas has them.
  if (s.type !== 'array' || s.items === 'null') return undefined;
  return new BoundedArrayType(schema, opts);
}

function newScratch(size: number, version: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  buf[0] = ENVELOPE_MAGIC;
  buf[1] = version;
  return buf;
}

/** Turns avsc's terse "invalid ..." into `envelope.<field>: expected <type>, received <value>`. */
function describeInvalid(type: Type, record: RawEnvelope, err: unknown): PlatformError {
  let found: PlatformError | undefined;
  type.isValid(record, {
    errorHook: (path, value, fieldType) => {
      found ??= invalidInput(['envelope', ...path].join('.'), typeLabel(fieldType), value);
    },
  });
  return found ?? new PlatformError('INPUT_INVALID', `envelope: ${oneLine(err)}`, { cause: err });
}

function typeLabel(type: Type): string {
  const branches = (type as { types?: readonly Type[] }).types;
  if (branches) return branches.map((b) => b.typeName).join(' or ');
  return type.typeName;
}

function invalidEnvelope(reason: string, bytes: unknown, cause?: unknown): PlatformError {
  const length = Buffer.isBuffer(bytes) ? bytes.length : undefined;
  return new PlatformError('ENVELOPE_INVALID', `not a kiot envelope: ${reason}`, {
    details: { reason, length },
    cause,
  });
}

const hex = (byte: number) => byte.toString(16).padStart(2, '0');
const oneLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();

// Built last: the codec needs the classes and constants above to be initialised.
const codec = createEnvelopeCodec(ENVELOPE_SCHEMAS, ENVELOPE_SCHEMA_VERSION);
