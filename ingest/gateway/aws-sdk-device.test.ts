/** The AWS IoT Device SDK for JavaScript (v1, pure JS over mqtt.js) as a device, over mutual TLS. */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { collect, connect, endTestGateways, startTestGateway, type TestGateway } from './testing/harness.js';

const require = createRequire(import.meta.url);
const fixture = (name: string) => fileURLToPath(new URL(`./testing/${name}`, import.meta.url));

let gw: TestGateway | undefined;
afterEach(endTestGateways);

test('an aws-iot-device-sdk device connects over mutual TLS, publishes and receives', async () => {
  gw = await startTestGateway({ config: { tlsCert: fixture('server-cert.pem'), tlsKey: fixture('server-key.pem'), tlsCa: fixture('ca-cert.pem') } });
  const awsIot = require('aws-iot-device-sdk') as { device(options: Record<string, unknown>): import('node:events').EventEmitter & { subscribe(t: string, o: unknown, cb: (err: unknown) => void): void; publish(t: string, p: string, o: unknown, cb: (err: unknown) => void): void; end(force: boolean): void } };
  const device = awsIot.device({
    host: '127.0.0.1',
    port: gw.ports.get('mqtts'),
    protocol: 'mqtts',
    clientId: 'sdk-device',
    keyPath: fixture('device-key.pem'),
    certPath: fixture('device-cert.pem'),
    caPath: fixture('server-cert.pem'),
    autoResubscribe: false,
    offlineQueueing: false,
    reconnectPeriod: 0,
  });
  try {
    await new Promise<void>((resolve, reject) => device.once('connect', () => resolve()).once('error', reject));
    const received = new Promise<string>((resolve) => device.on('message', (_topic: string, payload: Buffer) => resolve(payload.toString())));
    await new Promise<void>((resolve, reject) => device.subscribe('$aws/things/sdk-device/shadow/update/accepted', { qos: 1 }, (err) => (err ? reject(err) : resolve())));
    const watcher = await connect(gw.url(), { protocolVersion: 5 });
    const inbox = collect(watcher);
    await watcher.subscribeAsync('sdk/#', { qos: 1 });
    await new Promise<void>((resolve, reject) => device.publish('sdk/telemetry', '{"t":1}', { qos: 1 }, (err) => (err ? reject(err) : resolve())));
    expect((await inbox.waitFor(1))[0]!.payload.toString()).toBe('{"t":1}');
    await watcher.publishAsync('$aws/things/sdk-device/shadow/update/accepted', '{"state":{}}', { qos: 1 });
    expect(await received).toBe('{"state":{}}');
  } finally {
    device.end(true);
  }
});
