import { describe, expect, test } from 'vitest';
import { DEFAULT_ACCOUNT_ID, ruleTopic } from './context.js';
import { callFunction, testContext } from './test-context.js';
import type { SqlValue } from '../values.js';

const mqttCtx = testContext({
  topic: 'things/myThings/thingOne',
  clientId: '123456789012',
  principal: 'ba67293af50bf2506f5f93469686da660c7c844e7b3950bfb16813e0d31e9373',
  sourceIp: '127.0.0.1',
  traceId: '12345678-1234-1234-1234-123456789012',
  accountId: '123456789012',
  mqtt: {
    contentType: 'text/plain',
    responseTopic: 'r/t',
    correlationData: Buffer.from('cid'),
    payloadFormatIndicator: 1,
    userProperties: [
      { name: 'k', value: 'v1' },
      { name: 'o', value: 'ov' },
      { name: 'k', value: 'v2' },
    ],
  },
});
const httpCtx = testContext({ topic: '$aws/rules/BuildingManager/Buildings/Building5/Floor2/Room201/Lights' });

const at = (ctx: typeof mqttCtx, name: string, ...args: SqlValue[]): SqlValue => callFunction(name, args, ctx) as SqlValue;

describe('context functions', () => {
  test('topic(): the whole topic or one segment, as in the guide', () => {
    expect(at(mqttCtx, 'topic')).toBe('things/myThings/thingOne');
    expect(at(mqttCtx, 'topic', 1)).toBe('things');
    expect(at(mqttCtx, 'topic', 3)).toBe('thingOne');
    expect(at(mqttCtx, 'topic', 4)).toBeUndefined();
    expect(at(mqttCtx, 'topic', 0)).toBeUndefined();
    expect(at(mqttCtx, 'topic', 'x')).toBeUndefined();
  });
  test('topic() hides the Basic Ingest prefix, as in the guide', () => {
    expect(at(httpCtx, 'topic')).toBe('Buildings/Building5/Floor2/Room201/Lights');
    expect(at(httpCtx, 'topic', 3)).toBe('Floor2');
    expect(ruleTopic('$aws/rules/only')).toBe('');
  });
  test('clientid() is "n/a" for a message that did not arrive over MQTT', () => {
    expect(at(mqttCtx, 'clientid')).toBe('123456789012');
    expect(at(httpCtx, 'clientid')).toBe('n/a');
  });
  test('accountid(), principal(), sourceip(), traceid(), timestamp(), sql_version()', () => {
    expect(at(mqttCtx, 'accountid')).toBe('123456789012');
    expect(at(httpCtx, 'accountid')).toBe(DEFAULT_ACCOUNT_ID);
    expect(at(mqttCtx, 'principal')).toBe('ba67293af50bf2506f5f93469686da660c7c844e7b3950bfb16813e0d31e9373');
    expect(at(httpCtx, 'principal')).toBeUndefined();
    expect(at(mqttCtx, 'sourceip')).toBe('127.0.0.1');
    expect(at(mqttCtx, 'traceid')).toBe('12345678-1234-1234-1234-123456789012');
    expect(at(httpCtx, 'traceid')).toBeUndefined();
    expect(at(mqttCtx, 'timestamp')).toBe(1481825251155);
    expect(at(mqttCtx, 'sql_version')).toBe('2016-03-23');
    expect(at(testContext({ sqlVersion: '2015-10-08' }), 'sql_version')).toBe('2015-10-08');
  });
  test('get_mqtt_property() reads the MQTT 5 properties', () => {
    expect(at(mqttCtx, 'get_mqtt_property', 'content_type')).toBe('text/plain');
    expect(at(mqttCtx, 'get_mqtt_property', 'format_indicator')).toBe('UTF8_DATA');
    expect(at(mqttCtx, 'get_mqtt_property', 'response_topic')).toBe('r/t');
    expect(at(mqttCtx, 'get_mqtt_property', 'correlation_data')).toBe('Y2lk');
    expect(at(mqttCtx, 'get_mqtt_property', 'bogus')).toBeUndefined();
    expect(at(testContext({ mqtt: {} }), 'get_mqtt_property', 'format_indicator')).toBe('UNSPECIFIED_BYTES');
    expect(at(httpCtx, 'get_mqtt_property', 'content_type')).toBeUndefined();
  });
  test('get_user_properties() returns the values of a key, or all properties in order', () => {
    expect(at(mqttCtx, 'get_user_properties', 'k')).toEqual(['v1', 'v2']);
    expect(at(mqttCtx, 'get_user_properties', 'none')).toBeUndefined();
    expect(at(mqttCtx, 'get_user_properties')).toEqual([{ k: 'v1' }, { o: 'ov' }, { k: 'v2' }]);
    expect(at(httpCtx, 'get_user_properties')).toBeUndefined();
  });
});
