/**
 * Thing groups: CreateThingGroup, DescribeThingGroup, UpdateThingGroup, DeleteThingGroup,
 * ListThingGroups, AddThingToThingGroup, RemoveThingFromThingGroup, ListThingsInThingGroup,
 * ListThingGroupsForThing.
 */
import { PlatformError } from '../../core/index.js';
import { nameFromArn, type ThingGroupRecord, type ThingRegistry } from '../../registry/index.js';
import type { AwsOperation, AwsRequest } from '../operation.js';
import { attributePayload, bodyObject, compact, epochSeconds, optionalInteger, optionalObject, optionalString, pageRequest, queryBoolean, queryInteger, queryString } from './aws-input.js';

const nameAndArn = (registry: ThingRegistry, g: ThingGroupRecord): { groupName: string; groupArn: string } => ({ groupName: g.thingGroupName, groupArn: registry.arns.thingGroup(g.thingGroupName) });

/** AddThingToThingGroup and RemoveThingFromThingGroup name each side by name or by ARN. */
function membershipInput(request: AwsRequest): { thingName: string; thingGroupName: string } {
  const body = bodyObject(request);
  const byName = (nameField: string, arnField: string, resource: 'thing' | 'thinggroup'): string => {
    const name = optionalString(body, nameField);
    if (name !== undefined) return name;
    const arn = optionalString(body, arnField);
    const fromArn = arn !== undefined ? nameFromArn(arn, resource) : undefined;
    if (arn !== undefined && fromArn === undefined) throw new PlatformError('REGISTRY_INVALID', `${arnField}: not a ${resource} ARN: ${arn}`, { details: { field: arnField } });
    if (fromArn === undefined) throw new PlatformError('REGISTRY_INVALID', `Either ${nameField} or ${arnField} must be given`, { details: { field: nameField } });
    return fromArn;
  };
  return { thingGroupName: byName('thingGroupName', 'thingGroupArn', 'thinggroup'), thingName: byName('thingName', 'thingArn', 'thing') };
}

export function thingGroupOperations(registry: ThingRegistry): AwsOperation[] {
  return [
    {
      name: 'CreateThingGroup',
      method: 'POST',
      path: '/thing-groups/{thingGroupName}',
      async handle(request) {
        const body = bodyObject(request);
        const parentGroupName = optionalString(body, 'parentGroupName');
        const props = optionalObject(body, 'thingGroupProperties') ?? {};
        const description = optionalString(props, 'thingGroupDescription', 'thingGroupProperties.thingGroupDescription');
        const payload = attributePayload(props, 'attributePayload');
        const group = await registry.createThingGroup({
          thingGroupName: request.params['thingGroupName']!,
          ...(parentGroupName !== undefined ? { parentGroupName } : {}),
          ...(description !== undefined ? { description } : {}),
          ...(payload?.attributes ? { attributes: payload.attributes } : {}),
        });
        return { thingGroupName: group.thingGroupName, thingGroupArn: registry.arns.thingGroup(group.thingGroupName), thingGroupId: group.thingGroupId };
      },
    },
    {
      name: 'DescribeThingGroup',
      method: 'GET',
      path: '/thing-groups/{thingGroupName}',
      async handle(request) {
        const name = request.params['thingGroupName']!;
        const group = registry.thingGroup(name);
        if (!group) throw new PlatformError('REGISTRY_NOT_FOUND', `Thing group ${name} does not exist`, { details: { resourceId: name } });
        return {
          thingGroupName: group.thingGroupName,
          thingGroupId: group.thingGroupId,
          thingGroupArn: registry.arns.thingGroup(group.thingGroupName),
          version: group.version,
          thingGroupProperties: compact({ thingGroupDescription: group.description, attributePayload: { attributes: group.attributes } }),
          thingGroupMetadata: compact({
            parentGroupName: group.parentGroupName,
            rootToParentThingGroups: registry.ancestors(group).map((g) => nameAndArn(registry, g)),
            creationDate: epochSeconds(group.createdAt),
          }),
        };
      },
    },
    {
      name: 'UpdateThingGroup',
      method: 'PATCH',
      path: '/thing-groups/{thingGroupName}',
      async handle(request) {
        const body = bodyObject(request);
        const props = optionalObject(body, 'thingGroupProperties') ?? {};
        const description = optionalString(props, 'thingGroupDescription', 'thingGroupProperties.thingGroupDescription');
        const payload = attributePayload(props, 'attributePayload');
        const expectedVersion = optionalInteger(body, 'expectedVersion');
        const group = await registry.updateThingGroup({
          thingGroupName: request.params['thingGroupName']!,
          ...(description !== undefined ? { description } : {}),
          ...(payload ? { attributePayload: payload } : {}),
          ...(expectedVersion !== undefined ? { expectedVersion } : {}),
        });
        return { version: group.version };
      },
    },
    {
      name: 'DeleteThingGroup',
      method: 'DELETE',
      path: '/thing-groups/{thingGroupName}',
      async handle(request) {
        const expectedVersion = queryInteger(request, 'expectedVersion');
        await registry.deleteThingGroup({ thingGroupName: request.params['thingGroupName']!, ...(expectedVersion !== undefined ? { expectedVersion } : {}) });
        return {};
      },
    },
    {
      name: 'ListThingGroups',
      method: 'GET',
      path: '/thing-groups',
      async handle(request) {
        const page = registry.listThingGroups(
          { parentGroup: queryString(request, 'parentGroup'), namePrefixFilter: queryString(request, 'namePrefixFilter'), recursive: queryBoolean(request, 'recursive') },
          pageRequest(request),
        );
        return compact({ thingGroups: page.items.map((g) => nameAndArn(registry, g)), nextToken: page.nextToken });
      },
    },
    {
      name: 'AddThingToThingGroup',
      method: 'PUT',
      path: '/thing-groups/addThingToThingGroup',
      async handle(request) {
        await registry.addThingToThingGroup(membershipInput(request));
        return {};
      },
    },
    {
      name: 'RemoveThingFromThingGroup',
      method: 'PUT',
      path: '/thing-groups/removeThingFromThingGroup',
      async handle(request) {
        await registry.removeThingFromThingGroup(membershipInput(request));
        return {};
      },
    },
    {
      name: 'ListThingsInThingGroup',
      method: 'GET',
      path: '/thing-groups/{thingGroupName}/things',
      async handle(request) {
        const page = registry.listThingsInThingGroup(request.params['thingGroupName']!, queryBoolean(request, 'recursive') ?? false, pageRequest(request));
        return compact({ things: page.items.map((t) => t.thingName), nextToken: page.nextToken });
      },
    },
    {
      name: 'ListThingGroupsForThing',
      method: 'GET',
      path: '/things/{thingName}/thing-groups',
      async handle(request) {
        const page = registry.listThingGroupsForThing(request.params['thingName']!, pageRequest(request));
        return compact({ thingGroups: page.items.map((g) => nameAndArn(registry, g)), nextToken: page.nextToken });
      },
    },
  ];
}
