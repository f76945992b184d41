/**
 * The Device Shadow service inside `kiot up`, as devices and tools use it: mqtt.js over MQTT
 * 3.1.1, 5 and WebSocket, the AWS IoT Device SDK v2 (its request-response `iotshadow` client)
 * and v1 (`thingShadow`), `@aws-sdk/client-iot-data-plane` and the AWS CLI.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DeleteThingShadowCommand,
  GetThingShadowCommand,
  IoTDataPlaneClient,
  ListNamedShadowsForThingCommand,
  UpdateThingShadowCommand,
} from '@aws-sdk/client-iot-data-plane';
import { CreateThingCommand, DeleteThingCommand, DescribeThingCommand, IoTClient } from '@aws-sdk/client-iot';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDevice } from '../cli/commands/device.js';
import { signedRequest } from '../cli/commands/signed-request.js';
import { KIOT_MAIN, startTestPlatform, type TestPlatform } from '../cli/testing.js';
import { TSX_LOADER } from '../core/testing/child-process.js';
import type { RunningPlatform } from '../cli/up.js';

const run = promisify(execFile);

/** Rules on the requests devices publish and on what the shadow service publishes, and one that reads a shadow with get_thing_shadow. */
const SHADOW_RULES = `
CREATE RULE shadow_requests
AS SELECT topic(3) AS thing, state.reported.temp AS temp FROM '$aws/things/+/shadow/update'
DO republish(topic = 'seen/requests/\${topic(3)}', qos = 1);

CREATE RULE shadow_accepted
AS SELECT topic(3) AS thing, state.reported.temp AS temp, version FROM '$aws/things/+/shadow/update/accepted' WHERE state.reported.temp > 30
DO republish(topic = 'seen/accepted/\${topic(3)}', qos = 1);

CREATE RULE shadow_delta
AS SELECT topic(3) AS thing, state AS wanted FROM '$aws/things/+/shadow/update/delta'
DO republish(topic = 'seen/delta/\${topic(3)}', qos = 1);

CREATE RULE shadow_documents
AS SELECT current.version AS v, previous.version AS was FROM '$aws/things/+/shadow/update/documents'
DO republish(topic = 'seen/documents/\${topic(3)}', qos = 1);

CREATE RULE shadow_lookup
AS SELECT reading, get_thing_shadow(topic(1), 'arn:aws:iam::000000000000:role/rules').state.desired.target AS target FROM '+/reading'
DO republish(topic = 'seen/lookup/\${topic(1)}', qos = 1);
`;
const require = createRequire(import.meta.url);

let kiotUp: TestPlatform;
let dir: string;
let platform: RunningPlatform;
let credentials: { accessKeyId: string; secretAccessKey: string };
let data: IoTDataPlaneClient;
const http = () => `http://127.0.0.1:${platform.listeners.get('http')}`;

beforeAll(async () => {
  kiotUp = await startTestPlatform({ 'shadows.sql': SHADOW_RULES });
  ({ dir, platform, credentials } = kiotUp);
  data = kiotUp.client(IoTDataPlaneClient);
}, 60_000);

afterAll(async () => kiotUp?.stop());

const signedGet = (path: string) => signedRequest('GET', `${http()}${path}`, { credentials, region: 'us-east-1' });

/** Messages a client receives, by topic, parsed as JSON. */
function inbox(client: mqtt.MqttClient) {
  const got: { topic: string; body: Record<string, unknown> }[] = [];
  client.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
  return {
    got,
    async next(topic: string, count = 1): Promise<Record<string, unknown>[]> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const matching = got.filter((m) => m.topic === topic).map((m) => m.body);
        if (matching.length >= count) return matching;
        if (Date.now() > deadline) throw new Error(`no ${count} message(s) on ${topic}; got ${JSON.stringify(got.map((m) => m.topic))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

describe('shadows over MQTT', () => {
  for (const [label, url, protocolVersion] of [
    ['MQTT 3.1.1', () => `mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`, 4],
    ['MQTT 5', () => `mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`, 5],
    ['WebSocket', () => `ws://127.0.0.1:${platform.listeners.get('ws')}/mqtt`, 4],
  ] as const) {
    test(`${label}: update, delta, documents, get and delete on a classic and a named shadow`, async () => {
      const thing = `lamp-${protocolVersion}-${label.length}`;
      const client = await mqtt.connectAsync(url(), { clientId: `${thing}-app`, protocolVersion, reconnectPeriod: 0 });
      try {
        const box = inbox(client);
        for (const prefix of [`$aws/things/${thing}/shadow`, `$aws/things/${thing}/shadow/name/cfg`]) {
          await client.subscribeAsync(['update/accepted', 'update/rejected', 'update/delta', 'update/documents', 'get/accepted', 'get/rejected', 'delete/accepted'].map((t) => `${prefix}/${t}`), { qos: 1 });
          await client.publishAsync(`${prefix}/update`, JSON.stringify({ state: { desired: { color: 'red', level: 2 } }, clientToken: 'c1' }), { qos: 1 });
          const [accepted] = await box.next(`${prefix}/update/accepted`);
          expect(accepted).toMatchObject({ state: { desired: { color: 'red', level: 2 } }, version: 1, clientToken: 'c1' });
          expect(accepted!['metadata']).toMatchObject({ desired: { color: { timestamp: expect.any(Number) } } });
          const [delta] = await box.next(`${prefix}/update/delta`);
          expect(delta).toMatchObject({ state: { color: 'red', level: 2 }, version: 1 });
          await client.publishAsync(`${prefix}/update`, JSON.stringify({ state: { reported: { color: 'red', level: 1 } } }), { qos: 1 });
          const documents = await box.next(`${prefix}/update/documents`, 2);
          expect(documents[1]).toMatchObject({ previous: { version: 1 }, current: { version: 2, state: { reported: { color: 'red', level: 1 } } } });
          await client.publishAsync(`${prefix}/get`, JSON.stringify({ clientToken: 'g1' }), { qos: 1 });
          const [got] = await box.next(`${prefix}/get/accepted`);
          expect(got).toMatchObject({ state: { delta: { level: 2 } }, version: 2, clientToken: 'g1' });
          expect((got!['state'] as Record<string, object>)['delta']).not.toHaveProperty('color');
          await client.publishAsync(`${prefix}/update`, JSON.stringify({ state: { desired: { level: 3 } }, version: 1 }), { qos: 1 });
          const [conflict] = await box.next(`${prefix}/update/rejected`);
          expect(conflict).toMatchObject({ code: 409 });
          await client.publishAsync(`${prefix}/delete`, '', { qos: 1 });
          await box.next(`${prefix}/delete/accepted`);
          await client.publishAsync(`${prefix}/get`, '', { qos: 1 });
          const [missing] = await box.next(`${prefix}/get/rejected`);
          expect(missing).toMatchObject({ code: 404 });
        }
      } finally {
        await client.endAsync(true);
      }
    }, 60_000);
  }
});

describe('rules see shadows', () => {
  test('rules on update (the request, answered as it was written), update/accepted, update/delta and update/documents fire; get_thing_shadow reads the current document', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`, { clientId: 'rules-watch', protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const box = inbox(client);
      await client.subscribeAsync('seen/#', { qos: 1 });
      await client.publishAsync('$aws/things/oven-1/shadow/update', JSON.stringify({ state: { reported: { temp: 35 }, desired: { target: 180 } } }), { qos: 1 });
      expect((await box.next('seen/requests/oven-1'))[0]).toEqual({ thing: 'oven-1', temp: 35 });
      expect((await box.next('seen/accepted/oven-1'))[0]).toEqual({ thing: 'oven-1', temp: 35, version: 1 });
      expect((await box.next('seen/delta/oven-1'))[0]).toEqual({ thing: 'oven-1', wanted: { target: 180 } });
      expect((await box.next('seen/documents/oven-1'))[0]).toEqual({ v: 1 });
      await client.publishAsync('oven-1/reading', JSON.stringify({ reading: 170 }), { qos: 1 });
      expect((await box.next('seen/lookup/oven-1'))[0]).toEqual({ reading: 170, target: 180 });
    } finally {
      await client.endAsync(true);
    }
  }, 60_000);
});

describe('shadows over HTTP', () => {
  test('@aws-sdk/client-iot-data-plane: update, get, list named shadows, delete; errors in AWS shapes', async () => {
    const update = await data.send(new UpdateThingShadowCommand({ thingName: 'meter-1', payload: Buffer.from(JSON.stringify({ state: { reported: { kwh: 12.5 } } })) }));
    expect(JSON.parse(Buffer.from(update.payload!).toString())).toMatchObject({ state: { reported: { kwh: 12.5 } }, version: 1 });
    await data.send(new UpdateThingShadowCommand({ thingName: 'meter-1', shadowName: 'tariff', payload: Buffer.from('{"state":{"desired":{"rate":"night"}}}') }));
    const got = await data.send(new GetThingShadowCommand({ thingName: 'meter-1', shadowName: 'tariff' }));
    expect(JSON.parse(Buffer.from(got.payload!).toString())).toMatchObject({ state: { desired: { rate: 'night' }, delta: { rate: 'night' } }, version: 1 });
    const list = await data.send(new ListNamedShadowsForThingCommand({ thingName: 'meter-1' }));
    expect(list.results).toEqual(['tariff']);
    await expect(data.send(new UpdateThingShadowCommand({ thingName: 'meter-1', payload: Buffer.from('{"state":{"reported":{"kwh":1}},"version":7}') }))).rejects.toMatchObject({ name: 'ConflictException', $metadata: { httpStatusCode: 409 } });
    await expect(data.send(new UpdateThingShadowCommand({ thingName: 'meter-1', payload: Buffer.from('{oops') }))).rejects.toMatchObject({ name: 'InvalidRequestException', $metadata: { httpStatusCode: 400 } });
    await data.send(new DeleteThingShadowCommand({ thingName: 'meter-1', shadowName: 'tariff' }));
    await expect(data.send(new GetThingShadowCommand({ thingName: 'meter-1', shadowName: 'tariff' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } });
    // Unsigned: refused like every other operation.
    const unsigned = await fetch(`${http()}/things/meter-1/shadow`);
    expect(unsigned.status).toBe(403);
  });

  test('the AWS CLI: aws iot-data update-thing-shadow and get-thing-shadow with an endpoint override', async () => {
    const env = { ...process.env, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' };
    const out = join(dir, 'shadow.json');
    const input = join(dir, 'input.json');
    await writeFile(input, '{"state":{"desired":{"mode":"eco"}}}');
    const aws = (...args: string[]) => run('aws', ['iot-data', ...args, '--endpoint-url', http()], { env });
    await aws('update-thing-shadow', '--thing-name', 'hvac-1', '--payload', `fileb://${input}`, out);
    await aws('get-thing-shadow', '--thing-name', 'hvac-1', out);
    expect(JSON.parse(await readFile(out, 'utf8'))).toMatchObject({ state: { desired: { mode: 'eco' }, delta: { mode: 'eco' } }, version: 1 });
  }, 60_000);
});

describe('shadows and the registry', () => {
  test('a shadow does not need a registered thing, and DeleteThing leaves the thing\'s shadows (as the guide says)', async () => {
    const iot = new IoTClient({ endpoint: http(), region: 'us-east-1', credentials, maxAttempts: 1 });
    try {
      // No thing in the registry: its shadow works all the same.
      await data.send(new UpdateThingShadowCommand({ thingName: 'unregistered-1', payload: Buffer.from('{"state":{"reported":{"up":true}}}') }));
      expect(JSON.parse(Buffer.from((await data.send(new GetThingShadowCommand({ thingName: 'unregistered-1' }))).payload!).toString())).toMatchObject({ version: 1 });

      await iot.send(new CreateThingCommand({ thingName: 'valve-3' }));
      await data.send(new UpdateThingShadowCommand({ thingName: 'valve-3', payload: Buffer.from('{"state":{"desired":{"open":false}}}') }));
      await data.send(new UpdateThingShadowCommand({ thingName: 'valve-3', shadowName: 'calibration', payload: Buffer.from('{"state":{"reported":{"offset":0.2}}}') }));
      await iot.send(new DeleteThingCommand({ thingName: 'valve-3' }));
      await expect(iot.send(new DescribeThingCommand({ thingName: 'valve-3' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      expect(JSON.parse(Buffer.from((await data.send(new GetThingShadowCommand({ thingName: 'valve-3' }))).payload!).toString())).toMatchObject({ state: { desired: { open: false } } });
      expect((await data.send(new ListNamedShadowsForThingCommand({ thingName: 'valve-3' }))).results).toEqual(['calibration']);
      // A thing created again under the name finds them.
      await iot.send(new CreateThingCommand({ thingName: 'valve-3' }));
      expect(JSON.parse(Buffer.from((await data.send(new GetThingShadowCommand({ thingName: 'valve-3', shadowName: 'calibration' }))).payload!).toString())).toMatchObject({ version: 1 });
    } finally {
      iot.destroy();
    }
  });
});

describe('shadow history (a kiot extension)', () => {
  test('every version is kept: kiot shadow history lists them, GET ...?version=N answers an older one, a delete is a version too', async () => {
    const update = (thingName: string, body: object) => data.send(new UpdateThingShadowCommand({ thingName, shadowName: 'config', payload: Buffer.from(JSON.stringify(body)) }));
    await update('lamp-7', { state: { desired: { on: true } } });
    await update('lamp-7', { state: { reported: { on: true } } });
    await update('lamp-7', { state: { desired: { level: 40 } } });
    await data.send(new DeleteThingShadowCommand({ thingName: 'lamp-7', shadowName: 'config' }));
    await update('lamp-7', { state: { reported: { on: false } } });
    await update('lamp-8', { state: { reported: { on: false } } }); // another thing's history stays out

    // An older version through the data-plane path (the SDK does not know the parameter: signed fetch).
    const versionTwo = await signedGet(`/things/lamp-7/shadow?name=config&version=2`);
    expect(versionTwo.status).toBe(200);
    expect(JSON.parse(versionTwo.body)).toMatchObject({ state: { desired: { on: true }, reported: { on: true } }, version: 2 });
    const missing = await signedGet(`/things/lamp-7/shadow?name=config&version=9`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ message: "No version 9 of shadow 'config' is kept" });

    const kiot = (...args: string[]) => run(process.execPath, ['--import', TSX_LOADER, KIOT_MAIN, 'shadow', 'history', ...args, '--endpoint', http(), '--data-dir', join(dir, 'data')]);
    const { stdout } = await kiot('lamp-7', '--name', 'config');
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^VERSION\s+WRITTEN\s+STATE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['1', '2', '3', '3', '1']);
    expect(lines[4]).toMatch(/\sdeleted$/);
    expect(lines[5]).toContain('{"reported":{"on":false}}');
    const json = JSON.parse((await kiot('lamp-7', '--name', 'config', '--json', '--since', '1h')).stdout) as { version: number; state?: { desired?: object } }[];
    expect(json).toHaveLength(5);
    expect(json[2]).toMatchObject({ version: 3, state: { desired: { on: true, level: 40 }, delta: { level: 40 } } });
    expect(JSON.parse((await kiot('lamp-7', '--name', 'config', '--json', '--since', new Date(Date.now() + 60_000).toISOString())).stdout)).toEqual([]);
    await expect(kiot('lamp-7', '--since', 'yesterday')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--since: expected an ISO 8601 time') });
  }, 60_000);
});

describe('shadows through the AWS IoT Device SDKs', () => {
  test('SDK v2: the request-response iotshadow client updates, gets and streams deltas', async () => {
    const { mqtt: crtMqtt, io, iotshadow } = require('aws-iot-device-sdk-v2') as typeof import('aws-iot-device-sdk-v2');
    const client = new crtMqtt.MqttClient();
    const connection = client.new_connection({
      client_id: 'sdk-v2-device',
      host_name: '127.0.0.1',
      port: Number(platform.listeners.get('mqtt')),
      clean_session: true,
      keep_alive: 30,
      socket_options: new io.SocketOptions(io.SocketType.STREAM, io.SocketDomain.IPV4, 5000),
    });
    await connection.connect();
    const shadow = iotshadow.IotShadowClientv2.newFromMqtt311(connection, { maxRequestResponseSubscriptions: 4, maxStreamingSubscriptions: 2, operationTimeoutInSeconds: 10 });
    try {
      const deltas: unknown[] = [];
      const stream = shadow.createShadowDeltaUpdatedStream({ thingName: 'sdk-v2-thing' });
      const subscribed = new Promise<void>((resolve) => stream.on('subscriptionStatus', (e: { type: number }) => e.type === 0 && resolve()));
      stream.on('incomingPublish', (e: { message: { state?: unknown } }) => deltas.push(e.message.state));
      stream.open();
      await subscribed;
      const updated = await shadow.updateShadow({ thingName: 'sdk-v2-thing', state: { desired: { speed: 4 }, reported: { speed: 1 } } });
      expect(updated.version).toBe(1);
      const got = await shadow.getShadow({ thingName: 'sdk-v2-thing' });
      expect(got.state).toMatchObject({ desired: { speed: 4 }, reported: { speed: 1 }, delta: { speed: 4 } });
      await expect.poll(() => deltas.length, { timeout: 10_000 }).toBeGreaterThan(0);
      expect(deltas[0]).toEqual({ speed: 4 });
      await expect(shadow.getNamedShadow({ thingName: 'sdk-v2-thing', shadowName: 'absent' })).rejects.toThrow();
      stream.close();
    } finally {
      shadow.close();
      await connection.disconnect();
    }
  }, 60_000);

  test('SDK v1: thingShadow registers, updates and receives the delta over mutual TLS', async () => {
    const created = await createDevice({
      thingName: 'v1-thing',
      endpoint: http(),
      region: 'us-east-1',
      outDir: join(dir, 'devices'),
      policyName: 'v1-thing-policy',
      credentials,
      mqttHost: '127.0.0.1',
      mqttsPort: platform.listeners.get('mqtts')!,
    });
    const awsIot = require('aws-iot-device-sdk') as { thingShadow(options: Record<string, unknown>): ThingShadowV1 };
    const device = awsIot.thingShadow({
      host: '127.0.0.1',
      port: platform.listeners.get('mqtts'),
      protocol: 'mqtts',
      clientId: 'v1-thing',
      keyPath: created.files.privateKey,
      certPath: created.files.certificate,
      caPath: created.files.ca,
      servername: 'localhost',
      reconnectPeriod: 0,
    });
    try {
      await new Promise<void>((resolve, reject) => device.once('connect', () => resolve()).once('error', reject));
      await new Promise<void>((resolve, reject) => device.register('v1-thing', {}, (err?: unknown) => (err ? reject(err) : resolve())));
      const status = new Promise<{ stat: string; doc: { version: number } }>((resolve) => device.once('status', (_name: string, stat: string, _token: string, doc: { version: number }) => resolve({ stat, doc })));
      device.update('v1-thing', { state: { reported: { fan: 'on' } } });
      expect(await status).toMatchObject({ stat: 'accepted', doc: { version: 1 } });
      const delta = new Promise<{ state: unknown }>((resolve) => device.once('delta', (_name: string, doc: { state: unknown }) => resolve(doc)));
      await data.send(new UpdateThingShadowCommand({ thingName: 'v1-thing', payload: Buffer.from('{"state":{"desired":{"fan":"off"}}}') }));
      expect((await delta).state).toEqual({ fan: 'off' });
    } finally {
      device.end(true);
    }
  }, 60_000);
});

interface ThingShadowV1 {
  once(event: string, listener: (...args: never[]) => void): ThingShadowV1;
  register(name: string, options: object, cb: (err?: unknown) => void): void;
  update(name: string, doc: object): string | null;
  end(force: boolean): void;
}
