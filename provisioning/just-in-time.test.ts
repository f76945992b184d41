/**
 * Just-in-time registration and provisioning end to end: `kiot up` on the embedded log, the
 * control plane through `@aws-sdk/client-iot`, devices as mqtt.js clients over mutual TLS with
 * certificates from a CA the test makes and registers (RegisterCACertificate with the
 * registration code), as the AWS IoT developer guide's JITR and JITP walkthroughs do.
 */
import {
  AttachPolicyCommand,
  CreatePolicyCommand,
  CreateProvisioningTemplateCommand,
  CreateTopicRuleCommand,
  DescribeCACertificateCommand,
  DescribeCertificateCommand,
  DescribeThingCommand,
  GetRegistrationCodeCommand,
  IoTClient,
  ListCertificatesByCACommand,
  ListThingPrincipalsCommand,
  RegisterCACertificateCommand,
  UpdateCACertificateCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import mqtt, { type MqttClient } from 'mqtt';
import { X509Certificate, createHash, webcrypto } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TOPICS, decodeEnvelope, loadConfig, readRange, silentLogger } from '../core/index.js';
import { startPlatform, type RunningPlatform } from '../cli/up.js';
import { certificateParameters } from './just-in-time.js';
import { startKafkaMock, type KafkaMock } from '../core/testing/kafka-mock.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const ROLE = 'arn:aws:iam::123456789012:role/JITPRole';
const ALLOW_ALL = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }] });

let dir: string;
let platform: RunningPlatform;
let iot: IoTClient;
let events: MqttClient;
let kafka: KafkaMock | undefined;
/** Every `$aws/events/certificates/registered/...` message the loopback observer saw, and what a rule republished. */
const seen: { topic: string; payload: Record<string, unknown> }[] = [];

/** `kiot up` in this process on the embedded log or on the librdkafka mock cluster, a rule on the registered topic, and an observer. */
async function start(kind: 'embedded' | 'kafka'): Promise<void> {
  seen.length = 0;
  if (kind === 'kafka') kafka = await startKafkaMock();
  dir = await mkdtemp(join(tmpdir(), 'kiot-jit-'));
  await mkdir(join(dir, 'rules'));
  const flags: Record<string, string> = { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules'), httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', httpsPort: '0' };
  if (kafka) flags['kafka'] = kafka.brokers.join(',');
  platform = await startPlatform(loadConfig({ flags, env: {} }), () => undefined, silentLogger());
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${platform.listeners.get('http')}`, region: 'us-east-1', credentials: fromIni({ filepath: join(dir, 'data', 'credentials'), profile: 'default' }), maxAttempts: 1 });
  // The guide's JITR flow: a rule on the registered topic; here it republishes, the test plays the activating function.
  await iot.send(new CreateTopicRuleCommand({
    ruleName: 'jitr',
    topicRulePayload: { sql: "SELECT *, topic(5) AS ca FROM '$aws/events/certificates/registered/+'", actions: [{ republish: { topic: 'jitr/registered', roleArn: ROLE, qos: 1 } }] },
  }));
  events = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`, { clientId: 'observer', reconnectPeriod: 0 });
  events.on('message', (topic, payload) => seen.push({ topic, payload: JSON.parse(payload.toString()) as Record<string, unknown> }));
  await events.subscribeAsync(['$aws/events/certificates/registered/+', 'jitr/registered'], { qos: 1 });
}

async function stop(): Promise<void> {
  await events?.endAsync(true);
  await platform?.stop();
  await kafka?.stop();
  kafka = undefined;
  await rm(dir, { recursive: true, force: true });
}

interface TestCa {
  readonly id: string;
  readonly keys: webcrypto.CryptoKeyPair;
  readonly name: string;
  readonly pem: string;
}

const ecKeys = async () => (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
const day = () => ({ notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) });
const serial = () => createHash('sha1').update(String(Math.random())).digest('hex').slice(0, 16).replace(/^[89a-f]/, '1');

async function makeCa(name: string): Promise<TestCa> {
  const keys = await ecKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(), name, ...day(), keys, signingAlgorithm: EC,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature, true)],
  });
  const pem = cert.toString('pem');
  return { id: idOf(pem), keys, name, pem };
}

/** RegisterCACertificate with a verification certificate carrying the registration code. */
async function registerCa(ca: TestCa, options: { active: boolean; auto: boolean; registrationConfig?: Record<string, string> }): Promise<void> {
  const { registrationCode } = await iot.send(new GetRegistrationCodeCommand({}));
  const verification = await sign(ca, `CN=${registrationCode}`);
  await iot.send(new RegisterCACertificateCommand({
    caCertificate: ca.pem,
    verificationCertificate: verification.cert,
    setAsActive: options.active,
    allowAutoRegistration: options.auto,
    ...(options.registrationConfig ? { registrationConfig: options.registrationConfig } : {}),
  }));
}

/** A device certificate and its key (PEM), signed by the CA. */
async function sign(ca: TestCa, subject: string): Promise<{ cert: string; key: string; id: string }> {
  const keys = await ecKeys();
  const cert = (await x509.X509CertificateGenerator.create({
    serialNumber: serial(), subject, issuer: ca.name, ...day(), publicKey: keys.publicKey, signingKey: ca.keys.privateKey, signingAlgorithm: EC,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
  })).toString('pem');
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return { cert, key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`, id: idOf(cert) };
}

const idOf = (pem: string): string => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');

function connect(device: { cert: string; key: string }, clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtts://127.0.0.1:${platform.listeners.get('mqtts')}`, {
    cert: device.cert, key: device.key, rejectUnauthorized: false, clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000,
  });
}

/** The CONNACK return code of a refused connection (3.1.1: 4 bad credentials, 5 not authorized). */
async function refusal(device: { cert: string; key: string }, clientId: string): Promise<number> {
  try {
    const client = await connect(device, clientId);
    await client.endAsync(true);
    return 0;
  } catch (err) {
    return (err as { code: number }).code;
  }
}

async function waitFor<T>(find: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function awsError(promise: Promise<unknown>): Promise<{ name: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { name: string };
  }
  throw new Error('expected the call to fail');
}

/** The registered events on iot.ingress for one certificate (to count them). */
async function registeredEventsFor(certificateId: string): Promise<number> {
  const records = await readRange(platform.log, { topic: TOPICS.ingress });
  return records.map((r) => decodeEnvelope(r.value!)).filter((e) => e.topic.startsWith('$aws/events/certificates/registered/') && JSON.parse(e.payload.toString()).certificateId === certificateId).length;
}

/** POST /topics/<topic> on the device HTTPS listener with a client certificate: the status code. */
function httpsPublish(device: { cert: string; key: string }, topic: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: platform.listeners.get('https'), method: 'POST', path: `/topics/${encodeURIComponent(topic)}?qos=1`, cert: device.cert, key: device.key, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

test('JITP parameters: AWS::IoT::Certificate::<subject attribute> (State as StateName) and ::Id', () => {
  expect(certificateParameters({ CommonName: 'pump-7', State: 'Bavaria', Email: 'ops@example.com', SerialNumber: 'SN-1' }, 'abc')).toEqual({
    'AWS::IoT::Certificate::CommonName': 'pump-7',
    'AWS::IoT::Certificate::StateName': 'Bavaria',
    'AWS::IoT::Certificate::Email': 'ops@example.com',
    'AWS::IoT::Certificate::SerialNumber': 'SN-1',
    'AWS::IoT::Certificate::Id': 'abc',
  });
});

/** The guide's example template: a thing named by the CN, the certificate activated, a policy for the thing. */
const TEMPLATE = JSON.stringify({
  Parameters: {
    'AWS::IoT::Certificate::CommonName': { Type: 'String' },
    'AWS::IoT::Certificate::Country': { Type: 'String' },
    'AWS::IoT::Certificate::Id': { Type: 'String' },
  },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: { ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' }, AttributePayload: { version: 'v1', country: { Ref: 'AWS::IoT::Certificate::Country' } } },
    },
    certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' } },
    policy: {
      Type: 'AWS::IoT::Policy',
      Properties: {
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'iot:Connect', Resource: 'arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}' },
            { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: 'arn:aws:iot:*:*:topic/${iot:Connection.Thing.ThingName}/*' },
            { Effect: 'Allow', Action: 'iot:Subscribe', Resource: 'arn:aws:iot:*:*:topicfilter/${iot:Connection.Thing.ThingName}/*' },
          ],
        }),
      },
    },
  },
});

describe.each([['embedded' as const], ['kafka' as const]])('on the %s log', (kind) => {
  beforeAll(() => start(kind), 60_000);
  afterAll(() => stop(), 30_000);

  describe('just-in-time registration (JITR)', () => {
    let ca: TestCa;
    beforeAll(async () => {
      ca = await makeCa('CN=JITR Root,O=Acme');
      await registerCa(ca, { active: true, auto: true });
      await iot.send(new CreatePolicyCommand({ policyName: 'jitr-allow', policyDocument: ALLOW_ALL }));
    }, 30_000);

    test('the first connection registers the certificate PENDING_ACTIVATION and fails; the rule sees the event; once activated the device connects', async () => {
      const described = await iot.send(new DescribeCACertificateCommand({ certificateId: ca.id }));
      expect(described.certificateDescription).toMatchObject({ status: 'ACTIVE', autoRegistrationStatus: 'ENABLE' });

      const device = await sign(ca, 'CN=sensor-1,C=DE');
      expect(await refusal(device, 'sensor-1')).toBe(5);
      const cert = await iot.send(new DescribeCertificateCommand({ certificateId: device.id }));
      expect(cert.certificateDescription).toMatchObject({ status: 'PENDING_ACTIVATION', caCertificateId: ca.id });

      const event = await waitFor(() => seen.find((e) => e.topic === `$aws/events/certificates/registered/${ca.id}` && e.payload['certificateId'] === device.id), 'the registered event');
      expect(event.payload).toMatchObject({ certificateId: device.id, caCertificateId: ca.id, certificateStatus: 'PENDING_ACTIVATION', awsAccountId: expect.any(String) });
      expect(typeof event.payload['timestamp']).toBe('number');
      expect(typeof event.payload['certificateRegistrationTimestamp']).toBe('number');
      // The rule on the registered topic fired with the event (what an activating function would receive).
      const republished = await waitFor(() => seen.find((e) => e.topic === 'jitr/registered' && e.payload['certificateId'] === device.id), 'the rule\'s republish');
      expect(republished.payload).toMatchObject({ caCertificateId: ca.id, ca: ca.id, certificateStatus: 'PENDING_ACTIVATION' });

      // What the guide's function does: activate the certificate and attach a policy.
      const certificateId = republished.payload['certificateId'] as string;
      await iot.send(new AttachPolicyCommand({ policyName: 'jitr-allow', target: cert.certificateDescription!.certificateArn! }));
      await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'ACTIVE' }));
      const client = await connect(device, 'sensor-1');
      await client.endAsync(true);
      expect(await registeredEventsFor(device.id)).toBe(1);
    }, 30_000);

    test('concurrent first connections of one certificate register it once', async () => {
      const device = await sign(ca, 'CN=sensor-2');
      const codes = await Promise.all(Array.from({ length: 6 }, (_, i) => refusal(device, `sensor-2-${i}`)));
      expect(codes.every((c) => c === 5)).toBe(true);
      const listed = await iot.send(new ListCertificatesByCACommand({ caCertificateId: ca.id }));
      expect(listed.certificates?.filter((c) => c.certificateId === device.id)).toHaveLength(1);
      await waitFor(() => seen.find((e) => e.payload['certificateId'] === device.id), 'the registered event');
      expect(await registeredEventsFor(device.id)).toBe(1);
    }, 30_000);

    test('HTTPS publish: an unknown certificate is registered on its first request, which is refused', async () => {
      const device = await sign(ca, 'CN=sensor-3');
      expect(await httpsPublish(device, 'sensors/3')).toBe(403);
      const cert = await iot.send(new DescribeCertificateCommand({ certificateId: device.id }));
      expect(cert.certificateDescription?.status).toBe('PENDING_ACTIVATION');
      await iot.send(new AttachPolicyCommand({ policyName: 'jitr-allow', target: cert.certificateDescription!.certificateArn! }));
      await iot.send(new UpdateCertificateCommand({ certificateId: device.id, newStatus: 'ACTIVE' }));
      expect(await httpsPublish(device, 'sensors/3')).toBe(200);
    }, 30_000);
  });

  describe('refused: nothing is registered', () => {
    test('a CA that is not registered, one that is INACTIVE, one with auto-registration disabled', async () => {
      const unknown = await makeCa('CN=Unknown Root');
      const inactive = await makeCa('CN=Inactive Root');
      const disabled = await makeCa('CN=Disabled Root');
      await registerCa(inactive, { active: false, auto: true });
      await registerCa(disabled, { active: true, auto: false });
      for (const ca of [unknown, inactive, disabled]) {
        const device = await sign(ca, 'CN=intruder');
        expect(await refusal(device, 'intruder')).toBe(4);
        expect((await awsError(iot.send(new DescribeCertificateCommand({ certificateId: device.id })))).name).toBe('ResourceNotFoundException');
      }
      // Turning auto-registration on (UpdateCACertificate) lets the next device register.
      await iot.send(new UpdateCACertificateCommand({ certificateId: disabled.id, newAutoRegistrationStatus: 'ENABLE' }));
      const device = await sign(disabled, 'CN=late');
      // As the guide's JITR asks, this device sends its certificate with the CA's (the chain); kiot needs only its own.
      expect(await refusal({ cert: `${device.cert.trimEnd()}\n${disabled.pem}`, key: device.key }, 'late')).toBe(5);
      expect((await iot.send(new DescribeCertificateCommand({ certificateId: device.id }))).certificateDescription?.status).toBe('PENDING_ACTIVATION');
    }, 30_000);
  });

  describe('just-in-time provisioning (JITP)', () => {
    test('a CA with a templateBody: the first connection provisions the thing, policy and ACTIVE certificate and succeeds', async () => {
      const ca = await makeCa('CN=JITP Root');
      await registerCa(ca, { active: true, auto: true, registrationConfig: { templateBody: TEMPLATE, roleArn: ROLE } });
      const described = await iot.send(new DescribeCACertificateCommand({ certificateId: ca.id }));
      expect(described.registrationConfig).toEqual({ templateBody: TEMPLATE, roleArn: ROLE });

      const device = await sign(ca, 'CN=pump-7,C=FR,O=Acme');
      const client = await connect(device, 'pump-7');
      try {
        await client.subscribeAsync('pump-7/cmd', { qos: 1 });
        const got = new Promise<string>((resolve) => client.on('message', (_t, p) => resolve(p.toString())));
        await client.publishAsync('pump-7/cmd', 'go', { qos: 1 });
        expect(await got).toBe('go');
      } finally {
        await client.endAsync(true);
      }
      const thing = await iot.send(new DescribeThingCommand({ thingName: 'pump-7' }));
      expect(thing.attributes).toEqual({ version: 'v1', country: 'FR' });
      const cert = await iot.send(new DescribeCertificateCommand({ certificateId: device.id }));
      expect(cert.certificateDescription).toMatchObject({ status: 'ACTIVE', caCertificateId: ca.id });
      expect((await iot.send(new ListThingPrincipalsCommand({ thingName: 'pump-7' }))).principals).toEqual([cert.certificateDescription!.certificateArn]);
      const event = await waitFor(() => seen.find((e) => e.topic === `$aws/events/certificates/registered/${ca.id}` && e.payload['certificateId'] === device.id), 'the registered event');
      expect(event.payload).toMatchObject({ caCertificateId: ca.id, certificateStatus: 'ACTIVE' });
      // The policy binds the client id to the thing: another client id is refused.
      expect(await refusal(device, 'pump-8')).toBe(5);
    }, 30_000);

    test('a template the certificate cannot fill (no Country) registers nothing, and the connection is refused', async () => {
      const ca = await makeCa('CN=JITP Strict Root');
      await registerCa(ca, { active: true, auto: true, registrationConfig: { templateBody: TEMPLATE, roleArn: ROLE } });
      const device = await sign(ca, 'CN=valve-1');
      expect(await refusal(device, 'valve-1')).toBe(4);
      expect((await awsError(iot.send(new DescribeCertificateCommand({ certificateId: device.id })))).name).toBe('ResourceNotFoundException');
      expect((await awsError(iot.send(new DescribeThingCommand({ thingName: 'valve-1' })))).name).toBe('ResourceNotFoundException');
    }, 30_000);

    test('a JITP template by name, set with UpdateCACertificate; registrationConfig is checked', async () => {
      await iot.send(new CreateProvisioningTemplateCommand({ templateName: 'jitp-named', templateBody: TEMPLATE, provisioningRoleArn: ROLE, enabled: true, type: 'JITP' }));
      const ca = await makeCa('CN=JITP Named Root');
      await registerCa(ca, { active: true, auto: false });
      expect((await awsError(iot.send(new UpdateCACertificateCommand({ certificateId: ca.id, registrationConfig: { templateBody: '{"Resources": 1}', roleArn: ROLE } })))).name).toBe('InvalidRequestException');
      expect((await awsError(iot.send(new UpdateCACertificateCommand({ certificateId: ca.id, registrationConfig: { templateBody: TEMPLATE } })))).name).toBe('InvalidRequestException');
      await iot.send(new UpdateCACertificateCommand({ certificateId: ca.id, newAutoRegistrationStatus: 'ENABLE', registrationConfig: { templateName: 'jitp-named' } }));
      expect((await iot.send(new DescribeCACertificateCommand({ certificateId: ca.id }))).registrationConfig).toEqual({ templateName: 'jitp-named' });

      const device = await sign(ca, 'CN=fan-2,C=IT');
      const client = await connect(device, 'fan-2');
      await client.endAsync(true);
      expect((await iot.send(new DescribeThingCommand({ thingName: 'fan-2' }))).attributes).toEqual({ version: 'v1', country: 'IT' });
    }, 30_000);
  });
});
