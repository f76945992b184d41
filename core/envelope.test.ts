import avro from 'avsc';
import type { Schema } from 'avsc';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ENVELOPE_SCHEMA_V1 } from './envelope-schemas/v1.js';
import {
  createEnvelope,
  createEnvelopeCodec,
  decodeEnvelope,
  encodeEnvelope,
  ENVELOPE_MAGIC,
  ENVELOPE_SCHEMA_VERSION,
  ENVELOPE_SCHEMAS,
  envelopeHeaders,
  envelopeKey,
  envelopeTopic,
  envelopeTopicStartsWith,
  type Envelope,
} from './envelope.js';
import { PlatformError } from './errors.js';

const MQTT5_FIELDS = ['contentType', 'responseTopic', 'correlationData', 'payloadFormatIndicator', 'messageExpiryIntervalSec'];

/**
 * Test-only "version 0": version 1 without the MQTT 5 fields, i.e. what a writer from before
 * those fields were added would have put on the log. Never shipped; it exists to prove the
 * evolution rule (add fields with defaults, and old records still read).
 */
const SCHEMA_V0 = {
  ...(ENVELOPE_SCHEMA_V1 as { fields: { name: string }[] }),
  fields: (ENVELOPE_SCHEMA_V1 as { fields: { name: string }[] }).fields.filter((f) => !MQTT5_FIELDS.includes(f.name)),
} as Schema;

/** Every field set, with values that tend to break codecs. */
function fullEnvelope(): Envelope {
  return {
    messageId: '3f1c2b7e-9a4d-4c1e-8f00-5b6a7c8d9e0f',
    topic: 'usine/température/温度/🚀/$x',
    payload: Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    qos: 2,
    retain: true,
    clientId: 'client-ü-1',
    thingName: 'thing-ß',
    principal: 'a1b2c3d4e5f6',
    sourceAddress: '[::1]:51234',
    receivedAt: 1_717_171_717_171,
    traceId: 'c0ffee00-0000-4000-8000-000000000000',
    userProperties: [
      { name: 'unit', value: '°C' },
      { name: 'tag', value: 'a' },
      { name: 'tag', value: 'b' },
      { name: '', value: '' },
    ],
    contentType: 'application/octet-stream',
    responseTopic: 'reply/🚀',
    correlationData: Buffer.from([0, 255, 128, 7]),
    payloadFormatIndicator: 0,
    messageExpiryIntervalSec: 4_294_967_295, // MQTT's maximum, beyond Avro int
  };
}

function minimalEnvelope(): Envelope {
  return {
    messageId: 'm-1',
    topic: 'a/b',
    payload: Buffer.alloc(0),
    qos: 0,
    retain: false,
    receivedAt: 0,
    traceId: 't-1',
    userProperties: [],
  };
}

/** Asserts `fn` throws a PlatformError with `code`, a one-line message, and returns it. */
function expectPlatformError(fn: () => unknown, code: string): PlatformError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(PlatformError);
  const err = caught as PlatformError;
  expect(err.code).toBe(code);
  expect(err.message).not.toMatch(/\n/);
  return err;
}

const header = (version = ENVELOPE_SCHEMA_VERSION) => Buffer.from([ENVELOPE_MAGIC, version]);
/** Avro bytes of the first `count` fields of a v1 record (to craft corrupt records). */
function v1Prefix(envelope: Envelope, count: number): Buffer {
  const fields = (ENVELOPE_SCHEMA_V1 as { fields: unknown[] }).fields.slice(0, count);
  const type = avro.Type.forSchema({ type: 'record', name: 'Prefix', fields } as Schema);
  return type.toBuffer(envelope);
}
const avroLong = (n: number) => avro.Type.forSchema('long').toBuffer(n);

describe('round trip', () => {
  test('every field, unicode topics and binary payloads survive encode then decode', () => {
    const envelope = fullEnvelope();
    const decoded = decodeEnvelope(encodeEnvelope(envelope));
    expect(decoded).toEqual(envelope);
    expect(Buffer.isBuffer(decoded.payload)).toBe(true);
    expect(decoded.payload.equals(envelope.payload)).toBe(true);
    expect(decoded.correlationData?.equals(envelope.correlationData!)).toBe(true);
  });

  test('absent optional fields decode as undefined, and explicit nulls are accepted', () => {
    const decoded = decodeEnvelope(encodeEnvelope(minimalEnvelope()));
    expect(decoded).toEqual(minimalEnvelope());
    for (const field of ['clientId', 'thingName', 'principal', 'sourceAddress', ...MQTT5_FIELDS] as const) {
      expect(decoded[field as keyof Envelope]).toBeUndefined();
    }
    const withNulls = { ...minimalEnvelope(), clientId: null, contentType: null } as unknown as Envelope;
    expect(decodeEnvelope(encodeEnvelope(withNulls))).toEqual(minimalEnvelope());
  });

  test('repeated user property names keep every value, in order', () => {
    const userProperties = [
      { name: 'x', value: '1' },
      { name: 'y', value: '2' },
      { name: 'x', value: '3' },
      { name: 'x', value: '1' },
    ];
    const decoded = decodeEnvelope(encodeEnvelope({ ...minimalEnvelope(), userProperties }));
    expect(decoded.userProperties.map((p) => [p.name, p.value])).toEqual(userProperties.map((p) => [p.name, p.value]));
  });

  test('the record starts with the magic byte and the current schema version', () => {
    const bytes = encodeEnvelope(minimalEnvelope());
    expect(bytes[0]).toBe(ENVELOPE_MAGIC);
    expect(bytes[1]).toBe(ENVELOPE_SCHEMA_VERSION);
  });

  test('payloads larger than the encode buffer, then small ones again, round trip', () => {
    for (const size of [5_000, 100_000, 3 * 1024 * 1024, 10, 0]) {
      const payload = Buffer.alloc(size, size % 251);
      const decoded = decodeEnvelope(encodeEnvelope({ ...fullEnvelope(), payload }));
      expect(decoded.payload.equals(payload)).toBe(true);
      expect(decoded.topic).toBe(fullEnvelope().topic);
    }
  });

  test('an encoded buffer is not overwritten by later encodes, and decoded buffers are copies', () => {
    const first = encodeEnvelope({ ...minimalEnvelope(), topic: 'first' });
    const snapshot = Buffer.from(first);
    encodeEnvelope({ ...fullEnvelope(), topic: 'second' });
    expect(first.equals(snapshot)).toBe(true);

    const decoded = decodeEnvelope(first);
    first.fill(0);
    expect(decoded.topic).toBe('first');
    const withPayload = encodeEnvelope(fullEnvelope());
    const decodedPayload = decodeEnvelope(withPayload).payload;
    withPayload.fill(0);
    expect(decodedPayload.equals(fullEnvelope().payload)).toBe(true);
  });

  test('random envelopes round trip', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    const envelopes = fc.record({
      messageId: fc.uuid(),
      topic: fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }),
      payload: fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      retain: fc.boolean(),
      clientId: optional(text),
      thingName: optional(text),
      principal: optional(text),
      sourceAddress: optional(text),
      receivedAt: fc.integer({ min: 0, max: 2 ** 52 }), // avsc longs stop at 2^52 (year 144,683)
      traceId: text,
      userProperties: fc.array(fc.record({ name: text, value: text }), { maxLength: 5 }),
      contentType: optional(text),
      responseTopic: optional(text),
      correlationData: optional(fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a))),
      payloadFormatIndicator: optional(fc.constantFrom(0, 1)),
      messageExpiryIntervalSec: optional(fc.integer({ min: 0, max: 4_294_967_295 })),
    });
    fc.assert(
      fc.property(envelopes, (envelope) => {
        expect(decodeEnvelope(encodeEnvelope(envelope))).toEqual(envelope);
      }),
      { numRuns: 300 },
    );
  });
});

describe('envelopeTopic', () => {
  test('reads the topic of any envelope without decoding it: long, unicode and empty-payload ones', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 300, unit: 'grapheme' }), fc.uint8Array({ maxLength: 200 }), (topic, payload) => {
        expect(envelopeTopic(encodeEnvelope(createEnvelope({ topic, payload: Buffer.from(payload) })))).toBe(topic);
      }),
      { numRuns: 300 },
    );
    expect(envelopeTopic(encodeEnvelope(fullEnvelope()))).toBe(fullEnvelope().topic);
  });

  test('is undefined for bytes that are not an envelope, or cut short', () => {
    const bytes = encodeEnvelope(createEnvelope({ topic: 'a/b/c', payload: Buffer.from('x') }));
    expect(envelopeTopic(Buffer.from('{"json":true}'))).toBeUndefined();
    expect(envelopeTopic(Buffer.alloc(1))).toBeUndefined();
    for (let cut = 2; cut < 2 + 1 + 36 + 1 + 5; cut++) expect(envelopeTopic(bytes.subarray(0, cut))).toBeUndefined();
    expect(envelopeTopic(bytes.subarray(0, 2 + 1 + 36 + 1 + 5))).toBe('a/b/c');
  });
});

describe('envelopeTopicStartsWith', () => {
  test('agrees with envelopeTopic(...).startsWith for any topic and prefix', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 60, unit: 'grapheme' }), fc.string({ maxLength: 12, unit: 'grapheme' }), (topic, prefix) => {
        const bytes = encodeEnvelope(createEnvelope({ topic, payload: Buffer.from('x') }));
        expect(envelopeTopicStartsWith(bytes, Buffer.from(prefix))).toBe(topic.startsWith(prefix));
        expect(envelopeTopicStartsWith(bytes, Buffer.from(topic).subarray(0, 3))).toBe(true);
      }),
      { numRuns: 300 },
    );
    const bytes = encodeEnvelope(createEnvelope({ topic: '$aws/things/t/shadow/get', payload: Buffer.from('x') }));
    expect(envelopeTopicStartsWith(bytes, Buffer.from('$aws/'))).toBe(true);
    expect(envelopeTopicStartsWith(bytes, Buffer.from('$aws/things/t/shadow/get/more'))).toBe(false);
  });

  test('is false for bytes that are not an envelope, or cut short inside the topic', () => {
    const bytes = encodeEnvelope(createEnvelope({ topic: 'a/b/c', payload: Buffer.from('x') }));
    expect(envelopeTopicStartsWith(Buffer.from('{"json":true}'), Buffer.from('{'))).toBe(false);
    for (let cut = 2; cut < 2 + 1 + 36 + 1 + 5; cut++) expect(envelopeTopicStartsWith(bytes.subarray(0, cut), Buffer.from('a'))).toBe(false);
  });
});

describe('schema versions', () => {
  test('a reader of the current schema reads records an older writer wrote (codec path)', () => {
    const oldWriter = createEnvelopeCodec(new Map([[0, SCHEMA_V0]]), 0);
    const reader = createEnvelopeCodec(new Map([[0, SCHEMA_V0], [1, ENVELOPE_SCHEMA_V1]]), 1);
    const full = fullEnvelope();

    const oldBytes = oldWriter.encode(full);
    expect(oldBytes[1]).toBe(0);
    const decoded = reader.decode(oldBytes);

    const expected: Record<string, unknown> = { ...full };
    for (const field of MQTT5_FIELDS) expected[field] = undefined; // the old writer had no such fields
    expect(decoded).toEqual(expected);
    expect(decoded.userProperties).toEqual(full.userProperties);
    expect(reader.decode(reader.encode(full))).toEqual(full);
  });

  test('avsc createResolver reads version 0 bytes as version 1, filling defaults', () => {
    const v0 = avro.Type.forSchema(SCHEMA_V0);
    const v1 = avro.Type.forSchema(ENVELOPE_SCHEMA_V1);
    const resolver = v1.createResolver(v0);
    const value = v1.fromBuffer(v0.toBuffer(minimalEnvelope()), resolver);
    expect(value.topic).toBe('a/b');
    for (const field of MQTT5_FIELDS) expect(value[field]).toBeNull();
  });

  test('an old reader refuses records of a newer version with a clear error', () => {
    const oldReader = createEnvelopeCodec(new Map([[0, SCHEMA_V0]]), 0);
    const err = expectPlatformError(() => oldReader.decode(encodeEnvelope(minimalEnvelope())), 'ENVELOPE_INVALID');
    expect(err.message).toContain('schema version 1 is newer than this reader (0)');
  });

  test('every shipped schema version is read by the current reader', () => {
    expect([...ENVELOPE_SCHEMAS.keys()]).toContain(ENVELOPE_SCHEMA_VERSION);
    for (const [version, schema] of ENVELOPE_SCHEMAS) {
      const writer = createEnvelopeCodec(new Map([[version, schema]]), version);
      const bytes = writer.encode(minimalEnvelope());
      expect(bytes[1]).toBe(version);
      expect(decodeEnvelope(bytes)).toMatchObject({ topic: 'a/b', messageId: 'm-1', traceId: 't-1' });
    }
  });

  test('bytes written by version 1 (a frozen fixture) still decode', () => {
    // Written by the first release's encodeEnvelope; if this fails, version 1 was changed,
    // which the evolution rule forbids (add v2 instead).
    const v1Bytes = Buffer.from(
      '9e014830303030303030302d303030302d343030302d383030302d30303030303030303030303126666163746f72792f372f74656c656d657472' +
        '790600ff100201020e70726573732d37020e70726573732d370210636572742d616263021e3132372e302e302e313a3530303030f6a1abfef9' +
        '620e74726163652d3104026b047631026b0476320002206170706c69636174696f6e2f6a736f6e020e7265706c792f370204010202020278',
      'hex',
    );
    expect(decodeEnvelope(v1Bytes)).toEqual({
      messageId: '00000000-0000-4000-8000-000000000001',
      topic: 'factory/7/telemetry',
      payload: Buffer.from([0x00, 0xff, 0x10]),
      qos: 1,
      retain: true,
      clientId: 'press-7',
      thingName: 'press-7',
      principal: 'cert-abc',
      sourceAddress: '127.0.0.1:50000',
      receivedAt: 1700000000123,
      traceId: 'trace-1',
      userProperties: [
        { name: 'k', value: 'v1' },
        { name: 'k', value: 'v2' },
      ],
      contentType: 'application/json',
      responseTopic: 'reply/7',
      correlationData: Buffer.from([1, 2]),
      payloadFormatIndicator: 1,
      messageExpiryIntervalSec: 60,
    });
  });

  test('a new version that breaks the evolution rule is refused when the codec is built', () => {
    const fields = (ENVELOPE_SCHEMA_V1 as { fields: { name: string }[] }).fields;
    const retyped = { ...(ENVELOPE_SCHEMA_V1 as object), fields: fields.map((f) => (f.name === 'qos' ? { name: 'qos', type: 'string' } : f)) };
    const addedWithoutDefault = { ...(ENVELOPE_SCHEMA_V1 as object), fields: [...fields, { name: 'zone', type: 'string' }] };
    for (const broken of [retyped, addedWithoutDefault]) {
      const err = expectPlatformError(
        () => createEnvelopeCodec(new Map([[1, ENVELOPE_SCHEMA_V1], [2, broken as Schema]]), 2),
        'CONFIG_INVALID',
      );
      expect(err.message).toContain('envelope schema 2 cannot read version 1');
    }
  });
});

describe('bytes that are not an envelope', () => {
  const valid = () => encodeEnvelope(fullEnvelope());
  const cases: [string, () => Buffer, RegExp][] = [
    ['empty', () => Buffer.alloc(0), /expected at least 2 bytes, received 0/],
    ['one byte', () => Buffer.from([ENVELOPE_MAGIC]), /expected at least 2 bytes, received 1/],
    ['a JSON text', () => Buffer.from(JSON.stringify({ topic: 'a/b', payload: 'x' })), /magic byte 0x9e, received 0x7b/],
    ['plain text', () => Buffer.from('hello'), /magic byte/],
    ['an unknown future version', () => Buffer.concat([header(200), valid().subarray(2)]), /schema version 200 is newer/],
    ['the never-shipped version 0', () => Buffer.concat([header(0), valid().subarray(2)]), /schema version 0 is unknown/],
    ['a truncated record', () => valid().subarray(0, valid().length - 1), /truncated/],
    ['only the header', () => header(), /truncated/],
    ['trailing garbage', () => Buffer.concat([valid(), Buffer.from('xyz')]), /3 bytes of trailing data/],
    ['two records back to back', () => Buffer.concat([valid(), valid()]), /trailing data/],
    [
      'an invalid union branch',
      () => Buffer.concat([header(), v1Prefix(fullEnvelope(), 5), avroLong(7)]),
      /corrupt version 1 record/,
    ],
    [
      'a timestamp beyond safe integers',
      () =>
        Buffer.concat([
          header(),
          v1Prefix(minimalEnvelope(), 9),
          Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
          Buffer.from([2, 0x74, 0, 0, 0, 0, 0, 0]),
        ]),
      /corrupt version 1 record/,
    ],
    [
      'a user property count far beyond the bytes present',
      () => Buffer.concat([header(), v1Prefix(fullEnvelope(), 11), avroLong(1_000_000_000), Buffer.alloc(40)]),
      /array block of 1000000000 items/,
    ],
    [
      'a negative-count block beyond the bytes present',
      () => Buffer.concat([header(), v1Prefix(fullEnvelope(), 11), avroLong(-900_000_000), avroLong(8), Buffer.alloc(8)]),
      /array block of 900000000 items/,
    ],
    [
      'a QoS outside 0..2',
      () => Buffer.concat([header(), avro.Type.forSchema(ENVELOPE_SCHEMA_V1).toBuffer({ ...minimalEnvelope(), qos: 7 })]),
      /qos 7 is not 0, 1 or 2/,
    ],
  ];

  test.each(cases)('%s gives ENVELOPE_INVALID', (_name, bytes, message) => {
    const err = expectPlatformError(() => decodeEnvelope(bytes()), 'ENVELOPE_INVALID');
    expect(err.message).toMatch(/^not a kiot envelope: /);
    expect(err.message).toMatch(message);
  });

  test('every truncation of a valid record gives ENVELOPE_INVALID', () => {
    const bytes = valid();
    for (let end = 0; end < bytes.length; end++) {
      expectPlatformError(() => decodeEnvelope(bytes.subarray(0, end)), 'ENVELOPE_INVALID');
    }
  });

  test('a value that is not a Buffer gives ENVELOPE_INVALID', () => {
    expectPlatformError(() => decodeEnvelope('9e01' as unknown as Buffer), 'ENVELOPE_INVALID');
  });

  test('random bytes, with or without a valid header, never crash the decoder', () => {
    const bytes = fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a));
    const check = (input: Buffer) => {
      let decoded: Envelope | undefined;
      try {
        decoded = decodeEnvelope(input);
      } catch (err) {
        expect(err).toBeInstanceOf(PlatformError);
        expect((err as PlatformError).code).toBe('ENVELOPE_INVALID');
        return;
      }
      // Garbage that happens to parse must still be a usable envelope.
      expect(() => encodeEnvelope(decoded)).not.toThrow();
    };
    fc.assert(fc.property(bytes, check), { numRuns: 2000 });
    fc.assert(
      fc.property(bytes, (body) => check(Buffer.concat([header(), body]))),
      { numRuns: 5000 },
    );
    // Flip one byte of a real record: either it still decodes or it is ENVELOPE_INVALID.
    const real = valid();
    fc.assert(
      fc.property(fc.nat({ max: real.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const copy = Buffer.from(real);
        copy[at] = value;
        check(copy);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('encode errors', () => {
  test.each([
    ['qos', { qos: 3 }, 'envelope.qos: expected 0, 1 or 2, received 3'],
    ['topic', { topic: 42 }, 'envelope.topic: expected string, received 42'],
    ['payload', { payload: 'text' }, 'envelope.payload: expected bytes, received "text"'],
    ['thingName', { thingName: 7 }, 'envelope.thingName: expected null or string, received 7'],
    ['receivedAt', { receivedAt: 1.5 }, 'envelope.receivedAt: expected long, received 1.5'],
    ['userProperties', { userProperties: [{ name: 'a' }] }, 'envelope.userProperties.0.value: expected string, received undefined'],
  ])('a bad %s names the field', (_field, change, message) => {
    const err = expectPlatformError(() => encodeEnvelope({ ...minimalEnvelope(), ...change } as unknown as Envelope), 'INPUT_INVALID');
    expect(err.message).toBe(message);
  });

  test('a non-object is refused', () => {
    expectPlatformError(() => encodeEnvelope(null as unknown as Envelope), 'INPUT_INVALID');
  });
});

describe('createEnvelope', () => {
  test('fills ids, timestamp and defaults that are missing', () => {
    const before = Date.now();
    const envelope = createEnvelope({ topic: 'a/b', payload: Buffer.from('x') });
    const after = Date.now();
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(envelope.messageId).toMatch(uuid);
    expect(envelope.traceId).toMatch(uuid);
    expect(envelope.traceId).not.toBe(envelope.messageId);
    expect(envelope.receivedAt).toBeGreaterThanOrEqual(before);
    expect(envelope.receivedAt).toBeLessThanOrEqual(after);
    expect(envelope).toMatchObject({ qos: 0, retain: false, userProperties: [] });
    expect(createEnvelope({ topic: 'a/b', payload: Buffer.alloc(0) }).messageId).not.toBe(envelope.messageId);
    expect(decodeEnvelope(encodeEnvelope(envelope))).toEqual(envelope);
  });

  test('keeps every field the caller gives', () => {
    const full = fullEnvelope();
    expect(createEnvelope(full)).toEqual(full);
  });
});

describe('envelopeKey', () => {
  const key = (topic: string, clientId?: string) => envelopeKey({ topic, clientId, messageId: 'msg-1' });
  test.each([
    ['$aws/things/press-7/shadow/update', 'c1', 'press-7'],
    ['$aws/things/温度計/jobs/notify', 'c1', '温度計'],
    ['$aws/things/press-7/', 'c1', 'press-7'],
    ['$aws/things/press-7', 'c1', 'c1'],
    ['$aws/things//shadow/update', 'c1', 'c1'],
    ['$aws/events/presence/connected/c1', 'c1', 'c1'],
    ['$aws/thingsX/press-7/shadow', 'c1', 'c1'],
    ['factory/7/telemetry', 'c1', 'c1'],
    ['factory/7/telemetry', undefined, 'msg-1'],
    ['factory/7/telemetry', '', 'msg-1'],
    ['$aws/things/press-7/shadow/get', undefined, 'press-7'],
  ])('%s from client %s is keyed %s', (topic, clientId, expected) => {
    expect(key(topic, clientId)).toBe(expected);
  });
});

describe('envelopeHeaders', () => {
  test('one header per property name, repeated names joined in order', () => {
    const headers = envelopeHeaders({
      userProperties: [
        { name: 'unit', value: '°C' },
        { name: 'tag', value: 'a' },
        { name: 'tag', value: 'b' },
        { name: 'tag', value: 'c' },
      ],
    });
    expect({ ...headers }).toEqual({ unit: '°C', tag: 'a, b, c' });
  });

  test('no user properties, no headers', () => {
    expect(Object.keys(envelopeHeaders(minimalEnvelope()))).toEqual([]);
  });

  test('a property named like an Object.prototype member is an ordinary header', () => {
    const headers = envelopeHeaders({
      userProperties: [
        { name: '__proto__', value: 'p' },
        { name: 'toString', value: 's' },
      ],
    });
    expect(Object.keys(headers)).toEqual(['__proto__', 'toString']);
    expect(headers['__proto__']).toBe('p');
    expect(headers['toString']).toBe('s');
  });
});
