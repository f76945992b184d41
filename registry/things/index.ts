/** The thing registry: things, thing types and thing groups on `iot.registry`. */
export { ThingRegistry, type ThingRegistryOptions, type ListThingsFilter, type ListThingGroupsFilter, type ThingRegistryChange } from './store.js';
export { DEFAULT_THING_TYPE_DELETE_DELAY_MS } from './commands.js';
export { LIMITS, KEY_PREFIX, DEFAULT_ARN_REGION, createArns, nameFromArn, validateName, validateAttributes, type Arns, type ThingRecord, type ThingTypeRecord, type ThingGroupRecord, type GroupMembership } from './model.js';
export { applyAttributePayload, type RegistryState, type RegistryEvent } from './domain.js';
export { paginate, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE, type Page, type PageRequest } from './paging.js';
