/**
 * Conversions between MQTT PUBLISH packets, kiot envelopes and the gateway's outgoing
 * message records (what a session queues or holds in flight).
 */
import type { IPublishPacket } from 'mqtt-packet';
import type { Envelope, UserProperty } from '../../core/index.js';
import { userPropertiesToPacket } from '../mqtt-envelope.js';

/** A message on its way to one session. */
export interface OutMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** The QoS it is delivered with: min(published, granted). */
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[];
  /** When it expires (ms since the epoch), from the MQTT 5 message expiry interval. */
  readonly expiresAt?: number;
  readonly userProperties: readonly UserProperty[];
  readonly contentType?: string;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  readonly payloadFormatIndicator?: number;
}

/** A QoS 1/2 message sent and not yet acknowledged; `pubrel` once PUBREC arrived. */
export interface InflightMessage {
  readonly packetId: number;
  readonly message: OutMessage;
  state: 'publish' | 'pubrel';
}

/** What a subscriber receives for an envelope under one (merged) subscription. */
export function outMessageFrom(envelope: Envelope, qos: 0 | 1 | 2, retain: boolean, subscriptionIds: readonly number[]): OutMessage {
  return {
    topic: envelope.topic,
    payload: envelope.payload,
    qos,
    retain,
    subscriptionIds,
    expiresAt: envelope.messageExpiryIntervalSec === undefined ? undefined : envelope.receivedAt + envelope.messageExpiryIntervalSec * 1000,
    userProperties: envelope.userProperties,
    contentType: envelope.contentType,
    responseTopic: envelope.responseTopic,
    correlationData: envelope.correlationData,
    payloadFormatIndicator: envelope.payloadFormatIndicator,
  };
}

/**
 * The PUBLISH packet for a message; `undefined` when it has expired (MQTT 5 §3.3.2.3.3: the
 * server must not deliver it, and sends the remaining interval otherwise).
 */
export function publishPacketFor(message: OutMessage, packetId: number | undefined, dup: boolean, v5: boolean, now: number): IPublishPacket | undefined {
  let remainingSec: number | undefined;
  if (message.expiresAt !== undefined) {
    const left = message.expiresAt - now;
    if (left <= 0) return undefined;
    remainingSec = Math.max(1, Math.ceil(left / 1000));
  }
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain,
    dup,
  };
  if (packetId !== undefined) packet.messageId = packetId;
  if (v5) {
    const properties: NonNullable<IPublishPacket['properties']> = {};
    if (remainingSec !== undefined) properties.messageExpiryInterval = remainingSec;
    if (message.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = message.payloadFormatIndicator === 1;
    if (message.contentType !== undefined) properties.contentType = message.contentType;
    if (message.responseTopic !== undefined) properties.responseTopic = message.responseTopic;
    if (message.correlationData !== undefined) properties.correlationData = message.correlationData;
    const user = userPropertiesToPacket(message.userProperties);
    if (user) properties.userProperties = user;
    if (message.subscriptionIds.length === 1) properties.subscriptionIdentifier = message.subscriptionIds[0]!;
    else if (message.subscriptionIds.length > 1) properties.subscriptionIdentifier = [...message.subscriptionIds];
    if (Object.keys(properties).length > 0) packet.properties = properties;
  }
  return packet;
}

/** JSON form of an OutMessage for the session table (Buffers as base64). */
export interface StoredMessage {
  t: string;
  p: string;
  q: 0 | 1 | 2;
  r: boolean;
  s?: number[];
  x?: number;
  u?: UserProperty[];
  ct?: string;
  rt?: string;
  cd?: string;
  pf?: number;
  /** Packet id and state, for messages that were in flight. */
  id?: number;
  st?: 'publish' | 'pubrel';
}

export function storeMessage(m: OutMessage, inflight?: InflightMessage): StoredMessage {
  const out: StoredMessage = { t: m.topic, p: m.payload.toString('base64'), q: m.qos, r: m.retain };
  if (m.subscriptionIds.length > 0) out.s = [...m.subscriptionIds];
  if (m.expiresAt !== undefined) out.x = m.expiresAt;
  if (m.userProperties.length > 0) out.u = [...m.userProperties];
  if (m.contentType !== undefined) out.ct = m.contentType;
  if (m.responseTopic !== undefined) out.rt = m.responseTopic;
  if (m.correlationData !== undefined) out.cd = m.correlationData.toString('base64');
  if (m.payloadFormatIndicator !== undefined) out.pf = m.payloadFormatIndicator;
  if (inflight) {
    out.id = inflight.packetId;
    out.st = inflight.state;
  }
  return out;
}

export function loadMessage(s: StoredMessage): OutMessage {
  return {
    topic: s.t,
    payload: Buffer.from(s.p, 'base64'),
    qos: s.q,
    retain: s.r,
    subscriptionIds: s.s ?? [],
    expiresAt: s.x,
    userProperties: s.u ?? [],
    contentType: s.ct,
    responseTopic: s.rt,
    correlationData: s.cd === undefined ? undefined : Buffer.from(s.cd, 'base64'),
    payloadFormatIndicator: s.pf,
  };
}
