/**
 * Policies, policy versions, policy attachments and thing principals (AWS IoT API reference),
 * as `@aws-sdk/client-iot` sends them. Some operations carry the principal in a header
 * (`x-amzn-principal`, `x-amzn-iot-principal`) and the policy in `x-amzn-iot-policy`.
 */
import { PlatformError } from '../../core/index.js';
import type { PolicyRecord, PolicyService, PolicyVersionRecord } from '../../registry/index.js';
import type { AwsOperation, AwsRequest } from '../operation.js';
import { bodyObject, compact, epochSeconds, optionalString, queryBoolean, queryInteger, queryString } from './aws-input.js';

function header(request: AwsRequest, name: string): string {
  const value = request.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) throw new PlatformError('REGISTRY_INVALID', `the ${name} header is required`, { details: { field: name } });
  return text;
}

const markerPage = (request: AwsRequest) => ({ pageSize: queryInteger(request, 'pageSize'), marker: queryString(request, 'marker') });
const tokenPage = (request: AwsRequest) => ({ pageSize: queryInteger(request, 'maxResults'), marker: queryString(request, 'nextToken') });

/** The policy and thing-principal operations, for `createApiService(config, { operations })`. */
export function policyOperations(service: PolicyService): AwsOperation[] {
  const policyName = (request: AwsRequest): string => request.params['policyName']!;
  const versionOutput = (policy: PolicyRecord, version: PolicyVersionRecord) => ({
    policyArn: service.policyArn(policy.name),
    policyName: policy.name,
    policyDocument: version.document,
    policyVersionId: version.id,
    isDefaultVersion: version.id === policy.defaultVersionId,
    creationDate: epochSeconds(version.createdAt),
    lastModifiedDate: epochSeconds(policy.updatedAt),
    generationId: policy.generationId,
  });
  const policyRef = (name: string) => ({ policyName: name, policyArn: service.policyArn(name) });
  return [
    {
      name: 'CreatePolicy',
      method: 'POST',
      path: '/policies/{policyName}',
      async handle(request) {
        const { policy, version } = await service.createPolicy(policyName(request), optionalString(bodyObject(request), 'policyDocument'));
        return { policyName: policy.name, policyArn: service.policyArn(policy.name), policyDocument: version.document, policyVersionId: version.id };
      },
    },
    {
      name: 'GetPolicy',
      method: 'GET',
      path: '/policies/{policyName}',
      async handle(request) {
        const { policy, version } = service.getPolicy(policyName(request));
        return {
          policyName: policy.name,
          policyArn: service.policyArn(policy.name),
          policyDocument: version.document,
          defaultVersionId: policy.defaultVersionId,
          creationDate: epochSeconds(policy.createdAt),
          lastModifiedDate: epochSeconds(policy.updatedAt),
          generationId: policy.generationId,
        };
      },
    },
    {
      name: 'DeletePolicy',
      method: 'DELETE',
      path: '/policies/{policyName}',
      async handle(request) {
        await service.deletePolicy(policyName(request));
        return {};
      },
    },
    {
      name: 'ListPolicies',
      method: 'GET',
      path: '/policies',
      async handle(request) {
        const page = service.listPolicies({ ...markerPage(request), ascendingOrder: queryBoolean(request, 'isAscendingOrder') });
        return compact({ policies: page.items.map((p) => policyRef(p.name)), nextMarker: page.next });
      },
    },
    {
      name: 'CreatePolicyVersion',
      method: 'POST',
      path: '/policies/{policyName}/version',
      async handle(request) {
        const { policy, version } = await service.createPolicyVersion(
          policyName(request),
          optionalString(bodyObject(request), 'policyDocument'),
          queryBoolean(request, 'setAsDefault') ?? false,
        );
        return { policyArn: service.policyArn(policy.name), policyDocument: version.document, policyVersionId: version.id, isDefaultVersion: version.id === policy.defaultVersionId };
      },
    },
    {
      name: 'GetPolicyVersion',
      method: 'GET',
      path: '/policies/{policyName}/version/{policyVersionId}',
      async handle(request) {
        const { policy, version } = service.getPolicyVersion(policyName(request), request.params['policyVersionId']!);
        return versionOutput(policy, version);
      },
    },
    {
      name: 'ListPolicyVersions',
      method: 'GET',
      path: '/policies/{policyName}/version',
      async handle(request) {
        const { policy, versions } = service.listPolicyVersions(policyName(request));
        return { policyVersions: versions.map((v) => ({ versionId: v.id, isDefaultVersion: v.id === policy.defaultVersionId, createDate: epochSeconds(v.createdAt) })) };
      },
    },
    {
      name: 'SetDefaultPolicyVersion',
      method: 'PATCH',
      path: '/policies/{policyName}/version/{policyVersionId}',
      async handle(request) {
        await service.setDefaultPolicyVersion(policyName(request), request.params['policyVersionId']!);
        return {};
      },
    },
    {
      name: 'DeletePolicyVersion',
      method: 'DELETE',
      path: '/policies/{policyName}/version/{policyVersionId}',
      async handle(request) {
        await service.deletePolicyVersion(policyName(request), request.params['policyVersionId']!);
        return {};
      },
    },
    {
      name: 'AttachPolicy',
      method: 'PUT',
      path: '/target-policies/{policyName}',
      async handle(request) {
        await service.attachPolicy(policyName(request), optionalString(bodyObject(request), 'target'));
        return {};
      },
    },
    {
      name: 'DetachPolicy',
      method: 'POST',
      path: '/target-policies/{policyName}',
      async handle(request) {
        await service.detachPolicy(policyName(request), optionalString(bodyObject(request), 'target'));
        return {};
      },
    },
    {
      name: 'ListAttachedPolicies',
      method: 'POST',
      path: '/attached-policies/{target}',
      async handle(request) {
        // `recursive` on a thing group adds its ancestors' policies (which its things inherit).
        const page = service.attachedPolicies(request.params['target'], markerPage(request), queryBoolean(request, 'recursive') ?? false);
        return compact({ policies: page.items.map(policyRef), nextMarker: page.next });
      },
    },
    {
      name: 'ListTargetsForPolicy',
      method: 'POST',
      path: '/policy-targets/{policyName}',
      async handle(request) {
        const page = service.targetsForPolicy(policyName(request), markerPage(request));
        return compact({ targets: page.items, nextMarker: page.next });
      },
    },
    // The older principal-policy operations, still in the SDK and the CLI.
    {
      name: 'AttachPrincipalPolicy',
      method: 'PUT',
      path: '/principal-policies/{policyName}',
      async handle(request) {
        await service.attachPolicy(policyName(request), header(request, 'x-amzn-iot-principal'));
        return {};
      },
    },
    {
      name: 'DetachPrincipalPolicy',
      method: 'DELETE',
      path: '/principal-policies/{policyName}',
      async handle(request) {
        await service.detachPolicy(policyName(request), header(request, 'x-amzn-iot-principal'));
        return {};
      },
    },
    {
      name: 'ListPrincipalPolicies',
      method: 'GET',
      path: '/principal-policies',
      async handle(request) {
        const page = service.attachedPolicies(header(request, 'x-amzn-iot-principal'), markerPage(request));
        return compact({ policies: page.items.map(policyRef), nextMarker: page.next });
      },
    },
    {
      name: 'ListPolicyPrincipals',
      method: 'GET',
      path: '/policy-principals',
      async handle(request) {
        const page = service.targetsForPolicy(header(request, 'x-amzn-iot-policy'), markerPage(request));
        return compact({ principals: page.items, nextMarker: page.next });
      },
    },
    // Thing principals.
    {
      name: 'AttachThingPrincipal',
      method: 'PUT',
      path: '/things/{thingName}/principals',
      async handle(request) {
        await service.attachThingPrincipal(request.params['thingName'], header(request, 'x-amzn-principal'), queryString(request, 'thingPrincipalType') ?? 'NON_EXCLUSIVE_THING');
        return {};
      },
    },
    {
      name: 'DetachThingPrincipal',
      method: 'DELETE',
      path: '/things/{thingName}/principals',
      async handle(request) {
        await service.detachThingPrincipal(request.params['thingName'], header(request, 'x-amzn-principal'));
        return {};
      },
    },
    {
      name: 'ListThingPrincipals',
      method: 'GET',
      path: '/things/{thingName}/principals',
      async handle(request) {
        const page = service.thingPrincipals(request.params['thingName'], tokenPage(request));
        return compact({ principals: page.items, nextToken: page.next });
      },
    },
    {
      name: 'ListPrincipalThings',
      method: 'GET',
      path: '/principals/things',
      async handle(request) {
        const page = service.principalThings(header(request, 'x-amzn-principal'), tokenPage(request));
        return compact({ things: page.items, nextToken: page.next });
      },
    },
  ];
}
