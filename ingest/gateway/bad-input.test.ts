/** Bad input on the wire: the gateway drops the offender and keeps serving everyone else. */
import { afterEach, expect, test } from 'vitest';
import { collect, connect, endTestGateways, eventually, rawClient, rawConnected, startTestGateway, type TestGateway } from './testing/harness.js';

let gw: TestGateway | undefined;
afterEach(endTestGateways);

/** Each offender is disconnected while a bystander keeps publishing and receiving. */
async function expectDisconnected(offend: (port: number) => Promise<{ closed: Promise<void> }>) {
  gw = await startTestGateway({ deps: { limits: { maxPacketSizeBytes: 1024 } } });
  const bystander = await connect(gw.url(), { protocolVersion: 5 });
  const inbox = collect(bystander);
  await bystander.subscribeAsync('ok/#', { qos: 1 });
  const offender = await offend(gw.ports.get('mqtt')!);
  await offender.closed;
  const before = inbox.messages.length;
  await bystander.publishAsync('ok/still', 'alive', { qos: 1 });
  await inbox.waitFor(before + 1);
}

test('garbage bytes instead of CONNECT', async () => {
  await expectDisconnected(async (port) => {
    const raw = await rawClient(port);
    raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    return raw;
  });
});

test('a malformed packet after CONNECT (bad flags; remaining length over 4 bytes)', async () => {
  await expectDisconnected(async (port) => {
    const raw = await rawConnected(port, 4);
    raw.write(Buffer.from([0x82, 0x02, 0x00])); // SUBSCRIBE with a truncated body
    raw.write(Buffer.from([0x3f, 0x00])); // PUBLISH QoS 3
    return raw;
  });
  await expectDisconnected(async (port) => {
    const raw = await rawConnected(port, 4);
    raw.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    return raw;
  });
});

test('an oversized packet is refused by its declared length (v5 gets DISCONNECT 0x95)', async () => {
  await expectDisconnected(async (port) => {
    const raw = await rawConnected(port, 5);
    raw.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(4096, 1), qos: 0, dup: false, retain: false } as never);
    const disconnect = (await raw.next('disconnect')) as { reasonCode?: number };
    expect(disconnect.reasonCode).toBe(0x95);
    return raw;
  });
});

test('a topic name that is not UTF-8', async () => {
  await expectDisconnected(async (port) => {
    const raw = await rawConnected(port, 4);
    // PUBLISH QoS 0, topic of 2 bytes 0xc3 0x28 (an invalid sequence), payload "x".
    raw.write(Buffer.from([0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x78]));
    return raw;
  });
});

test('a wildcard in a PUBLISH topic', async () => {
  await expectDisconnected(async (port) => {
    const raw = await rawConnected(port, 5);
    raw.send({ cmd: 'publish', topic: 'a/+/c', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false } as never);
    const disconnect = (await raw.next('disconnect')) as { reasonCode?: number };
    expect(disconnect.reasonCode).toBe(0x90);
    return raw;
  });
});

test('a second CONNECT on one connection', async () => {
  await expectDisconnected(async (port) => {
    const raw = await rawConnected(port, 4);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'again', clean: true, keepalive: 60 } as never);
    return raw;
  });
});

test('a v5 client over its receive maximum is disconnected (0x93)', async () => {
  gw = await startTestGateway({ deps: { limits: { receiveMaximum: 3 } } });
  const raw = await rawConnected(gw.ports.get('mqtt')!, 5);
  // Never reading PUBACKs does not matter: the count is of unacknowledged publishes, so send them
  // faster than the log can acknowledge them.
  for (let i = 1; i <= 50; i++) raw.send({ cmd: 'publish', topic: 'rm/x', payload: Buffer.from('x'), qos: 1, messageId: i, dup: false, retain: false } as never);
  const disconnect = (await raw.next('disconnect')) as { reasonCode?: number };
  expect(disconnect.reasonCode).toBe(0x93);
  await raw.closed;
});

test('a flooding client is throttled and others are not starved', async () => {
  gw = await startTestGateway({ deps: { limits: { maxPendingAppendsPerConnection: 16 } } });
  const flooder = await rawConnected(gw.ports.get('mqtt')!, 4, 'flooder');
  const mqttPacket = (await import('mqtt-packet')).default;
  const one = mqttPacket.generate({ cmd: 'publish', topic: 'flood/x', payload: Buffer.alloc(100, 7), qos: 0, dup: false, retain: false });
  const burst = Buffer.concat(Array.from({ length: 2000 }, () => one));
  let flooding = true;
  const flood = (async () => {
    while (flooding) {
      flooder.write(burst);
      await new Promise((r) => setImmediate(r));
    }
  })();
  const sub = await connect(gw.url(), { protocolVersion: 5 });
  const inbox = collect(sub);
  await sub.subscribeAsync('calm/#', { qos: 1 });
  const calm = await connect(gw.url(), { protocolVersion: 5 });
  const started = Date.now();
  for (let i = 0; i < 20; i++) await calm.publishAsync(`calm/${i}`, String(i), { qos: 1 });
  await inbox.waitFor(20, 10_000);
  const elapsed = Date.now() - started;
  flooding = false;
  await flood;
  flooder.destroy();
  expect(elapsed).toBeLessThan(10_000);
  await eventually(() => gw!.gateway.connectionCount === 2);
});

test('packets sent with CONNECT in one write are held until CONNACK, then handled: the first SUBSCRIBE and QoS 1 PUBLISH of a connection that holds nothing yet', async () => {
  gw = await startTestGateway();
  const mqttPacket = (await import('mqtt-packet')).default;
  const c = await rawClient(gw.ports.get('mqtt')!);
  const opts = { protocolVersion: 4 };
  const bytes = Buffer.concat([
    mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'first-burst', clean: true, keepalive: 0 }, opts),
    mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'first/#', qos: 1 }] }, opts),
    mqttPacket.generate({ cmd: 'publish', messageId: 2, topic: 'first/one', payload: Buffer.from('hello'), qos: 1, retain: false, dup: false }, opts),
  ]);
  // Cut mid-packet, so the framer carries the rest over to the next chunk.
  c.write(bytes.subarray(0, bytes.length - 3));
  await new Promise((r) => setTimeout(r, 20));
  c.write(bytes.subarray(bytes.length - 3));
  await c.next('connack');
  await c.next('suback');
  await c.next('puback');
  const delivered = await c.next('publish');
  expect(delivered).toMatchObject({ topic: 'first/one', qos: 1 });
  expect(Buffer.from((delivered as { payload: Buffer }).payload).toString()).toBe('hello');
});
