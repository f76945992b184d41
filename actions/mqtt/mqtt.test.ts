/**
 * The mqtt action against real Mosquitto brokers, read back by an mqtt.js subscriber: retain,
 * a payload template and MQTT 5 user properties; a PUBLISH refused by the broker's ACL; a
 * broker on TLS with a certificate from a test CA, with and without client certificates; and
 * parameters that do not fit refused.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError, silentLogger } from '../../core/index.js';
import { makeCertificates, startMosquitto, type Mosquitto } from '../../core/testing/mosquitto.js';
import { problemsOf, signal, testRecord } from '../aws/testing/records.js';
import { createMqttDefinition, type MqttConfig } from './index.js';

let plain: Mosquitto;
let guarded: Mosquitto;
let tls: Mosquitto;
let mutual: Mosquitto;
let certs: ReturnType<typeof makeCertificates>;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-mqtt-action-'));
  certs = makeCertificates(dir);
  const server = { cafile: certs.ca, certfile: certs.serverCert, keyfile: certs.serverKey };
  [plain, guarded, tls, mutual] = await Promise.all([startMosquitto(), startMosquitto({ acl: 'topic readwrite open/#' }), startMosquitto({ tls: server }), startMosquitto({ tls: { ...server, requireCertificate: true } })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([plain?.close(), guarded?.close(), tls?.close(), mutual?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const def = createMqttDefinition({ timeoutMs: 3_000 });
const record = (params: Record<string, unknown>, output: unknown, i = 0) => testRecord<MqttConfig>(output, def.config.parse(params), i);

/** Publishes `records` through one sink and returns what a subscriber to `filter` on `url` (a plain listener) received. */
async function roundTrip(url: string, filter: string, ...records: ReturnType<typeof record>[]): Promise<mqtt.IPublishPacket[]> {
  const subscriber = await mqtt.connectAsync(url, { protocolVersion: 5 });
  const got: mqtt.IPublishPacket[] = [];
  subscriber.on('message', (_t, _p, packet) => got.push(packet));
  await subscriber.subscribeAsync(filter, { qos: 1 });
  const sink = def.create(records[0]!.params, { logger: silentLogger() });
  try {
    await sink.writeBatch(records, signal());
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(records.length);
    return got;
  } finally {
    await sink.close();
    await sink.close();
    await subscriber.endAsync();
  }
}

describe('mqtt action', () => {
  test('retain, a payload template and user properties reach the subscriber', async () => {
    const t = randomUUID();
    const [packet] = await roundTrip(plain.url, `${t}/#`, record({ url: plain.url, topic: `${t}/alerts`, retain: true, payload: 'hot: 81', user_properties: [{ key: 'site', value: 'a' }] }, { t: 81 }));
    expect(packet!.payload.toString()).toBe('hot: 81');
    expect(packet!.properties?.userProperties).toEqual({ site: 'a' });
    // A retained message is delivered to a later subscriber too.
    const late = await mqtt.connectAsync(plain.url);
    const retained = new Promise<Buffer>((resolve) => late.on('message', (_t, payload) => resolve(payload)));
    await late.subscribeAsync(`${t}/alerts`);
    expect((await retained).toString()).toBe('hot: 81');
    await late.endAsync();
  });

  test('a PUBLISH the broker refuses (MQTT 5 reason code) fails only its record', async () => {
    const t = randomUUID();
    const subscriber = await mqtt.connectAsync(guarded.url);
    const got: string[] = [];
    subscriber.on('message', (topic) => got.push(topic));
    await subscriber.subscribeAsync(`open/${t}/#`, { qos: 1 });
    const at = (topic: string, i: number) => record({ url: guarded.url, topic }, { i }, i);
    const sink = def.create(at('x', 0).params, { logger: silentLogger() });
    const err = await sink.writeBatch([at(`open/${t}/a`, 0), at(`closed/${t}`, 1), at(`open/${t}/c`, 2)], signal()).then(() => undefined, (e: unknown) => e);
    await sink.close();
    expect(err).toBeInstanceOf(SinkBatchError);
    expect((err as SinkBatchError).failures.map((f) => [f.index, f.retriable])).toEqual([[1, false]]);
    await expect.poll(() => got.sort(), { timeout: 5_000 }).toEqual([`open/${t}/a`, `open/${t}/c`]);
    await subscriber.endAsync();
  });

  test('TLS: a broker certificate from the given CA; mutual TLS with a client certificate', async () => {
    const t = randomUUID();
    const tlsUrl = `mqtts://localhost:${tls.tlsPort}`;
    const [packet] = await roundTrip(tls.url, `${t}/#`, record({ url: tlsUrl, topic: `${t}/x`, qos: 1, ca: certs.ca }, { secure: true }));
    expect(JSON.parse(packet!.payload.toString())).toEqual({ secure: true });
    const mutualUrl = `mqtts://localhost:${mutual.tlsPort}`;
    const [second] = await roundTrip(mutual.url, `${t}/#`, record({ url: mutualUrl, topic: `${t}/y`, ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }, { mutual: true }));
    expect(JSON.parse(second!.payload.toString())).toEqual({ mutual: true });
  });

  test('TLS without the CA, or without the client certificate, is refused and not retried as a write', async () => {
    const untrusted = def.create(def.config.parse({ url: `mqtts://localhost:${tls.tlsPort}`, topic: 'x' }), { logger: silentLogger() });
    await expect(untrusted.connect(signal())).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE', message: expect.stringMatching(/certificate/) });
    await untrusted.close();
    const anonymous = def.create(def.config.parse({ url: `mqtts://localhost:${mutual.tlsPort}`, topic: 'x', ca: certs.ca }), { logger: silentLogger() });
    await expect(anonymous.connect(signal())).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE' });
    await anonymous.close();
  });

  test('parameters that do not fit are refused', () => {
    const problems = (params: Record<string, unknown>) => problemsOf(def.config, params);
    expect(problems({ url: 'mqtt://127.0.0.1:1883' })).toEqual(['missing parameter topic']);
    expect(problems({ url: 'http://127.0.0.1', topic: 't' })).toEqual(['url: expected mqtt://host:port or mqtts://host:port']);
    expect(problems({ url: 'mqtt://127.0.0.1:1883', topic: 't', qos: 2 })[0]).toMatch(/^qos: /);
    expect(problems({ url: 'mqtt://127.0.0.1:1883', topic: 't', ca: 'ca.pem' })).toEqual(['ca goes with an mqtts:// url']);
    expect(problems({ url: 'mqtts://127.0.0.1:8883', topic: 't', cert: 'c.pem' })).toEqual(['give cert and key together']);
    expect(problems({ url: 'mqtt://${topic()}', topic: 't' })[0]).toMatch(/cannot be a substitution template/);
  });
});
