/**
 * The bridge against a real Mosquitto (Debian package `mosquitto`; `.ci/run` installs it).
 * Without it these tests fail with install instructions.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, test } from 'vitest';
import {
  EmbeddedLog,
  PlatformError,
  TOPICS,
  appendThenSequentially,
  createEnvelope,
  decodeEnvelope,
  encodeEnvelope,
  envelopeKey,
  loadConfig,
  silentLogger,
  type BridgeConfig,
  type Envelope,
  type Log,
  type Logger,
} from '../../core/index.js';
import { BRIDGE_ORIGIN_PROPERTY, createBridge, type Bridge } from './index.js';
import { makeCertificates, startMosquitto, type Mosquitto } from '../../core/testing/mosquitto.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function broker(options?: Parameters<typeof startMosquitto>[0]): Promise<Mosquitto> {
  const m = await startMosquitto(options);
  cleanups.push(() => m.close());
  return m;
}

async function embeddedLog(): Promise<Log> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiot-bridge-'));
  const log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  cleanups.push(() => log.close());
  return log;
}

/** The bridge config as `kiot up` would build it from these flags. */
function bridgeConfig(flags: Record<string, string>): BridgeConfig {
  const config = loadConfig({ flags, env: {} }).bridge;
  if (!config) throw new Error('no bridge config');
  return config;
}

function startBridge(config: BridgeConfig, log: Log, logger: Logger = silentLogger()): Bridge {
  const bridge = createBridge(config, { log, logger, initialBackoffMs: 50, maxBackoffMs: 500, sessionExpirySec: 300 });
  cleanups.push(() => bridge.stop());
  return bridge;
}

async function device(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, ...options });
  cleanups.push(() => client.endAsync(true));
  return client;
}

/** Every envelope on a log topic, from the start, as it arrives. */
async function collect(log: Log, topic: string): Promise<Envelope[]> {
  const seen: Envelope[] = [];
  const consumer = log.consumer({
    groupId: `test-${Math.random().toString(36).slice(2)}`,
    topics: [topic],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      for (const r of batch.records) if (r.value) seen.push(decodeEnvelope(r.value));
    },
  });
  await consumer.start();
  cleanups.push(() => consumer.stop());
  return seen;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A logger that counts the reconnects the bridge schedules (its debug line with the attempt number). */
function reconnectWatcher(): { logger: Logger; scheduled: () => number } {
  let scheduled = 0;
  const logger: Logger = {
    debug: (fields) => {
      if (typeof (fields as { attempt?: unknown }).attempt === 'number') scheduled++;
    },
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    child: () => logger,
  };
  return { logger, scheduled: () => scheduled };
}

/** A Log whose iot.ingress appends can be made to fail or hang; everything else passes through. */
function faultyLog(inner: Log) {
  const control = { mode: 'ok' as 'ok' | 'fail' | 'hang', failures: 0, attempts: 0 };
  const log: Log = {
    kind: inner.kind,
    ensureTopic: (spec) => inner.ensureTopic(spec),
    append: async (topic, records) => {
      if (topic === TOPICS.ingress) {
        control.attempts++;
        if (control.mode === 'hang') return new Promise<never>(() => undefined);
        if (control.mode === 'fail' && control.failures > 0) {
          control.failures--;
          throw new Error('injected append failure');
        }
      }
      return inner.append(topic, records);
    },
    appendThen: (first, then) => appendThenSequentially(log, first, then),
    consumer: (options) => inner.consumer(options),
    openTable: (topic, options) => inner.openTable(topic, options),
    offsets: (topic) => inner.offsets(topic),
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
  return { log, control };
}

describe('bridge from Mosquitto', () => {
  test('device messages arrive on iot.ingress as envelopes with topic, payload, QoS and MQTT 5 properties', async () => {
    const m = await broker();
    const log = await embeddedLog();
    const bridge = startBridge(bridgeConfig({ bridge: m.url, bridgeTopics: 'sensors/#,plant/+/status', bridgeClientId: 'bridge-a', bridgeClientIdFrom: 'property:device-id' }), log);
    await bridge.start();
    const ingress = await collect(log, TOPICS.ingress);

    const d = await device(m.url);
    await d.publishAsync('sensors/t1', '{"t":21}', {
      qos: 1,
      properties: { userProperties: { 'device-id': 'thermo-1', site: ['north', 'east'] }, contentType: 'application/json', responseTopic: 'replies/t1', correlationData: Buffer.from('c1') },
    });
    await d.publishAsync('plant/p7/status', Buffer.from([0, 1, 2]), { qos: 2 });
    await d.publishAsync('sensors/t2', 'zero', { qos: 0 });
    await d.publishAsync('other/ignored', 'x', { qos: 1 });
    await waitFor('three bridged messages', () => ingress.length >= 3);

    const byTopic = new Map(ingress.map((e) => [e.topic, e]));
    expect(byTopic.get('sensors/t1')).toMatchObject({
      payload: Buffer.from('{"t":21}'),
      qos: 1,
      retain: false,
      clientId: 'thermo-1', // from the user property
      contentType: 'application/json',
      responseTopic: 'replies/t1',
      correlationData: Buffer.from('c1'),
      userProperties: [
        { name: 'device-id', value: 'thermo-1' },
        { name: 'site', value: 'north' },
        { name: 'site', value: 'east' },
      ],
    });
    expect(byTopic.get('plant/p7/status')).toMatchObject({ payload: Buffer.from([0, 1, 2]), qos: 2, clientId: 'bridge-a' });
    expect(byTopic.get('sensors/t2')).toMatchObject({ payload: Buffer.from('zero'), qos: 0, clientId: 'bridge-a' });
    expect(byTopic.has('other/ignored')).toBe(false);
    expect(ingress).toHaveLength(3);
  });

  test('the client id can come from a topic level, on MQTT 3.1.1 too', async () => {
    const m = await broker();
    const log = await embeddedLog();
    const bridge = startBridge(bridgeConfig({ bridge: m.url, bridgeTopics: 'devices/+/telemetry', bridgeMqttVersion: '3.1.1', bridgeClientIdFrom: 'topic:2', bridgeEgressTopics: 'none' }), log);
    await bridge.start();
    const ingress = await collect(log, TOPICS.ingress);
    const d = await device(m.url, { protocolVersion: 4 });
    await d.publishAsync('devices/pump-9/telemetry', '1', { qos: 1 });
    await waitFor('the message', () => ingress.length === 1);
    expect(ingress[0]).toMatchObject({ topic: 'devices/pump-9/telemetry', clientId: 'pump-9', qos: 1 });
  });

  test('QoS 1 is acknowledged only after the append: failed appends are redelivered by the broker, nothing is lost', async () => {
    const m = await broker();
    const inner = await embeddedLog();
    const { log, control } = faultyLog(inner);
    control.mode = 'fail';
    control.failures = 2;
    const bridge = startBridge(bridgeConfig({ bridge: m.url, bridgeTopics: 'sensors/#', bridgeClientId: 'bridge-f' }), log);
    await bridge.start();
    const ingress = await collect(inner, TOPICS.ingress);
    const d = await device(m.url);
    await d.publishAsync('sensors/a', 'first', { qos: 1 });
    // Two failed appends, two reconnects, then the broker's third delivery is appended.
    await waitFor('the redelivered message', () => ingress.length === 1);
    expect(control.attempts).toBeGreaterThanOrEqual(3);
    expect(bridge.connections()).toBeGreaterThanOrEqual(3);
    expect(ingress[0]).toMatchObject({ topic: 'sensors/a', payload: Buffer.from('first'), qos: 1 });

    // MQTT 5 QoS 2: appended before PUBREC, so a failed append is redelivered too.
    control.failures = 1;
    await d.publishAsync('sensors/q2', 'exactly', { qos: 2 });
    await waitFor('the redelivered QoS 2 message', () => ingress.length === 2);
    expect(ingress[1]).toMatchObject({ topic: 'sensors/q2', payload: Buffer.from('exactly'), qos: 2 });
    expect(control.failures).toBe(0);

    // A hanging append is never acknowledged: after this bridge stops, the next one with the
    // same client id (same broker session) gets the message again.
    control.mode = 'hang';
    const before = control.attempts;
    await d.publishAsync('sensors/b', 'second', { qos: 1 });
    await waitFor('the hanging append', () => control.attempts > before);
    await bridge.stop();
    const next = startBridge(bridgeConfig({ bridge: m.url, bridgeTopics: 'sensors/#', bridgeClientId: 'bridge-f' }), inner);
    await next.start();
    await waitFor('the unacknowledged message', () => ingress.some((e) => e.topic === 'sensors/b'));
    expect(ingress.map((e) => e.payload.toString())).toEqual(['first', 'exactly', 'second']);
  });

  test('iot.egress is published to the broker with its properties, and not ingested again', async () => {
    const m = await broker();
    const log = await embeddedLog();
    const bridge = startBridge(bridgeConfig({ bridge: m.url, bridgeTopics: '#', bridgeEgressTopics: 'commands/#', bridgeClientId: 'bridge-e' }), log);
    await bridge.start();
    const ingress = await collect(log, TOPICS.ingress);

    const subscriber = await device(m.url);
    const received: { topic: string; payload: string; props: Record<string, unknown> | undefined }[] = [];
    subscriber.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), props: packet.properties?.userProperties }));
    await subscriber.subscribeAsync('#', { qos: 1 });

    const out = (topic: string, payload: string) => {
      const e = createEnvelope({ topic, payload: Buffer.from(payload), qos: 1, userProperties: [{ name: 'rule', value: 'r1' }] });
      return { key: envelopeKey(e), value: encodeEnvelope(e) };
    };
    await log.append(TOPICS.egress, [out('commands/valve-1', 'open'), out('internal/not-for-broker', 'x')]);
    await waitFor('the egress message at the subscriber', () => received.some((r) => r.topic === 'commands/valve-1'));
    expect(received.find((r) => r.topic === 'commands/valve-1')).toMatchObject({ payload: 'open', props: { rule: 'r1', [BRIDGE_ORIGIN_PROPERTY]: 'kiot' } });

    // A device message sent after the egress one arrived reaches the bridge after it too.
    await subscriber.publishAsync('sensors/sentinel', 'end', { qos: 1 });
    await waitFor('the sentinel', () => ingress.some((e) => e.topic === 'sensors/sentinel'));
    expect(ingress.map((e) => e.topic)).toEqual(['sensors/sentinel']);
    expect(received.some((r) => r.topic === 'internal/not-for-broker')).toBe(false);
  });

  test('two bridges on one shared subscription split the load with no duplicates and no loss', async () => {
    const m = await broker();
    const log = await embeddedLog();
    const a = startBridge(bridgeConfig({ bridge: m.url, bridgeTopics: 'load/#', bridgeClientId: 'bridge-1', bridgeEgressTopics: 'none' }), log);
    const b = startBridge(bridgeConfig({ bridge: m.url, bridgeTopics: 'load/#', bridgeClientId: 'bridge-2', bridgeEgressTopics: 'none' }), log);
    await Promise.all([a.start(), b.start()]);
    const ingress = await collect(log, TOPICS.ingress);
    const d = await device(m.url);
    const count = 200;
    await Promise.all(Array.from({ length: count }, (_, i) => d.publishAsync(`load/${i % 10}`, String(i), { qos: 1 })));
    await waitFor(`${count} messages`, () => ingress.length >= count).catch((err) => {
      throw new Error(`${err.message}: got ${ingress.length}, a ${a.connections()} b ${b.connections()}`);
    });
    const payloads = ingress.map((e) => Number(e.payload.toString()));
    expect(new Set(payloads).size).toBe(count);
    expect(ingress).toHaveLength(count);
    const perBridge = (id: string) => ingress.filter((e) => e.clientId === id).length;
    expect(perBridge('bridge-1')).toBeGreaterThan(0);
    expect(perBridge('bridge-2')).toBeGreaterThan(0);
    expect(perBridge('bridge-1') + perBridge('bridge-2')).toBe(count);
  });

  test('after a broker restart the bridge reconnects with backoff and resumes (MQTT 3.1.1)', async () => {
    const m = await broker();
    const log = await embeddedLog();
    const reconnects = reconnectWatcher();
    const bridge = startBridge(bridgeConfig({ bridge: m.url, bridgeTopics: 'sensors/#', bridgeMqttVersion: '3.1.1', bridgeEgressTopics: 'none', bridgeClientId: 'bridge-r' }), log, reconnects.logger);
    await bridge.start();
    const ingress = await collect(log, TOPICS.ingress);
    const before = await device(m.url, { protocolVersion: 4 });
    await before.publishAsync('sensors/x', 'before', { qos: 1 });
    await waitFor('the first message', () => ingress.length === 1);

    const scheduledBefore = reconnects.scheduled();
    await m.stop();
    // Let a few reconnect attempts fail against the stopped broker before it comes back: the
    // third reconnect is scheduled once the first two have failed.
    await waitFor('two failed reconnect attempts', () => reconnects.scheduled() >= scheduledBefore + 3);
    await m.restart();
    await waitFor('the reconnect', () => bridge.connections() === 2);
    // The broker kept no state (persistence false): the bridge subscribed again on its own.
    const after = await device(m.url, { protocolVersion: 4 });
    await after.publishAsync('sensors/x', 'after', { qos: 1 });
    await waitFor('the second message', () => ingress.length === 2);
    expect(ingress.map((e) => e.payload.toString())).toEqual(['before', 'after']);
  });

  test('credentials: the right ones connect, wrong ones fail start() naming the setting', async () => {
    const m = await broker({ users: { kiot: 's3cret' } });
    const log = await embeddedLog();
    const ok = startBridge(bridgeConfig({ bridge: m.url, bridgeTopics: 'sensors/#', bridgeUsername: 'kiot', bridgePassword: 's3cret', bridgeEgressTopics: 'none' }), log);
    await ok.start();
    const ingress = await collect(log, TOPICS.ingress);
    const d = await device(m.url, { username: 'kiot', password: 's3cret' });
    await d.publishAsync('sensors/auth', 'yes', { qos: 1 });
    await waitFor('the message', () => ingress.length === 1);

    const wrong = startBridge(bridgeConfig({ bridge: m.url, bridgeTopics: 'sensors/#', bridgeUsername: 'kiot', bridgePassword: 'nope', bridgeClientId: 'bridge-w' }), log);
    const err = await wrong.start().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformError);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((err as Error).message).toMatch(/^bridgeUsername\/bridgePassword: the broker at mqtt:\/\/127\.0\.0\.1:\d+\/? refused the connection: /);
  });

  test('mqtts:// with a CA and a client certificate (mutual TLS)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiot-bridge-tls-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const certs = makeCertificates(dir);
    const m = await broker({ tls: { cafile: certs.ca, certfile: certs.serverCert, keyfile: certs.serverKey, requireCertificate: true } });
    const log = await embeddedLog();
    const bridge = startBridge(
      bridgeConfig({ bridge: `mqtts://127.0.0.1:${m.tlsPort}`, bridgeTopics: 'secure/#', bridgeCa: certs.ca, bridgeCert: certs.clientCert, bridgeKey: certs.clientKey, bridgeEgressTopics: 'none' }),
      log,
    );
    await bridge.start();
    const ingress = await collect(log, TOPICS.ingress);
    const d = await device(m.url);
    await d.publishAsync('secure/door', 'locked', { qos: 1 });
    await waitFor('the message over TLS', () => ingress.length === 1);
    expect(ingress[0]).toMatchObject({ topic: 'secure/door', payload: Buffer.from('locked') });

    // Without the CA the broker's certificate is not trusted: no connection, the bridge keeps retrying.
    const untrusted = createBridge(bridgeConfig({ bridge: `mqtts://127.0.0.1:${m.tlsPort}`, bridgeTopics: 'secure/#', bridgeEgressTopics: 'none' }), {
      log,
      logger: silentLogger(),
      startTimeoutMs: 1_000,
    });
    cleanups.push(() => untrusted.stop());
    await untrusted.start();
    expect(untrusted.connections()).toBe(0);
  });
});
