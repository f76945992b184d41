/**
 * `--anonymous-policy FILE`: anonymous clients of the loopback mqtt and ws listeners held to an
 * AWS IoT policy document, so a local tool cannot read or write a device's topics unless the
 * operator allows it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPlatform, type RunningPlatform } from '../../cli/up.js';
import { loadConfig, silentLogger } from '../../core/index.js';
import { runKiot } from '../../cli/testing.js';

const POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: 'arn:aws:iot:*:*:client/local-*' },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: 'arn:aws:iot:*:*:topic/local/${iot:ClientId}/*' },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: 'arn:aws:iot:*:*:topicfilter/local/${iot:ClientId}/*' },
  ],
};

let dir: string;
let platform: RunningPlatform;
const clients: mqtt.MqttClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-anon-policy-'));
  await writeFile(join(dir, 'anonymous.json'), JSON.stringify(POLICY));
  const config = loadConfig({
    flags: { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules'), httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', httpsPort: '0', anonymousPolicy: join(dir, 'anonymous.json') },
    env: {},
  });
  platform = await startPlatform(config, () => undefined, silentLogger());
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await platform?.stop();
  await rm(dir, { recursive: true, force: true });
});

const url = (listener: 'mqtt' | 'ws') =>
  listener === 'mqtt' ? `mqtt://127.0.0.1:${platform.listeners.get('mqtt')}` : `ws://127.0.0.1:${platform.listeners.get('ws')}/mqtt`;

async function connect(clientId: string, listener: 'mqtt' | 'ws' = 'mqtt'): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(url(listener), { clientId, protocolVersion: 5, reconnectPeriod: 0 });
  clients.push(client);
  return client;
}

describe('anonymous loopback clients under --anonymous-policy', () => {
  test('iot:Connect decides which client ids may connect, on mqtt and ws', async () => {
    await expect(connect('device-7')).rejects.toMatchObject({ code: 0x87 });
    await expect(connect('device-7', 'ws')).rejects.toMatchObject({ code: 0x87 });
    expect((await connect('local-tool', 'ws')).connected).toBe(true);
  });

  test('publish, subscribe and receive are held to the policy, with its variables', async () => {
    const tool = await connect('local-a');
    expect((await tool.subscribeAsync('local/local-a/#', { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    for (const filter of ['device-7/commands', '#', 'local/+/state']) {
      await expect(tool.subscribeAsync(filter, { qos: 1 })).rejects.toMatchObject({ packet: { granted: [0x87] } });
    }

    const got = new Promise<string>((resolve) => tool.on('message', (topic, payload) => resolve(`${topic} ${payload.toString()}`)));
    await tool.publishAsync('local/local-a/state', 'on', { qos: 1 });
    expect(await got).toBe('local/local-a/state on');

    // A v5 client's denied publish gets PUBACK 0x87 and stays connected; nothing reaches the topic.
    await expect(tool.publishAsync('device-7/commands', 'reboot', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await expect(tool.publishAsync('local/local-b/state', 'spoof', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    expect(tool.connected).toBe(true);
  });

  test('a policy file that is not a valid policy stops kiot up with one line naming it', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Perhaps', Action: 'iot:Connect', Resource: '*' }] }));
    const kiot = runKiot(['up', '--anonymous-policy', bad], { cwd: dir, env: { KIOT_DATA_DIR: join(dir, 'data-bad') } });
    expect(await kiot.exited).toBe(2);
    const lines = kiot.stderr().trim().split('\n');
    expect(lines.pop()).toMatch(new RegExp(`^kiot: anonymousPolicy ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  }, 60_000);
});
