/** Sessions, QoS 2, wills, keep-alive, lifecycle events and restarts (MQTT 3.1.1 and 5). */
import { afterEach, expect, test } from 'vitest';
import { EmbeddedLog, silentLogger, TOPICS } from '../../core/index.js';
import { collect, connect, endClients, endTestGateways, eventually, rawConnected, readEnvelopes, startTestGateway, tempDir, type TestGateway } from './testing/harness.js';
import { ManualClock } from './testing/manual-clock.js';

let gw: TestGateway | undefined;
afterEach(endTestGateways);

test('zero-length client id: 3.1.1 needs clean session (MQTT 5 assignment: mqtt5.test.ts)', async () => {
  gw = await startTestGateway();
  const ok = await connect(gw.url(), { protocolVersion: 4, clientId: '', clean: true });
  expect(ok.connected).toBe(true);
  const refused = await rawConnectAck(gw.ports.get('mqtt')!, {});
  expect(refused).toBe(2);
});

async function rawConnectAck(port: number, _fields: Record<string, unknown>): Promise<number | undefined> {
  const { rawClient } = await import('./testing/harness.js');
  const raw = await rawClient(port, 4);
  // CONNECT, MQTT 3.1.1, clean session 0, keep-alive 30, empty client id (mqtt-packet refuses to build it).
  raw.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 30, 0, 0]));
  const ack = (await raw.next('connack')) as { returnCode?: number };
  await raw.closed;
  return ack.returnCode;
}

test('offline queueing and redelivery on reconnect for a 3.1.1 persistent session', async () => {
  gw = await startTestGateway();
  const opts = { protocolVersion: 4 as const, clientId: 'queued', clean: false };
  const first = await connect(gw.url(), opts);
  await first.subscribeAsync('q/#', { qos: 1 });
  await first.endAsync();
  const pub = await connect(gw.url(), { protocolVersion: 4 });
  await pub.publishAsync('q/1', 'one', { qos: 1 });
  await pub.publishAsync('q/2', 'two', { qos: 0 }); // QoS 0 is not queued for offline sessions
  await pub.publishAsync('q/3', 'three', { qos: 1 });

  // Reconnect with a raw client that takes the messages but does not acknowledge them...
  const raw = await rawConnected(gw.ports.get('mqtt')!, 4, 'queued', { clean: false });
  const a = (await raw.next('publish')) as import('mqtt-packet').IPublishPacket;
  const b = (await raw.next('publish')) as import('mqtt-packet').IPublishPacket;
  expect([a.payload.toString(), b.payload.toString()]).toEqual(['one', 'three']);
  raw.destroy();
  await eventually(() => gw!.gateway.connectionCount === 1);
  // ...so they come again, marked DUP, on the next connection.
  const again = await rawConnected(gw.ports.get('mqtt')!, 4, 'queued', { clean: false });
  const c = (await again.next('publish')) as import('mqtt-packet').IPublishPacket;
  const d = (await again.next('publish')) as import('mqtt-packet').IPublishPacket;
  expect([c.payload.toString(), c.dup, d.payload.toString(), d.dup]).toEqual(['one', true, 'three', true]);
  again.send({ cmd: 'puback', messageId: c.messageId } as never);
  again.send({ cmd: 'puback', messageId: d.messageId } as never);
  again.destroy();
});

test('QoS 2 end to end; a resent PUBLISH is stored once', async () => {
  gw = await startTestGateway();
  const sub = await connect(gw.url(), { protocolVersion: 5 });
  const inbox = collect(sub);
  await sub.subscribeAsync('q2/#', { qos: 2 });
  const pub = await connect(gw.url(), { protocolVersion: 4, clientId: 'q2-pub' });
  await pub.publishAsync('q2/a', 'exactly once', { qos: 2 });
  const [m] = await inbox.waitFor(1);
  expect([m!.payload.toString(), m!.packet.qos]).toEqual(['exactly once', 2]);

  const raw = await rawConnected(gw.ports.get('mqtt')!, 4, 'q2-raw');
  const publish = { cmd: 'publish', topic: 'q2/b', payload: Buffer.from('dup'), qos: 2, messageId: 77, retain: false, dup: false } as const;
  raw.send(publish as never);
  await raw.next('pubrec');
  raw.send({ ...publish, dup: true } as never);
  await raw.next('pubrec');
  raw.send({ cmd: 'pubrel', messageId: 77 } as never);
  await raw.next('pubcomp');
  await inbox.waitFor(2);
  const envelopes = await readEnvelopes(gw.log, TOPICS.ingress, 2);
  await eventually(async () => (await readEnvelopes(gw!.log, TOPICS.ingress, 1)).filter((e) => e.topic === 'q2/b').length >= 1);
  expect((await readEnvelopes(gw.log, TOPICS.ingress, envelopes.length)).filter((e) => e.topic === 'q2/b')).toHaveLength(1);
  expect(inbox.messages.filter((x) => x.topic === 'q2/b')).toHaveLength(1);
  raw.destroy();
});

test('last will: sent when the connection drops, not after a normal DISCONNECT (3.1.1)', async () => {
  gw = await startTestGateway();
  const watcher = await connect(gw.url(), { protocolVersion: 4 });
  const inbox = collect(watcher);
  await watcher.subscribeAsync('lwt/#', { qos: 1 });
  const polite = await connect(gw.url(), { protocolVersion: 4, will: { topic: 'lwt/polite', payload: Buffer.from('x'), qos: 1, retain: false } });
  await polite.endAsync();
  const rude = await connect(gw.url(), { protocolVersion: 4, will: { topic: 'lwt/rude', payload: Buffer.from('bye'), qos: 1, retain: true } });
  rude.stream.destroy();
  const [m] = await inbox.waitFor(1);
  expect([m!.topic, m!.payload.toString()]).toEqual(['lwt/rude', 'bye']);
  // The will was retained: a later subscriber gets it.
  const late = await connect(gw.url(), { protocolVersion: 4 });
  const lateInbox = collect(late);
  await late.subscribeAsync('lwt/rude', { qos: 1 });
  expect((await lateInbox.waitFor(1))[0]!.packet.retain).toBe(true);
  expect(inbox.messages.some((x) => x.topic === 'lwt/polite')).toBe(false);
});

test('keep-alive: a silent client is disconnected after 1.5 times its keep-alive, and its will is sent', async () => {
  const clock = new ManualClock();
  gw = await startTestGateway({ deps: { clock } });
  const watcher = await connect(gw.url(), { protocolVersion: 4 });
  const inbox = collect(watcher);
  await watcher.subscribeAsync('ka/#', { qos: 0 });
  const raw = await rawConnected(gw.ports.get('mqtt')!, 4, 'silent', { keepalive: 1, will: { topic: 'ka/dead', payload: Buffer.from('x'), qos: 0, retain: false } });
  // The check runs every 500 ms of clock time (a third of the limit); closing is synchronous in it.
  clock.advance(1999);
  expect(gw.gateway.connectionCount).toBe(2); // 1.5 s silent is not yet more than 1.5 x 1 s (MQTT §3.1.2.10)
  clock.advance(1);
  expect(gw.gateway.connectionCount).toBe(1);
  await raw.closed;
  expect((await inbox.waitFor(1))[0]!.topic).toBe('ka/dead');
});

test('dollar topics are not matched by leading wildcards; lifecycle events arrive on $aws/events', async () => {
  gw = await startTestGateway();
  const all = await connect(gw.url(), { protocolVersion: 4 });
  const allInbox = collect(all);
  await all.subscribeAsync('#', { qos: 0 });
  const events = await connect(gw.url(), { protocolVersion: 5 });
  const eventInbox = collect(events);
  await events.subscribeAsync('$aws/events/#', { qos: 1 });
  const device = await connect(gw.url(), { protocolVersion: 4, clientId: 'dev-7' });
  await device.subscribeAsync('cmd/dev-7', { qos: 1 });
  await device.unsubscribeAsync('cmd/dev-7');
  await device.endAsync();
  await eventually(() => eventInbox.messages.filter((m) => m.topic.endsWith('/dev-7')).length >= 4);
  const byTopic = new Map(eventInbox.messages.map((m) => [m.topic, JSON.parse(m.payload.toString()) as Record<string, unknown>]));
  const connected = byTopic.get('$aws/events/presence/connected/dev-7')!;
  expect(connected).toMatchObject({ clientId: 'dev-7', eventType: 'connected', principalIdentifier: 'anonymous', ipAddress: '127.0.0.1', versionNumber: 0 });
  expect(typeof connected.sessionIdentifier).toBe('string');
  expect(byTopic.get('$aws/events/subscriptions/subscribed/dev-7')).toMatchObject({ eventType: 'subscribed', topics: ['cmd/dev-7'] });
  expect(byTopic.get('$aws/events/subscriptions/unsubscribed/dev-7')).toMatchObject({ eventType: 'unsubscribed', topics: ['cmd/dev-7'] });
  expect(byTopic.get('$aws/events/presence/disconnected/dev-7')).toMatchObject({
    eventType: 'disconnected',
    clientInitiatedDisconnect: true,
    disconnectReason: 'CLIENT_INITIATED_DISCONNECT',
    versionNumber: 0,
  });
  // The next connection of the same client id has the next version number.
  const again = await connect(gw.url(), { protocolVersion: 4, clientId: 'dev-7' });
  await eventually(() => eventInbox.messages.some((m) => m.topic === '$aws/events/presence/connected/dev-7' && JSON.parse(m.payload.toString()).versionNumber === 1));
  await again.endAsync();
  expect(allInbox.messages.some((m) => m.topic.startsWith('$'))).toBe(false);
  const onLog = await readEnvelopes(gw.log, TOPICS.ingress, 4);
  expect(onLog.some((e) => e.topic === '$aws/events/presence/connected/dev-7')).toBe(true);
});

test('persistent sessions, queued messages and retained messages survive a gateway restart', async () => {
  const dataDir = await tempDir();
  let log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  gw = await startTestGateway({ log, dataDir });
  const v3 = await connect(gw.url(), { protocolVersion: 4, clientId: 'keep-3', clean: false });
  await v3.subscribeAsync('restart/#', { qos: 1 });
  const v5 = await connect(gw.url(), { protocolVersion: 5, clientId: 'keep-5', clean: false, properties: { sessionExpiryInterval: 3600 } });
  await v5.subscribeAsync('restart/+', { qos: 1 });
  await v3.endAsync();
  await v5.endAsync();
  const pub = await connect(gw.url(), { protocolVersion: 4 });
  await pub.publishAsync('restart/queued', 'while offline', { qos: 1 });
  await pub.publishAsync('restart/retained', 'kept', { qos: 1, retain: true });
  await endClients();
  await gw.close();
  await log.close();

  log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  gw = await startTestGateway({ log, dataDir });
  const back3 = await connect(gw.url(), { protocolVersion: 4, clientId: 'keep-3', clean: false });
  const in3 = collect(back3);
  const back5 = await connect(gw.url(), { protocolVersion: 5, clientId: 'keep-5', clean: false, properties: { sessionExpiryInterval: 3600 } });
  const in5 = collect(back5);
  const got3 = await in3.waitFor(2);
  expect(got3.map((m) => m.payload.toString()).sort()).toEqual(['kept', 'while offline']);
  await in5.waitFor(2);
  // The subscription itself came back: new messages arrive without subscribing again.
  const pub2 = await connect(gw.url(), { protocolVersion: 5 });
  await pub2.publishAsync('restart/after', 'fresh', { qos: 1 });
  await in3.waitFor(3);
  await in5.waitFor(3);
  const late = await connect(gw.url(), { protocolVersion: 4 });
  const lateInbox = collect(late);
  await late.subscribeAsync('restart/retained', { qos: 1 });
  expect((await lateInbox.waitFor(1))[0]!.payload.toString()).toBe('kept');
  await endClients();
  await gw.close();
  gw = undefined;
  await log.close();
});

test('a second connection with the same client id takes the session over', async () => {
  gw = await startTestGateway();
  const first = await connect(gw.url(), { protocolVersion: 5, clientId: 'twin' });
  const reason = new Promise<number | undefined>((resolve) => first.once('disconnect', (p) => resolve(p.reasonCode)));
  await connect(gw.url(), { protocolVersion: 5, clientId: 'twin' });
  expect(await reason).toBe(0x8e);
});
