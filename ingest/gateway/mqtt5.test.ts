/** MQTT 5 features with real mqtt.js v5 clients. */
import { afterEach, expect, test } from 'vitest';
import { TOPICS } from '../../core/index.js';
import type { Authenticator } from '../auth.js';
import { collect, connect, endTestGateways, eventually, rawConnected, readEnvelopes, startTestGateway, type TestGateway } from './testing/harness.js';
import { ManualClock } from './testing/manual-clock.js';

const v5 = { protocolVersion: 5 } as const;
let gw: TestGateway | undefined;
afterEach(endTestGateways);

test('user properties reach subscribers, the envelope and the log headers', async () => {
  gw = await startTestGateway();
  const sub = await connect(gw.url(), v5);
  const inbox = collect(sub);
  await sub.subscribeAsync('up/#', { qos: 1 });
  const pub = await connect(gw.url(), { ...v5, clientId: 'up-pub' });
  await pub.publishAsync('up/1', 'x', { qos: 1, properties: { userProperties: { site: 'berlin', tag: ['a', 'b'] }, contentType: 'text/plain' } });
  const [m] = await inbox.waitFor(1);
  expect(m!.packet.properties?.userProperties).toEqual({ site: 'berlin', tag: ['a', 'b'] });
  expect(m!.packet.properties?.contentType).toBe('text/plain');
  const [envelope] = (await readEnvelopes(gw.log, TOPICS.ingress, 3)).filter((e) => e.topic === 'up/1');
  expect(envelope!.userProperties).toEqual([
    { name: 'site', value: 'berlin' },
    { name: 'tag', value: 'a' },
    { name: 'tag', value: 'b' },
  ]);
  const headers: Record<string, string> = {};
  const consumer = gw.log.consumer({
    groupId: 'headers-check',
    topics: [TOPICS.ingress],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      for (const r of batch.records) if (r.key?.toString() === 'up-pub') for (const [k, v] of Object.entries(r.headers)) headers[k] = v.toString();
    },
  });
  await consumer.start();
  await eventually(() => headers.site !== undefined);
  await consumer.stop();
  expect(headers.site).toBe('berlin');
  expect(headers.tag).toBe('a, b');
});

test('topic aliases set by the client are resolved; an alias over the maximum disconnects', async () => {
  gw = await startTestGateway({ deps: { limits: { topicAliasMaximum: 5 } } });
  const sub = await connect(gw.url(), v5);
  const inbox = collect(sub);
  await sub.subscribeAsync('alias/#', { qos: 1 });
  const pub = await connect(gw.url(), v5);
  await pub.publishAsync('alias/long/topic', 'first', { qos: 1, properties: { topicAlias: 3 } });
  await pub.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 3 } });
  const got = await inbox.waitFor(2);
  expect(got.map((m) => [m.topic, m.payload.toString()])).toEqual([
    ['alias/long/topic', 'first'],
    ['alias/long/topic', 'second'],
  ]);
  const bad = await rawConnected(gw.ports.get('mqtt')!, 5);
  bad.send({ cmd: 'publish', topic: 'alias/x', payload: Buffer.from('y'), qos: 0, dup: false, retain: false, properties: { topicAlias: 9 } });
  const disconnect = await bad.next('disconnect');
  expect((disconnect as { reasonCode?: number }).reasonCode).toBe(0x94);
  await bad.closed;
});

test('message expiry: expired retained messages are not served; the remaining interval is sent', async () => {
  const clock = new ManualClock();
  gw = await startTestGateway({ deps: { clock } });
  const pub = await connect(gw.url(), v5);
  await pub.publishAsync('exp/short', 'x', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
  await pub.publishAsync('exp/long', 'y', { qos: 1, retain: true, properties: { messageExpiryInterval: 100 } });
  clock.advance(1100); // one expires
  const sub = await connect(gw.url(), v5);
  const inbox = collect(sub);
  await sub.subscribeAsync('exp/#', { qos: 1 });
  const [m] = await inbox.waitFor(1);
  expect(m!.topic).toBe('exp/long');
  expect(m!.packet.properties?.messageExpiryInterval).toBe(99); // 98.9 s left, rounded up (MQTT 5 §3.3.2.3.3)
  expect(inbox.messages.some((x) => x.topic === 'exp/short')).toBe(false);
});

test('request/response: response topic and correlation data pass through; response information on request', async () => {
  gw = await startTestGateway();
  const responder = await connect(gw.url(), { ...v5, clientId: 'responder', properties: { requestResponseInformation: true } });
  const requests = collect(responder);
  await responder.subscribeAsync('req/#', { qos: 1 });
  responder.on('message', (_t, payload, packet) => {
    const topic = packet.properties?.responseTopic;
    if (topic) responder.publish(topic, `echo:${payload}`, { qos: 1, properties: { correlationData: packet.properties?.correlationData } });
  });
  const requester = await connect(gw.url(), v5);
  const replies = collect(requester);
  await requester.subscribeAsync('resp/me', { qos: 1 });
  await requester.publishAsync('req/1', 'ping', { qos: 1, properties: { responseTopic: 'resp/me', correlationData: Buffer.from('c-42') } });
  const [reply] = await replies.waitFor(1);
  expect(reply!.payload.toString()).toBe('echo:ping');
  expect(Buffer.from(reply!.packet.properties!.correlationData!).toString()).toBe('c-42');
  expect(requests.messages[0]!.packet.properties?.responseTopic).toBe('resp/me');
});

test('topic aliases towards a client that allows them: the first PUBLISH of a topic sets one, later ones use it with an empty topic', async () => {
  gw = await startTestGateway();
  // A raw client sees the packets as sent (mqtt.js would resolve the aliases before the test saw them).
  const sub = await rawConnected(gw.ports.get('mqtt')!, 5, 'alias-sub', { properties: { topicAliasMaximum: 1 } });
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ta/#', qos: 1 }] });
  await sub.next('suback');
  const pub = await connect(gw.url(), v5);
  for (const [topic, payload] of [['ta/one', 'a'], ['ta/one', 'b'], ['ta/two', 'c'], ['ta/one', 'd']]) await pub.publishAsync(topic!, payload!, { qos: 0 });
  const seen: { topic: string; alias: number | undefined; payload: string }[] = [];
  for (let i = 0; i < 4; i++) {
    const p = (await sub.next('publish')) as { topic: string; payload: Buffer; properties?: { topicAlias?: number } };
    seen.push({ topic: p.topic, alias: p.properties?.topicAlias, payload: p.payload.toString() });
  }
  expect(seen).toEqual([
    { topic: 'ta/one', alias: 1, payload: 'a' },
    { topic: '', alias: 1, payload: 'b' },
    { topic: 'ta/two', alias: undefined, payload: 'c' }, // the client allows one alias, and it is taken
    { topic: '', alias: 1, payload: 'd' },
  ]);
  // A client that allows none gets full topics only.
  const plain = await connect(gw.url(), v5);
  const inbox = collect(plain);
  await plain.subscribeAsync('ta/#', { qos: 0 });
  await pub.publishAsync('ta/one', 'e', { qos: 0 });
  const [m] = await inbox.waitFor(1);
  expect(m!.topic).toBe('ta/one');
  expect(m!.packet.properties?.topicAlias).toBeUndefined();
});

test('CONNACK carries response information, assigned client id and server keep alive', async () => {
  gw = await startTestGateway({ deps: { limits: { maxKeepAliveSec: 30 } } });
  const connack = await lastConnack(gw.url());
  expect(connack.properties?.assignedClientIdentifier).toMatch(/^kiot-/);
  expect(connack.properties?.serverKeepAlive).toBe(30);
  expect(connack.properties?.responseInformation).toMatch(/^response\//);
  expect(connack.properties?.sharedSubscriptionAvailable).toBe(true);
});

test('--max-keep-alive-sec: a longer keep-alive is lowered and the CONNACK says so (Server Keep Alive); a shorter one is kept', async () => {
  gw = await startTestGateway({ config: { maxKeepAliveSec: 60 } });
  const mqtt = (await import('mqtt')).default;
  const connackFor = async (keepalive: number) => {
    const c = mqtt.connect(gw!.url(), { protocolVersion: 5, keepalive, reconnectPeriod: 0 });
    const packet = await new Promise<{ properties?: Record<string, unknown> }>((resolve, reject) => {
      c.once('connect', (p) => resolve(p as never));
      c.once('error', reject);
    });
    c.end(true);
    return packet;
  };
  expect((await connackFor(120)).properties?.serverKeepAlive).toBe(60);
  expect((await connackFor(30)).properties?.serverKeepAlive).toBeUndefined();
});

async function lastConnack(url: string) {
  const mqtt = (await import('mqtt')).default;
  const c = mqtt.connect(url, { protocolVersion: 5, clientId: '', keepalive: 0, reconnectPeriod: 0, properties: { requestResponseInformation: true } });
  const packet = await new Promise<{ properties?: Record<string, unknown> }>((resolve, reject) => {
    c.once('connect', (p) => resolve(p as never));
    c.once('error', reject);
  });
  c.end(true);
  return packet;
}

test('shared subscriptions split messages between group members', async () => {
  gw = await startTestGateway();
  const a = await connect(gw.url(), v5);
  const b = await connect(gw.url(), { protocolVersion: 4 });
  const inA = collect(a);
  const inB = collect(b);
  await a.subscribeAsync('$share/g1/work/+', { qos: 1 });
  await b.subscribeAsync('$share/g1/work/+', { qos: 1 });
  const pub = await connect(gw.url(), v5);
  for (let i = 0; i < 6; i++) await pub.publishAsync(`work/${i}`, String(i), { qos: 1 });
  await eventually(() => inA.messages.length + inB.messages.length === 6);
  expect(inA.messages.length).toBe(3);
  expect(inB.messages.length).toBe(3);
  const all = [...inA.messages, ...inB.messages].map((m) => m.payload.toString()).sort();
  expect(all).toEqual(['0', '1', '2', '3', '4', '5']);
});

test('subscription options: no local, retain as published, retain handling', async () => {
  gw = await startTestGateway();
  const c = await connect(gw.url(), v5);
  const inbox = collect(c);
  await c.subscribeAsync('nl/#', { qos: 1, nl: true });
  await c.subscribeAsync('rap/#', { qos: 1, rap: true });
  await c.publishAsync('nl/own', 'mine', { qos: 1 });
  await c.publishAsync('rap/x', 'kept', { qos: 1, retain: true });
  const other = await connect(gw.url(), v5);
  await other.publishAsync('nl/other', 'theirs', { qos: 1 });
  await eventually(() => inbox.messages.length >= 2);
  expect(inbox.messages.map((m) => m.topic).sort()).toEqual(['nl/other', 'rap/x']);
  expect(inbox.messages.find((m) => m.topic === 'rap/x')!.packet.retain).toBe(true);

  const rh = await connect(gw.url(), v5);
  const rhInbox = collect(rh);
  await rh.subscribeAsync('rap/#', { qos: 1, rh: 2 });
  await rh.subscribeAsync('rap/x', { qos: 1, rh: 1 });
  await rhInbox.waitFor(1);
  await rh.subscribeAsync('rap/x', { qos: 1, rh: 1 }); // exists already: no retained message again
  await other.publishAsync('rap/done', 'marker', { qos: 1 });
  await eventually(() => rhInbox.messages.some((m) => m.topic === 'rap/done'));
  expect(rhInbox.messages.filter((m) => m.topic === 'rap/x').length).toBe(1);
});

test('subscription identifiers come back on matching messages', async () => {
  gw = await startTestGateway();
  const c = await connect(gw.url(), v5);
  const inbox = collect(c);
  await c.subscribeAsync('sid/+', { qos: 1, properties: { subscriptionIdentifier: 7 } });
  await c.subscribeAsync('sid/#', { qos: 0, properties: { subscriptionIdentifier: 9 } });
  const pub = await connect(gw.url(), v5);
  await pub.publishAsync('sid/a', 'x', { qos: 1 });
  const [m] = await inbox.waitFor(1);
  const ids = [m!.packet.properties?.subscriptionIdentifier].flat().sort();
  expect(ids).toEqual([7, 9]);
  expect(m!.packet.qos).toBe(1); // overlapping subscriptions: one message with the highest QoS
});

test('flow control: no more QoS 1 messages in flight than the client receive maximum', async () => {
  gw = await startTestGateway();
  // A raw client: mqtt.js handles one incoming packet at a time, so it cannot hold two acks.
  const sub = await rawConnected(gw.ports.get('mqtt')!, 5, 'fc-sub', { properties: { receiveMaximum: 2 } });
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fc/#', qos: 1 }] } as never);
  await sub.next('suback');
  const pub = await connect(gw.url(), v5);
  for (let i = 0; i < 5; i++) await pub.publishAsync(`fc/${i}`, String(i), { qos: 1 });
  const arrived: string[] = [];
  const take = async () => {
    const p = (await sub.next('publish')) as import('mqtt-packet').IPublishPacket;
    arrived.push(p.payload.toString());
    return p;
  };
  const first = await take();
  const second = await take();
  await new Promise((r) => setTimeout(r, 200)); // absence can only be shown by waiting
  expect(sub.packets.filter((p) => p.cmd === 'publish')).toHaveLength(0);
  for (const p of [first, second]) sub.send({ cmd: 'puback', messageId: p.messageId } as never);
  for (let i = 0; i < 3; i++) sub.send({ cmd: 'puback', messageId: (await take()).messageId } as never);
  expect(arrived).toEqual(['0', '1', '2', '3', '4']);
  sub.destroy();
});

test('maximum packet size: messages over the client maximum are not sent to it', async () => {
  gw = await startTestGateway();
  const sub = await connect(gw.url(), { ...v5, properties: { maximumPacketSize: 200 } });
  const inbox = collect(sub);
  await sub.subscribeAsync('mps/#', { qos: 1 });
  const pub = await connect(gw.url(), v5);
  await pub.publishAsync('mps/big', Buffer.alloc(500, 1), { qos: 1 });
  await pub.publishAsync('mps/small', 'ok', { qos: 1 });
  const [m] = await inbox.waitFor(1);
  expect(m!.topic).toBe('mps/small');
});

test('payload format indicator: a UTF-8 claim over invalid bytes is refused with 0x99', async () => {
  gw = await startTestGateway();
  const pub = await connect(gw.url(), v5);
  await pub.publishAsync('pf/ok', 'text', { qos: 1, properties: { payloadFormatIndicator: true } });
  await expect(pub.publishAsync('pf/bad', Buffer.from([0xff, 0xfe]), { qos: 1, properties: { payloadFormatIndicator: true } })).rejects.toMatchObject({ code: 0x99 });
});

test('subscribe failures: invalid filters (0x8F) and denied filters (0x87); unsubscribe of nothing is 0x11', async () => {
  const authenticator: Authenticator = {
    authenticate: () => ({ ok: true, principal: 'p' }),
    authorizeSubscribe: (_c, filter) => !filter.startsWith('secret/'),
  };
  gw = await startTestGateway({ deps: { authenticator } });
  const raw = await rawConnected(gw.ports.get('mqtt')!, 5);
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bad/#/x', qos: 1 }, { topic: 'ok/+', qos: 1 }, { topic: '$share//x', qos: 0 }] } as never);
  expect((await raw.next('suback')) as { granted: number[] }).toMatchObject({ granted: [0x8f, 1, 0x8f] });
  const raw3 = await rawConnected(gw.ports.get('mqtt')!, 4);
  raw3.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'a+/b', qos: 1 }, { topic: 'secret/z', qos: 1 }] } as never);
  expect((await raw3.next('suback')) as { granted: number[] }).toMatchObject({ granted: [0x80, 0x80] });
  raw.destroy();
  raw3.destroy();
  const c = await connect(gw.url(), v5);
  await expect(c.subscribeAsync('secret/x', { qos: 1 })).rejects.toThrow(/Not authorized/);
  const unsuback = (await c.unsubscribeAsync('never/subscribed')) as { granted?: number[] } | undefined;
  expect(unsuback?.granted).toEqual([0x11]);
});

test('session expiry: a session is resumed within its interval and gone after it', async () => {
  const clock = new ManualClock();
  gw = await startTestGateway({ deps: { clock } });
  const gateway = gw.gateway;
  const opts = { ...v5, clientId: 'exp-1', clean: false, properties: { sessionExpiryInterval: 1 } };
  const first = await connect(gw.url(), opts);
  await first.subscribeAsync('se/#', { qos: 1 });
  await first.endAsync();
  await eventually(() => gateway.connectionCount === 0, 5000, 'the gateway to see the disconnect');
  clock.advance(999);
  expect(await lastSessionPresent(gw.url(), opts)).toBe(true);
  await eventually(() => gateway.connectionCount === 0, 5000, 'the gateway to see the disconnect');
  clock.advance(1000); // the interval under test, from the last disconnect
  expect(await lastSessionPresent(gw.url(), opts)).toBe(false);
});

async function lastSessionPresent(url: string, opts: Record<string, unknown>): Promise<boolean> {
  const mqtt = (await import('mqtt')).default;
  const c = mqtt.connect(url, { reconnectPeriod: 0, ...opts });
  const packet = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    c.once('connect', (p) => resolve(p as never));
    c.once('error', reject);
  });
  await c.endAsync();
  return packet.sessionPresent;
}

test('will delay: the will waits for its delay, and is dropped if the session resumes first', async () => {
  const clock = new ManualClock();
  gw = await startTestGateway({ deps: { clock } });
  const gateway = gw.gateway;
  const watcher = await connect(gw.url(), v5);
  const inbox = collect(watcher);
  await watcher.subscribeAsync('will/#', { qos: 1 });
  const will = (topic: string) => ({ topic, payload: Buffer.from('gone'), qos: 1 as const, retain: false, properties: { willDelayInterval: 1 } });
  const base = { ...v5, clean: false, properties: { sessionExpiryInterval: 60 } };
  const a = await connect(gw.url(), { ...base, clientId: 'will-a', will: will('will/a') });
  const b = await connect(gw.url(), { ...base, clientId: 'will-b', will: will('will/b') });
  a.stream.destroy();
  b.stream.destroy();
  await eventually(() => gateway.connectionCount === 1, 5000, 'the gateway to see both disconnects');
  await connect(gw.url(), { ...base, clientId: 'will-b' }); // resumes b within the delay
  clock.advance(999);
  await watcher.publishAsync('will/marker', 'before', { qos: 1 });
  expect((await inbox.waitFor(1))[0]!.topic).toBe('will/marker'); // no will yet
  clock.advance(1);
  const got = await inbox.waitFor(2);
  expect(got[1]!.topic).toBe('will/a');
  clock.advance(60_000);
  await watcher.publishAsync('will/marker', 'after', { qos: 1 });
  await inbox.waitFor(3);
  expect(inbox.messages.map((x) => x.topic)).toEqual(['will/marker', 'will/a', 'will/marker']);
});
