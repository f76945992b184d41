/**
 * The envelope of an MQTT message, for every MQTT way in: a PUBLISH or a will at the gateway
 * (mqtt-packet), a message the bridge receives (mqtt.js hands out mqtt-packet's packets).
 */
import type { UserProperties } from 'mqtt-packet';
import { createEnvelope, type Envelope, type EnvelopeInit, type UserProperty } from '../core/index.js';

/** The MQTT 5 message properties an envelope keeps (PUBLISH §3.3.2.3, will §3.1.3.2). */
export interface MqttMessageProperties {
  readonly userProperties?: UserProperties;
  readonly contentType?: string;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  readonly payloadFormatIndicator?: boolean;
  readonly messageExpiryInterval?: number;
}

export interface MqttMessage {
  readonly topic: string;
  readonly payload: Buffer | string;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly properties?: MqttMessageProperties;
}

/** Who sent a message, as the envelope records it. */
export interface MessageSource {
  readonly clientId: string;
  readonly principal?: string;
  readonly thingName?: string;
  readonly sourceAddress?: string;
  /** When the message arrived (ms); now by default. */
  readonly receivedAt?: number;
}

export function envelopeFromMqtt(message: MqttMessage, source: MessageSource): Envelope {
  const props = message.properties;
  // One literal and assignments (createEnvelope leaves out what is undefined), not conditional
  // spreads: this runs once per message in.
  const init: { -readonly [K in keyof EnvelopeInit]: EnvelopeInit[K] } = {
    topic: message.topic,
    payload: typeof message.payload === 'string' ? Buffer.from(message.payload) : message.payload,
    qos: message.qos,
    retain: message.retain,
    clientId: source.clientId,
    userProperties: userPropertiesFromPacket(props?.userProperties),
  };
  if (source.principal !== undefined) init.principal = source.principal;
  if (source.thingName !== undefined) init.thingName = source.thingName;
  if (source.sourceAddress !== undefined) init.sourceAddress = source.sourceAddress;
  if (source.receivedAt !== undefined) init.receivedAt = source.receivedAt;
  if (props) {
    init.contentType = props.contentType;
    init.responseTopic = props.responseTopic;
    init.correlationData = props.correlationData;
    if (props.payloadFormatIndicator !== undefined) init.payloadFormatIndicator = props.payloadFormatIndicator ? 1 : 0;
    init.messageExpiryIntervalSec = props.messageExpiryInterval;
  }
  return createEnvelope(init);
}

/** mqtt-packet's user-property object (repeated names as arrays) to an ordered list. */
function userPropertiesFromPacket(props: UserProperties | undefined): UserProperty[] {
  if (!props) return [];
  const out: UserProperty[] = [];
  for (const [name, value] of Object.entries(props)) {
    if (Array.isArray(value)) for (const v of value) out.push({ name, value: String(v) });
    else out.push({ name, value: String(value) });
  }
  return out;
}

/** The reverse; order across different names follows first appearance. */
export function userPropertiesToPacket(list: readonly UserProperty[]): UserProperties | undefined {
  if (list.length === 0) return undefined;
  const out: Record<string, string | string[]> = Object.create(null);
  for (const { name, value } of list) {
    const previous = out[name];
    if (previous === undefined) out[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else out[name] = [previous, value];
  }
  return out;
}
