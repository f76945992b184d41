/** Things: CreateThing, DescribeThing, UpdateThing, DeleteThing, ListThings (AWS IoT API reference). */
import { PlatformError } from '../../core/index.js';
import type { ThingRecord, ThingRegistry } from '../../registry/index.js';
import type { AwsOperation } from '../operation.js';
import { attributePayload, bodyObject, compact, optionalBoolean, optionalInteger, optionalString, pageRequest, queryBoolean, queryInteger, queryString } from './aws-input.js';

export function describeThingOutput(registry: ThingRegistry, thing: ThingRecord): Record<string, unknown> {
  return compact({
    defaultClientId: thing.thingName,
    thingName: thing.thingName,
    thingId: thing.thingId,
    thingArn: registry.arns.thing(thing.thingName),
    thingTypeName: thing.thingTypeName,
    attributes: thing.attributes,
    version: thing.version,
    billingGroupName: thing.billingGroupName,
  });
}

export function thingOperations(registry: ThingRegistry): AwsOperation[] {
  return [
    {
      name: 'CreateThing',
      method: 'POST',
      path: '/things/{thingName}',
      async handle(request) {
        const body = bodyObject(request);
        const payload = attributePayload(body, 'attributePayload');
        const thingTypeName = optionalString(body, 'thingTypeName');
        const billingGroupName = optionalString(body, 'billingGroupName');
        const thing = await registry.createThing({
          thingName: request.params['thingName']!,
          ...(thingTypeName !== undefined ? { thingTypeName } : {}),
          ...(payload?.attributes ? { attributes: payload.attributes } : {}),
          ...(billingGroupName !== undefined ? { billingGroupName } : {}),
        });
        return { thingName: thing.thingName, thingArn: registry.arns.thing(thing.thingName), thingId: thing.thingId };
      },
    },
    {
      name: 'DescribeThing',
      method: 'GET',
      path: '/things/{thingName}',
      async handle(request) {
        const name = request.params['thingName']!;
        const thing = registry.thing(name);
        if (!thing) throw notFoundThing(name);
        return describeThingOutput(registry, thing);
      },
    },
    {
      name: 'UpdateThing',
      method: 'PATCH',
      path: '/things/{thingName}',
      async handle(request) {
        const body = bodyObject(request);
        const thingTypeName = optionalString(body, 'thingTypeName');
        const removeThingType = optionalBoolean(body, 'removeThingType');
        const expectedVersion = optionalInteger(body, 'expectedVersion');
        const payload = attributePayload(body, 'attributePayload');
        await registry.updateThing({
          thingName: request.params['thingName']!,
          ...(thingTypeName !== undefined ? { thingTypeName } : {}),
          ...(removeThingType !== undefined ? { removeThingType } : {}),
          ...(expectedVersion !== undefined ? { expectedVersion } : {}),
          ...(payload ? { attributePayload: payload } : {}),
        });
        return {};
      },
    },
    {
      name: 'DeleteThing',
      method: 'DELETE',
      path: '/things/{thingName}',
      async handle(request) {
        const expectedVersion = queryInteger(request, 'expectedVersion');
        await registry.deleteThing({ thingName: request.params['thingName']!, ...(expectedVersion !== undefined ? { expectedVersion } : {}) });
        return {};
      },
    },
    {
      name: 'ListThings',
      method: 'GET',
      path: '/things',
      async handle(request) {
        const page = registry.listThings(
          {
            attributeName: queryString(request, 'attributeName'),
            attributeValue: queryString(request, 'attributeValue'),
            usePrefixAttributeValue: queryBoolean(request, 'usePrefixAttributeValue'),
            thingTypeName: queryString(request, 'thingTypeName'),
          },
          pageRequest(request),
        );
        return compact({
          things: page.items.map((t) =>
            compact({ thingName: t.thingName, thingTypeName: t.thingTypeName, thingArn: registry.arns.thing(t.thingName), attributes: t.attributes, version: t.version }),
          ),
          nextToken: page.nextToken,
        });
      },
    },
  ];
}

const notFoundThing = (name: string): PlatformError => new PlatformError('REGISTRY_NOT_FOUND', `Thing ${name} does not exist`, { details: { resourceId: name } });
