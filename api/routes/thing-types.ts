/** Thing types: CreateThingType, DescribeThingType, DeprecateThingType, DeleteThingType, ListThingTypes. */
import { PlatformError } from '../../core/index.js';
import type { ThingRegistry, ThingTypeRecord } from '../../registry/index.js';
import type { AwsOperation } from '../operation.js';
import { bodyObject, compact, epochSeconds, optionalBoolean, optionalObject, optionalString, optionalStringList, pageRequest, queryString } from './aws-input.js';

function typeDefinition(registry: ThingRegistry, type: ThingTypeRecord): Record<string, unknown> {
  return {
    thingTypeName: type.thingTypeName,
    thingTypeArn: registry.arns.thingType(type.thingTypeName),
    thingTypeProperties: compact({
      thingTypeDescription: type.description,
      searchableAttributes: [...type.searchableAttributes],
      mqtt5Configuration: type.mqtt5Configuration,
    }),
    thingTypeMetadata: compact({
      deprecated: type.deprecated,
      deprecationDate: type.deprecationDate !== undefined ? epochSeconds(type.deprecationDate) : undefined,
      creationDate: epochSeconds(type.createdAt),
    }),
  };
}

export function thingTypeOperations(registry: ThingRegistry): AwsOperation[] {
  return [
    {
      name: 'CreateThingType',
      method: 'POST',
      path: '/thing-types/{thingTypeName}',
      async handle(request) {
        const body = bodyObject(request);
        const props = optionalObject(body, 'thingTypeProperties') ?? {};
        const description = optionalString(props, 'thingTypeDescription', 'thingTypeProperties.thingTypeDescription');
        const searchableAttributes = optionalStringList(props, 'searchableAttributes', 'thingTypeProperties.searchableAttributes');
        const mqtt5Configuration = optionalObject(props, 'mqtt5Configuration', 'thingTypeProperties.mqtt5Configuration');
        const type = await registry.createThingType({
          thingTypeName: request.params['thingTypeName']!,
          ...(description !== undefined ? { description } : {}),
          ...(searchableAttributes !== undefined ? { searchableAttributes } : {}),
          ...(mqtt5Configuration !== undefined ? { mqtt5Configuration } : {}),
        });
        return { thingTypeName: type.thingTypeName, thingTypeArn: registry.arns.thingType(type.thingTypeName), thingTypeId: type.thingTypeId };
      },
    },
    {
      name: 'DescribeThingType',
      method: 'GET',
      path: '/thing-types/{thingTypeName}',
      async handle(request) {
        const name = request.params['thingTypeName']!;
        const type = registry.thingType(name);
        if (!type) throw new PlatformError('REGISTRY_NOT_FOUND', `Thing type ${name} does not exist`, { details: { resourceId: name } });
        return { ...typeDefinition(registry, type), thingTypeId: type.thingTypeId };
      },
    },
    {
      name: 'DeprecateThingType',
      method: 'POST',
      path: '/thing-types/{thingTypeName}/deprecate',
      async handle(request) {
        const undoDeprecate = optionalBoolean(bodyObject(request), 'undoDeprecate');
        await registry.deprecateThingType({ thingTypeName: request.params['thingTypeName']!, ...(undoDeprecate !== undefined ? { undoDeprecate } : {}) });
        return {};
      },
    },
    {
      name: 'DeleteThingType',
      method: 'DELETE',
      path: '/thing-types/{thingTypeName}',
      async handle(request) {
        await registry.deleteThingType({ thingTypeName: request.params['thingTypeName']! });
        return {};
      },
    },
    {
      name: 'ListThingTypes',
      method: 'GET',
      path: '/thing-types',
      async handle(request) {
        const page = registry.listThingTypes({ thingTypeName: queryString(request, 'thingTypeName') }, pageRequest(request));
        return compact({ thingTypes: page.items.map((t) => typeDefinition(registry, t)), nextToken: page.nextToken });
      },
    },
  ];
}
