/**
 * The registry's rules as pure functions: each command reads the current state, checks AWS
 * IoT's rules, and returns the records to write and the registry events to publish. Nothing
 * here does I/O; `commands.ts` makes each one a registry store command.
 */
import { PlatformError } from '../../core/index.js';
import { registryEvents } from './events.js';
import {
  KEY_PREFIX,
  LIMITS,
  invalid,
  recordKey,
  validateAttributes,
  validateName,
  type Arns,
  type RegistryRecord,
  type ThingGroupRecord,
  type ThingRecord,
  type ThingTypeRecord,
} from './model.js';

/** Read access to the current registry. */
export interface RegistryState {
  thing(name: string): ThingRecord | undefined;
  thingType(name: string): ThingTypeRecord | undefined;
  thingGroup(name: string): ThingGroupRecord | undefined;
  things(): Iterable<ThingRecord>;
  thingGroups(): Iterable<ThingGroupRecord>;
}

export interface CommandContext {
  /** ms since the epoch. */
  readonly now: number;
  readonly newId: () => string;
  readonly arns: Arns;
}

/** An event to publish: an MQTT topic, the log key that keeps one resource's events in order, and the JSON payload. */
export interface RegistryEvent {
  readonly topic: string;
  readonly key: string;
  readonly payload: Record<string, unknown>;
}

export interface Write {
  readonly key: string;
  /** `null` deletes the key. */
  readonly value: RegistryRecord | null;
}

/** What a command changes. Writes are applied in order (see each command for why the order matters). */
export interface Change<R> {
  readonly result: R;
  readonly writes: readonly Write[];
  readonly events: readonly RegistryEvent[];
}

const notFound = (what: string, name: string): PlatformError =>
  new PlatformError('REGISTRY_NOT_FOUND', `${what} ${name} does not exist`, { details: { resourceId: name } });
const versionConflict = (what: string, name: string, expected: number, actual: number): PlatformError =>
  new PlatformError('REGISTRY_VERSION_CONFLICT', `The version for ${what} ${name} does not match the expected version (expected ${expected}, found ${actual}).`, { details: { expected, actual } });
const put = (record: RegistryRecord): Write => ({ key: recordKey(record), value: record });
const remove = (prefix: string, name: string): Write => ({ key: prefix + name, value: null });
const sameAttributes = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

function checkExpectedVersion(what: string, name: string, expected: number | undefined, actual: number): void {
  if (expected !== undefined && expected !== actual) throw versionConflict(what, name, expected, actual);
}

function checkAttributeCount(thingName: string, attributes: Readonly<Record<string, string>>, typed: boolean): void {
  const limit = typed ? LIMITS.attributesTyped : LIMITS.attributesUntyped;
  const count = Object.keys(attributes).length;
  if (count > limit) {
    throw invalid(`Thing ${thingName} would have ${count} attributes; a thing ${typed ? 'with' : 'without'} a thing type can have at most ${limit}${typed ? '' : ' (associate a thing type for up to 50)'}`, 'attributePayload');
  }
}

/** The type a thing may be given: it must exist and not be deprecated. */
function usableType(state: RegistryState, typeName: string): ThingTypeRecord {
  validateName('thingTypeName', typeName);
  const type = state.thingType(typeName);
  if (!type) throw notFound('Thing type', typeName);
  if (type.deprecated) throw invalid(`Can not associate a thing with deprecated thing type ${typeName}`, 'thingTypeName');
  return type;
}

/**
 * New attributes from an AttributePayload: `merge` keeps the stored ones and lets the payload
 * add or change them, an empty value removing one; otherwise the payload replaces them all.
 * (AWS IoT API, AttributePayload.)
 */
export function applyAttributePayload(
  current: Readonly<Record<string, string>>,
  payload: { attributes?: Readonly<Record<string, string>>; merge?: boolean } | undefined,
): Record<string, string> {
  if (!payload || payload.attributes === undefined) return { ...current };
  const next: Record<string, string> = payload.merge ? { ...current } : {};
  for (const [name, value] of Object.entries(payload.attributes)) {
    if (value === '') delete next[name];
    else next[name] = value;
  }
  return next;
}

// ---------------------------------------------------------------------------------------------
// Things

export interface CreateThingInput {
  readonly thingName: string;
  readonly thingTypeName?: string;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly billingGroupName?: string;
}

/**
 * CreateThing. AWS IoT: calling it again with the same name and configuration succeeds and
 * returns the existing thing; a different configuration is ResourceAlreadyExistsException.
 */
export function createThing(state: RegistryState, input: CreateThingInput, ctx: CommandContext): Change<ThingRecord> {
  const name = validateName('thingName', input.thingName);
  const attributes = validateAttributes('attributePayload.attributes', input.attributes);
  for (const [k, v] of Object.entries(attributes)) if (v === '') delete attributes[k];
  const existing = state.thing(name);
  if (existing) {
    if (existing.thingTypeName === input.thingTypeName && sameAttributes(existing.attributes, attributes)) return { result: existing, writes: [], events: [] };
    throw new PlatformError('REGISTRY_ALREADY_EXISTS', `Thing ${name} already exists with different tags`, { details: { resourceId: existing.thingId, resourceArn: ctx.arns.thing(name) } });
  }
  if (input.thingTypeName !== undefined) usableType(state, input.thingTypeName);
  checkAttributeCount(name, attributes, input.thingTypeName !== undefined);
  const thing: ThingRecord = {
    kind: 'thing',
    thingName: name,
    thingId: ctx.newId(),
    ...(input.thingTypeName !== undefined ? { thingTypeName: input.thingTypeName } : {}),
    attributes,
    version: 1,
    groups: [],
    ...(input.billingGroupName !== undefined ? { billingGroupName: input.billingGroupName } : {}),
    createdAt: ctx.now,
  };
  const events = [registryEvents.thing(thing, 'CREATED', ctx)];
  if (thing.thingTypeName) events.push(registryEvents.thingTypeAssociation(thing, thing.thingTypeName, 'CREATED', ctx));
  return { result: thing, writes: [put(thing)], events };
}

export interface UpdateThingInput {
  readonly thingName: string;
  readonly thingTypeName?: string;
  readonly removeThingType?: boolean;
  readonly attributePayload?: { attributes?: Readonly<Record<string, string>>; merge?: boolean };
  readonly expectedVersion?: number;
}

/** UpdateThing: attributes per {@link applyAttributePayload}, type change or removal, version +1. */
export function updateThing(state: RegistryState, input: UpdateThingInput, ctx: CommandContext): Change<ThingRecord> {
  const name = validateName('thingName', input.thingName);
  const thing = state.thing(name);
  if (!thing) throw notFound('Thing', name);
  checkExpectedVersion('thing', name, input.expectedVersion, thing.version);
  if (input.removeThingType && input.thingTypeName !== undefined) throw invalid('Cannot set thingTypeName and removeThingType together', 'removeThingType');
  const payload = input.attributePayload && {
    ...input.attributePayload,
    ...(input.attributePayload.attributes !== undefined ? { attributes: validateAttributes('attributePayload.attributes', input.attributePayload.attributes) } : {}),
  };
  let thingTypeName = thing.thingTypeName;
  if (input.removeThingType) thingTypeName = undefined;
  else if (input.thingTypeName !== undefined && input.thingTypeName !== thing.thingTypeName) {
    usableType(state, input.thingTypeName);
    thingTypeName = input.thingTypeName;
  }
  const attributes = applyAttributePayload(thing.attributes, payload);
  checkAttributeCount(name, attributes, thingTypeName !== undefined);
  const { thingTypeName: _old, ...rest } = thing;
  const next: ThingRecord = { ...rest, ...(thingTypeName !== undefined ? { thingTypeName } : {}), attributes, version: thing.version + 1 };
  const events = [registryEvents.thing(next, 'UPDATED', ctx)];
  if (thing.thingTypeName !== thingTypeName) {
    if (thing.thingTypeName) events.push(registryEvents.thingTypeAssociation(next, thing.thingTypeName, 'DELETED', ctx));
    if (thingTypeName) events.push(registryEvents.thingTypeAssociation(next, thingTypeName, 'CREATED', ctx));
  }
  return { result: next, writes: [put(next)], events };
}

/** DeleteThing. AWS IoT: deleting a thing that does not exist succeeds. */
export function deleteThing(state: RegistryState, input: { thingName: string; expectedVersion?: number }, ctx: CommandContext): Change<ThingRecord | undefined> {
  const name = validateName('thingName', input.thingName);
  const thing = state.thing(name);
  if (!thing) return { result: undefined, writes: [], events: [] };
  checkExpectedVersion('thing', name, input.expectedVersion, thing.version);
  const events: RegistryEvent[] = [];
  for (const m of thing.groups) {
    const group = state.thingGroup(m.groupName);
    if (group) events.push(registryEvents.membership(thing, group, m.membershipId, 'REMOVED', ctx));
  }
  events.push(registryEvents.thing(thing, 'DELETED', ctx));
  return { result: thing, writes: [remove(KEY_PREFIX.thing, name)], events };
}

// ---------------------------------------------------------------------------------------------
// Thing types

export interface CreateThingTypeInput {
  readonly thingTypeName: string;
  readonly description?: string;
  readonly searchableAttributes?: readonly string[];
  readonly mqtt5Configuration?: unknown;
}

export function createThingType(state: RegistryState, input: CreateThingTypeInput, ctx: CommandContext): Change<ThingTypeRecord> {
  const name = validateName('thingTypeName', input.thingTypeName);
  const searchable = [...(input.searchableAttributes ?? [])];
  if (searchable.length > LIMITS.searchableAttributes) throw invalid(`A thing type can have at most ${LIMITS.searchableAttributes} searchable attributes`, 'thingTypeProperties.searchableAttributes');
  validateAttributes('thingTypeProperties.searchableAttributes', Object.fromEntries(searchable.map((a) => [a, ''])));
  if (input.description !== undefined && input.description.length > LIMITS.descriptionLength) throw invalid(`thingTypeDescription is longer than ${LIMITS.descriptionLength} characters`, 'thingTypeProperties.thingTypeDescription');
  const existing = state.thingType(name);
  if (existing) {
    const same = existing.description === input.description && existing.searchableAttributes.join('\n') === searchable.join('\n');
    if (same) return { result: existing, writes: [], events: [] };
    throw new PlatformError('REGISTRY_ALREADY_EXISTS', `Thing type ${name} already exists`, { details: { resourceId: existing.thingTypeId, resourceArn: ctx.arns.thingType(name) } });
  }
  const type: ThingTypeRecord = {
    kind: 'thingType',
    thingTypeName: name,
    thingTypeId: ctx.newId(),
    ...(input.description !== undefined ? { description: input.description } : {}),
    searchableAttributes: searchable,
    ...(input.mqtt5Configuration !== undefined ? { mqtt5Configuration: input.mqtt5Configuration } : {}),
    deprecated: false,
    createdAt: ctx.now,
  };
  return { result: type, writes: [put(type)], events: [registryEvents.thingType(type, 'CREATED', ctx)] };
}

/** DeprecateThingType, or with `undoDeprecate` its reversal. Idempotent. */
export function deprecateThingType(state: RegistryState, input: { thingTypeName: string; undoDeprecate?: boolean }, ctx: CommandContext): Change<ThingTypeRecord> {
  const name = validateName('thingTypeName', input.thingTypeName);
  const type = state.thingType(name);
  if (!type) throw notFound('Thing type', name);
  const deprecate = !input.undoDeprecate;
  if (type.deprecated === deprecate) return { result: type, writes: [], events: [] };
  const { deprecationDate: _d, ...rest } = type;
  const next: ThingTypeRecord = deprecate ? { ...rest, deprecated: true, deprecationDate: ctx.now } : { ...rest, deprecated: false };
  return { result: next, writes: [put(next)], events: [registryEvents.thingType(next, 'UPDATED', ctx)] };
}

/**
 * DeleteThingType. AWS IoT: only a deprecated type, and only `deleteDelayMs` (5 minutes) after
 * it was deprecated; and never while things still have the type.
 */
export function deleteThingType(state: RegistryState, input: { thingTypeName: string }, ctx: CommandContext, deleteDelayMs: number): Change<ThingTypeRecord> {
  const name = validateName('thingTypeName', input.thingTypeName);
  const type = state.thingType(name);
  if (!type) throw notFound('Thing type', name);
  if (!type.deprecated) throw invalid(`Thing type ${name} is not deprecated; deprecate it before deleting it`, 'thingTypeName');
  const readyAt = (type.deprecationDate ?? 0) + deleteDelayMs;
  if (ctx.now < readyAt) throw invalid(`Thing type ${name} was deprecated less than ${Math.round(deleteDelayMs / 1000)} seconds ago; it can be deleted after ${new Date(readyAt).toISOString()}`, 'thingTypeName');
  for (const thing of state.things()) {
    if (thing.thingTypeName === name) throw invalid(`Thing type ${name} still has things associated with it (e.g. ${thing.thingName}); change their type first`, 'thingTypeName');
  }
  return { result: type, writes: [remove(KEY_PREFIX.thingType, name)], events: [registryEvents.thingType(type, 'DELETED', ctx)] };
}

// ---------------------------------------------------------------------------------------------
// Thing groups

/** The group's ancestors, root first (its parent last). */
export function ancestorsOf(state: RegistryState, group: ThingGroupRecord): ThingGroupRecord[] {
  const chain: ThingGroupRecord[] = [];
  const seen = new Set<string>([group.thingGroupName]);
  let parentName = group.parentGroupName;
  while (parentName !== undefined && !seen.has(parentName)) {
    const parent = state.thingGroup(parentName);
    if (!parent) break; // a parent deleted out from under its child (another process) ends the chain
    seen.add(parentName);
    chain.unshift(parent);
    parentName = parent.parentGroupName;
  }
  return chain;
}

const rootName = (state: RegistryState, group: ThingGroupRecord): string => ancestorsOf(state, group)[0]?.thingGroupName ?? group.thingGroupName;

/** Direct children of every group, by parent name. */
export function childrenByParent(state: RegistryState): Map<string, ThingGroupRecord[]> {
  const children = new Map<string, ThingGroupRecord[]>();
  for (const group of state.thingGroups()) {
    if (group.parentGroupName === undefined) continue;
    const list = children.get(group.parentGroupName) ?? [];
    list.push(group);
    children.set(group.parentGroupName, list);
  }
  return children;
}

/** The names of a group's descendants (not the group itself). */
export function descendantNames(state: RegistryState, groupName: string): Set<string> {
  const children = childrenByParent(state);
  const out = new Set<string>();
  const stack = [groupName];
  while (stack.length > 0) {
    for (const child of children.get(stack.pop()!) ?? []) {
      if (out.has(child.thingGroupName)) continue;
      out.add(child.thingGroupName);
      stack.push(child.thingGroupName);
    }
  }
  return out;
}

export interface CreateThingGroupInput {
  readonly thingGroupName: string;
  readonly parentGroupName?: string;
  readonly description?: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

export function createThingGroup(state: RegistryState, input: CreateThingGroupInput, ctx: CommandContext): Change<ThingGroupRecord> {
  const name = validateName('thingGroupName', input.thingGroupName);
  const attributes = validateAttributes('thingGroupProperties.attributePayload.attributes', input.attributes);
  for (const [k, v] of Object.entries(attributes)) if (v === '') delete attributes[k];
  if (input.description !== undefined && input.description.length > LIMITS.descriptionLength) throw invalid(`thingGroupDescription is longer than ${LIMITS.descriptionLength} characters`, 'thingGroupProperties.thingGroupDescription');
  const existing = state.thingGroup(name);
  if (existing) {
    const same = existing.parentGroupName === input.parentGroupName && existing.description === input.description && sameAttributes(existing.attributes, attributes);
    if (same) return { result: existing, writes: [], events: [] };
    throw new PlatformError('REGISTRY_ALREADY_EXISTS', `Thing group ${name} already exists with different properties`, { details: { resourceId: existing.thingGroupId, resourceArn: ctx.arns.thingGroup(name) } });
  }
  let parent: ThingGroupRecord | undefined;
  if (input.parentGroupName !== undefined) {
    validateName('parentGroupName', input.parentGroupName);
    parent = state.thingGroup(input.parentGroupName);
    if (!parent) throw notFound('Thing group', input.parentGroupName);
    const depth = ancestorsOf(state, parent).length + 2;
    if (depth > LIMITS.groupDepth) throw new PlatformError('REGISTRY_LIMIT', `Thing group hierarchy cannot be deeper than ${LIMITS.groupDepth} levels (${name} would be level ${depth})`);
  }
  const group: ThingGroupRecord = {
    kind: 'thingGroup',
    thingGroupName: name,
    thingGroupId: ctx.newId(),
    ...(parent ? { parentGroupName: parent.thingGroupName } : {}),
    ...(input.description !== undefined ? { description: input.description } : {}),
    attributes,
    version: 1,
    createdAt: ctx.now,
  };
  const events = [registryEvents.thingGroup(group, 'CREATED', ancestorsOf(state, group), parent, ctx)];
  if (parent) events.push(registryEvents.hierarchy(parent, group, 'ADDED', ctx));
  return { result: group, writes: [put(group)], events };
}

export interface UpdateThingGroupInput {
  readonly thingGroupName: string;
  readonly description?: string;
  readonly attributePayload?: { attributes?: Readonly<Record<string, string>>; merge?: boolean };
  readonly expectedVersion?: number;
}

export function updateThingGroup(state: RegistryState, input: UpdateThingGroupInput, ctx: CommandContext): Change<ThingGroupRecord> {
  const name = validateName('thingGroupName', input.thingGroupName);
  const group = state.thingGroup(name);
  if (!group) throw notFound('Thing group', name);
  checkExpectedVersion('thing group', name, input.expectedVersion, group.version);
  const payload = input.attributePayload && {
    ...input.attributePayload,
    ...(input.attributePayload.attributes !== undefined ? { attributes: validateAttributes('thingGroupProperties.attributePayload.attributes', input.attributePayload.attributes) } : {}),
  };
  if (input.description !== undefined && input.description.length > LIMITS.descriptionLength) throw invalid(`thingGroupDescription is longer than ${LIMITS.descriptionLength} characters`, 'thingGroupProperties.thingGroupDescription');
  const next: ThingGroupRecord = {
    ...group,
    ...(input.description !== undefined ? { description: input.description } : {}),
    attributes: applyAttributePayload(group.attributes, payload),
    version: group.version + 1,
  };
  const ancestors = ancestorsOf(state, group);
  return { result: next, writes: [put(next)], events: [registryEvents.thingGroup(next, 'UPDATED', ancestors, ancestors.at(-1), ctx)] };
}

/**
 * DeleteThingGroup. AWS IoT: deleting a group that does not exist succeeds; a group with child
 * groups cannot be deleted. Member things leave the group: their records are rewritten before
 * the group's tombstone, so a crash in between leaves a group without members, never members
 * of a missing group (readers ignore such memberships anyway).
 */
export function deleteThingGroup(state: RegistryState, input: { thingGroupName: string; expectedVersion?: number }, ctx: CommandContext): Change<ThingGroupRecord | undefined> {
  const name = validateName('thingGroupName', input.thingGroupName);
  const group = state.thingGroup(name);
  if (!group) return { result: undefined, writes: [], events: [] };
  checkExpectedVersion('thing group', name, input.expectedVersion, group.version);
  const child = childrenByParent(state).get(name)?.[0];
  if (child) throw invalid(`Cannot delete thing group ${name} which has child groups (e.g. ${child.thingGroupName}); delete them first`, 'thingGroupName');
  const writes: Write[] = [];
  const events: RegistryEvent[] = [];
  for (const thing of state.things()) {
    const membership = thing.groups.find((m) => m.groupName === name);
    if (!membership) continue;
    writes.push(put({ ...thing, groups: thing.groups.filter((m) => m !== membership) }));
    events.push(registryEvents.membership(thing, group, membership.membershipId, 'REMOVED', ctx));
  }
  writes.push(remove(KEY_PREFIX.thingGroup, name));
  const ancestors = ancestorsOf(state, group);
  events.push(registryEvents.thingGroup(group, 'DELETED', ancestors, ancestors.at(-1), ctx));
  if (ancestors.length > 0) events.push(registryEvents.hierarchy(ancestors.at(-1)!, group, 'REMOVED', ctx));
  return { result: group, writes, events };
}

/** Memberships whose group still exists. */
export const liveGroups = (state: RegistryState, thing: ThingRecord): ThingGroupRecord[] =>
  thing.groups.map((m) => state.thingGroup(m.groupName)).filter((g): g is ThingGroupRecord => g !== undefined);

/**
 * AddThingToThingGroup. AWS IoT: at most 10 groups per thing, and a thing is in at most one
 * group of a hierarchy (two groups with the same root). Adding it again is a no-op.
 */
export function addThingToThingGroup(state: RegistryState, input: { thingName: string; thingGroupName: string }, ctx: CommandContext): Change<ThingRecord> {
  const thingName = validateName('thingName', input.thingName);
  const groupName = validateName('thingGroupName', input.thingGroupName);
  const thing = state.thing(thingName);
  if (!thing) throw notFound('Thing', thingName);
  const group = state.thingGroup(groupName);
  if (!group) throw notFound('Thing group', groupName);
  const current = liveGroups(state, thing);
  if (current.some((g) => g.thingGroupName === groupName)) return { result: thing, writes: [], events: [] };
  if (current.length >= LIMITS.groupsPerThing) throw new PlatformError('REGISTRY_LIMIT', `Thing ${thingName} is already in ${LIMITS.groupsPerThing} thing groups, the most a thing can belong to`);
  const root = rootName(state, group);
  const sameTree = current.find((g) => rootName(state, g) === root);
  if (sameTree) throw invalid(`Thing ${thingName} is already in thing group ${sameTree.thingGroupName} of the same hierarchy (root ${root}); a thing can be in only one group of a hierarchy`, 'thingGroupName');
  const membershipId = ctx.newId();
  const live = new Set(current.map((g) => g.thingGroupName));
  const next: ThingRecord = { ...thing, groups: [...thing.groups.filter((m) => live.has(m.groupName)), { groupName, membershipId }] };
  return { result: next, writes: [put(next)], events: [registryEvents.membership(next, group, membershipId, 'ADDED', ctx)] };
}

/** RemoveThingFromThingGroup. Removing a thing that is not in the group is a no-op. */
export function removeThingFromThingGroup(state: RegistryState, input: { thingName: string; thingGroupName: string }, ctx: CommandContext): Change<ThingRecord> {
  const thingName = validateName('thingName', input.thingName);
  const groupName = validateName('thingGroupName', input.thingGroupName);
  const thing = state.thing(thingName);
  if (!thing) throw notFound('Thing', thingName);
  const group = state.thingGroup(groupName);
  if (!group) throw notFound('Thing group', groupName);
  const membership = thing.groups.find((m) => m.groupName === groupName);
  if (!membership) return { result: thing, writes: [], events: [] };
  const next: ThingRecord = { ...thing, groups: thing.groups.filter((m) => m !== membership) };
  return { result: next, writes: [put(next)], events: [registryEvents.membership(next, group, membership.membershipId, 'REMOVED', ctx)] };
}
