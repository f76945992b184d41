/**
 * Attacks that kiot already withstood when it was probed as a hostile user would (issue
 * "Close the open doors"), kept as tests so that they stay held. The other held attacks have
 * their tests beside the code (see README.md in this folder).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AttachPolicyCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreateThingCommand,
  CreateTopicRuleCommand,
  DescribeCertificateCommand,
  DescribeThingCommand,
  GetPolicyCommand,
  GetTopicRuleCommand,
  IoTClient,
  ListAttachedPoliciesCommand,
} from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPlatform, type RunningPlatform } from '../../cli/up.js';
import { loadConfig, silentLogger } from '../../core/index.js';

let dir: string;
let platform: RunningPlatform | undefined;
const clients: mqtt.MqttClient[] = [];

const start = async (): Promise<RunningPlatform> => {
  const config = loadConfig({
    flags: { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules'), httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', httpsPort: '0' },
    env: {},
  });
  platform = await startPlatform(config, () => undefined, silentLogger());
  return platform;
};

const iotClient = (p: RunningPlatform): IoTClient =>
  new IoTClient({
    endpoint: `http://127.0.0.1:${p.listeners.get('http')}`,
    region: 'us-east-1',
    credentials: fromIni({ filepath: join(dir, 'data', 'credentials'), profile: 'default' }),
    maxAttempts: 1,
  });

async function mqttClient(p: RunningPlatform, clientId: string, options: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${p.listeners.get('mqtt')}`, { clientId, reconnectPeriod: 0, ...options });
  clients.push(client);
  return client;
}

function messages(client: mqtt.MqttClient, count: number, timeoutMs = 15_000): Promise<{ topic: string; payload: string; retain: boolean }[]> {
  const got: { topic: string; payload: string; retain: boolean }[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${count} messages within ${timeoutMs} ms`)), timeoutMs);
    client.on('message', (topic, payload, packet) => {
      got.push({ topic, payload: payload.toString(), retain: packet.retain });
      if (got.length === count) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-held-'));
}, 10_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await platform?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('held: what a hostile user could not break', () => {
  test('a clean restart keeps every thing, certificate, policy, rule, retained message and session', async () => {
    let p = await start();
    let iot = iotClient(p);
    await iot.send(new CreateThingCommand({ thingName: 'held-thing', attributePayload: { attributes: { site: 'north' } } }));
    const cert = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    const policyDocument = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] });
    await iot.send(new CreatePolicyCommand({ policyName: 'held-policy', policyDocument }));
    await iot.send(new AttachPolicyCommand({ policyName: 'held-policy', target: cert.certificateArn! }));
    await iot.send(
      new CreateTopicRuleCommand({
        ruleName: 'held_rule',
        topicRulePayload: { sql: "SELECT * FROM 'held/in'", actions: [{ republish: { topic: 'held/out', roleArn: 'arn:aws:iam::000000000000:role/kiot' } }] },
      }),
    );
    const publisher = await mqttClient(p, 'held-publisher');
    await publisher.publishAsync('held/retained', 'kept', { qos: 1, retain: true });
    const offline = await mqttClient(p, 'held-offline', { clean: false });
    await offline.subscribeAsync('held/queue', { qos: 1 });
    await offline.endAsync();
    await publisher.publishAsync('held/queue', 'queued-before-restart', { qos: 1 });
    await publisher.endAsync();
    iot.destroy();
    await p.stop();
    platform = undefined;

    p = await start();
    iot = iotClient(p);
    expect((await iot.send(new DescribeThingCommand({ thingName: 'held-thing' }))).attributes).toEqual({ site: 'north' });
    expect((await iot.send(new DescribeCertificateCommand({ certificateId: cert.certificateId! }))).certificateDescription?.status).toBe('ACTIVE');
    expect((await iot.send(new GetPolicyCommand({ policyName: 'held-policy' }))).policyDocument).toBe(policyDocument);
    expect((await iot.send(new ListAttachedPoliciesCommand({ target: cert.certificateArn! }))).policies?.map((x) => x.policyName)).toEqual(['held-policy']);
    expect((await iot.send(new GetTopicRuleCommand({ ruleName: 'held_rule' }))).rule?.sql).toBe("SELECT * FROM 'held/in'");
    iot.destroy();

    const resumed = mqtt.connect(`mqtt://127.0.0.1:${p.listeners.get('mqtt')}`, { clientId: 'held-offline', clean: false, reconnectPeriod: 0 });
    clients.push(resumed);
    const queued = messages(resumed, 1);
    const connack = await new Promise<mqtt.IConnackPacket>((resolve) => resumed.once('connect', resolve));
    expect(connack.sessionPresent).toBe(true);
    expect((await queued)[0]).toMatchObject({ topic: 'held/queue', payload: 'queued-before-restart' });

    const reader = await mqttClient(p, 'held-reader');
    const retained = messages(reader, 1);
    await reader.subscribeAsync('held/retained', { qos: 1 });
    expect((await retained)[0]).toEqual({ topic: 'held/retained', payload: 'kept', retain: true });
  }, 60_000);

  test('2,000 idle sockets that never send CONNECT leave the gateway serving', async () => {
    const p = platform ?? (await start());
    const port = p.listeners.get('mqtt')!;
    const sockets: Socket[] = [];
    try {
      await Promise.all(
        Array.from(
          { length: 2000 },
          () =>
            new Promise<void>((resolve, reject) => {
              const socket = tcpConnect(port, '127.0.0.1', () => resolve());
              socket.on('error', reject);
              sockets.push(socket);
            }),
        ),
      );
      const subscriber = await mqttClient(p, 'held-idle-subscriber');
      await subscriber.subscribeAsync('held/idle', { qos: 1 });
      const got = messages(subscriber, 1);
      const publisher = await mqttClient(p, 'held-idle-publisher');
      await publisher.publishAsync('held/idle', 'still serving', { qos: 1 });
      expect((await got)[0]!.payload).toBe('still serving');
    } finally {
      for (const s of sockets) s.destroy();
    }
  }, 60_000);
});
