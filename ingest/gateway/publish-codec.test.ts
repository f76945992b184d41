import fc from 'fast-check';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { describe, expect, test } from 'vitest';
import { decodePublish, encodeAck, encodePublish, isShortPuback } from './publish-codec.js';

/** What mqtt-packet's own parser makes of `bytes`. */
function parseWithMqttPacket(bytes: Buffer, protocolVersion: 4 | 5): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: Packet[] = [];
  parser.on('packet', (p: Packet) => packets.push(p));
  parser.on('error', (err: Error) => {
    throw err;
  });
  parser.parse(bytes);
  return packets;
}

const publishes = fc.record({
  topic: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }),
  payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
  retain: fc.boolean(),
  dup: fc.boolean(),
  messageId: fc.integer({ min: 1, max: 0xffff }),
});

function packetOf(p: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean; dup: boolean; messageId: number }): IPublishPacket {
  const packet: IPublishPacket = { cmd: 'publish', topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup };
  if (p.qos > 0) packet.messageId = p.messageId;
  return packet;
}

describe('publish codec', () => {
  for (const version of [4, 5] as const) {
    test(`MQTT ${version === 4 ? '3.1.1' : '5'}: a PUBLISH decodes as mqtt-packet parses it, and encodes to mqtt-packet's bytes`, () => {
      fc.assert(
        fc.property(publishes, (p) => {
          const packet = packetOf(p);
          const reference = mqttPacket.generate(packet, { protocolVersion: version });
          expect(encodePublish(packet, version === 5)).toEqual(reference);
          const [parsed] = parseWithMqttPacket(reference, version);
          expect({ ...decodePublish(reference, version === 5) }).toEqual({ ...parsed });
        }),
        { numRuns: 300 },
      );
    });
  }

  test('a payload big enough for a 3-byte remaining length', () => {
    const packet: IPublishPacket = { cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(70_000, 7), qos: 1, retain: false, dup: false, messageId: 9 };
    const bytes = encodePublish(packet, false)!;
    expect(bytes).toEqual(mqttPacket.generate(packet, { protocolVersion: 4 }));
    expect(decodePublish(bytes, false)!.payload).toEqual(packet.payload);
  });

  test('leaves to mqtt-packet what it does not take: v5 properties, QoS 3, short frames, string payloads', () => {
    const withProps: IPublishPacket = { cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { contentType: 'text/plain' } };
    expect(encodePublish(withProps, true)).toBeUndefined();
    expect(decodePublish(mqttPacket.generate(withProps, { protocolVersion: 5 }), true)).toBeUndefined();
    expect(decodePublish(Buffer.from([0x36, 0x03, 0x00, 0x01, 0x61]), false)).toBeUndefined(); // QoS 3
    expect(decodePublish(Buffer.from([0x32, 0x03, 0x00, 0x01, 0x61]), false)).toBeUndefined(); // QoS 1 without a packet id
    expect(decodePublish(Buffer.from([0x30, 0x01, 0x00]), false)).toBeUndefined(); // no room for the topic length
    expect(encodePublish({ cmd: 'publish', topic: 't', payload: 'text', qos: 0, retain: false, dup: false }, false)).toBeUndefined();
  });

  test('PUBACK and PUBREC are the 4-byte forms both protocol versions read as success', () => {
    for (const cmd of ['puback', 'pubrec'] as const) {
      const bytes = encodeAck(cmd, 0xbeef);
      expect(bytes).toEqual(mqttPacket.generate({ cmd, messageId: 0xbeef }, { protocolVersion: 4 }));
      const [v5] = parseWithMqttPacket(bytes, 5) as { cmd: string; messageId: number; reasonCode?: number }[];
      expect(v5).toMatchObject({ cmd, messageId: 0xbeef });
      expect(v5!.reasonCode ?? 0).toBe(0);
    }
    expect(isShortPuback(encodeAck('puback', 7))).toBe(true);
    expect(isShortPuback(encodeAck('pubrec', 7))).toBe(false);
    expect(isShortPuback(mqttPacket.generate({ cmd: 'puback', messageId: 7, reasonCode: 0x10 }, { protocolVersion: 5 }))).toBe(false);
  });
});
