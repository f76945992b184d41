/**
 * AWS IoT's per-connection quotas, enforced by the gateway (issue "Close the open doors",
 * point 6): each refused with AWS's reason code (MQTT 5; the 3.1.1 equivalent otherwise) and
 * counted in `kiot_gateway_limit_refusals_total{limit}`. Real mqtt.js clients, and raw sockets
 * for what mqtt.js will not send, against the gateway on loopback.
 */
import type { IPublishPacket, IPubackPacket, ISubackPacket, Packet } from 'mqtt-packet';
import { afterEach, describe, expect, test } from 'vitest';
import { runKiot } from '../../cli/testing.js';
import type { Logger } from '../../core/index.js';
import { DEFAULT_LIMITS } from '../../ingest/index.js';
import { connect, endTestGateways, eventually, rawConnected, startTestGateway, type RawClient, type TestGateway } from '../../ingest/gateway/testing/harness.js';
import { ManualClock } from '../../ingest/gateway/testing/manual-clock.js';

let gw: TestGateway | undefined;
afterEach(endTestGateways);

const deep = (slashes: number) => Array.from({ length: slashes + 1 }, (_, i) => `l${i}`).join('/');
const mqttPort = () => gw!.ports.get('mqtt')!;

/** SUBSCRIBE over a raw client (mqtt.js rejects a SUBACK with failure codes); resolves with the SUBACK codes. */
async function subscribeRaw(raw: RawClient, messageId: number, filters: readonly string[], qos: 0 | 1 = 1): Promise<number[]> {
  raw.send({ cmd: 'subscribe', messageId, subscriptions: filters.map((topic) => ({ topic, qos })) } as Packet);
  return ((await raw.next('suback')) as ISubackPacket).granted as number[];
}

/** Waits until `count` packets of a kind have arrived (the raw client keeps them in order). */
async function take(raw: RawClient, cmd: string, count: number): Promise<Packet[]> {
  const out: Packet[] = [];
  for (let i = 0; i < count; i++) out.push(await raw.next(cmd));
  return out;
}

describe('topic quotas', () => {
  test('a topic with more than 7 forward slashes is refused: PUBACK 0x90 (v5), disconnect (3.1.1); Basic Ingest and $share prefixes do not count', async () => {
    gw = await startTestGateway();
    const v5 = await rawConnected(mqttPort(), 5);
    v5.send({ cmd: 'publish', topic: deep(8), payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false } as IPublishPacket);
    v5.send({ cmd: 'publish', topic: deep(7), payload: Buffer.from('x'), qos: 1, messageId: 2, retain: false, dup: false } as IPublishPacket);
    v5.send({ cmd: 'publish', topic: `$aws/rules/ingest/${deep(7)}`, payload: Buffer.from('x'), qos: 1, messageId: 3, retain: false, dup: false } as IPublishPacket);
    const acks = (await take(v5, 'puback', 3)) as IPubackPacket[];
    expect(acks.map((a) => [a.messageId, a.reasonCode ?? 0])).toEqual([
      [1, 0x90],
      [2, 0],
      [3, 0],
    ]);

    v5.send({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: deep(8), qos: 1 }, { topic: deep(7), qos: 1 }, { topic: `$share/g/${deep(7)}`, qos: 1 }] } as Packet);
    const suback = (await v5.next('suback')) as ISubackPacket;
    expect(suback.granted).toEqual([0x8f, 1, 1]);

    const v3 = await rawConnected(mqttPort(), 4);
    v3.send({ cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: deep(8), qos: 1 }] } as Packet);
    expect(((await v3.next('suback')) as ISubackPacket).granted).toEqual([0x80]);
    v3.send({ cmd: 'publish', topic: deep(8), payload: Buffer.from('x'), qos: 1, messageId: 6, retain: false, dup: false } as IPublishPacket);
    await v3.closed;
    expect(gw.gateway.metrics.limitRefusals('topic-depth')).toBe(4);
  });

  test('a topic name longer than 256 bytes of UTF-8 is refused', async () => {
    gw = await startTestGateway();
    const v5 = await rawConnected(mqttPort(), 5);
    const long = `t/${'é'.repeat(128)}`; // 2 + 256 bytes
    v5.send({ cmd: 'publish', topic: long, payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false } as IPublishPacket);
    v5.send({ cmd: 'publish', topic: `t/${'e'.repeat(254)}`, payload: Buffer.from('x'), qos: 1, messageId: 2, retain: false, dup: false } as IPublishPacket);
    const acks = (await take(v5, 'puback', 2)) as IPubackPacket[];
    expect(acks.map((a) => a.reasonCode ?? 0)).toEqual([0x90, 0]);

    const v3 = await connect(gw.url(), { protocolVersion: 4 });
    const closed = new Promise<void>((resolve) => v3.once('close', () => resolve()));
    v3.publish(long, 'x', { qos: 1 });
    await closed;
    expect(gw.gateway.metrics.limitRefusals('topic-length')).toBe(2);
  });
});

describe('subscription quotas', () => {
  test('50 subscriptions per connection by default; the 51st gets SUBACK 0x97 (v5) / 0x80 (3.1.1); re-subscribing a held filter still works', async () => {
    expect(DEFAULT_LIMITS.maxSubscriptionsPerConnection).toBe(50);
    gw = await startTestGateway();
    for (const version of [5, 4] as const) {
      const raw = await rawConnected(mqttPort(), version);
      let id = 1;
      const subscribe = (filters: string[]) => subscribeRaw(raw, id++, filters);
      for (let i = 0; i < 50; i += 5) expect(await subscribe(Array.from({ length: 5 }, (_, j) => `s/${i + j}`))).toEqual([1, 1, 1, 1, 1]);
      expect(await subscribe(['s/50', 's/0'])).toEqual([version === 5 ? 0x97 : 0x80, 1]);
    }
    expect(gw.gateway.metrics.limitRefusals('subscriptions-per-connection')).toBe(2);
  });

  test('the per-connection subscription limit comes from the config', async () => {
    gw = await startTestGateway({ config: { maxSubscriptionsPerConnection: 2 } });
    const raw = await rawConnected(mqttPort(), 5);
    expect(await subscribeRaw(raw, 1, ['a', 'b', 'c'], 0)).toEqual([0, 0, 0x97]);
  });

  test('kiot up --help shows --max-subscriptions-per-connection with its default', async () => {
    const kiot = runKiot(['up', '--help']);
    await kiot.exited;
    const help = kiot.stdout.join('\n');
    expect(help).toMatch(/--max-subscriptions-per-connection <n> .*\[KIOT_MAX_SUBSCRIPTIONS_PER_CONNECTION\] \(default: 50\)/);
  });

  test('more than 8 filters in one SUBSCRIBE are refused whole', async () => {
    gw = await startTestGateway();
    const v5 = await rawConnected(mqttPort(), 5);
    const nine = Array.from({ length: 9 }, (_, i) => `f/${i}`);
    expect(await subscribeRaw(v5, 1, nine)).toEqual(nine.map(() => 0x97));
    expect(await subscribeRaw(v5, 2, nine.slice(0, 8))).toEqual(nine.slice(0, 8).map(() => 1));
    const v3 = await rawConnected(mqttPort(), 4);
    expect(await subscribeRaw(v3, 1, nine)).toEqual(nine.map(() => 0x80));
    expect(gw.gateway.metrics.limitRefusals('subscriptions-per-subscribe')).toBe(2);
  });

  test('a SUBSCRIBE without filters closes the connection quietly (protocol error, no error log)', async () => {
    const errors: unknown[] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (fields, message) => errors.push({ fields, message }),
      child: () => logger,
    };
    gw = await startTestGateway({ deps: { logger } });
    for (const version of [4, 5] as const) {
      const raw = await rawConnected(mqttPort(), version);
      // SUBSCRIBE, packet id 1, no payload (v5: and no properties); mqtt-packet refuses to build it.
      raw.write(Buffer.from(version === 5 ? [0x82, 3, 0, 1, 0] : [0x82, 2, 0, 1]));
      await raw.closed;
      expect(raw.packets.filter((p) => p.cmd === 'suback')).toEqual([]);
    }
    const alive = await connect(gw.url());
    expect(alive.connected).toBe(true);
    expect(errors).toEqual([]);
  });
});

describe('connection quotas', () => {
  test('a client id longer than 128 bytes is refused: CONNACK 0x85 (v5), return code 2 (3.1.1)', async () => {
    gw = await startTestGateway();
    await expect(connect(gw.url(), { protocolVersion: 5, clientId: 'c'.repeat(129) })).rejects.toMatchObject({ code: 0x85 });
    await expect(connect(gw.url(), { protocolVersion: 4, clientId: 'c'.repeat(129) })).rejects.toMatchObject({ code: 2 });
    expect((await connect(gw.url(), { protocolVersion: 4, clientId: 'c'.repeat(128) })).connected).toBe(true);
    expect(gw.gateway.metrics.limitRefusals('client-id-length')).toBe(2);
  });

  test('100 publishes a second per connection: beyond, v5 gets PUBACK 0x97 and 3.1.1 is not acknowledged; the connection stays', async () => {
    gw = await startTestGateway();
    const burst = 150;
    const mqttPacket = (await import('mqtt-packet')).default;
    // v5: 60 QoS 0 then 90 QoS 1 in one burst (QoS 1 stays within the receive maximum of 100).
    const v5 = await rawConnected(mqttPort(), 5);
    const bytes: Buffer[] = [];
    for (let i = 1; i <= burst; i++) {
      const qos = i <= 60 ? 0 : 1;
      bytes.push(mqttPacket.generate({ cmd: 'publish', topic: 'rate/v5', payload: Buffer.from('x'), qos, messageId: qos ? i : undefined, retain: false, dup: false } as IPublishPacket, { protocolVersion: 5 }));
    }
    v5.write(Buffer.concat(bytes)); // one burst, well inside a second
    const acks = (await take(v5, 'puback', 90)) as IPubackPacket[];
    expect(acks.map((a) => a.messageId)).toEqual(Array.from({ length: 90 }, (_, i) => i + 61)); // in publish order
    const refused = acks.filter((a) => a.reasonCode === 0x97).length;
    expect(refused).toBeGreaterThanOrEqual(burst - 100 - 10); // a few tokens come back while the burst is read
    expect(acks.filter((a) => (a.reasonCode ?? 0) === 0).length).toBe(90 - refused);
    expect(gw.gateway.metrics.limitRefusals('publish-rate')).toBe(refused);

    const v3 = await rawConnected(mqttPort(), 4);
    const v3bytes: Buffer[] = [];
    for (let i = 1; i <= burst; i++) {
      v3bytes.push(mqttPacket.generate({ cmd: 'publish', topic: 'rate/v3', payload: Buffer.from('x'), qos: 1, messageId: i, retain: false, dup: false } as IPublishPacket, { protocolVersion: 4 }));
    }
    v3.write(Buffer.concat(v3bytes));
    await eventually(() => gw!.gateway.metrics.limitRefusals('publish-rate') >= refused + burst - 100 - 10, 5000, 'throttled 3.1.1 publishes');
    const v3refused = gw.gateway.metrics.limitRefusals('publish-rate') - refused;
    await eventually(() => v3.packets.filter((p) => p.cmd === 'puback').length === burst - v3refused, 5000, 'PUBACKs of the accepted 3.1.1 publishes');
    v3.send({ cmd: 'pingreq' });
    await v3.next('pingresp'); // still connected
  });

  test('512 KiB a second per connection: beyond, PUBACK 0x97 (v5)', async () => {
    gw = await startTestGateway();
    const v5 = await rawConnected(mqttPort(), 5);
    const payload = Buffer.alloc(120 * 1024, 1);
    for (let i = 1; i <= 6; i++) v5.send({ cmd: 'publish', topic: 'big', payload, qos: 1, messageId: i, retain: false, dup: false } as IPublishPacket);
    const acks = (await take(v5, 'puback', 6)) as IPubackPacket[];
    // 4 × 120 KiB fit in 512 KiB; the fifth and sixth do not (less whatever came back meanwhile).
    expect(acks.slice(0, 4).map((a) => a.reasonCode ?? 0)).toEqual([0, 0, 0, 0]);
    expect(acks[5]!.reasonCode).toBe(0x97);
    expect(gw.gateway.metrics.limitRefusals('throughput')).toBeGreaterThanOrEqual(1);
  });

  test('1 CONNECT a second per client id: beyond, CONNACK 0x9F (v5), return code 3 (3.1.1); a client refused authentication spends none of it', async () => {
    const clock = new ManualClock();
    gw = await startTestGateway({
      config: { maxConnectsPerSecondPerClientId: 1 },
      deps: {
        clock,
        authenticator: { authenticate: (info) => (info.username === 'mallory' ? { ok: false, reason: 'not-authorized' } : { ok: true, principal: 'device' }) },
      },
    });
    // Someone who cannot authenticate hammers the device's client id: that spends nothing.
    for (let i = 0; i < 3; i++) await expect(connect(gw.url(), { protocolVersion: 5, clientId: 'sensor-1', username: 'mallory' })).rejects.toMatchObject({ code: 0x87 });
    (await connect(gw.url(), { protocolVersion: 5, clientId: 'sensor-1' })).end(true);
    await expect(connect(gw.url(), { protocolVersion: 5, clientId: 'sensor-1' })).rejects.toMatchObject({ code: 0x9f });
    await expect(connect(gw.url(), { protocolVersion: 4, clientId: 'sensor-1' })).rejects.toMatchObject({ code: 3 });
    expect((await connect(gw.url(), { protocolVersion: 4, clientId: 'sensor-2' })).connected).toBe(true); // other ids are not held
    clock.advance(1000);
    expect((await connect(gw.url(), { protocolVersion: 4, clientId: 'sensor-1' })).connected).toBe(true);
    expect(gw.gateway.metrics.limitRefusals('connect-rate')).toBe(2);
  });

  test('the quotas are counted in kiot_gateway_limit_refusals_total', async () => {
    gw = await startTestGateway();
    await expect(connect(gw.url(), { protocolVersion: 5, clientId: 'c'.repeat(129) })).rejects.toMatchObject({ code: 0x85 });
    const text = await gw.gateway.metricsRegistry.metrics();
    expect(text).toContain('kiot_gateway_limit_refusals_total{limit="client-id-length"} 1');
  });
});
