/**
 * Custom authentication through the gateway, end to end: authorizers on a real registry store,
 * the function on a local Lambda Invoke server called through kiot's Invoke client, and real
 * devices: mqtt.js over MQTT, TLS and WebSocket, HTTPS publish, and the AWS IoT Device SDK v2's
 * custom-authorizer connection builder.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { invokeLambda } from '../actions/index.js';
import { EmbeddedLog, silentLogger, type Log } from '../core/index.js';
import { rawLambdaAnswer, startLambdaServer, type LambdaServer } from '../core/testing/lambda-server.js';
import { AuthorizerService, CustomAuthorizers, RegistryStore, type ArnScope } from '../registry/index.js';
import { anonymousAuthenticator, type Authenticator } from './auth.js';
import { httpCustomAuthenticate, withCustomAuthentication } from './custom-auth.js';
import { createPublisher, type Publisher } from './gateway/http-publish.js';
import { createHttpsPublishListener, type HttpsPublishListener } from './gateway/https-publish.js';
import { collect, connect, endTestGateways, eventually, startTestGateway, tempDir, type TestGateway } from './gateway/testing/harness.js';

const require = createRequire(import.meta.url);
const fixture = (name: string) => fileURLToPath(new URL(`./gateway/testing/${name}`, import.meta.url));
const scope: ArnScope = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' };
const keys = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const signature = (token: string) => sign('sha256', Buffer.from(token), keys.privateKey).toString('base64');

/** Lets a device connect as `dev-*`, publish and receive on `dev/<clientId>/...`, subscribe to `dev/<clientId>/#`, and publish `shared/in`. */
const devicePolicy = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: 'arn:aws:iot:*:*:client/dev-*' },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: ['arn:aws:iot:*:*:topic/dev/${iot:ClientId}/*', 'arn:aws:iot:*:*:topic/shared/in'] },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: 'arn:aws:iot:*:*:topicfilter/dev/${iot:ClientId}/#' },
  ],
});
const allow = (principalId = 'device1', more: Record<string, unknown> = {}) => ({ isAuthenticated: true, principalId, policyDocuments: [devicePolicy], disconnectAfterInSeconds: 3600, refreshAfterInSeconds: 600, ...more });

let dir: string;
let log: Log;
let registry: RegistryStore;
let authorizers: AuthorizerService;
let custom: CustomAuthorizers;
let lambda: LambdaServer;
let offsetMs = 0;
const now = () => Date.now() + offsetMs;

beforeAll(async () => {
  dir = await tempDir();
  log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  registry = await RegistryStore.open({ log, logger: silentLogger(), region: 'us-east-1', accountId: scope.accountId, publishEvents: false });
  authorizers = new AuthorizerService(registry, scope);
  lambda = await startLambdaServer();
  custom = new CustomAuthorizers(authorizers, { scope, now, invoke: (fn, payload, signal) => invokeLambda({ endpoint: lambda.endpoint }, fn, payload, 'RequestResponse', signal) });
  await authorizers.createAuthorizer('tokens', { authorizerFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:tokens', tokenKeyName: 'tok', tokenSigningPublicKeys: { k1: keys.publicKey } });
  await authorizers.createAuthorizer('passwords', { authorizerFunctionArn: 'passwords', signingDisabled: true, enableCachingForHttp: true });
}, 60_000);
afterAll(async () => {
  await lambda?.close();
  await registry?.close();
  await log?.close();
});

let gw: TestGateway;
beforeEach(async () => {
  offsetMs = 0;
  lambda.calls.length = 0;
  lambda.handle('arn:aws:lambda:us-east-1:123456789012:function:tokens', () => allow());
  lambda.handle('passwords', (event) => {
    const mqttData = (event as { protocolData: { mqtt?: { password?: string } } }).protocolData.mqtt;
    return Buffer.from(mqttData?.password ?? '', 'base64').toString() === 'open sesame' ? allow('pwdevice') : { isAuthenticated: false };
  });
  // The certificate listener's own authenticator refuses clients without a certificate, as the registry's does.
  const certificatesOnly: Authenticator = { authenticate: (info) => (info.clientCertificate ? { ok: true, principal: 'cert' } : { ok: false, reason: 'bad-credentials' }) };
  gw = await startTestGateway({
    log,
    dataDir: dir,
    config: { tlsCert: fixture('server-cert.pem'), tlsKey: fixture('server-key.pem') },
    deps: {
      authenticator: withCustomAuthentication(anonymousAuthenticator, custom, { now, sweepMs: 50 }),
      tlsAuthenticator: withCustomAuthentication(certificatesOnly, custom, { now, sweepMs: 50 }),
    },
  });
});
afterEach(endTestGateways);

const tokenUsername = (token: string, sig = signature(token), name = 'tokens') => `dev?x-amz-customauthorizer-name=${name}&x-amz-customauthorizer-signature=${encodeURIComponent(sig)}&tok=${token}`;

/** The CONNACK code of a refused connection. */
async function refused(url: string, options: mqtt.IClientOptions): Promise<number | undefined> {
  const error = await connect(url, options).then(
    () => undefined,
    (err: { code?: number }) => err,
  );
  if (!error) throw new Error('expected the connection to be refused');
  return error.code;
}

describe('MQTT with a custom authorizer', () => {
  test('a signed token connects; the function gets AWS\'s event; its policies decide publish, subscribe and receive', async () => {
    const device = await connect(gw.url(), { clientId: 'dev-1', protocolVersion: 5, username: tokenUsername('abc'), password: 'pw' });
    expect(lambda.calls).toHaveLength(1);
    expect(lambda.calls[0]!.event).toEqual({
      token: 'abc',
      signatureVerified: true,
      protocols: ['mqtt'],
      protocolData: { mqtt: { username: tokenUsername('abc'), password: Buffer.from('pw').toString('base64'), clientId: 'dev-1' } },
      connectionMetadata: { id: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    });
    expect((await device.subscribeAsync('dev/dev-1/#', { qos: 1 }))[0]!.qos).toBe(1);
    await expect(device.subscribeAsync('other/#', { qos: 1 })).rejects.toThrow('Not authorized');
    const inbox = collect(device);
    await device.publishAsync('dev/dev-1/telemetry', 'ok', { qos: 1 });
    expect((await inbox.waitFor(1))[0]!.topic).toBe('dev/dev-1/telemetry');
    await expect(device.publishAsync('dev/dev-2/telemetry', 'no', { qos: 1 })).rejects.toThrow('Not authorized');
    // iot:Receive: the filter dev/dev-1/# covers dev/dev-1 itself, the policy's topic/dev/dev-1/* does not: that one is dropped.
    const other = await connect(gw.url(), { clientId: 'watcher', protocolVersion: 5 });
    await other.publishAsync('dev/dev-1', 'dropped', { qos: 1 });
    await other.publishAsync('dev/dev-1/from-app', 'hi', { qos: 1 });
    expect((await inbox.waitFor(2)).map((m) => m.topic)).toEqual(['dev/dev-1/telemetry', 'dev/dev-1/from-app']);
    expect(custom.count('allow')).toBeGreaterThan(0);
  });

  test('an unsigned or wrongly signed token is refused before the function runs (bad credentials); a client id the policies do not allow is not authorized', async () => {
    expect(await refused(gw.url(), { clientId: 'dev-2', protocolVersion: 5, username: 'dev?x-amz-customauthorizer-name=tokens&tok=abc' })).toBe(0x86);
    expect(await refused(gw.url(), { clientId: 'dev-2', protocolVersion: 5, username: tokenUsername('abc', signature('abd')) })).toBe(0x86);
    expect(await refused(gw.url(), { clientId: 'dev-2', protocolVersion: 4, username: tokenUsername('abc', 'AAAA') })).toBe(4);
    expect(await refused(gw.url(), { clientId: 'dev-2', protocolVersion: 5, username: tokenUsername('abc', signature('abc'), 'nobody') })).toBe(0x86);
    expect(lambda.calls).toHaveLength(0);
    expect(await refused(gw.url(), { clientId: 'intruder', protocolVersion: 5, username: tokenUsername('abc') })).toBe(0x87);
  });

  test('a function that denies, throws, answers malformed JSON or a bad answer, or times out (5 s) means deny, with a metric', async () => {
    const fn = 'arn:aws:lambda:us-east-1:123456789012:function:tokens';
    const outcomes: [unknown, string][] = [
      [{ isAuthenticated: false }, 'deny'],
      [rawLambdaAnswer('{"isAuthenticated": tru'), 'malformed'],
      [{ isAuthenticated: true, principalId: 'bad id!', policyDocuments: [devicePolicy] }, 'malformed'],
      [{ isAuthenticated: true, principalId: 'p', policyDocuments: [devicePolicy], refreshAfterInSeconds: 10 }, 'malformed'],
    ];
    for (const [answer, outcome] of outcomes) {
      lambda.handle(fn, () => answer);
      const before = custom.count(outcome as 'deny');
      expect(await refused(gw.url(), { clientId: 'dev-3', protocolVersion: 5, username: tokenUsername(`t${before}${outcome}`) })).toBe(0x87);
      expect(custom.count(outcome as 'deny')).toBe(before + 1);
    }
    // `anonymous` is kiot's name for clients nobody vouched for: a function may not claim it.
    lambda.handle(fn, () => allow('anonymous'));
    expect(await refused(gw.url(), { clientId: 'dev-3', protocolVersion: 5, username: tokenUsername('anon') })).toBe(0x87);
    lambda.handle(fn, () => {
      throw new Error('database down');
    });
    expect(await refused(gw.url(), { clientId: 'dev-3', protocolVersion: 4, username: tokenUsername('thrown') })).toBe(5);
    expect(custom.count('error')).toBe(1);
    lambda.handle(fn, () => new Promise((resolve) => setTimeout(() => resolve(allow()), 6_000)));
    const started = Date.now();
    expect(await refused(gw.url(), { clientId: 'dev-3', protocolVersion: 5, username: tokenUsername('slow'), connectTimeout: 10_000 })).toBe(0x87);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
    expect(custom.count('timeout')).toBe(1);
    const metrics = await custom.metricsRegistry.metrics();
    expect(metrics).toContain('kiot_custom_auth_total{outcome="timeout"} 1');
    expect(metrics).toContain('kiot_custom_auth_total{outcome="malformed"} 3');
  }, 20_000);

  test('answers are cached per credentials for refreshAfterInSeconds; an authorizer update drops them', async () => {
    const options = { clientId: 'dev-4', protocolVersion: 5 as const, username: tokenUsername('cache-me'), password: 'pw' };
    (await connect(gw.url(), options)).end(true);
    (await connect(gw.url(), { ...options, clientId: 'dev-5' })).end(true);
    expect(lambda.calls).toHaveLength(1);
    // A cached token with another signature is a cache miss and fails verification.
    expect(await refused(gw.url(), { ...options, clientId: 'dev-5', username: tokenUsername('cache-me', signature('cache-me!')) })).toBe(0x86);
    (await connect(gw.url(), { ...options, password: 'other' })).end(true);
    expect(lambda.calls).toHaveLength(2); // other credentials, another key
    offsetMs = 601_000;
    (await connect(gw.url(), options)).end(true);
    expect(lambda.calls).toHaveLength(3); // past refreshAfterInSeconds (600)
    await authorizers.updateAuthorizer('tokens', { enableCachingForHttp: false });
    (await connect(gw.url(), options)).end(true);
    expect(lambda.calls).toHaveLength(4);
    expect(custom.count('cached')).toBeGreaterThanOrEqual(1);
  });

  test('the connection is closed after disconnectAfterInSeconds (0xA0), and a refresh that denies disconnects it', async () => {
    const fn = 'arn:aws:lambda:us-east-1:123456789012:function:tokens';
    lambda.handle(fn, () => allow('device1', { disconnectAfterInSeconds: 900, refreshAfterInSeconds: 300 }));
    const presence = await connect(gw.url(), { clientId: 'presence-watch', protocolVersion: 5 });
    const events = collect(presence);
    await presence.subscribeAsync('$aws/events/presence/disconnected/dev-6', { qos: 1 });
    const device = await connect(gw.url(), { clientId: 'dev-6', protocolVersion: 5, username: tokenUsername('ttl') });
    const reason = new Promise<number | undefined>((resolve) => device.once('disconnect', (packet) => resolve(packet.reasonCode)));
    offsetMs = 301_000; // refreshed: still allowed
    await eventually(() => lambda.calls.length === 2, 5000, 'the refresh');
    expect(device.connected).toBe(true);
    offsetMs = 901_000;
    expect(await reason).toBe(0xa0);
    const [event] = await events.waitFor(1);
    expect(JSON.parse(event!.payload.toString())).toMatchObject({ clientId: 'dev-6', principalIdentifier: 'device1', disconnectReason: 'CUSTOMAUTH_TTL_EXPIRATION', clientInitiatedDisconnect: false });

    const second = await connect(gw.url(), { clientId: 'dev-7', protocolVersion: 5, username: tokenUsername('refresh-deny') });
    const closed = new Promise<number | undefined>((resolve) => second.once('disconnect', (packet) => resolve(packet.reasonCode)));
    lambda.handle(fn, () => ({ isAuthenticated: false }));
    offsetMs += 301_000;
    expect(await closed).toBe(0x87);
  });

  test('username and password with a signing-disabled authorizer; the default authorizer for TLS clients without a certificate', async () => {
    const device = await connect(gw.url(), { clientId: 'dev-8', username: 'alice?x-amz-customauthorizer-name=passwords', password: 'open sesame' });
    expect(device.connected).toBe(true);
    expect(lambda.calls[0]!.event).toMatchObject({ signatureVerified: false, protocolData: { mqtt: { username: 'alice?x-amz-customauthorizer-name=passwords' } } });
    expect(lambda.calls[0]!.event).not.toHaveProperty('token');
    expect(await refused(gw.url(), { clientId: 'dev-8', username: 'alice?x-amz-customauthorizer-name=passwords', password: 'wrong' })).toBe(5);

    const tls = { ca: readFileSync(fixture('server-cert.pem')), servername: 'localhost' };
    expect(await refused(gw.url('mqtts'), { clientId: 'dev-9', username: 'alice', password: 'open sesame', ...tls })).toBe(4); // no default yet
    await authorizers.setDefaultAuthorizer('passwords');
    try {
      const viaDefault = await connect(gw.url('mqtts'), { clientId: 'dev-9', username: 'alice', password: 'open sesame', ...tls });
      expect(viaDefault.connected).toBe(true);
      expect(lambda.calls.at(-1)!.event).toMatchObject({ protocols: ['tls', 'mqtt'], protocolData: { tls: { serverName: 'localhost' }, mqtt: { username: 'alice', clientId: 'dev-9' } } });
      // Loopback's anonymous listener stays anonymous for clients that name no authorizer.
      expect((await connect(gw.url(), { clientId: 'anon-1' })).connected).toBe(true);
    } finally {
      await authorizers.clearDefaultAuthorizer();
    }
  });
});

describe('MQTT over WebSocket with a custom authorizer', () => {
  test('credentials in the upgrade request\'s headers, or in its query string', async () => {
    const headers = { 'x-amz-customauthorizer-name': 'tokens', 'x-amz-customauthorizer-signature': signature('ws-token'), tok: 'ws-token' };
    const byHeaders = await connect(gw.url('ws'), { clientId: 'dev-10', protocolVersion: 5, wsOptions: { headers } });
    expect(lambda.calls.at(-1)!.event).toMatchObject({ token: 'ws-token', signatureVerified: true, protocols: ['http', 'mqtt'], protocolData: { http: { headers: { tok: 'ws-token' }, queryString: '' } } });
    await expect(byHeaders.subscribeAsync('other/#', { qos: 1 })).rejects.toThrow('Not authorized');

    const query = `?x-amz-customauthorizer-name=tokens&x-amz-customauthorizer-signature=${encodeURIComponent(signature('q-token'))}&tok=q-token`;
    const byQuery = await connect(gw.url('ws') + query, { clientId: 'dev-11', protocolVersion: 4 });
    expect(byQuery.connected).toBe(true);
    expect(lambda.calls.at(-1)!.event).toMatchObject({ token: 'q-token', protocolData: { http: { queryString: query } } });
    expect(await refused(gw.url('ws'), { clientId: 'dev-12', wsOptions: { headers: { ...headers, tok: 'changed' } } })).toBe(4);
  });
});

describe('HTTP publish with a custom authorizer', () => {
  let publisher: Publisher;
  let https: HttpsPublishListener;
  let port: number;
  beforeAll(async () => {
    publisher = createPublisher({ log, logger: silentLogger() });
    https = createHttpsPublishListener({
      publisher,
      logger: silentLogger(),
      authenticate: () => ({ ok: false, reason: 'bad-credentials', detail: 'no client certificate' }),
      customAuthenticate: (request, useDefault) => httpCustomAuthenticate(custom, request, useDefault),
      tls: { cert: readFileSync(fixture('server-cert.pem')), key: readFileSync(fixture('server-key.pem')) },
    });
    port = await https.listen('127.0.0.1', 0);
  });
  afterAll(async () => {
    await https?.close();
    await publisher?.stop();
  });

  const post = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path, method: 'POST', headers, ca: readFileSync(fixture('server-cert.pem')), servername: 'localhost' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end('{"t":1}');
    });

  test('headers or query parameters; the policies decide the topic; bad signatures are 401', async () => {
    const watcher = await connect(gw.url(), { clientId: 'http-watch', protocolVersion: 5 });
    const inbox = collect(watcher);
    await watcher.subscribeAsync('shared/in', { qos: 1 });
    const headers = { 'x-amz-customauthorizer-name': 'tokens', 'x-amz-customauthorizer-signature': signature('h-token'), tok: 'h-token' };
    const ok = await post('/topics/shared%2Fin?qos=1', headers);
    expect(ok.status).toBe(200);
    expect((await inbox.waitFor(1))[0]!.payload.toString()).toBe('{"t":1}');
    expect(lambda.calls.at(-1)!.event).toMatchObject({ token: 'h-token', signatureVerified: true, protocols: ['tls', 'http'], protocolData: { tls: { serverName: 'localhost' }, http: { queryString: '?qos=1' } } });

    expect((await post('/topics/secret?qos=1', headers)).status).toBe(403);
    expect((await post('/topics/shared%2Fin', { ...headers, tok: 'h-token2' })).status).toBe(401);
    const query = `x-amz-customauthorizer-name=tokens&x-amz-customauthorizer-signature=${encodeURIComponent(signature('qq'))}&tok=qq`;
    expect((await post(`/topics/shared%2Fin?qos=0&${query}`, {})).status).toBe(200);
    expect((await post('/topics/shared%2Fin', {})).status).toBe(401); // nothing to authenticate with, no default
    // HTTP answers are cached only with enableCachingForHttp ('tokens' has it off; 'passwords' on).
    const calls = lambda.calls.length;
    await post('/topics/shared%2Fin?qos=1', headers);
    expect(lambda.calls.length).toBe(calls + 1);
  });
});

describe('the AWS IoT Device SDK v2 as a custom-auth device', () => {
  test('AwsIotMqttConnectionConfigBuilder.with_custom_authorizer connects over TLS, publishes and receives', async () => {
    const { mqtt: crtMqtt, iot } = require('aws-iot-device-sdk-v2') as typeof import('aws-iot-device-sdk-v2');
    const config = iot.AwsIotMqttConnectionConfigBuilder.new_default_builder()
      .with_custom_authorizer('sdk-user', 'tokens', signature('sdk-token'), 'sdk-pass', 'tok', 'sdk-token')
      .with_endpoint('localhost')
      .with_port(gw.ports.get('mqtts')!)
      .with_certificate_authority_from_path(undefined, fixture('server-cert.pem'))
      .with_client_id('dev-sdk')
      .with_clean_session(true)
      .build();
    const connection = new crtMqtt.MqttClient().new_connection(config);
    await connection.connect();
    try {
      expect(lambda.calls.at(-1)!.event).toMatchObject({
        token: 'sdk-token',
        signatureVerified: true,
        protocols: ['tls', 'mqtt'],
        protocolData: { mqtt: { clientId: 'dev-sdk', password: Buffer.from('sdk-pass').toString('base64') } },
      });
      const received = new Promise<string>((resolve) => {
        void connection.subscribe('dev/dev-sdk/#', crtMqtt.QoS.AtLeastOnce, (_topic, payload) => resolve(Buffer.from(payload).toString()));
      });
      await new Promise((r) => setTimeout(r, 200));
      await connection.publish('dev/dev-sdk/hello', 'from sdk', crtMqtt.QoS.AtLeastOnce);
      expect(await received).toBe('from sdk');
    } finally {
      await connection.disconnect();
    }
  }, 30_000);

  test('the MQTT 5 client from AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithCustomAuth connects over TLS', async () => {
    const { mqtt5, iot } = require('aws-iot-device-sdk-v2') as typeof import('aws-iot-device-sdk-v2');
    const config = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithCustomAuth('localhost', {
      authorizerName: 'tokens',
      username: 'sdk5-user',
      password: Buffer.from('sdk5-pass'),
      tokenKeyName: 'tok',
      tokenValue: 'sdk5-token',
      tokenSignature: signature('sdk5-token'),
    })
      .withPort(gw.ports.get('mqtts')!)
      .withCertificateAuthorityFromPath(undefined, fixture('server-cert.pem'))
      .withConnectProperties({ clientId: 'dev-sdk5', keepAliveIntervalSeconds: 30 })
      .build();
    const client = new mqtt5.Mqtt5Client(config);
    const connected = new Promise<number | undefined>((resolve, reject) => {
      client.once('connectionSuccess', (event) => resolve(event.connack.reasonCode));
      client.once('connectionFailure', (event) => reject(event.error));
    });
    client.start();
    try {
      expect(await connected).toBe(0);
      expect(lambda.calls.at(-1)!.event).toMatchObject({
        token: 'sdk5-token',
        signatureVerified: true,
        protocols: ['tls', 'mqtt'],
        protocolData: { mqtt: { clientId: 'dev-sdk5', password: Buffer.from('sdk5-pass').toString('base64') } },
      });
      const suback = await client.subscribe({ subscriptions: [{ topicFilter: 'other/#', qos: mqtt5.QoS.AtLeastOnce }] });
      expect(suback.reasonCodes).toEqual([0x87]);
    } finally {
      const stopped = new Promise<void>((resolve) => client.once('stopped', () => resolve()));
      client.stop();
      await stopped;
      client.close();
    }
  }, 30_000);
});
