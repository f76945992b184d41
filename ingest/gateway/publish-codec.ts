/**
 * The gateway's hot path in bytes: PUBLISH in, PUBLISH out and their PUBACK / PUBREC, which are
 * nearly every packet a busy gateway sees. mqtt-packet's streaming parser copies each frame
 * into its buffer list and formats `debug` arguments per field, and its generator allocates an
 * accumulator per packet; a profile of `npm run bench -- e2e` put the two at about a tenth of
 * the gateway's CPU. The framer (framer.ts) already hands over whole frames, so the common
 * forms are read and written here directly, and everything else — any other packet, a
 * PUBLISH with MQTT 5 properties, anything malformed — still goes through mqtt-packet, so its
 * checks and errors stay the only ones.
 *
 * Layouts (MQTT 5 §3.3, §3.4; 3.1.1 is the same without the properties):
 * ```
 *   PUBLISH  0x3 | DUP | QoS (2 bits) | RETAIN, remaining length (1-4 bytes),
 *            topic (2-byte length + UTF-8), packet id (2 bytes, QoS > 0 only),
 *            properties (v5: a variable byte integer length, then the properties), payload
 *   PUBACK   0x40, 2, packet id        (v5 with reason code Success and no properties, §3.4.2.1),
 *            both ways: the subscribers' acknowledgements of QoS 1 deliveries come in this form
 *   PUBREC   0x50, 2, packet id
 * ```
 */
import type { IPublishPacket } from 'mqtt-packet';
import { variableHeaderOffset } from './framer.js';

/**
 * A PUBLISH frame as mqtt-packet's parser would emit it, or undefined when this frame is not
 * one this decoder takes: QoS 3, a v5 PUBLISH with properties, or a frame too short for its
 * fields. The payload is a copy, so the socket's chunk is not kept alive by a queued message.
 */
export function decodePublish(frame: Buffer, v5: boolean): IPublishPacket | undefined {
  const first = frame[0]!;
  const qos = (first >> 1) & 3;
  if (first >> 4 !== 3 || qos === 3) return undefined;
  const at = variableHeaderOffset(frame);
  if (at + 2 > frame.length) return undefined;
  const topicEnd = at + 2 + frame.readUInt16BE(at);
  let pos = topicEnd;
  let messageId: number | undefined;
  if (qos > 0) {
    if (pos + 2 > frame.length) return undefined;
    messageId = frame.readUInt16BE(pos);
    pos += 2;
  }
  if (v5) {
    if (pos >= frame.length || frame[pos] !== 0) return undefined; // properties: mqtt-packet reads them
    pos += 1;
  }
  if (pos > frame.length) return undefined;
  const packet: IPublishPacket = {
    cmd: 'publish',
    retain: (first & 1) !== 0,
    qos: qos as 0 | 1 | 2,
    dup: (first & 8) !== 0,
    length: frame.length - at,
    topic: frame.toString('utf8', at + 2, topicEnd),
    payload: Buffer.from(frame.subarray(pos)),
  };
  if (messageId !== undefined) packet.messageId = messageId;
  return packet;
}

/**
 * The bytes of an outbound PUBLISH without properties (every 3.1.1 one, and v5 ones with no
 * property to carry), or undefined for one this encoder leaves to mqtt-packet.
 */
export function encodePublish(packet: IPublishPacket, v5: boolean): Buffer | undefined {
  const payload = packet.payload;
  if (packet.properties !== undefined || !Buffer.isBuffer(payload)) return undefined;
  const qos = packet.qos;
  const topicBytes = Buffer.byteLength(packet.topic);
  if (topicBytes > 0xffff) return undefined;
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length;
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x200000 ? 3 : remaining < 0x10000000 ? 4 : 0;
  if (lengthBytes === 0) return undefined;
  const out = Buffer.allocUnsafe(1 + lengthBytes + remaining);
  out[0] = 0x30 | (packet.dup ? 8 : 0) | (qos << 1) | (packet.retain ? 1 : 0);
  let pos = 1;
  let left = remaining;
  do {
    const digit = left % 0x80;
    left = Math.floor(left / 0x80);
    out[pos++] = left > 0 ? digit | 0x80 : digit;
  } while (left > 0);
  out.writeUInt16BE(topicBytes, pos);
  pos += 2;
  pos += out.write(packet.topic, pos, 'utf8');
  if (qos > 0) {
    out.writeUInt16BE(packet.messageId!, pos);
    pos += 2;
  }
  if (v5) out[pos++] = 0;
  payload.copy(out, pos);
  return out;
}

/** A PUBACK of the 4-byte form (3.1.1, or v5 Success without properties): its packet id is at byte 2. */
export function isShortPuback(frame: Buffer): boolean {
  return frame.length === 4 && frame[0] === 0x40 && frame[1] === 2;
}

/** PUBACK or PUBREC for a packet id, success and no properties: 4 bytes. */
export function encodeAck(cmd: 'puback' | 'pubrec', messageId: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out[0] = cmd === 'puback' ? 0x40 : 0x50;
  out[1] = 2;
  out.writeUInt16BE(messageId, 2);
  return out;
}
