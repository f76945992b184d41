import type { Schema } from 'avsc';

/**
 * Envelope schema version 1, the first one shipped. FROZEN: records written with it sit
 * on logs and must stay readable forever. Never edit this file; to change the envelope,
 * add `v2.ts` (this schema plus new fields that have defaults) and register it in
 * `core/envelope.ts` (see the evolution rule there).
 *
 * Field names are the `Envelope` interface's camelCase names, so a decoded record maps onto
 * it one to one. Optional fields are unions with `null` first and a `null` default, which
 * is what lets a reader fill them in for records whose writer did not have them.
 */
export const ENVELOPE_SCHEMA_V1: Schema = {
  type: 'record',
  name: 'Envelope',
  namespace: 'kiot',
  doc: 'One MQTT message on the kiot log.',
  fields: [
    { name: 'messageId', type: 'string', doc: 'Unique id of this message (UUID).' },
    { name: 'topic', type: 'string', doc: 'MQTT topic name the message was published to.' },
    { name: 'payload', type: 'bytes', doc: 'Payload bytes as published.' },
    { name: 'qos', type: 'int', doc: 'MQTT QoS: 0, 1 or 2.' },
    { name: 'retain', type: 'boolean', doc: 'MQTT retain flag.' },
    { name: 'clientId', type: ['null', 'string'], default: null, doc: 'MQTT client id; null for HTTP publishes.' },
    { name: 'thingName', type: ['null', 'string'], default: null, doc: 'Registry thing name, when known.' },
    { name: 'principal', type: ['null', 'string'], default: null, doc: 'Authenticated principal (certificate id, access key).' },
    { name: 'sourceAddress', type: ['null', 'string'], default: null, doc: 'Source IP address and port of the publisher.' },
    {
      name: 'receivedAt',
      type: { type: 'long', logicalType: 'timestamp-millis' },
      doc: 'When kiot received the message, ms since the epoch.',
    },
    { name: 'traceId', type: 'string', doc: 'Trace id, as IoT SQL traceid() returns it.' },
    {
      name: 'userProperties',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'UserProperty',
          fields: [
            { name: 'name', type: 'string' },
            { name: 'value', type: 'string' },
          ],
        },
      },
      default: [],
      doc: 'MQTT 5 user properties in the order received; names may repeat.',
    },
    { name: 'contentType', type: ['null', 'string'], default: null, doc: 'MQTT 5 content type.' },
    { name: 'responseTopic', type: ['null', 'string'], default: null, doc: 'MQTT 5 response topic.' },
    { name: 'correlationData', type: ['null', 'bytes'], default: null, doc: 'MQTT 5 correlation data.' },
    {
      name: 'payloadFormatIndicator',
      type: ['null', 'int'],
      default: null,
      doc: 'MQTT 5 payload format indicator: 0 unspecified bytes, 1 UTF-8 text.',
    },
    {
      name: 'messageExpiryIntervalSec',
      type: ['null', 'long'],
      default: null,
      doc: 'MQTT 5 message expiry interval in seconds.',
    },
  ],
};
