import { afterEach, describe, expect, test } from 'vitest';
import { EmbeddedLog, silentLogger, TOPICS, PlatformError } from '../../core/index.js';
import { createGateway } from './gateway.js';
import { collect, connect, controllableLog, endTestGateways, eventually, readEnvelopes, startTestGateway, tempDir, type TestGateway } from './testing/harness.js';

let gw: TestGateway | undefined;
afterEach(endTestGateways);

describe.each([4, 5] as const)('MQTT %s basics', (protocolVersion) => {
  test('device-to-device delivery through a wildcard, QoS 0 and 1, and the message is on iot.ingress', async () => {
    gw = await startTestGateway();
    const sub = await connect(gw.url(), { protocolVersion, clientId: 'sub' });
    const inbox = collect(sub);
    await sub.subscribeAsync('a/+', { qos: 1 });
    const pub = await connect(gw.url(), { protocolVersion, clientId: 'pub' });
    await pub.publishAsync('a/b', 'zero', { qos: 0 });
    await pub.publishAsync('a/c', 'one', { qos: 1 });
    const got = await inbox.waitFor(2);
    expect(got.map((m) => [m.topic, m.payload.toString(), m.packet.qos])).toEqual([
      ['a/b', 'zero', 0],
      ['a/c', 'one', 1],
    ]);
    const envelopes = (await readEnvelopes(gw.log, TOPICS.ingress, 2)).filter((e) => !e.topic.startsWith('$aws/'));
    expect(envelopes.map((e) => [e.topic, e.payload.toString(), e.qos, e.clientId])).toEqual([
      ['a/b', 'zero', 0, 'pub'],
      ['a/c', 'one', 1, 'pub'],
    ]);
  });

  test('retained messages are served on subscribe and cleared by an empty payload', async () => {
    gw = await startTestGateway();
    const pub = await connect(gw.url(), { protocolVersion });
    await pub.publishAsync('r/1', 'kept', { qos: 1, retain: true });
    await pub.publishAsync('r/2', 'gone', { qos: 1, retain: true });
    await pub.publishAsync('r/2', '', { qos: 1, retain: true });
    const sub = await connect(gw.url(), { protocolVersion });
    const inbox = collect(sub);
    await sub.subscribeAsync('r/#', { qos: 1 });
    const [first] = await inbox.waitFor(1);
    expect([first!.topic, first!.payload.toString(), first!.packet.retain]).toEqual(['r/1', 'kept', true]);
    // A live publish to a subscriber has the retain flag cleared (3.1.1 §3.3.1.3; v5 without retain-as-published).
    await pub.publishAsync('r/3', 'live', { qos: 1, retain: true });
    const got = await inbox.waitFor(2);
    expect([got[1]!.topic, got[1]!.packet.retain]).toEqual(['r/3', false]);
    expect(inbox.messages.some((m) => m.topic === 'r/2')).toBe(false);
  });

  test('QoS 1 is acknowledged only once the append is durable', async () => {
    const dataDir = await tempDir();
    const base = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
    const control = controllableLog(base, TOPICS.ingress);
    gw = await startTestGateway({ log: control.log, dataDir });
    const pub = await connect(gw.url(), { protocolVersion });
    control.mode = 'hold';
    let acked = false;
    const done = pub.publishAsync('held/1', 'x', { qos: 1 }).then(() => (acked = true));
    await eventually(async () => (await base.offsets(TOPICS.ingress)).length > 0, 2000);
    await new Promise((r) => setTimeout(r, 200)); // absence can only be shown by waiting
    expect(acked).toBe(false);
    control.mode = 'pass';
    control.release();
    await done;
    const envelopes = await readEnvelopes(base, TOPICS.ingress, 1);
    expect(envelopes.some((e) => e.topic === 'held/1')).toBe(true);
    await gw.close();
    gw = undefined;
    await base.close();
  });
});

test('an unavailable log gets no acknowledgement: 3.1.1 is disconnected, 5 gets a failure reason code', async () => {
  const dataDir = await tempDir();
  const base = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  const control = controllableLog(base, TOPICS.ingress);
  gw = await startTestGateway({ log: control.log, dataDir });
  const v5 = await connect(gw.url(), { protocolVersion: 5 });
  const v3 = await connect(gw.url(), { protocolVersion: 4 });
  control.mode = 'fail';
  await expect(v5.publishAsync('f/1', 'x', { qos: 1 })).rejects.toThrow(/Unspecified error|128/);
  let v3Acked = false;
  v3.publish('f/2', 'x', { qos: 1 }, () => (v3Acked = true));
  await new Promise<void>((resolve) => v3.once('close', () => resolve()));
  expect(v3Acked).toBe(false);
  await gw.close();
  gw = undefined;
  await base.close();
});

test('binding a non-loopback address without an authenticator is refused at startup', () => {
  expect(() =>
    createGateway(
      { host: '0.0.0.0', mqttPort: 0, mqttsPort: 0, wsPort: 0, tlsCert: undefined, tlsKey: undefined, tlsCa: undefined },
      { log: {} as never, logger: silentLogger() },
    ),
  ).toThrow(PlatformError);
  try {
    createGateway({ host: '0.0.0.0', mqttPort: 0, mqttsPort: 0, wsPort: 0, tlsCert: undefined, tlsKey: undefined, tlsCa: undefined }, { log: {} as never, logger: silentLogger() });
  } catch (err) {
    expect((err as PlatformError).code).toBe('CONFIG_INVALID');
    expect((err as Error).message).not.toContain('\n');
  }
});
