/**
 * applyTemplate against the real registry store on an EmbeddedLog: what a template makes, that
 * a failure anywhere (the last resource included) leaves nothing behind, even after a replay of
 * the topic, OverrideSettings on existing resources, `once`, and the pre-provisioning hook seam.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EmbeddedLog, PlatformError, silentLogger } from '../core/index.js';
import { ThingRegistry, createSecurityService, thingsDirectory, type SecurityServices } from '../registry/index.js';
import { applyMany, applyTemplate, type ProvisioningTargets } from './apply.js';
import { parseTemplate } from './template.js';
import { makeCsr } from './testing/csr.js';


const POLICY_DOC = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] });
const TEMPLATE = {
  Parameters: { ThingName: { Type: 'String' }, CSR: { Type: 'String' }, Group: { Type: 'String', Default: 'fleet' }, Policy: { Type: 'String', Default: 'shared' } },
  Resources: {
    thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'ThingName' }, AttributePayload: { model: 'v1' }, ThingGroups: [{ Ref: 'Group' }] } },
    certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateSigningRequest: { Ref: 'CSR' }, Status: 'ACTIVE' } },
    docPolicy: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: POLICY_DOC } },
    // The last resource: a policy by name, which must exist.
    namedPolicy: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: { Ref: 'Policy' } } },
  },
};

let dir: string;
let log: EmbeddedLog;
let registry: ThingRegistry;
let security: SecurityServices;
let targets: ProvisioningTargets;
let stopSecurity: () => Promise<void>;

async function open(): Promise<void> {
  log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  registry = await ThingRegistry.open({ log, logger: silentLogger(), region: 'us-east-1', accountId: '123456789012', publishEvents: false });
  const service = createSecurityService({ region: undefined, accountId: '123456789012' }, { log, logger: silentLogger(), things: thingsDirectory(registry), registryStore: registry.store });
  security = await service.start();
  stopSecurity = () => service.stop();
  targets = { registry: registry.store, certificates: security.certificates, policies: security.policies };
}
async function close(): Promise<void> {
  await stopSecurity();
  await registry.close();
  await log.close();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-provision-'));
  await open();
  await registry.createThingGroup({ thingGroupName: 'fleet' });
  await security.policies.createPolicy('shared', POLICY_DOC);
}, 60_000);

afterAll(async () => {
  await close();
  await rm(dir, { recursive: true, force: true });
});

const snapshot = (): Map<string, string> => new Map([...registry.store.state.entries()].map(([k, v]) => [k, JSON.stringify(v)]));

async function expectFault(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PlatformError);
  expect((err as PlatformError).code).toBe(code);
  expect((err as Error).message).toMatch(message);
}

describe('applyTemplate', () => {
  test('makes the thing in its group, a certificate from the CSR signed by the kiot CA, the policies, and attaches them', async () => {
    const t = parseTemplate(JSON.stringify(TEMPLATE));
    const out = await applyTemplate(targets, t, { ThingName: 'dev-1', CSR: await makeCsr('dev-1') });
    const cert = new X509Certificate(out.certificatePem!);
    expect(cert.subject).toContain('CN=dev-1');
    expect(cert.verify(new X509Certificate(security.certificates.kiotCaCertificate().certificatePem).publicKey)).toBe(true);
    expect(security.certificates.describeCertificate(out.certificateId!).status).toBe('ACTIVE');
    const thing = registry.thing('dev-1')!;
    expect(thing.attributes).toEqual({ model: 'v1' });
    expect(thing.groups.map((g) => g.groupName)).toEqual(['fleet']);
    const certArn = security.certificates.certificateArn(out.certificateId!);
    expect(security.policies.principalsOfThing('dev-1')).toEqual([certArn]);
    const policies = security.policies.effectivePolicyNames(certArn);
    expect(policies).toContain('shared');
    expect(policies).toHaveLength(2);
    expect(out.resourceArns).toEqual({
      thing: 'arn:aws:iot:us-east-1:123456789012:thing/dev-1',
      certificate: certArn,
      docPolicy: expect.stringMatching(/:policy\/[0-9a-f]{64}$/),
      namedPolicy: 'arn:aws:iot:us-east-1:123456789012:policy/shared',
    });
    // A second device shares the document policy (named by its hash) rather than failing on it.
    const second = await applyTemplate(targets, t, { ThingName: 'dev-2', CSR: await makeCsr('dev-2') });
    expect(second.resourceArns['docPolicy']).toBe(out.resourceArns['docPolicy']);
  }, 30_000);

  test('failing the last resource leaves nothing behind: no thing, certificate, policy or attachment, also after a replay', async () => {
    const t = parseTemplate(JSON.stringify(TEMPLATE));
    const before = snapshot();
    // Planning fails: the last resource names a policy that does not exist.
    await expectFault(applyTemplate(targets, t, { ThingName: 'dev-3', CSR: await makeCsr('dev-3'), Policy: 'missing' }), 'REGISTRY_NOT_FOUND', /policy missing does not exist/);
    expect(snapshot()).toEqual(before);
    // Writing fails: the thing group is checked by the batch's step, after the thing and the certificate.
    await expectFault(applyTemplate(targets, t, { ThingName: 'dev-3', CSR: await makeCsr('dev-3'), Group: 'no-such-group' }), 'REGISTRY_NOT_FOUND', /Thing group no-such-group does not exist/);
    expect(snapshot()).toEqual(before);
    // A certificate that fails (a CSR that is not one) also leaves the thing uncreated.
    await expectFault(applyTemplate(targets, t, { ThingName: 'dev-3', CSR: 'not a CSR' }), 'CERTIFICATE_INVALID', /./);
    expect(registry.thing('dev-3')).toBeUndefined();
    // What the log holds replays to the same registry.
    await close();
    await open();
    expect(snapshot()).toEqual(before);
  }, 30_000);

  test('OverrideSettings decide for an existing thing and certificate', async () => {
    await registry.createThingGroup({ thingGroupName: 'other' });
    await registry.createThing({ thingName: 'old', attributes: { keep: '1', model: 'v0' } });
    await registry.addThingToThingGroup({ thingName: 'old', thingGroupName: 'other' });
    const template = (overrides: Record<string, string>) =>
      parseTemplate(JSON.stringify({ Resources: { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'old', AttributePayload: { model: 'v1' }, ThingGroups: ['fleet'] }, OverrideSettings: overrides } } }));
    await applyTemplate(targets, template({}), {});
    expect(registry.thing('old')!.attributes).toEqual({ keep: '1', model: 'v0' }); // DO_NOTHING by default
    await expectFault(applyTemplate(targets, template({ AttributePayload: 'FAIL' }), {}), 'REGISTRY_ALREADY_EXISTS', /OverrideSettings AttributePayload: FAIL/);
    await applyTemplate(targets, template({ AttributePayload: 'MERGE', ThingGroups: 'MERGE' }), {});
    expect(registry.thing('old')!.attributes).toEqual({ keep: '1', model: 'v1' });
    expect(registry.thing('old')!.groups.map((g) => g.groupName).sort()).toEqual(['fleet', 'other']);
    await applyTemplate(targets, parseTemplate(JSON.stringify({ Resources: { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'old', AttributePayload: { only: 'x' }, ThingGroups: ['fleet'] }, OverrideSettings: { AttributePayload: 'REPLACE', ThingGroups: 'REPLACE' } } } })), {});
    expect(registry.thing('old')!.attributes).toEqual({ only: 'x' });
    expect(registry.thing('old')!.groups.map((g) => g.groupName)).toEqual(['fleet']);

    const issued = await security.certificates.createKeysAndCertificate({ setAsActive: false });
    const byId = (overrides: Record<string, string>) => parseTemplate(JSON.stringify({ Resources: { c: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: issued.certificateId, Status: 'ACTIVE' }, OverrideSettings: overrides } } }));
    await expectFault(applyTemplate(targets, byId({ Status: 'FAIL' }), {}), 'REGISTRY_ALREADY_EXISTS', /is INACTIVE, not ACTIVE/);
    await applyTemplate(targets, byId({}), {});
    expect(security.certificates.describeCertificate(issued.certificateId).status).toBe('INACTIVE');
    const out = await applyTemplate(targets, byId({ Status: 'REPLACE' }), {});
    expect(security.certificates.describeCertificate(issued.certificateId).status).toBe('ACTIVE');
    expect(out.certificatePem).toBe(issued.certificatePem);
  }, 30_000);

  test('once: the same sequence number applies once and replays its result', async () => {
    const t = parseTemplate(JSON.stringify(TEMPLATE));
    const csr = await makeCsr('dev-once');
    const first = await applyTemplate(targets, t, { ThingName: 'dev-once', CSR: csr }, { once: { id: 'task-1', seq: 7, keepFrom: 0 } });
    const certs = security.certificates.listCertificates({}).items.length;
    const again = await applyTemplate(targets, t, { ThingName: 'dev-once', CSR: csr }, { once: { id: 'task-1', seq: 7, keepFrom: 0 } });
    expect(again.replayed).toBe(true);
    expect(again.certificateId).toBe(first.certificateId);
    expect(again.certificatePem).toBe(first.certificatePem);
    expect(security.certificates.listCertificates({}).items.length).toBe(certs);
  }, 30_000);

  test('applyMany: many devices in one registry command, each all or nothing, each failure its own', async () => {
    const fresh = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: '*' }] });
    const t = parseTemplate(JSON.stringify({ ...TEMPLATE, Resources: { ...TEMPLATE.Resources, docPolicy: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: fresh } } } }));
    const commandsBefore = registry.store.state.stats().executed;
    const outcomes = await applyMany(targets, t, [
      { parameters: { ThingName: 'many-1', CSR: await makeCsr('many-1') } },
      { parameters: { ThingName: 'many-2', CSR: await makeCsr('many-2'), Group: 'no-such-group' } }, // fails in the batch
      { parameters: { ThingName: 'many-3', CSR: 'garbage' } }, // fails before it
      { parameters: { ThingName: 'many-4', CSR: await makeCsr('many-4') } },
    ]);
    expect(registry.store.state.stats().executed - commandsBefore).toBe(1);
    // Both successful devices share the document policy the batch made once (policy.ensure).
    const policyArnOf = (o: unknown) => (o as { resourceArns: Record<string, string> }).resourceArns['docPolicy'];
    expect(policyArnOf(outcomes[0])).toBe(policyArnOf(outcomes[3]));
    expect(outcomes.map((o) => (o instanceof PlatformError ? o.code : o.thingName))).toEqual(['many-1', 'REGISTRY_NOT_FOUND', 'CERTIFICATE_INVALID', 'many-4']);
    expect(['many-1', 'many-2', 'many-3', 'many-4'].map((n) => registry.thing(n) !== undefined)).toEqual([true, false, false, true]);
    expect(security.policies.principalsOfThing('many-4')).toHaveLength(1);
  }, 30_000);

  test('the pre-provisioning hook may deny, or override parameters', async () => {
    const t = parseTemplate(JSON.stringify({ Parameters: { ThingName: { Type: 'String' } }, Resources: { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'ThingName' } } } } }));
    await expectFault(applyTemplate(targets, t, { ThingName: 'denied' }, { hook: async () => ({ allowProvisioning: false }) }), 'REGISTRY_INVALID', /denied provisioning/);
    expect(registry.thing('denied')).toBeUndefined();
    const seen: unknown[] = [];
    const out = await applyTemplate(targets, t, { ThingName: 'asked' }, { templateName: 'tpl', hook: async (req) => (seen.push(req), { allowProvisioning: true, parameterOverrides: { ThingName: 'renamed' } }) });
    expect(seen).toEqual([{ templateName: 'tpl', parameters: { ThingName: 'asked' } }]);
    expect(out.thingName).toBe('renamed');
    expect(registry.thing('renamed')).toBeDefined();
  });
});
