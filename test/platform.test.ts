/**
 * The whole platform in one process, as `kiot up` runs it: devices over MQTT, a rule file, the
 * AWS SDK against the HTTP API, and a rule created through that API.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateThingCommand, CreateTopicRuleCommand, DescribeThingCommand, IoTClient } from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPlatform, type RunningPlatform } from '../cli/up.js';
import { loadConfig, silentLogger } from '../core/index.js';

let dir: string;
let platform: RunningPlatform;
const lines: string[] = [];
const clients: mqtt.MqttClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-platform-'));
  await mkdir(join(dir, 'rules'));
  await writeFile(
    join(dir, 'rules', 'overheat.sql'),
    `CREATE RULE overheat
       DESCRIPTION 'Alert when a machine runs hot'
     AS SELECT temperature, topic(2) AS site FROM 'factory/+/telemetry' WHERE temperature > 80
     DO republish(topic = 'alerts/\${topic(2)}', qos = 1);`,
  );
  const config = loadConfig({
    flags: { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules'), httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', httpsPort: '0' },
    env: {},
  });
  platform = await startPlatform(config, (line) => lines.push(line), silentLogger());
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await platform?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function connect(clientId: string): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`, { clientId, protocolVersion: 5, reconnectPeriod: 0 });
  clients.push(client);
  return client;
}

function nextMessage(client: mqtt.MqttClient, topic: string, timeoutMs = 20_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${topic} within ${timeoutMs} ms`)), timeoutMs);
    client.on('message', (t, payload) => {
      if (t !== topic) return;
      clearTimeout(timer);
      resolve(JSON.parse(payload.toString()));
    });
  });
}

describe('kiot platform', () => {
  test('announces credentials, the CA file, listeners and ready', () => {
    expect(lines[0]).toBe(`credentials ${join(dir, 'data', 'credentials')}`);
    expect(lines[1]).toBe(`ca ${join(dir, 'data', 'ca.pem')}`);
    expect(lines.filter((l) => l.startsWith('listening ')).map((l) => l.split(' ')[1])).toEqual(['http', 'mqtt', 'mqtts', 'ws', 'https']);
    expect(lines[lines.length - 1]).toBe('ready');
  });

  test('a device message runs through a rule file and is republished to a subscriber', async () => {
    const subscriber = await connect('dashboard');
    await subscriber.subscribeAsync('alerts/#', { qos: 1 });
    const alert = nextMessage(subscriber, 'alerts/plant-7');
    const device = await connect('machine-1');
    await device.publishAsync('factory/plant-7/telemetry', JSON.stringify({ temperature: 70 }), { qos: 1 }); // does not fire
    await device.publishAsync('factory/plant-7/telemetry', JSON.stringify({ temperature: 91 }), { qos: 1 });
    expect(await alert).toEqual({ temperature: 91, site: 'plant-7' });
  }, 30_000);

  test('the AWS SDK manages things and rules through the HTTP API, and API rules run', async () => {
    const iot = new IoTClient({
      endpoint: `http://127.0.0.1:${platform.listeners.get('http')}`,
      region: 'us-east-1',
      credentials: fromIni({ filepath: join(dir, 'data', 'credentials'), profile: 'default' }),
      maxAttempts: 1,
    });
    await iot.send(new CreateThingCommand({ thingName: 'machine-1', attributePayload: { attributes: { line: 'A' } } }));
    const thing = await iot.send(new DescribeThingCommand({ thingName: 'machine-1' }));
    expect(thing.attributes).toEqual({ line: 'A' });

    await iot.send(
      new CreateTopicRuleCommand({
        ruleName: 'echo_status',
        topicRulePayload: {
          sql: "SELECT state, clientid() AS device FROM 'status/#'",
          actions: [{ republish: { topic: 'echo/${clientid()}', roleArn: 'arn:aws:iam::000000000000:role/kiot', qos: 1 } }],
        },
      }),
    );
    const subscriber = await connect('watcher');
    await subscriber.subscribeAsync('echo/#', { qos: 1 });
    const device = await connect('machine-2');
    // The rule reaches the workers through iot.rules; publish until it has.
    const echoed = nextMessage(subscriber, 'echo/machine-2', 30_000);
    const timer = setInterval(() => void device.publishAsync('status/machine-2', JSON.stringify({ state: 'running' }), { qos: 1 }), 500);
    try {
      expect(await echoed).toEqual({ state: 'running', device: 'machine-2' });
    } finally {
      clearInterval(timer);
    }
  }, 45_000);

  test('/metrics counts rule matches', async () => {
    const text = await (await fetch(`http://127.0.0.1:${platform.listeners.get('http')}/metrics`)).text();
    expect(text).toMatch(/^kiot_rule_matched_total\{rule="overheat"\} [1-9]/m);
    expect(text).toMatch(/^kiot_log_appended_records_total\{log="embedded"\} [1-9]/m);
  });
});
