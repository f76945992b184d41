/**
 * `kiot up` with the registry and the gateway in one process: the mqtts listener gets a server
 * certificate from the kiot CA, and a device made by `kiot device create` connects with the
 * files it wrote, while plain MQTT on loopback stays anonymous.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig, silentLogger } from '../core/index.js';
import { createDevice, dataDirCredentials } from './commands/device.js';
import { startPlatform, type RunningPlatform } from './up.js';

let dir: string;
let platform: RunningPlatform;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-up-devices-'));
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0' }, env: {} });
  platform = await startPlatform(config, () => undefined, silentLogger());
}, 60_000);

afterAll(async () => {
  await platform?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('kiot up with devices', () => {
  test('a device from `kiot device create` connects over mqtts and is held to its policy; plain MQTT stays anonymous', async () => {
    const created = await createDevice({
      thingName: 'pump-3',
      endpoint: `http://127.0.0.1:${platform.listeners.get('http')}`,
      region: 'us-east-1',
      outDir: join(dir, 'devices'),
      policyName: 'pump-3-policy',
      credentials: await dataDirCredentials(join(dir, 'data')),
      mqttHost: '127.0.0.1',
      mqttsPort: platform.listeners.get('mqtts')!,
    });
    const tls = {
      ca: await readFile(created.files.ca),
      cert: await readFile(created.files.certificate),
      key: await readFile(created.files.privateKey),
      servername: 'localhost',
      rejectUnauthorized: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    };
    const url = `mqtts://127.0.0.1:${platform.listeners.get('mqtts')}`;
    const device = await mqtt.connectAsync(url, { ...tls, clientId: 'pump-3', protocolVersion: 5 });
    try {
      await device.subscribeAsync('pump-3/commands', { qos: 1 });
      const received = new Promise<string>((resolve) => device.on('message', (_t, payload) => resolve(payload.toString())));
      await device.publishAsync('pump-3/commands', 'start', { qos: 1 });
      expect(await received).toBe('start');
    } finally {
      await device.endAsync(true);
    }
    // Another client id with the same certificate: not authorized.
    await expect(mqtt.connectAsync(url, { ...tls, clientId: 'pump-4', protocolVersion: 5 })).rejects.toMatchObject({ code: 0x87 });
    // Plain MQTT on loopback: anonymous as before.
    const local = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`, { clientId: 'local', reconnectPeriod: 0 });
    expect(local.connected).toBe(true);
    await local.endAsync(true);
  }, 60_000);
});
