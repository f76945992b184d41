/**
 * Thing group policies (AWS IoT, "Thing group policies"): a certificate inherits the policies of
 * the groups, and their ancestors, of the things it is attached to. Real things registry and
 * security service over one EmbeddedLog.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EmbeddedLog, silentLogger } from '../../core/index.js';
import { DEFAULT_ARN_REGION, ThingRegistry } from '../things/index.js';
import { createSecurityService, thingsDirectory, type PrincipalChange, type SecurityService, type SecurityServices } from './index.js';

const ACCOUNT = '123456789012';
const THING = '${iot:Connection.Thing.ThingName}';
const FLEET_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `arn:aws:iot:*:*:client/${THING}` },
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `arn:aws:iot:*:*:topic/${THING}/*` },
  ],
});
const CHILD_POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:*:*:topic/child/*' }] });

let dir: string;
let log: EmbeddedLog;
let registry: ThingRegistry;
let service: SecurityService;
let svc: SecurityServices;

/** Resolves with the first change `accept` takes, or rejects after `timeoutMs`. */
function nextChange(accept: (c: PrincipalChange) => boolean, timeoutMs = 5000): Promise<PrincipalChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('no principal change'));
    }, timeoutMs);
    const off = svc.principals.onChange((c) => {
      if (!accept(c)) return;
      clearTimeout(timer);
      off();
      resolve(c);
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-grouppol-'));
  log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  registry = await ThingRegistry.open({ log, logger: silentLogger(), region: DEFAULT_ARN_REGION, accountId: ACCOUNT, publishEvents: false });
  service = createSecurityService({ region: undefined, accountId: ACCOUNT }, { log, logger: silentLogger(), things: thingsDirectory(registry) });
  svc = await service.start();
  await registry.createThingGroup({ thingGroupName: 'fleet' });
  await registry.createThingGroup({ thingGroupName: 'plant-7', parentGroupName: 'fleet' });
  await svc.policies.createPolicy('fleet-policy', FLEET_POLICY);
  await svc.policies.createPolicy('child-policy', CHILD_POLICY);
  await svc.policies.attachPolicy('fleet-policy', registry.arns.thingGroup('fleet'));
  await svc.policies.attachPolicy('child-policy', registry.arns.thingGroup('plant-7'));
}, 60_000);

afterAll(async () => {
  await service?.stop();
  await registry?.close();
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('thing group policies', () => {
  test('a certificate without policies of its own connects and publishes through its thing\'s parent group; leaving the group ends it', async () => {
    await registry.createThing({ thingName: 'dev-1' });
    const cert = await svc.certificates.createKeysAndCertificate({ setAsActive: true });
    await svc.policies.attachThingPrincipal('dev-1', cert.certificateArn);
    expect(svc.policies.attachedPolicies(cert.certificateArn, {}).items).toEqual([]);
    // Not in a group yet: no policy at all.
    expect(svc.devices.connect(cert.certificateId, 'dev-1').ok).toBe(false);

    const joined = nextChange((c) => c.certificateId === cert.certificateId);
    await registry.addThingToThingGroup({ thingName: 'dev-1', thingGroupName: 'plant-7' });
    expect(await joined).toEqual({ certificateId: cert.certificateId, reason: 'group' });
    expect(svc.principals.authenticateCertificate(cert.certificateId)?.policyNames).toEqual(['child-policy', 'fleet-policy']);
    const result = svc.devices.connect(cert.certificateId, 'dev-1');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.session.canPublish('dev-1/telemetry')).toBe(true);
    expect(result.session.canPublish('child/x')).toBe(true);
    expect(result.session.canPublish('dev-2/telemetry')).toBe(false);
    expect(svc.devices.connect(cert.certificateId, 'dev-2').ok).toBe(false);

    // Removing the thing from the group: a change naming the certificate, and the next decision refuses.
    const left = nextChange((c) => c.certificateId === cert.certificateId);
    await registry.removeThingFromThingGroup({ thingName: 'dev-1', thingGroupName: 'plant-7' });
    expect((await left).reason).toBe('group');
    expect(svc.principals.authenticateCertificate(cert.certificateId)?.policyNames).toEqual([]);
    expect(svc.devices.connect(cert.certificateId, 'dev-1').ok).toBe(false);
  }, 30_000);

  test('detaching the group policy applies to the next decision and notifies (re-check all)', async () => {
    await registry.createThing({ thingName: 'dev-2' });
    const cert = await svc.certificates.createKeysAndCertificate({ setAsActive: true });
    await svc.policies.attachThingPrincipal('dev-2', cert.certificateArn);
    await registry.addThingToThingGroup({ thingName: 'dev-2', thingGroupName: 'plant-7' });
    expect(svc.devices.connect(cert.certificateId, 'dev-2').ok).toBe(true);

    const changed = nextChange((c) => c.reason === 'attachment');
    await svc.policies.detachPolicy('fleet-policy', registry.arns.thingGroup('fleet'));
    expect((await changed).certificateId).toBeUndefined();
    expect(svc.principals.authenticateCertificate(cert.certificateId)?.policyNames).toEqual(['child-policy']);
    expect(svc.devices.connect(cert.certificateId, 'dev-2').ok).toBe(false);

    // Attached again under an ARN of another region: the same group (kiot is one account).
    await svc.policies.attachPolicy('fleet-policy', `arn:aws:iot:eu-west-1:${ACCOUNT}:thinggroup/fleet`);
    expect(svc.devices.connect(cert.certificateId, 'dev-2').ok).toBe(true);
  }, 30_000);

  test('ListAttachedPolicies with recursive on a thing group includes its ancestors\' policies', () => {
    const child = registry.arns.thingGroup('plant-7');
    expect(svc.policies.attachedPolicies(child, {}).items).toEqual(['child-policy']);
    expect(svc.policies.attachedPolicies(child, {}, true).items).toEqual(['child-policy', 'fleet-policy']);
    expect(svc.policies.attachedPolicies(registry.arns.thingGroup('fleet'), {}, true).items).toEqual(['fleet-policy']);
  });
});
