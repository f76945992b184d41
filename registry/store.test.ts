/**
 * The registry store over a real EmbeddedLog: a data dir written before the state store
 * existed (plain JSON records on `iot.registry`) still opens with every record, and two stores
 * on one log (two processes) issue each policy version id once.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { EmbeddedLog, PlatformError, TOPICS, decodeEnvelope, readRange, silentLogger, topicSpec, type Logger } from '../core/index.js';
import { CERTIFICATE_COMMANDS } from './certificates/commands.js';
import { createCa, generateRsaKeyPair, issueCertificate } from './certificates/x509.js';
import { createSecurityService, type SecurityService } from './principals/index.js';
import { ThingRegistry } from './things/index.js';

const ACCOUNT = '123456789012';
const config = { region: undefined, accountId: ACCOUNT };
const CERT_ID = 'a'.repeat(64);
const CA_ID = 'b'.repeat(64);
const CERT_ARN = `arn:aws:iot:us-east-1:${ACCOUNT}:cert/${CERT_ID}`;
const doc = (topic: string): string => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: `arn:aws:iot:*:*:topic/${topic}` }] });

/** Records as the code before the state store wrote them: the value as plain JSON, no frame. */
const OLD_RECORDS: Record<string, object | null> = {
  'thingType/old-type': { kind: 'thingType', thingTypeName: 'old-type', thingTypeId: 'tt-1', searchableAttributes: ['site'], deprecated: false, createdAt: 1_000 },
  'thingGroup/old-group': { kind: 'thingGroup', thingGroupName: 'old-group', thingGroupId: 'tg-1', attributes: { tier: 'gold' }, version: 2, createdAt: 1_000 },
  'thing/old-thing': { kind: 'thing', thingName: 'old-thing', thingId: 't-1', thingTypeName: 'old-type', attributes: { site: 'plant-1' }, version: 3, groups: [{ groupName: 'old-group', membershipId: 'm-1' }], createdAt: 1_000 },
  'thing/gone': { kind: 'thing', thingName: 'gone', thingId: 't-2', attributes: {}, version: 1, groups: [], createdAt: 1_000 },
  'kiot/ca': { id: 'kiot-ca-id', certificatePem: 'old CA certificate', privateKeyPem: 'old CA key' },
  'kiot/registration-code': { code: 'old-registration-code' },
  [`cert/${CERT_ID}`]: { id: CERT_ID, pem: 'old certificate', status: 'ACTIVE', mode: 'DEFAULT', createdAt: 1_000, updatedAt: 1_000, generationId: 'g-1', customerVersion: 1, notBefore: 0, notAfter: 9e12 },
  [`ca/${CA_ID}`]: { id: CA_ID, pem: 'old CA', status: 'INACTIVE', autoRegistrationStatus: 'DISABLE', mode: 'DEFAULT', createdAt: 1_000, updatedAt: 1_000, generationId: 'g-2', customerVersion: 1, notBefore: 0, notAfter: 9e12 },
  'policy/old-policy': {
    name: 'old-policy', defaultVersionId: '2', nextVersionId: 3, createdAt: 1_000, updatedAt: 2_000, generationId: 'g-3',
    versions: [{ id: '1', document: doc('one'), createdAt: 1_000 }, { id: '2', document: doc('two'), createdAt: 2_000 }],
  },
  [`attach/policy/old-policy/${CERT_ARN}`]: {},
  [`attach/thing/old-thing/${CERT_ARN}`]: { type: 'NON_EXCLUSIVE_THING' },
  // A record that never matched the shape is skipped (and logged); the rest still load.
  'thing/broken': { kind: 'thing', thingName: 'broken' },
};

let dir: string | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function openLog(logger: Logger = silentLogger()): Promise<EmbeddedLog> {
  dir ??= await mkdtemp(join(tmpdir(), 'kiot-registry-store-'));
  const log = await EmbeddedLog.open({ dataDir: dir, logger });
  cleanups.push(() => log.close());
  return log;
}

/** The registry and security services as `kiot up` wires them: one shared registry store. */
async function openServices(log: EmbeddedLog) {
  const registry = await ThingRegistry.open({ log, logger: silentLogger(), region: 'us-east-1', accountId: ACCOUNT, publishEvents: false });
  const service = createSecurityService(config, { log, logger: silentLogger(), registryStore: registry.store });
  const security = await service.start();
  const close = async (): Promise<void> => {
    await service.stop();
    await registry.close();
  };
  cleanups.push(close);
  return { registry, security, close };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof PlatformError) return err.code;
    throw err;
  }
  return 'succeeded';
}

/** Resolves once `check` holds, re-checking on each change of the store (no sleeps). */
function until(store: { onChange(listener: () => void): () => void }, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('the registry store did not reach the expected state'));
    }, timeoutMs);
    const off = store.onChange(() => {
      if (!check()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

describe('a data dir written before the registry store', () => {
  test('opens with every record, refuses what the old records forbid, and takes new writes beside them', async () => {
    const first = await openLog();
    await first.ensureTopic(topicSpec(TOPICS.registry));
    await first.append(TOPICS.registry, [
      ...Object.entries(OLD_RECORDS).map(([key, value]) => ({ key, value: Buffer.from(JSON.stringify(value)) })),
      { key: 'thing/gone', value: null },
    ]);
    await first.close();
    cleanups.splice(0);

    const log = await openLog();
    const { registry, security, close } = await openServices(log);
    expect(registry.thing('old-thing')).toEqual(OLD_RECORDS['thing/old-thing']);
    expect(registry.thingType('old-type')).toEqual(OLD_RECORDS['thingType/old-type']);
    expect(registry.groupsOf(registry.thing('old-thing')!).map((g) => g.thingGroupName)).toEqual(['old-group']);
    expect(registry.thing('gone')).toBeUndefined();
    expect(registry.thing('broken')).toBeUndefined();
    // The stored CA is kept: start made no new one.
    expect(security.certificates.kiotCaCertificate()).toEqual({ certificatePem: 'old CA certificate', certificateId: 'kiot-ca-id' });
    expect(await security.certificates.getRegistrationCode()).toBe('old-registration-code');
    expect(security.certificates.describeCertificate(CERT_ID)).toEqual(OLD_RECORDS[`cert/${CERT_ID}`]);
    expect(security.certificates.describeCaCertificate(CA_ID).status).toBe('INACTIVE');
    expect(security.policies.getPolicy('old-policy').version).toEqual({ id: '2', document: doc('two'), createdAt: 2_000 });
    expect(security.policies.attachedPolicies(CERT_ARN, {}).items).toEqual(['old-policy']);
    expect(security.policies.principalThings(CERT_ARN, {}).items).toEqual(['old-thing']);

    // Commands read the old records like their own.
    expect(await codeOf(registry.deleteThing({ thingName: 'old-thing' }))).toBe('REGISTRY_INVALID');
    expect(await codeOf(security.policies.deletePolicy('old-policy'))).toBe('REGISTRY_DELETE_CONFLICT');
    expect((await security.policies.createPolicyVersion('old-policy', doc('three'), true)).version.id).toBe('3');
    expect((await registry.updateThing({ thingName: 'old-thing', attributePayload: { attributes: { line: '4' }, merge: true } })).version).toBe(4);
    await close();

    // A restart reads the framed records beside the old ones.
    const again = await openServices(log);
    expect(again.registry.thing('old-thing')?.attributes).toEqual({ site: 'plant-1', line: '4' });
    expect(again.security.policies.listPolicyVersions('old-policy').versions.map((v) => v.id)).toEqual(['3', '2', '1']);
    expect(again.registry.store.state.revision('policy/old-policy')).toBe(1);
    expect(again.security.certificates.kiotCaCertificate().certificateId).toBe('kiot-ca-id');
  }, 30_000);
});

describe('two registry stores on one log', () => {
  test('concurrent CreatePolicyVersion from both issues each version id once, and both views converge', async () => {
    const log = await openLog();
    const services: SecurityService[] = [];
    for (let i = 0; i < 2; i++) {
      // No registry store given: each service opens its own, as two processes would.
      const service = createSecurityService(config, { log, logger: silentLogger() });
      services.push(service);
      cleanups.push(() => service.stop());
    }
    const [a, b] = await Promise.all(services.map((s) => s.start()));
    await a!.policies.createPolicy('shared', doc('v1'));
    const created = await Promise.all([a, b, a, b].map((s, i) => s!.policies.createPolicyVersion('shared', doc(`v${i + 2}`), false)));
    expect(created.map((c) => c.version.id).sort()).toEqual(['2', '3', '4', '5']);
    for (const { store, policies } of [a!, b!]) {
      await until(store, () => policies.listPolicyVersions('shared').versions.length === 5);
      expect(policies.listPolicyVersions('shared').versions.map((v) => v.document).sort()).toEqual(['v1', 'v2', 'v3', 'v4', 'v5'].map(doc).sort());
    }
  }, 30_000);

  test('two processes auto-registering one device certificate (JITR) register it once and publish one registered event', async () => {
    const log = await openLog();
    const [a, b] = await Promise.all([openServices(log), openServices(log)]);
    const ca = await createCa('Device CA');
    await a.security.certificates.registerCaCertificate({ caCertificate: ca.certificatePem, certificateMode: 'SNI_ONLY', setAsActive: true, allowAutoRegistration: true });
    const device = await issueCertificate(ca, { publicKey: (await generateRsaKeyPair()).publicKeyPem, subject: 'CN=dev-1,ST=Bavaria,E=ops@example.com' });
    const der = new X509Certificate(device).raw;
    await until(b.security.store, () => b.security.certificates.prepareAutoRegistration(der).ok);
    const prepared = [a, b].map((s) => s.security.certificates.prepareAutoRegistration(der));
    const codes = await Promise.all(prepared.map((p, i) => (p.ok ? codeOf([a, b][i]!.registry.store.execute(CERTIFICATE_COMMANDS.autoRegister, p.input)) : p.detail)));
    expect(codes.sort()).toEqual(['REGISTRY_ALREADY_EXISTS', 'succeeded']);
    const first = prepared[0]!;
    if (!first.ok) throw new Error(first.detail);
    expect(first.subject).toEqual({ CommonName: 'dev-1', State: 'Bavaria', Email: 'ops@example.com' });
    expect(a.security.certificates.describeCertificate(first.input.record.id)).toMatchObject({ status: 'PENDING_ACTIVATION', caCertificateId: first.ca.id, mode: 'SNI_ONLY' });
    const events = (await readRange(log, { topic: TOPICS.ingress })).map((r) => decodeEnvelope(r.value!));
    expect(events.map((e) => e.topic)).toEqual([`$aws/events/certificates/registered/${first.ca.id}`]);
    expect(JSON.parse(events[0]!.payload.toString())).toMatchObject({ certificateId: first.input.record.id, caCertificateId: first.ca.id, certificateStatus: 'PENDING_ACTIVATION', awsAccountId: ACCOUNT });
    // A CA with auto-registration turned off refuses the next certificate.
    await a.security.certificates.updateCaCertificate(first.ca.id, { newAutoRegistrationStatus: 'DISABLE' });
    const other = await issueCertificate(ca, { publicKey: (await generateRsaKeyPair()).publicKeyPem, subject: 'CN=dev-2' });
    const refused = a.security.certificates.prepareAutoRegistration(new X509Certificate(other).raw);
    expect(refused).toMatchObject({ ok: false, detail: expect.stringContaining('does not allow auto-registration') });
    // A decision made before the CA changed is refused by the command, which reads the CA again.
    expect(await codeOf(a.registry.store.execute(CERTIFICATE_COMMANDS.autoRegister, { ...first.input, record: { ...first.input.record, id: 'c'.repeat(64) } }))).toBe('CERTIFICATE_STATE');
  }, 30_000);
});
