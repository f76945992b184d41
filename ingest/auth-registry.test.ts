/**
 * X.509 device authentication in the gateway with real TLS clients: certificates issued and
 * policies attached through the registry's services, mqtt.js over mqtts with the device's
 * certificate and key, the gateway's TLS listener using a server certificate from the kiot CA.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { EmbeddedLog, silentLogger, type Log } from '../core/index.js';
import { createSecurityService, type SecurityService, type SecurityServices } from '../registry/index.js';
import { createRegistryAuthenticator, type RegistryAuthenticator } from './auth-registry.js';
import { collect, connect, endClients, eventually, once, startTestGateway, tempDir, type TestGateway } from './gateway/testing/harness.js';

const THING = '${iot:Connection.Thing.ThingName}';
const ARN = 'arn:aws:iot:*:*:';
/** One policy for every device: its own topics and shadow, and `fleet/...` (receive only `fleet/public`). */
const DEVICE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}client/${THING}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: [`${ARN}topic/${THING}/*`, `${ARN}topic/$aws/things/${THING}/shadow/*`] },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: [`${ARN}topicfilter/${THING}/*`, `${ARN}topicfilter/$aws/things/${THING}/shadow/*`] },
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}topic/fleet/*` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}topicfilter/fleet/#` },
    { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}topic/fleet/public` },
  ],
});

interface Device {
  readonly certificateId: string;
  readonly arn: string;
  readonly cert: string;
  readonly key: string;
}

let dir: string;
let log: Log;
let service: SecurityService;
let security: SecurityServices;
let auth: RegistryAuthenticator;
let gw: TestGateway;
let caPem: string;
let deviceA: Device;
let deviceB: Device;

/** Creates keys and a certificate (ACTIVE unless told), attaches the device policy and the thing. */
async function provision(thingName: string | undefined, active = true): Promise<Device> {
  const issued = await security.certificates.createKeysAndCertificate({ setAsActive: active });
  await security.policies.attachPolicy('device', issued.certificateArn);
  if (thingName) await security.policies.attachThingPrincipal(thingName, issued.certificateArn);
  return { certificateId: issued.certificateId, arn: issued.certificateArn, cert: issued.certificatePem, key: issued.keyPair.PrivateKey };
}

const tlsOptions = (device: Pick<Device, 'cert' | 'key'> | undefined): IClientOptions => ({
  ca: caPem,
  servername: 'localhost',
  rejectUnauthorized: true,
  ...(device ? { cert: device.cert, key: device.key } : {}),
});

/** Connects over mqtts and resolves with the client, or with the CONNACK code that refused it. */
async function attempt(device: Pick<Device, 'cert' | 'key'> | undefined, clientId: string, protocolVersion: 4 | 5 = 4): Promise<{ client?: MqttClient; code?: number }> {
  const client = mqtt.connect(gw.url('mqtts'), { ...tlsOptions(device), clientId, protocolVersion, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('closed before CONNACK')));
    });
    client.end(true);
    return {};
  } catch (err) {
    client.end(true);
    return { code: (err as { code?: number }).code };
  }
}

/** Resolves when the client's connection closes. */
const closeOf = (client: MqttClient, timeoutMs = 5000) => once(client as unknown as NodeJS.EventEmitter, 'close', timeoutMs);

/** SUBSCRIBE, resolving with the SUBACK's codes (mqtt.js rejects a SUBACK with a failure code). */
const subackCodes = (client: MqttClient, filters: string[]) =>
  new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no SUBACK')), 5000);
    client.on('packetreceive', (p) => {
      if (p.cmd !== 'suback') return;
      clearTimeout(timer);
      resolve(p.granted.map((g) => (typeof g === 'number' ? g : (g as { qos: number }).qos)));
    });
    client.subscribe(filters, { qos: 1 }, () => undefined);
  });

const device = (d: Device, clientId: string, protocolVersion: 4 | 5 = 4) =>
  connect(gw.url('mqtts'), { ...tlsOptions(d), clientId, protocolVersion });

beforeAll(async () => {
  dir = await tempDir();
  log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  service = createSecurityService({ region: undefined, accountId: '123456789012' }, { log, logger: silentLogger() });
  security = await service.start();
  await security.policies.createPolicy('device', DEVICE_POLICY);
  [deviceA, deviceB] = await Promise.all([provision('thing-a'), provision('thing-b')]);
  const server = await security.certificates.issueServerCertificate(['localhost', '127.0.0.1']);
  caPem = server.caCertificatePem;
  auth = createRegistryAuthenticator(security);
  gw = await startTestGateway({
    log,
    config: { mqttsPort: 0 },
    deps: { tlsAuthenticator: auth, tlsCredentials: { cert: server.certificatePem, key: server.privateKeyPem, ca: server.caCertificatePem } },
  });
}, 60_000);

afterEach(() => endClients());

afterAll(async () => {
  await gw?.close();
  await service?.stop();
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('connecting with a certificate', () => {
  test('no certificate, an unknown one, an inactive one, or another thing\'s client id are refused', async () => {
    const before = auth.denials('connect');
    // No client certificate, and one signed by a CA kiot never saw: bad credentials (4; v5 0x86).
    expect((await attempt(undefined, 'thing-a')).code).toBe(4);
    expect((await attempt(undefined, 'thing-a', 5)).code).toBe(0x86);
    const testing = join(import.meta.dirname, 'gateway', 'testing');
    const stranger = { cert: await readFile(join(testing, 'device-cert.pem'), 'utf8'), key: await readFile(join(testing, 'device-key.pem'), 'utf8') };
    expect((await attempt(stranger, 'thing-a')).code).toBe(4);
    // Registered but INACTIVE: not authorized (5; v5 0x87).
    const inactive = await provision('thing-c', false);
    expect((await attempt(inactive, 'thing-c')).code).toBe(5);
    expect((await attempt(inactive, 'thing-c', 5)).code).toBe(0x87);
    // iot:Connect allows only the thing's own name as client id.
    expect((await attempt(deviceA, 'thing-b')).code).toBe(5);
    expect((await attempt(deviceA, 'someone-else', 5)).code).toBe(0x87);
    // The allowed one gets in.
    expect((await attempt(deviceA, 'thing-a')).code).toBeUndefined();
    expect(auth.denials('connect') - before).toBe(7);
    expect(await auth.metricsRegistry.metrics()).toMatch(/kiot_gateway_auth_denials_total\{action="connect",reason="bad-credentials"\} \d+/);
  }, 60_000);

  test('a connected client id is taken over only by a client allowed to connect with it', async () => {
    const a = await device(deviceA, 'thing-a');
    let closed = false;
    a.on('close', () => (closed = true));
    expect((await attempt(deviceB, 'thing-a')).code).toBe(5);
    // Still connected: a round trip on its own topic works.
    await a.subscribeAsync('thing-a/ping');
    await a.publishAsync('thing-a/ping', 'still here', { qos: 1 });
    await collect(a).waitFor(1);
    expect(closed).toBe(false);
    // The same device (a new connection with its certificate) takes it over.
    const a2 = await device(deviceA, 'thing-a');
    await closeOf(a);
    expect(a2.connected).toBe(true);
  }, 30_000);
});

describe('publish, subscribe and receive', () => {
  test('an allowed device uses its own topics and its shadow', async () => {
    const a = await device(deviceA, 'thing-a');
    const granted = await a.subscribeAsync(['thing-a/commands', '$aws/things/thing-a/shadow/update/accepted', '$aws/things/thing-a/shadow/get/#'], { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1, 1, 1]);
    await a.publishAsync('thing-a/commands', 'c1', { qos: 1 });
    await a.publishAsync('$aws/things/thing-a/shadow/update/accepted', '{}', { qos: 1 });
    await a.publishAsync('$aws/things/thing-a/shadow/get/accepted', '{}', { qos: 0 });
    await a.publishAsync('thing-a/telemetry', '{"t":21}', { qos: 1 });
    const got = await collect(a).waitFor(3);
    expect(got.map((m) => m.topic).sort()).toEqual(['$aws/things/thing-a/shadow/get/accepted', '$aws/things/thing-a/shadow/update/accepted', 'thing-a/commands']);
    expect(a.connected).toBe(true);
  }, 30_000);

  test('subscriptions wider than allowed, or on another device\'s shadow, are refused in SUBACK', async () => {
    const before = auth.denials('subscribe');
    const a = await device(deviceA, 'thing-a');
    const granted = await subackCodes(a, ['#', 'thing-a/#', '$aws/things/+/shadow/update', '$aws/things/thing-b/shadow/update/delta', 'thing-b/commands']);
    // thing-a/# is within `thing-a/*` (wildcards in a filter are literal characters to policies).
    expect(granted).toEqual([128, 1, 128, 128, 128]);
    const a5 = await device(deviceA, 'thing-a', 5);
    expect(await subackCodes(a5, ['$aws/things/thing-b/shadow/get/accepted'])).toEqual([0x87]);
    expect(auth.denials('subscribe') - before).toBe(5);
  }, 30_000);

  test('publishing to another device\'s shadow disconnects a 3.1.1 client; v5 gets PUBACK 0x87 and stays', async () => {
    const before = auth.denials('publish');
    const b = await device(deviceB, 'thing-b');
    await b.subscribeAsync('$aws/things/thing-b/shadow/update', { qos: 1 });
    const a = await device(deviceA, 'thing-a');
    const closed = closeOf(a);
    a.publish('$aws/things/thing-b/shadow/update', '{"state":{"desired":{"on":true}}}', { qos: 1 });
    await closed;
    const a5 = await device(deviceA, 'thing-a', 5);
    const puback = new Promise<number | undefined>((resolve) => a5.on('packetreceive', (p) => p.cmd === 'puback' && resolve((p as { reasonCode?: number }).reasonCode)));
    a5.publish('$aws/things/thing-b/shadow/update', '{}', { qos: 1 }, () => undefined);
    expect(await puback).toBe(0x87);
    // Still connected, and its own topics still work.
    await a5.publishAsync('thing-a/after', 'ok', { qos: 1 });
    expect(a5.connected).toBe(true);
    expect(auth.denials('publish') - before).toBe(2);
    // Nothing reached thing-b's shadow subscriber: a publish it may see arrives first.
    await b.publishAsync('$aws/things/thing-b/shadow/update', 'own', { qos: 1 });
    const got = await collect(b).waitFor(1);
    expect(got[0]!.payload.toString()).toBe('own');
    expect(collect(b).messages).toHaveLength(1);
  }, 30_000);

  test('a delivery iot:Receive does not allow is dropped for that client', async () => {
    const before = auth.denials('receive');
    const a = await device(deviceA, 'thing-a');
    expect((await a.subscribeAsync('fleet/#', { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    const b = await device(deviceB, 'thing-b');
    await b.publishAsync('fleet/secret', 'no', { qos: 1 });
    await b.publishAsync('fleet/public', 'yes', { qos: 1 });
    const got = await collect(a).waitFor(1);
    expect(got[0]!.topic).toBe('fleet/public');
    expect(collect(a).messages.map((m) => m.topic)).toEqual(['fleet/public']);
    expect(auth.denials('receive') - before).toBe(1);
  }, 30_000);
});

describe('certificate changes', () => {
  test('REVOKED disconnects the live session within seconds (v5: DISCONNECT 0x87); INACTIVE too; reconnecting is refused', async () => {
    const d = await provision('thing-d');
    const live = await device(d, 'thing-d', 5);
    const reason = new Promise<number | undefined>((resolve) => live.on('packetreceive', (p) => p.cmd === 'disconnect' && resolve((p as { reasonCode?: number }).reasonCode)));
    const closed = closeOf(live, 5000);
    const started = Date.now();
    await security.certificates.updateCertificate(d.certificateId, 'REVOKED');
    await closed;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await reason).toBe(0x87);
    expect((await attempt(d, 'thing-d')).code).toBe(5);

    const e = await provision('thing-e');
    const live3 = await device(e, 'thing-e');
    const closed3 = closeOf(live3, 5000);
    await security.certificates.updateCertificate(e.certificateId, 'INACTIVE');
    await closed3;
    expect(auth.denials('revoke')).toBeGreaterThanOrEqual(2);
  }, 30_000);

  test('a policy detached from a live session applies within a fraction of a second; another device\'s change leaves the session alone', async () => {
    await security.policies.createPolicy('extra', JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}topic/extra/*` }],
    }));
    const g = await provision('thing-g');
    await security.policies.attachPolicy('extra', g.arn);
    const live = await device(g, 'thing-g', 5);
    const codes: (number | undefined)[] = [];
    live.on('packetreceive', (p) => p.cmd === 'puback' && codes.push((p as { reasonCode?: number }).reasonCode));
    await live.publishAsync('extra/one', '1', { qos: 1 });
    expect(codes).toEqual([0]);
    let closed = false;
    live.on('close', () => (closed = true));
    const h = await provision('thing-h');
    await security.certificates.updateCertificate(h.certificateId, 'INACTIVE');
    await security.policies.detachPolicy('extra', g.arn);
    // Live sessions are re-checked within a fraction of a second of a change (changes are coalesced).
    await eventually(async () => {
      const acked = codes.length;
      live.publish('extra/two', '2', { qos: 1 }, () => undefined);
      await eventually(() => codes.length > acked, 5000, 'PUBACK');
      return codes[codes.length - 1] === 0x87;
    }, 5000, 'the detached policy to apply');
    expect(closed).toBe(false);
  }, 30_000);
});

describe('the other listeners', () => {
  test('plain MQTT on loopback stays anonymous when only the TLS listener has the authenticator', async () => {
    const c = await connect(gw.url('mqtt'), { clientId: 'anon' });
    expect((await c.subscribeAsync('#')).map((g) => g.qos)).toEqual([0]);
  }, 30_000);
});
