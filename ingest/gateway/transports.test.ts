/** WebSocket and (mutual) TLS listeners, HTTP publish, and two gateways on one log. */
import { readFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { TOPICS } from '../../core/index.js';
import type { Authenticator, ConnectInfo } from '../auth.js';
import { createPublishRoute } from './http-publish.js';
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

test('HTTP publish (AWS data-plane shape) answers once durable and reaches MQTT subscribers', async () => {
  const gw = await startTestGateway();
  gateways.push(gw);
  const sub = await connect(gw.url(), { protocolVersion: 5 });
  const inbox = collect(sub);
  await sub.subscribeAsync('http/#', { qos: 1 });
  const route = createPublishRoute({ log: gw.log, logger: (await import('../../core/index.js')).silentLogger() });
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const match = route.path.exec(path);
    if (!match || req.method !== route.method) return void res.writeHead(404).end();
    void route.handle(req, res, { ...match.groups });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string; type?: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text, type: res.headers['x-amzn-errortype'] as string | undefined }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const userProps = Buffer.from(JSON.stringify([{ site: 'lab' }])).toString('base64');
  const ok = await post('/topics/http%2Fa?qos=1&retain=true&contentType=application%2Fjson', '{"t":21}', { 'x-amz-mqtt5-user-properties': userProps });
  expect(ok.status).toBe(200);
  const [m] = await inbox.waitFor(1);
  expect([m!.topic, m!.payload.toString(), m!.packet.properties?.contentType, m!.packet.properties?.userProperties]).toEqual(['http/a', '{"t":21}', 'application/json', { site: 'lab' }]);
  const bad = await post('/topics/http%2F%23?qos=1', 'x');
  expect([bad.status, bad.type]).toEqual([400, 'InvalidRequestException']);
  const badQos = await post('/topics/http%2Fb?qos=2', 'x');
  expect(badQos.status).toBe(400);
  // Retained through HTTP: a later MQTT subscriber gets it.
  const late = await connect(gw.url(), { protocolVersion: 4 });
  const lateInbox = collect(late);
  await late.subscribeAsync('http/a', { qos: 1 });
  expect((await lateInbox.waitFor(1))[0]!.packet.retain).toBe(true);
  await new Promise<void>((resolve) => server.close(() => resolve()));
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
  await new Promise((r) => setTimeout(r, 150)); // the offline queue is written to the log after a short debounce
  const moved = await connect(b.url(), { protocolVersion: 5, clientId: 'mover', clean: false, properties: { sessionExpiryInterval: 600 } });
  const movedInbox = collect(moved);
  expect((await movedInbox.waitFor(1))[0]!.payload.toString()).toBe('queued');
  // ...and a duplicate connection on A takes it over from B.
  const dropped = new Promise<number | undefined>((resolve) => moved.once('disconnect', (p) => resolve(p.reasonCode)));
  await connect(a.url(), { protocolVersion: 5, clientId: 'mover', clean: false, properties: { sessionExpiryInterval: 600 } });
  expect(await dropped).toBe(0x8e);
});
