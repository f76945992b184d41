/**
 * Concurrent registry writes through `@aws-sdk/client-iot`: every call is a registry command,
 * run one at a time by the registry store, so nothing a concurrent call wrote is lost and no
 * id is issued twice (issue 10: two concurrent CreatePolicyVersion calls used to both return
 * version 2).
 */
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateThingCommand,
  CreateThingTypeCommand,
  DeleteThingCommand,
  DescribeThingCommand,
  ListAttachedPoliciesCommand,
  ListPolicyVersionsCommand,
  ListPrincipalThingsCommand,
  ListTargetsForPolicyCommand,
  ListThingsCommand,
  UpdateThingCommand,
} from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startSecurityApi, TEST_ACCOUNT, type SecurityApiKit } from './testing/security-api.js';

let kit: SecurityApiKit;
beforeAll(async () => {
  kit = await startSecurityApi();
}, 60_000);
afterAll(async () => kit?.close());

const doc = (topic: string): string => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: `arn:aws:iot:*:*:topic/${topic}` }] });
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('concurrent registry writes over the AWS API', () => {
  test('five concurrent CreatePolicyVersion: four get distinct ids 2..5, the fifth hits the limit, every document is kept', async () => {
    await kit.client.send(new CreatePolicyCommand({ policyName: 'racy', policyDocument: doc('v1') }));
    const outcomes = await Promise.allSettled(range(5).map((i) => kit.client.send(new CreatePolicyVersionCommand({ policyName: 'racy', policyDocument: doc(`c${i}`) }))));
    const created = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
    expect(created.map((c) => c.policyVersionId).sort()).toEqual(['2', '3', '4', '5']);
    expect(refused.map((e) => e.name)).toEqual(['VersionsLimitExceededException']);

    const versions = await kit.client.send(new ListPolicyVersionsCommand({ policyName: 'racy' }));
    expect(versions.policyVersions?.map((v) => v.versionId).sort()).toEqual(['1', '2', '3', '4', '5']);
    for (const c of created) {
      const stored = kit.security.policies.getPolicyVersion('racy', c.policyVersionId!);
      expect(stored.version.document).toBe(c.policyDocument);
    }
  }, 30_000);

  test('twenty concurrent UpdateThing attribute merges on one thing: every attribute is kept, the version counts every update', async () => {
    // A thing type lifts AWS's limit of 3 attributes per thing to 50.
    await kit.client.send(new CreateThingTypeCommand({ thingTypeName: 'busy-type' }));
    await kit.client.send(new CreateThingCommand({ thingName: 'busy', thingTypeName: 'busy-type' }));
    await Promise.all(range(20).map((i) => kit.client.send(new UpdateThingCommand({ thingName: 'busy', attributePayload: { attributes: { [`a${i}`]: `v${i}` }, merge: true } }))));
    const thing = await kit.client.send(new DescribeThingCommand({ thingName: 'busy' }));
    expect(thing.attributes).toEqual(Object.fromEntries(range(20).map((i) => [`a${i}`, `v${i}`])));
    expect(thing.version).toBe(21);
  }, 30_000);

  test('concurrent AttachPolicy calls, of many policies to one certificate and of one policy to many targets, all stick', async () => {
    const cert = await kit.client.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    const names = range(8).map((i) => `attach-${i}`);
    await Promise.all(names.map((name) => kit.client.send(new CreatePolicyCommand({ policyName: name, policyDocument: doc(name) }))));
    const groups = range(8).map((i) => `arn:aws:iot:us-east-1:${TEST_ACCOUNT}:thinggroup/g${i}`);
    await Promise.all([
      ...names.map((policyName) => kit.client.send(new AttachPolicyCommand({ policyName, target: cert.certificateArn }))),
      ...groups.map((target) => kit.client.send(new AttachPolicyCommand({ policyName: 'attach-0', target }))),
    ]);
    const attached = await kit.client.send(new ListAttachedPoliciesCommand({ target: cert.certificateArn, pageSize: 100 }));
    expect(attached.policies?.map((p) => p.policyName).sort()).toEqual(names);
    const targets = await kit.client.send(new ListTargetsForPolicyCommand({ policyName: 'attach-0', pageSize: 100 }));
    expect(targets.targets?.sort()).toEqual([cert.certificateArn!, ...groups].sort());
  }, 30_000);

  test('AttachThingPrincipal racing DeleteThing never leaves an attachment to a deleted thing', async () => {
    const cert = await kit.client.send(new CreateKeysAndCertificateCommand({ setAsActive: false }));
    const things = range(6).map((i) => `race-${i}`);
    await Promise.all(things.map((thingName) => kit.client.send(new CreateThingCommand({ thingName }))));
    await Promise.allSettled(
      things.flatMap((thingName) => [
        kit.client.send(new AttachThingPrincipalCommand({ thingName, principal: cert.certificateArn! })),
        kit.client.send(new DeleteThingCommand({ thingName })),
      ]),
    );
    const existing = new Set((await kit.client.send(new ListThingsCommand({ maxResults: 250 }))).things?.map((t) => t.thingName));
    const attachedTo = (await kit.client.send(new ListPrincipalThingsCommand({ principal: cert.certificateArn! }))).things ?? [];
    for (const thing of attachedTo) expect(existing.has(thing)).toBe(true);
    // Each thing ended one of the two consistent ways: attached and kept, or deleted and not attached.
    for (const thing of things) expect(existing.has(thing)).toBe(attachedTo.includes(thing));
  }, 30_000);
});
