/**
 * Registry events with AWS IoT's topics and payloads (developer guide, "Registry events"):
 * `$aws/events/thing/<name>/created|updated|deleted`, `$aws/events/thingType/...`,
 * `$aws/events/thingTypeAssociation/thing/<thing>/<type>`, `$aws/events/thingGroup/...`,
 * `$aws/events/thingGroupMembership/thingGroup/<group>/thing/<thing>/added|removed` and
 * `$aws/events/thingGroupHierarchy/thingGroup/<parent>/childThingGroup/<child>/added|removed`.
 */
import type { CommandContext, RegistryEvent } from './domain.js';
import type { ThingGroupRecord, ThingRecord, ThingTypeRecord } from './model.js';

type Crud = 'CREATED' | 'UPDATED' | 'DELETED';
type AddRemove = 'ADDED' | 'REMOVED';

const base = (eventType: string, operation: string, ctx: CommandContext): Record<string, unknown> => ({
  eventType,
  eventId: ctx.newId(),
  timestamp: ctx.now,
  operation,
  accountId: ctx.arns.accountId,
});

const suffix = (op: Crud | AddRemove): string => op.toLowerCase();

export const registryEvents = {
  thing(thing: ThingRecord, op: Crud, ctx: CommandContext): RegistryEvent {
    return {
      topic: `$aws/events/thing/${thing.thingName}/${suffix(op)}`,
      key: thing.thingName,
      payload: {
        ...base('THING_EVENT', op, ctx),
        thingId: thing.thingId,
        thingName: thing.thingName,
        versionNumber: thing.version,
        thingTypeName: thing.thingTypeName ?? null,
        attributes: thing.attributes,
      },
    };
  },

  thingTypeAssociation(thing: ThingRecord, thingTypeName: string, op: 'CREATED' | 'DELETED', ctx: CommandContext): RegistryEvent {
    const { accountId: _a, ...rest } = base('THING_TYPE_ASSOCIATION_EVENT', op, ctx);
    return {
      topic: `$aws/events/thingTypeAssociation/thing/${thing.thingName}/${thingTypeName}`,
      key: thing.thingName,
      payload: { ...rest, thingId: thing.thingId, thingName: thing.thingName, thingTypeName },
    };
  },

  thingType(type: ThingTypeRecord, op: Crud, ctx: CommandContext): RegistryEvent {
    return {
      topic: `$aws/events/thingType/${type.thingTypeName}/${suffix(op)}`,
      key: type.thingTypeName,
      payload: {
        ...base('THING_TYPE_EVENT', op, ctx),
        thingTypeId: type.thingTypeId,
        thingTypeName: type.thingTypeName,
        isDeprecated: type.deprecated,
        deprecationDate: type.deprecationDate ?? null,
        searchableAttributes: type.searchableAttributes,
        description: type.description ?? null,
      },
    };
  },

  thingGroup(group: ThingGroupRecord, op: Crud, ancestors: readonly ThingGroupRecord[], parent: ThingGroupRecord | undefined, ctx: CommandContext): RegistryEvent {
    return {
      topic: `$aws/events/thingGroup/${group.thingGroupName}/${suffix(op)}`,
      key: group.thingGroupName,
      payload: {
        ...base('THING_GROUP_EVENT', op, ctx),
        thingGroupId: group.thingGroupId,
        thingGroupName: group.thingGroupName,
        versionNumber: group.version,
        parentGroupName: parent?.thingGroupName ?? null,
        parentGroupId: parent?.thingGroupId ?? null,
        description: group.description ?? null,
        rootToParentThingGroups: ancestors.map((g) => ({ groupArn: ctx.arns.thingGroup(g.thingGroupName), groupId: g.thingGroupId })),
        attributes: group.attributes,
        dynamicGroupMappingId: null,
      },
    };
  },

  membership(thing: ThingRecord, group: ThingGroupRecord, membershipId: string, op: AddRemove, ctx: CommandContext): RegistryEvent {
    return {
      topic: `$aws/events/thingGroupMembership/thingGroup/${group.thingGroupName}/thing/${thing.thingName}/${suffix(op)}`,
      key: thing.thingName,
      payload: {
        ...base('THING_GROUP_MEMBERSHIP_EVENT', op, ctx),
        groupArn: ctx.arns.thingGroup(group.thingGroupName),
        groupId: group.thingGroupId,
        thingArn: ctx.arns.thing(thing.thingName),
        thingId: thing.thingId,
        membershipId,
      },
    };
  },

  hierarchy(parent: ThingGroupRecord, child: ThingGroupRecord, op: AddRemove, ctx: CommandContext): RegistryEvent {
    return {
      topic: `$aws/events/thingGroupHierarchy/thingGroup/${parent.thingGroupName}/childThingGroup/${child.thingGroupName}/${suffix(op)}`,
      key: parent.thingGroupName,
      payload: {
        ...base('THING_GROUP_HIERARCHY_EVENT', op, ctx),
        thingGroupId: parent.thingGroupId,
        thingGroupName: parent.thingGroupName,
        childGroupId: child.thingGroupId,
        childGroupName: child.thingGroupName,
      },
    };
  },
};
