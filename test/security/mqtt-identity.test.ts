/**
 * One identity per client id (issue "Close the open doors", point 2): an anonymous client on
 * the loopback plain-TCP or WebSocket listener must not take over, resume or publish as a
 * client id that a certificate-authenticated device (or any non-anonymous principal) owns.
 * Real mqtt.js clients against `kiot up` in this process (mutual TLS devices made the way
 * `kiot device create` makes them), and against the gateway with a custom authenticator.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createDevice, dataDirCredentials } from '../../cli/commands/device.js';
import { startPlatform, type RunningPlatform } from '../../cli/up.js';
import { EmbeddedLog, loadConfig, silentLogger } from '../../core/index.js';
import type { Authenticator } from '../../ingest/index.js';
import { GATEWAY_TOPICS } from '../../ingest/index.js';
import { collect, connect, endTestGateways, once, startTestGateway, tempDir, type TestGateway } from '../../ingest/gateway/testing/harness.js';

const THING = 'pump-7';

describe('kiot up: an anonymous loopback client and a certificate device with the same client id', () => {
  let dir: string;
  let platform: RunningPlatform;
  let tls: IClientOptions;
  const open: MqttClient[] = [];

  const url = (listener: 'mqtt' | 'mqtts' | 'ws') =>
    listener === 'ws' ? `ws://127.0.0.1:${platform.listeners.get('ws')}/mqtt` : `${listener}://127.0.0.1:${platform.listeners.get(listener)}`;

  /** Connects and resolves with the client and its CONNACK, or rejects with the refusal. */
  const client = async (target: string, options: IClientOptions): Promise<{ client: MqttClient; sessionPresent: boolean }> => {
    const c = mqtt.connect(target, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    open.push(c);
    collect(c);
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      c.once('connect', (packet) => resolve(packet));
      c.once('error', reject);
      c.once('close', () => reject(new Error('closed before CONNACK')));
    });
    c.on('error', () => undefined);
    return { client: c, sessionPresent: connack.sessionPresent };
  };
  const device = (clean: boolean) => client(url('mqtts'), { ...tls, clientId: THING, protocolVersion: 4, clean });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiot-sec-identity-'));
    // The device reconnects at once after the anonymous attempts: AWS's 1 CONNECT a second per client id is off.
    const config = loadConfig({
      flags: { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules'), httpPort: '0', httpsPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', maxConnectsPerSecondPerClientId: '0' },
      env: {},
    });
    platform = await startPlatform(config, () => undefined, silentLogger());
    const created = await createDevice({
      thingName: THING,
      endpoint: `http://127.0.0.1:${platform.listeners.get('http')}`,
      region: 'us-east-1',
      outDir: join(dir, 'devices'),
      policyName: `${THING}-policy`,
      credentials: await dataDirCredentials(join(dir, 'data')),
      mqttHost: '127.0.0.1',
      mqttsPort: platform.listeners.get('mqtts')!,
    });
    tls = {
      ca: await readFile(created.files.ca),
      cert: await readFile(created.files.certificate),
      key: await readFile(created.files.privateKey),
      servername: 'localhost',
      rejectUnauthorized: true,
    };
  }, 60_000);

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.endAsync(true)));
  });

  afterAll(async () => {
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('while the device is connected, an anonymous CONNECT with its client id is refused and the device stays', async () => {
    const { client: dev } = await device(false);
    await dev.subscribeAsync(`${THING}/commands`, { qos: 1 });
    let kicked = false;
    dev.on('close', () => (kicked = true));

    await expect(client(url('mqtt'), { clientId: THING, protocolVersion: 4, clean: false })).rejects.toMatchObject({ code: 5 });
    await expect(client(url('mqtt'), { clientId: THING, protocolVersion: 5, clean: true })).rejects.toMatchObject({ code: 0x87 });
    await expect(client(url('ws'), { clientId: THING, protocolVersion: 4, clean: true })).rejects.toMatchObject({ code: 5 });

    // The device's connection and subscription are untouched: a command still reaches it.
    const { client: operator } = await client(url('mqtt'), { clientId: 'operator', protocolVersion: 4 });
    await operator.publishAsync(`${THING}/commands`, 'still-here', { qos: 1 });
    const [message] = await collect(dev).waitFor(1);
    expect(message!.payload.toString()).toBe('still-here');
    expect(kicked).toBe(false);

    const metrics = await (await fetch(`http://127.0.0.1:${platform.listeners.get('http')}/metrics`)).text();
    expect(metrics).toMatch(/kiot_gateway_identity_refusals_total\{reason="live-connection"\} 3/);
  });

  test('after the device disconnected, an anonymous client can neither resume its session nor take its queued commands', async () => {
    const { client: first } = await device(false);
    await first.subscribeAsync(`${THING}/commands`, { qos: 1 });
    await first.endAsync();

    const { client: operator } = await client(url('mqtt'), { clientId: 'operator-2', protocolVersion: 4 });
    await operator.publishAsync(`${THING}/commands`, 'open-valve', { qos: 1 });

    // Resume (clean 0), start afresh (clean 1), v5, WebSocket: all refused.
    await expect(client(url('mqtt'), { clientId: THING, protocolVersion: 4, clean: false })).rejects.toMatchObject({ code: 5 });
    await expect(client(url('mqtt'), { clientId: THING, protocolVersion: 4, clean: true })).rejects.toMatchObject({ code: 5 });
    await expect(client(url('mqtt'), { clientId: THING, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })).rejects.toMatchObject({ code: 0x87 });
    await expect(client(url('ws'), { clientId: THING, protocolVersion: 4, clean: false })).rejects.toMatchObject({ code: 5 });

    // The device comes back to its own session and its queued command.
    const { client: again, sessionPresent } = await device(false);
    expect(sessionPresent).toBe(true);
    const [message] = await collect(again).waitFor(1);
    expect(message!.payload.toString()).toBe('open-valve');
  });
});

describe('gateway: anonymous and authenticated clients do not share a session namespace', () => {
  /** A custom authorizer stand-in: user `device` / `secret` is principal `custom:device`, everyone else anonymous. */
  const authenticator: Authenticator = {
    authenticate: (info) =>
      info.username === 'device' && info.password?.toString() === 'secret' ? { ok: true, principal: 'custom:device' } : { ok: true, principal: 'anonymous' },
  };
  const asDevice = { username: 'device', password: 'secret' };
  let gw: TestGateway | undefined;

  afterEach(endTestGateways);

  test('an anonymous client cannot take over a live authenticated connection', async () => {
    gw = await startTestGateway({ deps: { authenticator } });
    const dev = await connect(gw.url(), { clientId: 'sensor-1', protocolVersion: 5, ...asDevice });
    await expect(connect(gw.url(), { clientId: 'sensor-1', protocolVersion: 5 })).rejects.toMatchObject({ code: 0x87 });
    await expect(connect(gw.url(), { clientId: 'sensor-1', protocolVersion: 4 })).rejects.toMatchObject({ code: 5 });
    expect(dev.connected).toBe(true);
  });

  test('an anonymous client cannot resume or replace a stored authenticated session; the owner still can', async () => {
    gw = await startTestGateway({ deps: { authenticator } });
    const first = await connect(gw.url(), { clientId: 'sensor-2', protocolVersion: 4, clean: false, ...asDevice });
    await first.subscribeAsync('sensor-2/cmd', { qos: 1 });
    await first.endAsync();
    const pub = await connect(gw.url(), { clientId: 'pub', protocolVersion: 4 });
    await pub.publishAsync('sensor-2/cmd', 'queued', { qos: 1 });

    await expect(connect(gw.url(), { clientId: 'sensor-2', protocolVersion: 4, clean: false })).rejects.toMatchObject({ code: 5 });
    await expect(connect(gw.url(), { clientId: 'sensor-2', protocolVersion: 4, clean: true })).rejects.toMatchObject({ code: 5 });

    const back = mqtt.connect(gw.url(), { clientId: 'sensor-2', protocolVersion: 4, clean: false, reconnectPeriod: 0, ...asDevice });
    const inbox = collect(back);
    const connack = await once<{ sessionPresent: boolean }>(back as unknown as NodeJS.EventEmitter, 'connect');
    expect(connack.sessionPresent).toBe(true);
    expect((await inbox.waitFor(1))[0]!.payload.toString()).toBe('queued');
    await back.endAsync(true);
  });

  test('a session record written before owners were recorded loads, as anonymous-owned', async () => {
    const dataDir = await tempDir();
    const log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
    const table = await log.openTable(GATEWAY_TOPICS.sessions);
    const legacy = {
      v: 1,
      clientId: 'legacy-1',
      owner: 'old-gateway',
      connected: false,
      persistent: true,
      expiryIntervalSec: 3600,
      disconnectedAt: Date.now(),
      versionNumber: 3,
      subscriptions: [{ filter: 'legacy/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      messages: [],
      incomingQos2: [],
    };
    await table.set('legacy-1', JSON.stringify(legacy));
    gw = await startTestGateway({ log, dataDir, deps: { authenticator } });
    const anonymous = mqtt.connect(gw.url(), { clientId: 'legacy-1', protocolVersion: 4, clean: false, reconnectPeriod: 0 });
    expect((await once<{ sessionPresent: boolean }>(anonymous as unknown as NodeJS.EventEmitter, 'connect')).sessionPresent).toBe(true);
    await anonymous.endAsync(true);
    const dev = mqtt.connect(gw.url(), { clientId: 'legacy-1', protocolVersion: 4, clean: false, reconnectPeriod: 0, ...asDevice });
    expect((await once<{ sessionPresent: boolean }>(dev as unknown as NodeJS.EventEmitter, 'connect')).sessionPresent).toBe(false);
    await dev.endAsync(true);
    await gw.close();
    gw = undefined;
    await log.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('an authenticated client does not inherit a session an anonymous client left behind', async () => {
    gw = await startTestGateway({ deps: { authenticator } });
    const squatter = await connect(gw.url(), { clientId: 'sensor-3', protocolVersion: 4, clean: false });
    await squatter.subscribeAsync('#', { qos: 1 });
    await squatter.endAsync();

    const dev = mqtt.connect(gw.url(), { clientId: 'sensor-3', protocolVersion: 4, clean: false, reconnectPeriod: 0, ...asDevice });
    const connack = await once<{ sessionPresent: boolean }>(dev as unknown as NodeJS.EventEmitter, 'connect');
    expect(connack.sessionPresent).toBe(false);
    await dev.endAsync(true);
  });
});
