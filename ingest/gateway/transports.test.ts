/** WebSocket and (mutual) TLS listeners, HTTP publish, and two gateways on one log. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { TOPICS, silentLogger } from '../../core/index.js';
import type { Authenticator, ConnectInfo } from '../auth.js';
import { createPublisher } from './http-publish.js';
import { collect, connect, endClients, eventually, readEnvelopes, startTestGateway, type TestGateway } from './testing/harness.js';

const fixture = (name: string) => fileURLToPath(new URL(`./testing/${name}`, import.meta.url));

const gateways: TestGateway[] = [];
afterEach(async () => {
  await endClients();
  for (const g of gateways.splice(0).reverse()) await g.close();
});

test('MQTT over WebSocket on /mqtt, 3.1.1 and 5, talking to a TCP client', async () => {
  const gw = await startTestGateway();
  gateways.push(gw);
  const ws = await connect(gw.url('ws'), { protocolVersion: 5 });
  const inbox = collect(ws);
  await ws.subscribeAsync('ws/#', { qos: 1 });
  const tcp = await connect(gw.url(), { protocolVersion: 4 });
  await tcp.publishAsync('ws/1', 'over tcp', { qos: 1 });
  const ws3 = await connect(gw.url('ws'), { protocolVersion: 4 });
  await ws3.publishAsync('ws/2', 'over ws', { qos: 1 });
  const got = await inbox.waitFor(2);
  expect(got.map((m) => m.payload.toString())).toEqual(['over tcp', 'over ws']);
});

test('MQTT over TLS with a client certificate handed to the authenticator', async () => {
  const seen: ConnectInfo[] = [];
  const authenticator: Authenticator = {
    authenticate: (info) => {
      seen.push(info);
      return info.clientCertificate?.authorized ? { ok: true, principal: info.clientCertificate.fingerprint256 } : { ok: false, reason: 'not-authorized' };
    },
  };
  const gw = await startTestGateway({
    deps: { authenticator },
    config: { tlsCert: fixture('server-cert.pem'), tlsKey: fixture('server-key.pem'), tlsCa: fixture('ca-cert.pem') },
  });
  gateways.push(gw);
  expect(gw.ports.get('mqtts')).toBeGreaterThan(0);
  const ca = readFileSync(fixture('server-cert.pem'));
  const device = await connect(gw.url('mqtts'), {
    protocolVersion: 5,
    clientId: 'tls-device',
    ca,
    cert: readFileSync(fixture('device-cert.pem')),
    key: readFileSync(fixture('device-key.pem')),
  });
  const inbox = collect(device);
  await device.subscribeAsync('tls/#', { qos: 1 });
  await device.publishAsync('tls/1', 'secret', { qos: 1 });
  expect((await inbox.waitFor(1))[0]!.payload.toString()).toBe('secret');
  expect(seen[0]).toMatchObject({ transport: 'mqtts', clientId: 'tls-device' });
  const [envelope] = (await readEnvelopes(gw.log, TOPICS.ingress, 3)).filter((e) => e.topic === 'tls/1');
  expect(envelope!.principal).toBe(seen[0]!.clientCertificate!.fingerprint256);
  // Without a client certificate this authenticator refuses: CONNACK 0x87.
  await expect(connect(gw.url('mqtts'), { protocolVersion: 5, ca })).rejects.toThrow(/Not authorized/);
});

test('HTTP publish (AWS data-plane shape, SigV4-signed) answers once durable and reaches MQTT subscribers', async () => {
  const gw = await startTestGateway();
  gateways.push(gw);
  const sub = await connect(gw.url(), { protocolVersion: 5 });
  const inbox = collect(sub);
  await sub.subscribeAsync('http/#', { qos: 1 });
  // Served as kiot up serves it: the API's Publish operation behind its SigV4 check.
  const { AccessKeyStore, createAwsRoutes, createRequestAuthenticator } = await import('../../api/index.js');
  const { publishOperations } = await import('../../api/routes/publish.js');
  const { createHttpServer } = await import('../../api/server.js');
  const logger = silentLogger();
  const scope = { region: 'us-east-1', accountId: '000000000000' };
  const accessKeys = await AccessKeyStore.open(gw.log);
  const key = await accessKeys.create(Date.now(), 'transports test');
  const routes = createAwsRoutes({ operations: publishOperations(createPublisher({ log: gw.log, logger }), scope), logger, authenticate: createRequestAuthenticator({ accessKeys, region: undefined, scope }) });
  const server = createHttpServer({ logger, metrics: async () => '', health: () => ({}), routes });
  const data = new IoTDataPlaneClient({ endpoint: `http://127.0.0.1:${await server.listen('127.0.0.1', 0)}`, region: 'us-east-1', credentials: key, maxAttempts: 1 });
  try {
    await data.send(new PublishCommand({ topic: 'http/a', qos: 1, retain: true, contentType: 'application/json', payload: Buffer.from('{"t":21}'), userProperties: JSON.stringify([{ site: 'lab' }]) }));
    const [m] = await inbox.waitFor(1);
    expect([m!.topic, m!.payload.toString(), m!.packet.properties?.contentType, m!.packet.properties?.userProperties]).toEqual(['http/a', '{"t":21}', 'application/json', { site: 'lab' }]);
    const bad = await data.send(new PublishCommand({ topic: 'http/#', qos: 1, payload: Buffer.from('x') })).catch((err: Error & { $metadata?: { httpStatusCode?: number } }) => err);
    expect([(bad as Error).name, (bad as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode]).toEqual(['InvalidRequestException', 400]);
    const badQos = await data.send(new PublishCommand({ topic: 'http/b', qos: 2, payload: Buffer.from('x') })).catch((err: Error) => err);
    expect((badQos as Error).name).toBe('InvalidRequestException');
    // Retained through HTTP: a later MQTT subscriber gets it.
    const late = await connect(gw.url(), { protocolVersion: 4 });
    const lateInbox = collect(late);
    await late.subscribeAsync('http/a', { qos: 1 });
    expect((await lateInbox.waitFor(1))[0]!.packet.retain).toBe(true);
  } finally {
    data.destroy();
    await server.close();
    await accessKeys.close();
  }
});

test('two gateways on one log: messages, egress records, retained messages and sessions cross over', async () => {
  const a = await startTestGateway();
  gateways.push(a);
  const b = await startTestGateway({ log: a.log, dataDir: a.dataDir });
  gateways.push(b);
  const onB = await connect(b.url(), { protocolVersion: 5, clientId: 'on-b' });
  const inboxB = collect(onB);
  await onB.subscribeAsync('x/+', { qos: 1 });
  const onA = await connect(a.url(), { protocolVersion: 4, clientId: 'on-a' });
  const inboxA = collect(onA);
  await onA.subscribeAsync('x/+', { qos: 1 });
  await onA.publishAsync('x/from-a', 'hello b', { qos: 1 });
  await onB.publishAsync('x/from-b', 'hello a', { qos: 1 });
  await eventually(() => inboxA.messages.length === 2 && inboxB.messages.length === 2);
  expect(inboxA.messages.map((m) => m.topic).sort()).toEqual(['x/from-a', 'x/from-b']);
  expect(inboxB.messages.map((m) => m.topic).sort()).toEqual(['x/from-a', 'x/from-b']);

  // iot.egress (republish actions, shadows, jobs) reaches subscribers on every gateway.
  const { createEnvelope, encodeEnvelope } = await import('../../core/index.js');
  await a.log.append(TOPICS.egress, [{ key: 'k', value: encodeEnvelope(createEnvelope({ topic: 'x/egress', payload: Buffer.from('out'), qos: 1 })) }]);
  await eventually(() => inboxA.messages.length === 3 && inboxB.messages.length === 3);

  // Retained on A, served on B.
  await onA.publishAsync('x/retained', 'r', { qos: 1, retain: true });
  const late = await connect(b.url(), { protocolVersion: 4 });
  const lateInbox = collect(late);
  await late.subscribeAsync('x/retained', { qos: 1 });
  expect((await lateInbox.waitFor(1))[0]!.payload.toString()).toBe('r');

  // A persistent session moves: subscribe on A, go offline, message published, resume on B.
  const mover = await connect(a.url(), { protocolVersion: 5, clientId: 'mover', clean: false, properties: { sessionExpiryInterval: 600 } });
  await mover.subscribeAsync('move/#', { qos: 1 });
  await mover.endAsync();
  await onA.publishAsync('move/1', 'queued', { qos: 1 });
  // The queue is durable before the PUBACK; B's view of iot.sessions (like A's, a table reading
  // the topic with a consumer of its own) follows it: wait until every view has read to the end.
  await eventually(() => {
    const views = a.log.stats().lag.filter((l) => l.topic === TOPICS.sessions);
    return new Set(views.map((l) => l.groupId)).size >= 2 && views.every((l) => l.lag === 0);
  }, 5000, "both gateways' views of iot.sessions caught up");
  const moved = await connect(b.url(), { protocolVersion: 5, clientId: 'mover', clean: false, properties: { sessionExpiryInterval: 600 } });
  const movedInbox = collect(moved);
  expect((await movedInbox.waitFor(1))[0]!.payload.toString()).toBe('queued');
  // ...and a duplicate connection on A takes it over from B.
  const dropped = new Promise<number | undefined>((resolve) => moved.once('disconnect', (p) => resolve(p.reasonCode)));
  await connect(a.url(), { protocolVersion: 5, clientId: 'mover', clean: false, properties: { sessionExpiryInterval: 600 } });
  expect(await dropped).toBe(0x8e);
});
