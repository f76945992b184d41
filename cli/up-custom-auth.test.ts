/**
 * `kiot up` with custom authentication wired as a user runs it: `--lambda-endpoint` pointing at
 * a local Lambda Invoke server, an authorizer made and set as default with
 * `@aws-sdk/client-iot`, and devices without certificates connecting over mqtts (default
 * authorizer), plain MQTT (named authorizer) and HTTPS publish (headers).
 */
import { CreateAuthorizerCommand, IoTClient, SetDefaultAuthorizerCommand } from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadConfig, silentLogger } from '../core/index.js';
import { startLambdaServer, type LambdaServer } from '../core/testing/lambda-server.js';
import { startPlatform, type RunningPlatform } from './up.js';

let dir: string;
let platform: RunningPlatform;
let lambda: LambdaServer;

const policy = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: 'arn:aws:iot:*:*:client/${iot:ClientId}' },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: 'arn:aws:iot:*:*:topic/meters/*' },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: 'arn:aws:iot:*:*:topicfilter/meters/*' },
  ],
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-up-custom-auth-'));
  lambda = await startLambdaServer();
  lambda.handle('meter-auth', (event) => {
    const e = event as { protocolData: { mqtt?: { username?: string; password?: string }; http?: { headers: Record<string, string> } } };
    const password = e.protocolData.mqtt?.password ?? e.protocolData.http?.headers['x-meter-key'];
    const ok = password !== undefined && (Buffer.from(password, 'base64').toString() === 'meter-secret' || password === 'meter-secret');
    return ok ? { isAuthenticated: true, principalId: 'meters', policyDocuments: [policy], disconnectAfterInSeconds: 3600, refreshAfterInSeconds: 300 } : { isAuthenticated: false };
  });
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', httpsPort: '0', lambdaEndpoint: lambda.endpoint }, env: {} });
  platform = await startPlatform(config, () => undefined, silentLogger());
}, 60_000);

afterAll(async () => {
  await platform?.stop();
  await lambda?.close();
  await rm(dir, { recursive: true, force: true });
});

test('devices without certificates connect through the default and a named authorizer; HTTPS publish too; /metrics counts the decisions', async () => {
  const http = `http://127.0.0.1:${platform.listeners.get('http')}`;
  const iot = new IoTClient({ endpoint: http, region: 'us-east-1', credentials: fromIni({ filepath: join(dir, 'data', 'credentials'), profile: 'default' }), maxAttempts: 1 });
  try {
    await iot.send(new CreateAuthorizerCommand({ authorizerName: 'meters', authorizerFunctionArn: 'meter-auth', signingDisabled: true }));
    await iot.send(new SetDefaultAuthorizerCommand({ authorizerName: 'meters' }));
  } finally {
    iot.destroy();
  }
  const ca = await readFile(join(dir, 'data', 'ca.pem'));
  const tls = { ca, servername: 'localhost', rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 5000 };
  const mqtts = `mqtts://127.0.0.1:${platform.listeners.get('mqtts')}`;
  const meter = await mqtt.connectAsync(mqtts, { ...tls, clientId: 'meter-1', protocolVersion: 5, username: 'meter-1', password: 'meter-secret' });
  const received = new Promise<string>((resolve) => meter.on('message', (_t, payload) => resolve(payload.toString())));
  await meter.subscribeAsync('meters/1', { qos: 1 });
  await expect(mqtt.connectAsync(mqtts, { ...tls, clientId: 'meter-2', protocolVersion: 5, username: 'meter-2', password: 'wrong' })).rejects.toMatchObject({ code: 0x87 });

  const plain = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`, { clientId: 'meter-3', reconnectPeriod: 0, username: 'meter-3?x-amz-customauthorizer-name=meters', password: 'meter-secret' });
  // 3.1.1: a publish the policies refuse closes the connection (AWS IoT's behaviour).
  const closed = new Promise<void>((resolve) => plain.once('close', () => resolve()));
  plain.publish('elsewhere/x', 'no', { qos: 0 });
  await closed;

  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: platform.listeners.get('https'), path: '/topics/meters%2F1?qos=1', method: 'POST', ca, servername: 'localhost', headers: { 'x-amz-customauthorizer-name': 'meters', 'x-meter-key': 'meter-secret' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end('{"kwh":3}');
  });
  expect(status).toBe(200);
  expect(await received).toBe('{"kwh":3}');
  await meter.endAsync(true);
  plain.end(true);

  const metrics = await (await fetch(`${http}/metrics`)).text();
  expect(metrics).toMatch(/kiot_custom_auth_total\{outcome="allow"\} [1-9]/);
  expect(metrics).toMatch(/kiot_custom_auth_total\{outcome="deny"\} 1/);
}, 60_000);
