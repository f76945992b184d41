import { X509Certificate, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EmbeddedLog, PlatformError, silentLogger, type ErrorCode } from '../../core/index.js';
import { createSecurityService, type SecurityServices } from './index.js';

const config = { region: undefined, accountId: '123456789012' };
const things = new Map<string, { thingTypeName?: string; attributes: Record<string, string> }>([
  ['sensor-1', { thingTypeName: 'thermo', attributes: { site: 'plant7' } }],
  ['sensor-2', { attributes: {} }],
]);
const thingDirectory = {
  hasThing: (name: string) => things.has(name),
  describeThing: (name: string) => things.get(name),
};

let dir: string;
let log: EmbeddedLog;
let svc: SecurityServices;
let stop: () => Promise<void>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-sec-'));
  log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  const service = createSecurityService(config, { log, logger: silentLogger(), things: thingDirectory });
  svc = await service.start();
  stop = () => service.stop();
}, 60_000);

afterAll(async () => {
  await stop?.();
  await stop?.(); // safe twice
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

async function expectCode(promise: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<void> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    expect(err).toBeInstanceOf(PlatformError);
    expect((err as PlatformError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

/** A CA of the test's own (as a customer would have), with @peculiar/x509. */
async function customerCa(): Promise<{ pem: string; keys: webcrypto.CryptoKeyPair; name: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const name = `CN=Customer CA ${Math.random()}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), keys, signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return { pem: cert.toString('pem'), keys, name };
}

async function signedBy(ca: { keys: webcrypto.CryptoKeyPair; name: string }, subject: string): Promise<string> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const leafKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject, issuer: ca.name, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000),
    publicKey: leafKeys.publicKey, signingKey: ca.keys.privateKey, signingAlgorithm: alg,
  });
  return cert.toString('pem');
}

describe('kiot CA and issued certificates', () => {
  test('the kiot CA exists after start and survives a restart of the service', async () => {
    const first = svc.certificates.kiotCaCertificate();
    const ca = new X509Certificate(first.certificatePem);
    expect(ca.ca).toBe(true);
    const again = createSecurityService(config, { log, logger: silentLogger() });
    const services = await again.start();
    expect(services.certificates.kiotCaCertificate().certificateId).toBe(first.certificateId);
    await again.stop();
  });

  test('CreateKeysAndCertificate: the certificate verifies against the kiot CA and matches its key', async () => {
    const out = await svc.certificates.createKeysAndCertificate({ setAsActive: true });
    const cert = new X509Certificate(out.certificatePem);
    const ca = new X509Certificate(svc.certificates.kiotCaCertificate().certificatePem);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(out.keyPair.PrivateKey))).toBe(true);
    expect(createPublicKey(out.keyPair.PublicKey).export({ format: 'der', type: 'spki' })).toEqual(cert.publicKey.export({ format: 'der', type: 'spki' }));
    // The id is the SHA-256 fingerprint of the DER, as AWS IoT's.
    expect(out.certificateId).toBe(cert.fingerprint256.replace(/:/g, '').toLowerCase());
    expect(out.certificateArn).toBe(`arn:aws:iot:us-east-1:123456789012:cert/${out.certificateId}`);
    expect(svc.certificates.describeCertificate(out.certificateId).status).toBe('ACTIVE');
  }, 30_000);

  test('a short-lived certificate (CreateProvisioningClaim) connects until its notAfter, then no longer', async () => {
    const live = await svc.certificates.createKeysAndCertificate({ setAsActive: true, notAfter: new Date(Date.now() + 5 * 60_000) });
    expect(svc.principals.authenticateCertificate(live.certificateId)).toMatchObject({ status: 'ACTIVE', active: true });
    const past = await svc.certificates.createKeysAndCertificate({ setAsActive: true, notAfter: new Date(Date.now() - 1000) });
    expect(svc.principals.authenticateCertificate(past.certificateId)).toMatchObject({ status: 'ACTIVE', active: false });
  }, 30_000);

  test('CreateCertificateFromCsr keeps the CSR key and subject; a tampered CSR is refused', async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=device-from-csr', keys, signingAlgorithm: alg });
    const out = await svc.certificates.createCertificateFromCsr({ certificateSigningRequest: csr.toString('pem') });
    const cert = new X509Certificate(out.certificatePem);
    expect(cert.subject).toContain('CN=device-from-csr');
    expect(cert.verify(new X509Certificate(svc.certificates.kiotCaCertificate().certificatePem).publicKey)).toBe(true);
    expect(svc.certificates.describeCertificate(out.certificateId).status).toBe('INACTIVE');
    await expectCode(svc.certificates.createCertificateFromCsr({ certificateSigningRequest: 'not a csr' }), 'CERTIFICATE_INVALID');
  });

  test('UpdateCertificate: REVOKED is final; DeleteCertificate refuses ACTIVE and attached certificates', async () => {
    const out = await svc.certificates.createKeysAndCertificate({ setAsActive: true });
    await expectCode(svc.certificates.deleteCertificate(out.certificateId), 'CERTIFICATE_STATE');
    await svc.certificates.updateCertificate(out.certificateId, 'INACTIVE');
    await svc.policies.attachThingPrincipal('sensor-2', out.certificateArn);
    await expectCode(svc.certificates.deleteCertificate(out.certificateId), 'REGISTRY_DELETE_CONFLICT');
    await svc.policies.detachThingPrincipal('sensor-2', out.certificateArn);
    await svc.policies.createPolicy('del-test', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }] }));
    await svc.policies.attachPolicy('del-test', out.certificateArn);
    await expectCode(svc.certificates.deleteCertificate(out.certificateId), 'REGISTRY_DELETE_CONFLICT');
    await svc.certificates.updateCertificate(out.certificateId, 'REVOKED');
    await expectCode(svc.certificates.updateCertificate(out.certificateId, 'ACTIVE'), 'CERTIFICATE_STATE');
    await svc.certificates.deleteCertificate(out.certificateId, { forceDelete: true });
    expect(svc.certificates.findCertificate(out.certificateId)).toBeUndefined();
    expect(svc.policies.targetsForPolicy('del-test', {}).items).toEqual([]);
    await expectCode(async () => svc.certificates.describeCertificate(out.certificateId), 'REGISTRY_NOT_FOUND');
  }, 30_000);

  test('ListCertificates pages with a marker through every certificate once', async () => {
    const total = svc.store.list('cert/').length;
    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const page = svc.certificates.listCertificates({ pageSize: 2, marker, ascendingOrder: true });
      seen.push(...page.items.map((c) => c.id));
      marker = page.next;
    } while (marker);
    expect(seen.length).toBe(total);
    expect(new Set(seen).size).toBe(total);
  });
});

describe('CA registration', () => {
  test('RegisterCACertificate needs a verification certificate with the registration code, signed by the CA', async () => {
    const ca = await customerCa();
    const code = await svc.certificates.getRegistrationCode();
    expect(await svc.certificates.getRegistrationCode()).toBe(code);
    const wrongCode = await signedBy(ca, 'CN=not-the-code');
    await expectCode(svc.certificates.registerCaCertificate({ caCertificate: ca.pem, verificationCertificate: wrongCode }), 'CERTIFICATE_REGISTRATION_CODE');
    const other = await customerCa();
    const otherSigned = await signedBy(other, `CN=${code}`);
    await expectCode(svc.certificates.registerCaCertificate({ caCertificate: ca.pem, verificationCertificate: otherSigned }), 'CERTIFICATE_INVALID');

    const verification = await signedBy(ca, `CN=${code}`);
    const reg = await svc.certificates.registerCaCertificate({ caCertificate: ca.pem, verificationCertificate: verification, setAsActive: false });
    expect(svc.certificates.describeCaCertificate(reg.certificateId).status).toBe('INACTIVE');
    await expectCode(svc.certificates.registerCaCertificate({ caCertificate: ca.pem, verificationCertificate: verification }), 'REGISTRY_ALREADY_EXISTS');

    // RegisterCertificate: refused while the CA is INACTIVE, accepted once ACTIVE.
    const device = await signedBy(ca, 'CN=customer-device');
    await expectCode(svc.certificates.registerCertificate({ certificatePem: device, status: 'ACTIVE' }), 'CERTIFICATE_STATE');
    await svc.certificates.updateCaCertificate(reg.certificateId, { newStatus: 'ACTIVE' });
    const dev = await svc.certificates.registerCertificate({ certificatePem: device, status: 'ACTIVE' });
    expect(svc.certificates.describeCertificate(dev.certificateId).caCertificateId).toBe(reg.certificateId);
    expect(svc.certificates.listCertificates({ caCertificateId: reg.certificateId }).items.map((c) => c.id)).toEqual([dev.certificateId]);
    await expectCode(svc.certificates.registerCertificate({ certificatePem: device }), 'REGISTRY_ALREADY_EXISTS');

    // A certificate from an unregistered CA.
    const stranger = await signedBy(other, 'CN=stranger');
    await expectCode(svc.certificates.registerCertificate({ certificatePem: stranger }), 'CERTIFICATE_INVALID');
    const noCa = await svc.certificates.registerCertificateWithoutCa({ certificatePem: stranger, status: 'ACTIVE' });
    expect(svc.certificates.describeCertificate(noCa.certificateId).mode).toBe('SNI_ONLY');

    await expectCode(svc.certificates.deleteCaCertificate(reg.certificateId), 'CERTIFICATE_STATE');
    await svc.certificates.updateCaCertificate(reg.certificateId, { newStatus: 'INACTIVE' });
    await svc.certificates.deleteCaCertificate(reg.certificateId);
    expect(svc.certificates.listCaCertificates({}).items.some((c) => c.id === reg.certificateId)).toBe(false);
  }, 30_000);
});

describe('policies and attachments', () => {
  const doc = (resource: string): string => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: resource }] });

  test('versions: at most 5, default switches, the default cannot be deleted, DeletePolicy needs one version', async () => {
    await svc.policies.createPolicy('versions', doc('*'));
    await expectCode(svc.policies.createPolicy('versions', doc('*')), 'REGISTRY_ALREADY_EXISTS');
    for (let i = 2; i <= 5; i++) await svc.policies.createPolicyVersion('versions', doc(`arn:aws:iot:us-east-1:1:topic/v${i}`), i === 3);
    expect(svc.policies.getPolicy('versions').policy.defaultVersionId).toBe('3');
    await expectCode(svc.policies.createPolicyVersion('versions', doc('*'), false), 'REGISTRY_VERSIONS_LIMIT');
    await expectCode(svc.policies.deletePolicyVersion('versions', '3'), 'REGISTRY_DELETE_CONFLICT');
    await expectCode(svc.policies.deletePolicy('versions'), 'REGISTRY_DELETE_CONFLICT');
    await svc.policies.setDefaultPolicyVersion('versions', '5');
    for (const v of ['1', '2', '3', '4']) await svc.policies.deletePolicyVersion('versions', v);
    expect(svc.policies.listPolicyVersions('versions').versions.map((v) => v.id)).toEqual(['5']);
    await svc.policies.deletePolicy('versions');
    await expectCode(async () => svc.policies.getPolicy('versions'), 'REGISTRY_NOT_FOUND');
  });

  test('a malformed document is POLICY_MALFORMED; a bad name is REGISTRY_INVALID', async () => {
    await expectCode(svc.policies.createPolicy('bad-doc', '{"Statement":[{"Effect":"Perhaps"}]}'), 'POLICY_MALFORMED');
    await expectCode(svc.policies.createPolicy('bad/name', doc('*')), 'REGISTRY_INVALID');
  });

  test('thing principals: missing thing, exclusive attachment, listings both ways', async () => {
    const cert = await svc.certificates.createKeysAndCertificate({ setAsActive: true });
    await expectCode(svc.policies.attachThingPrincipal('no-such-thing', cert.certificateArn), 'REGISTRY_NOT_FOUND');
    await expectCode(svc.policies.attachThingPrincipal('sensor-1', 'arn:aws:iot:us-east-1:123456789012:cert/' + 'f'.repeat(64)), 'REGISTRY_NOT_FOUND');
    await svc.policies.attachThingPrincipal('sensor-1', cert.certificateArn, 'EXCLUSIVE_THING');
    await expectCode(svc.policies.attachThingPrincipal('sensor-2', cert.certificateArn), 'REGISTRY_INVALID');
    // An ARN naming another region still names the same certificate.
    const otherRegion = cert.certificateArn.replace('us-east-1', 'eu-west-1');
    expect(svc.policies.principalThings(otherRegion, {}).items).toEqual(['sensor-1']);
    expect(svc.policies.thingPrincipals('sensor-1', {}).items).toContain(cert.certificateArn);
    await expectCode(async () => svc.policies.assertThingHasNoPrincipals('sensor-1'), 'REGISTRY_INVALID');
    await svc.policies.detachThingPrincipal('sensor-1', cert.certificateArn);
    expect(svc.policies.principalThings(cert.certificateArn, {}).items).toEqual([]);
  }, 30_000);
});

describe('authenticateCertificate and the compiled authorizer', () => {
  test('a device with its own-topics policy: connect, publish, subscribe, and changes take effect', async () => {
    const cert = await svc.certificates.createKeysAndCertificate({ setAsActive: true });
    await svc.policies.attachThingPrincipal('sensor-1', cert.certificateArn);
    await svc.policies.createPolicy(
      'own-topics',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'iot:Connect', Resource: 'arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}' },
          { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: 'arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*' },
          { Effect: 'Allow', Action: 'iot:Subscribe', Resource: 'arn:aws:iot:*:*:topicfilter/${iot:Connection.Thing.Attributes[site]}/*' },
        ],
      }),
    );
    await svc.policies.attachPolicy('own-topics', cert.certificateArn);

    const x = new X509Certificate(cert.certificatePem);
    const changes: (string | undefined)[] = [];
    const unsubscribe = svc.principals.onChange((c) => changes.push(c.certificateId));
    for (const ref of [x.fingerprint256, x.raw, cert.certificateId]) {
      const p = svc.principals.authenticateCertificate(ref)!;
      expect(p.certificateId).toBe(cert.certificateId);
    }
    const principal = svc.principals.authenticateCertificate({ fingerprint256: x.fingerprint256 })!;
    expect(principal.active).toBe(true);
    expect(principal.things).toEqual(['sensor-1']);
    expect(principal.policyNames).toEqual(['own-topics']);
    expect(principal.fields.subject['CommonName']).toEqual(['AWS IoT Certificate']);

    const ctx = svc.principals.connectionContext(principal, 'sensor-1', '127.0.0.1:50000');
    expect(ctx.isAttached).toBe(true);
    expect(ctx.thing).toEqual({ name: 'sensor-1', typeName: 'thermo', attributes: { site: 'plant7' } });
    const can = principal.authorizer.bind(ctx);
    const arn = 'arn:aws:iot:us-east-1:123456789012:';
    expect(can('iot:Connect', `${arn}client/sensor-1`)).toBe(true);
    expect(can('iot:Connect', `${arn}client/sensor-2`)).toBe(false);
    expect(can('iot:Publish', `${arn}topic/$aws/things/sensor-1/shadow/update`)).toBe(true);
    expect(can('iot:Publish', `${arn}topic/$aws/things/sensor-2/shadow/update`)).toBe(false);
    expect(can('iot:Subscribe', `${arn}topicfilter/plant7/alerts`)).toBe(true);
    expect(can('iot:Subscribe', `${arn}topicfilter/#`)).toBe(false);

    // Another client id on the same certificate: thing variables fall back to the only attached thing.
    const other = svc.principals.connectionContext(principal, 'someone-else');
    expect(other.isAttached).toBe(false);

    // A new default version is what the next authentication compiles; the change is announced.
    const compiledBefore = principal.authorizer;
    await svc.policies.createPolicyVersion('own-topics', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'iot:*', Resource: '*' }] }), true);
    const after = svc.principals.authenticateCertificate(cert.certificateId)!;
    expect(after.authorizer).not.toBe(compiledBefore);
    expect(after.authorizer.bind(svc.principals.connectionContext(after, 'sensor-1'))('iot:Connect', `${arn}client/sensor-1`)).toBe(false);

    await svc.certificates.updateCertificate(cert.certificateId, 'INACTIVE');
    expect(svc.principals.authenticateCertificate(cert.certificateId)!.active).toBe(false);
    expect(changes).toContain(cert.certificateId);
    unsubscribe();
    expect(svc.principals.authenticateCertificate('ab'.repeat(32))).toBeUndefined();
  }, 30_000);

  test('certificates with the same policy set share one compiled authorizer', async () => {
    const a = await svc.certificates.createKeysAndCertificate({ setAsActive: true });
    const b = await svc.certificates.createKeysAndCertificate({ setAsActive: true });
    await svc.policies.createPolicy('shared', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] }));
    await svc.policies.attachPolicy('shared', a.certificateArn);
    await svc.policies.attachPolicy('shared', b.certificateArn);
    const pa = svc.principals.authenticateCertificate(a.certificateId)!;
    const pb = svc.principals.authenticateCertificate(b.certificateId)!;
    expect(pa.authorizer).toBe(pb.authorizer);
    expect(svc.policies.targetsForPolicy('shared', {}).items).toEqual([a.certificateArn, b.certificateArn].sort());
    await expectCode(svc.policies.deletePolicy('shared'), 'REGISTRY_DELETE_CONFLICT');
  }, 30_000);
});


describe('device authorizer (what the gateway asks)', () => {
  test('no certificate, unknown, inactive, revoked, wrong client id, denied topic, wider filter, another shadow', async () => {
    const cert = await svc.certificates.createKeysAndCertificate({ setAsActive: true });
    await svc.policies.attachThingPrincipal('sensor-2', cert.certificateArn);
    await svc.policies.createPolicy(
      'gateway-rules',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'iot:Connect', Resource: 'arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}' },
          { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: ['arn:aws:iot:*:*:topic/${iot:ClientId}/*', 'arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*'] },
          { Effect: 'Allow', Action: 'iot:Subscribe', Resource: 'arn:aws:iot:*:*:topicfilter/${iot:ClientId}/*' },
        ],
      }),
    );
    await svc.policies.attachPolicy('gateway-rules', cert.certificateArn);
    const fp = new X509Certificate(cert.certificatePem).fingerprint256;

    expect(svc.devices.connect(undefined, 'sensor-2')).toMatchObject({ ok: false, reason: 'bad-credentials' });
    expect(svc.devices.connect('00'.repeat(32), 'sensor-2')).toMatchObject({ ok: false, reason: 'bad-credentials' });
    expect(svc.devices.connect(fp, 'sensor-9')).toMatchObject({ ok: false, reason: 'not-authorized' });

    const ok = svc.devices.connect(fp, 'sensor-2', '127.0.0.1:40000');
    if (!ok.ok) throw new Error(ok.detail);
    expect(ok.session.thingName).toBe('sensor-2');
    expect(ok.session.canPublish('sensor-2/telemetry')).toBe(true);
    expect(ok.session.canPublish('sensor-1/telemetry')).toBe(false);
    expect(ok.session.canPublish('$aws/things/sensor-2/shadow/update')).toBe(true);
    expect(ok.session.canPublish('$aws/things/sensor-1/shadow/update')).toBe(false);
    expect(ok.session.canReceive('sensor-2/cmd')).toBe(true);
    expect(ok.session.canSubscribe('sensor-2/#')).toBe(true);
    expect(ok.session.canSubscribe('#')).toBe(false);
    expect(ok.session.canSubscribe('+/telemetry')).toBe(false);

    await svc.certificates.updateCertificate(cert.certificateId, 'INACTIVE');
    expect(svc.devices.connect(fp, 'sensor-2')).toMatchObject({ ok: false, reason: 'not-authorized' });
    await svc.certificates.updateCertificate(cert.certificateId, 'REVOKED');
    const revoked = svc.devices.connect(fp, 'sensor-2');
    expect(revoked).toMatchObject({ ok: false, reason: 'not-authorized' });
    expect(revoked.ok ? '' : revoked.detail).toContain('REVOKED');
  }, 30_000);
});
