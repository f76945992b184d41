import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { PlatformError, loadConfig } from '../../core/index.js';
import { topicMatches } from '../../core/index.js';

const configError = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PlatformError);
    expect((err as PlatformError).code).toBe('CONFIG_INVALID');
    return (err as PlatformError).message;
  }
  throw new Error('expected a CONFIG_INVALID error');
};

describe('bridge settings', () => {
  test('no bridge URL, no bridge', () => {
    expect(loadConfig({ env: {} }).bridge).toBeUndefined();
  });

  test('flags, KIOT_BRIDGE_* variables and the config file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiot-bridge-config-'));
    try {
      const file = join(dir, 'kiot.yaml');
      await writeFile(file, 'bridge: mqtts://127.0.0.1:8883\nbridgeTopics: [ "sensors/#", "plant/+/status" ]\nbridgeCa: ca.pem\nbridgeUsername: kiot\n');
      const config = loadConfig({ configFile: file, env: { KIOT_BRIDGE_PASSWORD: 'secret', KIOT_BRIDGE_CLIENT_ID_FROM: 'topic:2' }, flags: { bridgeShareGroup: 'none', bridgeEgressTopics: 'none' } });
      expect(config.bridge).toEqual({
        url: 'mqtts://127.0.0.1:8883',
        topics: ['sensors/#', 'plant/+/status'],
        egressTopics: [],
        clientId: undefined,
        clientIdFrom: { kind: 'topic', level: 2 },
        shareGroup: undefined,
        mqttVersion: 5,
        username: 'kiot',
        password: 'secret',
        ca: 'ca.pem',
        cert: undefined,
        key: undefined,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('defaults: every topic, shared group kiot, MQTT 5', () => {
    expect(loadConfig({ env: { KIOT_BRIDGE_URL: 'mqtt://127.0.0.1:1883' } }).bridge).toMatchObject({
      topics: ['#'], egressTopics: ['#'], shareGroup: 'kiot', mqttVersion: 5, clientIdFrom: undefined,
    });
  });

  test('bad values name the field', () => {
    expect(configError(() => loadConfig({ flags: { bridge: 'http://127.0.0.1:1883' }, env: {} }))).toMatch(/^--bridge: expected an mqtt:\/\//);
    expect(configError(() => loadConfig({ env: { KIOT_BRIDGE_URL: 'not a url' } }))).toMatch(/^KIOT_BRIDGE_URL: /);
    expect(configError(() => loadConfig({ flags: { bridge: 'mqtt://127.0.0.1', bridgeTopics: 'a/#/b' }, env: {} }))).toMatch(/^--bridge-topics: .*"a\/#\/b"/);
    expect(configError(() => loadConfig({ flags: { bridge: 'mqtt://127.0.0.1', bridgeClientIdFrom: 'topic:0' }, env: {} }))).toMatch(/^--bridge-client-id-from: /);
    expect(configError(() => loadConfig({ flags: { bridge: 'mqtt://127.0.0.1', bridgeMqttVersion: '3' }, env: {} }))).toMatch(/^--bridge-mqtt-version: expected 5 or 3.1.1/);
  });

  test('contradictory settings fail naming both', () => {
    expect(configError(() => loadConfig({ flags: { bridgeTopics: 'a/#' }, env: {} }))).toMatch(/^--bridge-topics: needs a bridge URL \(--bridge/);
    expect(configError(() => loadConfig({ flags: { bridge: 'mqtt://127.0.0.1', bridgeCa: 'ca.pem' }, env: {} }))).toMatch(/^--bridge-ca: TLS files need an mqtts:\/\/ .* but --bridge is mqtt:/);
    expect(configError(() => loadConfig({ flags: { bridge: 'mqtts://127.0.0.1', bridgeCert: 'c.pem' }, env: {} }))).toMatch(/--bridge-cert and --bridge-key go together/);
    expect(configError(() => loadConfig({ flags: { bridge: 'mqtt://127.0.0.1', bridgeMqttVersion: '3.1.1', bridgeClientIdFrom: 'property:id' }, env: {} }))).toMatch(/user properties need MQTT 5, but --bridge-mqtt-version is 3.1.1/);
  });
});

describe('topicMatches', () => {
  test.each([
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['+/b', 'a/b', true],
    ['#', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
  ])('%s matches %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});
