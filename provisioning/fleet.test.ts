/**
 * Fleet provisioning by claim inside `kiot up`, as devices do it: mqtt.js over mutual TLS with a
 * claim certificate (JSON and CBOR), the AWS IoT Device SDK v2's `iotidentity` client, bad input
 * (each /rejected with nothing left behind), the pre-provisioning hook through a local Lambda
 * Invoke API, and CreateProvisioningClaim through @aws-sdk/client-iot.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  AttachPolicyCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreateProvisioningClaimCommand,
  CreateProvisioningTemplateCommand,
  DescribeCertificateCommand,
  DescribeThingCommand,
  IoTClient,
  ListThingPrincipalsCommand,
  ListThingsCommand,
} from '@aws-sdk/client-iot';
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../cli/testing.js';
import { startLambdaServer, type LambdaServer } from '../core/testing/lambda-server.js';
import { createOwnershipTokens } from './ownership-token.js';
import { makeCsr } from './testing/csr.js';

const require = createRequire(import.meta.url);
/** kiot's default account and the test's region. */
const ACCOUNT_ARN = 'arn:aws:iot:us-east-1:000000000000:';
const HOOK_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:provisioning-hook';

/** The claim policy of the developer guide ("Provisioning by claim"), for the templates used here. */
const CLAIM_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: ['iot:Connect'], Resource: '*' },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: [`${ACCOUNT_ARN}topic/$aws/certificates/create/*`, `${ACCOUNT_ARN}topic/$aws/certificates/create-from-csr/*`, `${ACCOUNT_ARN}topic/$aws/provisioning-templates/*/provision/*`] },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: [`${ACCOUNT_ARN}topicfilter/$aws/certificates/create/*`, `${ACCOUNT_ARN}topicfilter/$aws/certificates/create-from-csr/*`, `${ACCOUNT_ARN}topicfilter/$aws/provisioning-templates/*/provision/*`] },
  ],
});

/** What a provisioned device may do: connect as its thing, use `sensors/...`. */
const DEVICE_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ACCOUNT_ARN}client/sensor-*` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ACCOUNT_ARN}topic/sensors/*` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ACCOUNT_ARN}topicfilter/sensors/*` },
  ],
};

/** The developer guide's fleet provisioning template, with AWS's "Active" spelling. */
const TEMPLATE = JSON.stringify({
  Parameters: { SerialNumber: { Type: 'String', AllowedPattern: '[0-9a-z]{1,16}' }, 'AWS::IoT::Certificate::Id': { Type: 'String' } },
  Resources: {
    thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Join': ['', ['sensor-', { Ref: 'SerialNumber' }]] }, AttributePayload: { serial: { Ref: 'SerialNumber' } } } },
    certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'Active' } },
    policy: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: DEVICE_POLICY } },
  },
  DeviceConfiguration: { Fallback: 'sensors/fallback', Channel: { 'Fn::Join': ['/', ['sensors', { Ref: 'SerialNumber' }]] } },
});

let kiot: TestPlatform;
let iot: IoTClient;
let lambda: LambdaServer;
let ca: Buffer;
let claim: { cert: string; key: string; id: string };

const mqttsUrl = () => `mqtts://127.0.0.1:${kiot.platform.listeners.get('mqtts')}`;
const tlsOf = (cert: string, key: string) => ({ ca, cert, key, servername: 'localhost', rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 5000 });
const connectWith = (cert: string, key: string, clientId: string, protocolVersion: 4 | 5 = 4) => mqtt.connectAsync(mqttsUrl(), { ...tlsOf(cert, key), clientId, protocolVersion });

type Format = 'json' | 'cbor';
const encode = (format: Format, body: unknown): Buffer => (format === 'json' ? Buffer.from(JSON.stringify(body)) : Buffer.from(cborEncode(body)));
const decode = (format: Format, payload: Buffer): Record<string, unknown> => (format === 'json' ? JSON.parse(payload.toString()) : cborDecode(payload)) as Record<string, unknown>;

/** Subscribes to a request's replies, publishes it, and resolves with the first reply. */
async function ask(client: mqtt.MqttClient, topic: string, payload: Buffer | object, format: Format = 'json'): Promise<{ accepted: boolean; body: Record<string, unknown> }> {
  const granted = await client.subscribeAsync([`${topic}/accepted`, `${topic}/rejected`], { qos: 1 });
  expect(granted.map((g) => g.qos)).toEqual([1, 1]);
  const reply = new Promise<{ accepted: boolean; body: Record<string, unknown> }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply to ${topic}`)), 15_000);
    const onMessage = (t: string, p: Buffer) => {
      if (t !== `${topic}/accepted` && t !== `${topic}/rejected`) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ accepted: t.endsWith('/accepted'), body: decode(format, p) });
    };
    client.on('message', onMessage);
  });
  await client.publishAsync(topic, Buffer.isBuffer(payload) ? payload : encode(format, payload), { qos: 1 });
  const answer = await reply;
  await client.unsubscribeAsync([`${topic}/accepted`, `${topic}/rejected`]);
  return answer;
}

const thingCount = async () => (await iot.send(new ListThingsCommand({ maxResults: 250 }))).things!.length;

async function makeTemplate(templateName: string, extra: { enabled?: boolean; hook?: boolean } = {}) {
  await iot.send(
    new CreateProvisioningTemplateCommand({
      templateName,
      templateBody: TEMPLATE,
      enabled: extra.enabled ?? true,
      provisioningRoleArn: 'arn:aws:iam::123456789012:role/provisioning',
      type: 'FLEET_PROVISIONING',
      ...(extra.hook ? { preProvisioningHook: { targetArn: HOOK_ARN } } : {}),
    }),
  );
}

beforeAll(async () => {
  lambda = await startLambdaServer();
  kiot = await startTestPlatform({}, { lambdaEndpoint: lambda.endpoint });
  iot = kiot.client(IoTClient);
  ca = await readFile(join(kiot.dir, 'data', 'ca.pem'));
  await iot.send(new CreatePolicyCommand({ policyName: 'claim', policyDocument: CLAIM_POLICY }));
  const made = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  await iot.send(new AttachPolicyCommand({ policyName: 'claim', target: made.certificateArn! }));
  claim = { cert: made.certificatePem!, key: made.keyPair!.PrivateKey!, id: made.certificateId! };
  await makeTemplate('fleet');
  await makeTemplate('hooked', { hook: true });
  await makeTemplate('off', { enabled: false });
}, 60_000);

afterAll(async () => {
  await kiot?.stop();
  await lambda?.close();
});

/** CreateKeysAndCertificate then RegisterThing in one format; resolves with the new credentials and the replies. */
async function provision(client: mqtt.MqttClient, format: Format, serial: string, template = 'fleet') {
  const created = await ask(client, `$aws/certificates/create/${format}`, {}, format);
  expect(created.accepted).toBe(true);
  const registered = await ask(client, `$aws/provisioning-templates/${template}/provision/${format}`, { certificateOwnershipToken: created.body['certificateOwnershipToken'], parameters: { SerialNumber: serial } }, format);
  return { created: created.body as { certificateId: string; certificatePem: string; privateKey: string; certificateOwnershipToken: string }, registered };
}

describe('fleet provisioning by claim over MQTT', () => {
  test('JSON: a claim device gets keys and a certificate, registers its thing, then connects with its own certificate and publishes', async () => {
    const device = await connectWith(claim.cert, claim.key, 'claim-json');
    // Another device of the fleet, same claim certificate, listening on the reply topics: it must see nothing.
    const other = await connectWith(claim.cert, claim.key, 'claim-other');
    const overheard: string[] = [];
    other.on('message', (t) => overheard.push(t));
    await other.subscribeAsync(['$aws/certificates/create/json/accepted', '$aws/provisioning-templates/fleet/provision/json/accepted'], { qos: 1 });
    try {
      const { created, registered } = await provision(device, 'json', '001');
      expect(created.certificateId).toMatch(/^[0-9a-f]{64}$/);
      expect(created.certificatePem).toContain('BEGIN CERTIFICATE');
      expect(created.privateKey).toContain('PRIVATE KEY');
      expect(typeof created.certificateOwnershipToken).toBe('string');
      expect(registered).toEqual({ accepted: true, body: { thingName: 'sensor-001', deviceConfiguration: { Fallback: 'sensors/fallback', Channel: 'sensors/001' } } });

      const cert = await iot.send(new DescribeCertificateCommand({ certificateId: created.certificateId }));
      expect(cert.certificateDescription!.status).toBe('ACTIVE');
      expect((await iot.send(new DescribeThingCommand({ thingName: 'sensor-001' }))).attributes).toEqual({ serial: '001' });
      expect((await iot.send(new ListThingPrincipalsCommand({ thingName: 'sensor-001' }))).principals).toEqual([cert.certificateDescription!.certificateArn]);

      const own = await connectWith(created.certificatePem, created.privateKey, 'sensor-001', 5);
      try {
        await own.subscribeAsync('sensors/001', { qos: 1 });
        const got = new Promise<string>((resolve) => own.on('message', (_t, p) => resolve(p.toString())));
        await own.publishAsync('sensors/001', '{"t":21.5}', { qos: 1 });
        expect(await got).toBe('{"t":21.5}');
      } finally {
        await own.endAsync(true);
      }
      expect(overheard).toEqual([]);
    } finally {
      await device.endAsync(true);
      await other.endAsync(true);
    }
  }, 60_000);

  test('CBOR: CreateKeysAndCertificate and RegisterThing answer in CBOR; CreateCertificateFromCsr signs a CSR', async () => {
    const device = await connectWith(claim.cert, claim.key, 'claim-cbor');
    try {
      const { created, registered } = await provision(device, 'cbor', '002');
      expect(registered).toEqual({ accepted: true, body: { thingName: 'sensor-002', deviceConfiguration: { Fallback: 'sensors/fallback', Channel: 'sensors/002' } } });
      const own = await connectWith(created.certificatePem, created.privateKey, 'sensor-002');
      await own.endAsync(true);

      const fromCsr = await ask(device, '$aws/certificates/create-from-csr/cbor', { certificateSigningRequest: await makeCsr('sensor-003') }, 'cbor');
      expect(fromCsr.accepted).toBe(true);
      expect(Object.keys(fromCsr.body).sort()).toEqual(['certificateId', 'certificateOwnershipToken', 'certificatePem']);
      const status = (await iot.send(new DescribeCertificateCommand({ certificateId: fromCsr.body['certificateId'] as string }))).certificateDescription!.status;
      expect(status).toBe('PENDING_ACTIVATION');
      const done = await ask(device, '$aws/provisioning-templates/fleet/provision/json', { certificateOwnershipToken: fromCsr.body['certificateOwnershipToken'], parameters: { SerialNumber: '003' } });
      expect(done).toMatchObject({ accepted: true, body: { thingName: 'sensor-003' } });
    } finally {
      await device.endAsync(true);
    }
  }, 60_000);

  test('devices provisioning at once share registry writes and each gets its own answer', async () => {
    const before = await thingCount();
    const devices = await Promise.all(Array.from({ length: 12 }, (_, i) => connectWith(claim.cert, claim.key, `claim-many-${i}`)));
    try {
      const results = await Promise.all(devices.map((d, i) => provision(d, i % 2 === 0 ? 'json' : 'cbor', `m${i}`)));
      expect(results.map((r) => r.registered.body['thingName'])).toEqual(Array.from({ length: 12 }, (_, i) => `sensor-m${i}`));
      expect(new Set(results.map((r) => r.created.certificateId)).size).toBe(12);
      expect(await thingCount()).toBe(before + 12);
    } finally {
      await Promise.all(devices.map((d) => d.endAsync(true)));
    }
  }, 60_000);

  test('the AWS IoT Device SDK v2 iotidentity client runs the flow unchanged', async () => {
    const { mqtt: crtMqtt, iot: awsIot, iotidentity } = require('aws-iot-device-sdk-v2') as typeof import('aws-iot-device-sdk-v2');
    const config = awsIot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder(claim.cert, claim.key)
      .with_certificate_authority(ca.toString())
      .with_endpoint('127.0.0.1')
      .with_port(Number(kiot.platform.listeners.get('mqtts')))
      .with_client_id('claim-sdk-v2')
      .with_clean_session(true)
      .build();
    const connection = new crtMqtt.MqttClient().new_connection(config);
    await connection.connect();
    const identity = iotidentity.IotIdentityClientv2.newFromMqtt311(connection, { maxRequestResponseSubscriptions: 4, maxStreamingSubscriptions: 2, operationTimeoutInSeconds: 15 });
    try {
      const keys = await identity.createKeysAndCertificate({});
      expect(keys.certificateId).toMatch(/^[0-9a-f]{64}$/);
      const registered = await identity.registerThing({ templateName: 'fleet', certificateOwnershipToken: keys.certificateOwnershipToken!, parameters: { SerialNumber: '004' } });
      expect(registered).toEqual({ thingName: 'sensor-004', deviceConfiguration: { Fallback: 'sensors/fallback', Channel: 'sensors/004' } });
      await expect(identity.registerThing({ templateName: 'fleet', certificateOwnershipToken: keys.certificateOwnershipToken!, parameters: { SerialNumber: '005' } })).rejects.toThrow();
    } finally {
      identity.close();
      await connection.disconnect();
    }
  }, 60_000);

  test('bad input is rejected with AWS\'s error shape and leaves no thing behind', async () => {
    const device = await connectWith(claim.cert, claim.key, 'claim-bad');
    try {
      const before = await thingCount();
      const malformedJson = await ask(device, '$aws/certificates/create/json', Buffer.from('{"oops'));
      expect(malformedJson).toMatchObject({ accepted: false, body: { statusCode: 400, errorCode: 'InvalidPayload' } });
      const malformedCbor = await ask(device, '$aws/provisioning-templates/fleet/provision/cbor', Buffer.from([0xbf, 0x61]), 'cbor');
      expect(malformedCbor).toMatchObject({ accepted: false, body: { statusCode: 400, errorCode: 'InvalidPayload' } });
      const badCsr = await ask(device, '$aws/certificates/create-from-csr/json', { certificateSigningRequest: '-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----' });
      expect(badCsr).toMatchObject({ accepted: false, body: { statusCode: 400, errorCode: 'InvalidPayload' } });

      const created = await ask(device, '$aws/certificates/create/json', {});
      const token = created.body['certificateOwnershipToken'] as string;
      const certificateId = created.body['certificateId'] as string;
      const register = (t: unknown, template = 'fleet', serial = '010') => ask(device, `$aws/provisioning-templates/${template}/provision/json`, { certificateOwnershipToken: t, parameters: { SerialNumber: serial } });

      expect(await register(undefined)).toMatchObject({ accepted: false, body: { statusCode: 400, errorCode: 'InvalidCertificateOwnershipToken', errorMessage: 'Certificate ownership token cannot be empty.' } });
      const [v, body, mac] = token.split('.');
      const forgedMac = `${v}.${body}.${Buffer.alloc(32, 7).toString('base64url')}`;
      expect(await register(forgedMac)).toMatchObject({ accepted: false, body: { errorCode: 'InvalidCertificateOwnershipToken' } });
      // Another certificate's id under the same signature: forged.
      const claims = JSON.parse(Buffer.from(body!, 'base64url').toString()) as Record<string, unknown>;
      const swapped = `${v}.${Buffer.from(JSON.stringify({ ...claims, c: claim.id })).toString('base64url')}.${mac}`;
      expect(await register(swapped)).toMatchObject({ accepted: false, body: { errorCode: 'InvalidCertificateOwnershipToken' } });
      // Signed with kiot's own secret, but an hour and a second old.
      const secret = await readFile(join(kiot.dir, 'data', 'provisioning', 'ownership-token.key'));
      const expired = createOwnershipTokens({ secret, now: () => Date.now() - 60 * 60_000 - 1000 }).issue(certificateId);
      expect(await register(expired)).toMatchObject({ accepted: false, body: { statusCode: 400, errorCode: 'InvalidCertificateOwnershipToken', errorMessage: 'Certificate ownership token has expired.' } });
      expect(await register(token, 'off')).toMatchObject({ accepted: false, body: { statusCode: 400, errorCode: 'InvalidTemplate' } });
      expect(await register(token, 'absent')).toMatchObject({ accepted: false, body: { statusCode: 404, errorCode: 'ResourceNotFound' } });
      expect(await register(token, 'fleet', 'NOT VALID')).toMatchObject({ accepted: false, body: { statusCode: 400, errorCode: 'InvalidParameters' } });
      expect(await thingCount()).toBe(before);
      expect((await iot.send(new DescribeCertificateCommand({ certificateId }))).certificateDescription!.status).toBe('PENDING_ACTIVATION');

      // The token was not spent by any failure: it provisions once, then is refused.
      expect(await register(token)).toMatchObject({ accepted: true, body: { thingName: 'sensor-010' } });
      expect(await register(token, 'fleet', '011')).toMatchObject({ accepted: false, body: { statusCode: 400, errorCode: 'InvalidCertificateOwnershipToken', errorMessage: 'Certificate ownership token has already been used.' } });
      expect(await thingCount()).toBe(before + 1);
    } finally {
      await device.endAsync(true);
    }
  }, 60_000);

  test('the pre-provisioning hook gets AWS\'s request, may override parameters, and denies on false, failure or timeout', async () => {
    const device = await connectWith(claim.cert, claim.key, 'claim-hook');
    try {
      const before = await thingCount();
      lambda.handle(HOOK_ARN, () => ({ allowProvisioning: false }));
      const denied = await provision(device, 'json', '020', 'hooked');
      expect(denied.registered).toMatchObject({ accepted: false, body: { statusCode: 403, errorCode: 'AccessDenied' } });
      lambda.handle(HOOK_ARN, () => {
        throw new Error('database down');
      });
      expect((await provision(device, 'json', '021', 'hooked')).registered).toMatchObject({ accepted: false, body: { statusCode: 403, errorCode: 'AccessDenied' } });
      lambda.handle(HOOK_ARN, () => ({ allow: 'yes' }));
      expect((await provision(device, 'json', '022', 'hooked')).registered).toMatchObject({ accepted: false, body: { statusCode: 403, errorCode: 'AccessDenied' } });
      lambda.handle(HOOK_ARN, () => new Promise((resolve) => setTimeout(() => resolve({ allowProvisioning: true }), 6_000)));
      const slow = await provision(device, 'json', '023', 'hooked');
      expect(slow.registered).toMatchObject({ accepted: false, body: { statusCode: 403, errorCode: 'AccessDenied', errorMessage: expect.stringContaining('5 s') } });
      expect(await thingCount()).toBe(before);

      lambda.handle(HOOK_ARN, (event) => ({ allowProvisioning: true, parameterOverrides: { SerialNumber: `${(event as { parameters: { SerialNumber: string } }).parameters.SerialNumber}x` } }));
      const calls = lambda.calls.length;
      const allowed = await provision(device, 'json', '024', 'hooked');
      expect(allowed.registered).toMatchObject({ accepted: true, body: { thingName: 'sensor-024x', deviceConfiguration: { Channel: 'sensors/024x' } } });
      expect(lambda.calls[calls]).toEqual({
        functionName: HOOK_ARN,
        event: {
          claimCertificateId: claim.id,
          certificateId: allowed.created.certificateId,
          certificatePem: allowed.created.certificatePem,
          templateArn: `${ACCOUNT_ARN}provisioningtemplate/hooked`,
          clientId: 'claim-hook',
          parameters: { SerialNumber: '024' },
        },
      });
      expect(await thingCount()).toBe(before + 1);
    } finally {
      await device.endAsync(true);
    }
  }, 60_000);

  test('CreateProvisioningClaim gives a trusted user a five-minute claim certificate that can only provision', async () => {
    const claimed = await iot.send(new CreateProvisioningClaimCommand({ templateName: 'fleet' }));
    expect(claimed.certificateId).toMatch(/^[0-9a-f]{64}$/);
    expect(claimed.expiration!.getTime()).toBeGreaterThan(Date.now() + 4 * 60_000);
    expect(claimed.expiration!.getTime()).toBeLessThanOrEqual(Date.now() + 5 * 60_000);
    const device = await connectWith(claimed.certificatePem!, claimed.keyPair!.PrivateKey!, 'trusted-user-device', 5);
    try {
      await expect(device.subscribeAsync('sensors/#', { qos: 1 })).rejects.toThrow('Not authorized');
      const { registered } = await provision(device, 'json', '030');
      expect(registered).toMatchObject({ accepted: true, body: { thingName: 'sensor-030' } });
    } finally {
      await device.endAsync(true);
    }
    await expect(iot.send(new CreateProvisioningClaimCommand({ templateName: 'off' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
    await expect(iot.send(new CreateProvisioningClaimCommand({ templateName: 'absent' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  }, 60_000);
});
