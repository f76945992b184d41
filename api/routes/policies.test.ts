/** Policy and thing-principal operations through `@aws-sdk/client-iot` against a real HTTP server. */
import {
  AttachPolicyCommand,
  AttachPrincipalPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DeleteThingCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  ListAttachedPoliciesCommand,
  ListPoliciesCommand,
  ListPolicyPrincipalsCommand,
  ListPolicyVersionsCommand,
  ListPrincipalPoliciesCommand,
  ListPrincipalThingsCommand,
  ListTargetsForPolicyCommand,
  ListThingPrincipalsCommand,
  SetDefaultPolicyVersionCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { awsError, startSecurityApi, TEST_ACCOUNT, type SecurityApiKit } from './testing/security-api.js';

let kit: SecurityApiKit;
beforeAll(async () => {
  kit = await startSecurityApi();
}, 60_000);
afterAll(async () => kit?.close());

const doc = (topic: string): string => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: `arn:aws:iot:*:*:topic/${topic}` }] });

describe('policies over the AWS API', () => {
  test('CreatePolicy, GetPolicy, versions, SetDefaultPolicyVersion, DeletePolicyVersion, DeletePolicy', async () => {
    const created = await kit.client.send(new CreatePolicyCommand({ policyName: 'telemetry', policyDocument: doc('a') }));
    expect(created).toMatchObject({ policyName: 'telemetry', policyArn: `arn:aws:iot:us-east-1:${TEST_ACCOUNT}:policy/telemetry`, policyVersionId: '1' });
    const dup = await awsError(kit.client.send(new CreatePolicyCommand({ policyName: 'telemetry', policyDocument: doc('a') })));
    expect(dup.name).toBe('ResourceAlreadyExistsException');
    const malformed = await awsError(kit.client.send(new CreatePolicyCommand({ policyName: 'broken', policyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}' })));
    expect(malformed.name).toBe('MalformedPolicyException');

    const v2 = await kit.client.send(new CreatePolicyVersionCommand({ policyName: 'telemetry', policyDocument: doc('b'), setAsDefault: true }));
    expect(v2).toMatchObject({ policyVersionId: '2', isDefaultVersion: true });
    for (const t of ['c', 'd', 'e']) await kit.client.send(new CreatePolicyVersionCommand({ policyName: 'telemetry', policyDocument: doc(t) }));
    const limit = await awsError(kit.client.send(new CreatePolicyVersionCommand({ policyName: 'telemetry', policyDocument: doc('f') })));
    expect(limit.name).toBe('VersionsLimitExceededException');

    const got = await kit.client.send(new GetPolicyCommand({ policyName: 'telemetry' }));
    expect(got).toMatchObject({ defaultVersionId: '2', policyDocument: doc('b') });
    expect(got.creationDate).toBeInstanceOf(Date);
    const v1 = await kit.client.send(new GetPolicyVersionCommand({ policyName: 'telemetry', policyVersionId: '1' }));
    expect(v1).toMatchObject({ policyVersionId: '1', isDefaultVersion: false, policyDocument: doc('a') });
    const versions = await kit.client.send(new ListPolicyVersionsCommand({ policyName: 'telemetry' }));
    expect(versions.policyVersions?.map((v) => [v.versionId, v.isDefaultVersion])).toEqual([['5', false], ['4', false], ['3', false], ['2', true], ['1', false]]);

    const defaultDelete = await awsError(kit.client.send(new DeletePolicyVersionCommand({ policyName: 'telemetry', policyVersionId: '2' })));
    expect(defaultDelete.name).toBe('DeleteConflictException');
    const withVersions = await awsError(kit.client.send(new DeletePolicyCommand({ policyName: 'telemetry' })));
    expect(withVersions.name).toBe('DeleteConflictException');
    await kit.client.send(new SetDefaultPolicyVersionCommand({ policyName: 'telemetry', policyVersionId: '5' }));
    for (const v of ['1', '2', '3', '4']) await kit.client.send(new DeletePolicyVersionCommand({ policyName: 'telemetry', policyVersionId: v }));
    await kit.client.send(new DeletePolicyCommand({ policyName: 'telemetry' }));
    const gone = await awsError(kit.client.send(new GetPolicyCommand({ policyName: 'telemetry' })));
    expect(gone.name).toBe('ResourceNotFoundException');
    const noVersion = await awsError(kit.client.send(new GetPolicyVersionCommand({ policyName: 'nope', policyVersionId: '1' })));
    expect(noVersion.name).toBe('ResourceNotFoundException');
  });

  test('ListPolicies pages with a marker', async () => {
    for (const n of ['p1', 'p2', 'p3']) await kit.client.send(new CreatePolicyCommand({ policyName: `list-${n}`, policyDocument: doc(n) }));
    const names: string[] = [];
    let marker: string | undefined;
    do {
      const page = await kit.client.send(new ListPoliciesCommand({ pageSize: 2, ascendingOrder: true, ...(marker ? { marker } : {}) }));
      names.push(...(page.policies ?? []).map((p) => p.policyName!));
      marker = page.nextMarker;
    } while (marker);
    expect(names.filter((n) => n.startsWith('list-'))).toEqual(['list-p1', 'list-p2', 'list-p3']);
  });

  test('AttachPolicy / DetachPolicy, the listings both ways, and DeletePolicy while attached', async () => {
    const cert = await kit.client.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    await kit.client.send(new CreatePolicyCommand({ policyName: 'attached', policyDocument: doc('x') }));
    await kit.client.send(new AttachPolicyCommand({ policyName: 'attached', target: cert.certificateArn }));
    await kit.client.send(new AttachPolicyCommand({ policyName: 'attached', target: cert.certificateArn })); // again: no-op
    const missing = await awsError(kit.client.send(new AttachPolicyCommand({ policyName: 'no-such-policy', target: cert.certificateArn })));
    expect(missing.name).toBe('ResourceNotFoundException');

    const attached = await kit.client.send(new ListAttachedPoliciesCommand({ target: cert.certificateArn }));
    expect(attached.policies).toEqual([{ policyName: 'attached', policyArn: `arn:aws:iot:us-east-1:${TEST_ACCOUNT}:policy/attached` }]);
    const targets = await kit.client.send(new ListTargetsForPolicyCommand({ policyName: 'attached' }));
    expect(targets.targets).toEqual([cert.certificateArn]);
    const conflict = await awsError(kit.client.send(new DeletePolicyCommand({ policyName: 'attached' })));
    expect(conflict.name).toBe('DeleteConflictException');

    // The older principal-policy operations see the same attachments (principal in a header).
    const principalPolicies = await kit.client.send(new ListPrincipalPoliciesCommand({ principal: cert.certificateArn }));
    expect(principalPolicies.policies?.map((p) => p.policyName)).toEqual(['attached']);
    const policyPrincipals = await kit.client.send(new ListPolicyPrincipalsCommand({ policyName: 'attached' }));
    expect(policyPrincipals.principals).toEqual([cert.certificateArn]);

    await kit.client.send(new UpdateCertificateCommand({ certificateId: cert.certificateId, newStatus: 'INACTIVE' }));
    const certConflict = await awsError(kit.client.send(new DeleteCertificateCommand({ certificateId: cert.certificateId })));
    expect(certConflict.name).toBe('DeleteConflictException');

    await kit.client.send(new DetachPolicyCommand({ policyName: 'attached', target: cert.certificateArn }));
    expect((await kit.client.send(new ListAttachedPoliciesCommand({ target: cert.certificateArn }))).policies).toEqual([]);
    await kit.client.send(new AttachPrincipalPolicyCommand({ policyName: 'attached', principal: cert.certificateArn }));
    expect((await kit.client.send(new ListTargetsForPolicyCommand({ policyName: 'attached' }))).targets).toEqual([cert.certificateArn]);
  }, 30_000);

  test('AttachThingPrincipal, ListThingPrincipals, ListPrincipalThings, DetachThingPrincipal, and DeleteThing while attached', async () => {
    const cert = await kit.client.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    await kit.client.send(new CreateThingCommand({ thingName: 'pump-1' }));
    const noThing = await awsError(kit.client.send(new AttachThingPrincipalCommand({ thingName: 'pump-404', principal: cert.certificateArn! })));
    expect(noThing.name).toBe('ResourceNotFoundException');
    await kit.client.send(new AttachThingPrincipalCommand({ thingName: 'pump-1', principal: cert.certificateArn! }));

    expect((await kit.client.send(new ListThingPrincipalsCommand({ thingName: 'pump-1' }))).principals).toEqual([cert.certificateArn]);
    expect((await kit.client.send(new ListPrincipalThingsCommand({ principal: cert.certificateArn! }))).things).toEqual(['pump-1']);

    const refused = await awsError(kit.client.send(new DeleteThingCommand({ thingName: 'pump-1' })));
    expect(refused.name).toBe('InvalidRequestException');
    await kit.client.send(new DetachThingPrincipalCommand({ thingName: 'pump-1', principal: cert.certificateArn! }));
    expect((await kit.client.send(new ListThingPrincipalsCommand({ thingName: 'pump-1' }))).principals).toEqual([]);
    await kit.client.send(new DeleteThingCommand({ thingName: 'pump-1' }));
  }, 30_000);
});
