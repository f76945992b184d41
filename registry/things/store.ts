/**
 * The thing registry: things, thing types and thing groups in the registry store
 * (`../store.ts`) over the compacted `iot.registry` topic. Reads come from the store's view;
 * every change is a command (`commands.ts`, wrapping the pure rules of `domain.ts`) that runs
 * on the owner of the topic's one partition, one registry command at a time, whichever
 * process (API, gateway, CLI) asked; registry events are appended to `iot.ingress` with it.
 */
import { PlatformError } from '../../core/index.js';
import { RegistryStore, type RegistryStoreOptions } from '../store.js';
import { THING_COMMANDS } from './commands.js';
import * as domain from './domain.js';
import { KEY_PREFIX, type Arns, type ThingGroupRecord, type ThingRecord, type ThingTypeRecord } from './model.js';
import { paginate, type Page, type PageRequest } from './paging.js';
import { ThingsView, thingRecordOf } from './view.js';

/** How to open the registry store the thing registry reads and writes. */
export type ThingRegistryOptions = RegistryStoreOptions;

export interface ListThingsFilter {
  readonly attributeName?: string | undefined;
  readonly attributeValue?: string | undefined;
  readonly usePrefixAttributeValue?: boolean | undefined;
  readonly thingTypeName?: string | undefined;
}

export interface ListThingGroupsFilter {
  readonly parentGroup?: string | undefined;
  readonly namePrefixFilter?: string | undefined;
  readonly recursive?: boolean | undefined;
}

/**
 * A thing or thing group record changed (created, updated, deleted), by this process or any
 * other writing `iot.registry`. `previous`/`value` are undefined when it did not exist before /
 * was deleted. The security service uses it to re-check certificates whose group-inherited
 * policies may have changed.
 */
export type ThingRegistryChange =
  | { readonly kind: 'thing'; readonly name: string; readonly previous: ThingRecord | undefined; readonly value: ThingRecord | undefined }
  | { readonly kind: 'thingGroup'; readonly name: string; readonly previous: ThingGroupRecord | undefined; readonly value: ThingGroupRecord | undefined };

/** Reads (`thing`, `things`, ...) come from the store's view (`ThingsView`); changes are commands. */
export class ThingRegistry extends ThingsView {
  readonly arns: Arns;
  /** The registry store this registry opened; share it with the security service. */
  readonly store: RegistryStore;

  private constructor(store: RegistryStore) {
    super(store.state);
    this.store = store;
    this.arns = store.arns;
  }

  /** Opens the registry store (resolves once it has caught up with `iot.registry`). */
  static async open(options: ThingRegistryOptions): Promise<ThingRegistry> {
    return new ThingRegistry(await RegistryStore.open(options));
  }

  /** A group's ancestors, root first. */
  ancestors(group: ThingGroupRecord): ThingGroupRecord[] {
    return domain.ancestorsOf(this, group);
  }

  /** A thing's groups that still exist (direct memberships). */
  groupsOf(thing: ThingRecord): ThingGroupRecord[] {
    return domain.liveGroups(this, thing);
  }

  /**
   * Calls `listener` after every change of a thing or thing group applied to this view (after
   * catch-up; own writes included, before the command that wrote them resolves). Returns an
   * unsubscribe function.
   */
  onChange(listener: (change: ThingRegistryChange) => void): () => void {
    return this.store.state.onChange(({ key, value, previous }) => {
      if (key.startsWith(KEY_PREFIX.thing)) {
        listener({ kind: 'thing', name: key.slice(KEY_PREFIX.thing.length), previous: thingRecordOf(previous, 'thing'), value: thingRecordOf(value, 'thing') });
      } else if (key.startsWith(KEY_PREFIX.thingGroup)) {
        listener({ kind: 'thingGroup', name: key.slice(KEY_PREFIX.thingGroup.length), previous: thingRecordOf(previous, 'thingGroup'), value: thingRecordOf(value, 'thingGroup') });
      }
    });
  }

  // --- commands (each throws the PlatformError of the rule it breaks; see domain.ts) ----------

  createThing(input: domain.CreateThingInput): Promise<ThingRecord> {
    return this.store.execute(THING_COMMANDS.createThing, input);
  }

  updateThing(input: domain.UpdateThingInput): Promise<ThingRecord> {
    return this.store.execute(THING_COMMANDS.updateThing, input);
  }

  /** DeleteThing; refused (REGISTRY_INVALID) while principals are attached to the thing. */
  deleteThing(input: { thingName: string; expectedVersion?: number }): Promise<ThingRecord | undefined> {
    return this.store.execute(THING_COMMANDS.deleteThing, input);
  }

  createThingType(input: domain.CreateThingTypeInput): Promise<ThingTypeRecord> {
    return this.store.execute(THING_COMMANDS.createThingType, input);
  }

  deprecateThingType(input: { thingTypeName: string; undoDeprecate?: boolean }): Promise<ThingTypeRecord> {
    return this.store.execute(THING_COMMANDS.deprecateThingType, input);
  }

  deleteThingType(input: { thingTypeName: string }): Promise<ThingTypeRecord> {
    return this.store.execute(THING_COMMANDS.deleteThingType, input);
  }

  createThingGroup(input: domain.CreateThingGroupInput): Promise<ThingGroupRecord> {
    return this.store.execute(THING_COMMANDS.createThingGroup, input);
  }

  updateThingGroup(input: domain.UpdateThingGroupInput): Promise<ThingGroupRecord> {
    return this.store.execute(THING_COMMANDS.updateThingGroup, input);
  }

  deleteThingGroup(input: { thingGroupName: string; expectedVersion?: number }): Promise<ThingGroupRecord | undefined> {
    return this.store.execute(THING_COMMANDS.deleteThingGroup, input);
  }

  addThingToThingGroup(input: { thingName: string; thingGroupName: string }): Promise<ThingRecord> {
    return this.store.execute(THING_COMMANDS.addThingToThingGroup, input);
  }

  removeThingFromThingGroup(input: { thingName: string; thingGroupName: string }): Promise<ThingRecord> {
    return this.store.execute(THING_COMMANDS.removeThingFromThingGroup, input);
  }

  // --- queries -----------------------------------------------------------------------------------

  listThings(filter: ListThingsFilter, page: PageRequest): Page<ThingRecord> {
    const { attributeName, attributeValue, usePrefixAttributeValue, thingTypeName } = filter;
    const matches = (t: ThingRecord): boolean => {
      if (thingTypeName !== undefined && t.thingTypeName !== thingTypeName) return false;
      if (attributeName !== undefined) {
        const value = Object.prototype.hasOwnProperty.call(t.attributes, attributeName) ? t.attributes[attributeName] : undefined;
        if (value === undefined) return false;
        if (attributeValue !== undefined && !(usePrefixAttributeValue ? value.startsWith(attributeValue) : value === attributeValue)) return false;
      }
      return true;
    };
    return paginate([...this.things()].filter(matches), (t) => t.thingName, page);
  }

  listThingTypes(filter: { thingTypeName?: string | undefined }, page: PageRequest): Page<ThingTypeRecord> {
    const types = [...this.thingTypes()].filter((t) => filter.thingTypeName === undefined || t.thingTypeName === filter.thingTypeName);
    return paginate(types, (t) => t.thingTypeName, page);
  }

  /**
   * ListThingGroups: every group; with `parentGroup`, its direct children, or with `recursive`
   * all its descendants; `namePrefixFilter` keeps names that start with it.
   */
  listThingGroups(filter: ListThingGroupsFilter, page: PageRequest): Page<ThingGroupRecord> {
    let groups = [...this.thingGroups()];
    if (filter.parentGroup !== undefined) {
      if (!this.thingGroup(filter.parentGroup)) throw notFoundGroup(filter.parentGroup);
      const wanted = filter.recursive ? domain.descendantNames(this, filter.parentGroup) : new Set(groups.filter((g) => g.parentGroupName === filter.parentGroup).map((g) => g.thingGroupName));
      groups = groups.filter((g) => wanted.has(g.thingGroupName));
    }
    if (filter.namePrefixFilter !== undefined) groups = groups.filter((g) => g.thingGroupName.startsWith(filter.namePrefixFilter!));
    return paginate(groups, (g) => g.thingGroupName, page);
  }

  /** Things directly in the group, or with `recursive` in it and its descendants. */
  listThingsInThingGroup(groupName: string, recursive: boolean, page: PageRequest): Page<ThingRecord> {
    if (!this.thingGroup(groupName)) throw notFoundGroup(groupName);
    const groups = recursive ? domain.descendantNames(this, groupName) : new Set<string>();
    groups.add(groupName);
    const things = [...this.things()].filter((t) => t.groups.some((m) => groups.has(m.groupName)));
    return paginate(things, (t) => t.thingName, page);
  }

  listThingGroupsForThing(thingName: string, page: PageRequest): Page<ThingGroupRecord> {
    const thing = this.thing(thingName);
    if (!thing) throw new PlatformError('REGISTRY_NOT_FOUND', `Thing ${thingName} does not exist`, { details: { resourceId: thingName } });
    return paginate(this.groupsOf(thing), (g) => g.thingGroupName, page);
  }

  /** Closes the registry store (commands in flight finish first). Safe twice. */
  close(): Promise<void> {
    return this.store.close();
  }
}

const notFoundGroup = (name: string): PlatformError => new PlatformError('REGISTRY_NOT_FOUND', `Thing group ${name} does not exist`, { details: { resourceId: name } });
