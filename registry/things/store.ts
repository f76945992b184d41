/**
 * The thing registry over the compacted `iot.registry` topic: a table view for reads, the pure
 * commands of `domain.ts` for changes, and registry events appended to `iot.ingress`.
 *
 * Commands run one at a time in this process (a promise queue), so each one's checks see the
 * writes of the one before. Processes that share a Kafka cluster each run their own queue;
 * two of them changing the same resource at the same instant is last-writer-wins, as the
 * version numbers and AWS's `expectedVersion` make visible to callers who care.
 */
import { randomUUID } from 'node:crypto';
import {
  CORE_TOPICS,
  PlatformError,
  TOPICS,
  createEnvelope,
  encodeEnvelope,
  type Log,
  type Logger,
  type Table,
} from '../../core/index.js';
import * as domain from './domain.js';
import type { Change, CommandContext, RegistryEvent, RegistryState } from './domain.js';
import { KEY_PREFIX, createArns, type Arns, type RegistryRecord, type ThingGroupRecord, type ThingRecord, type ThingTypeRecord } from './model.js';
import { paginate, type Page, type PageRequest } from './paging.js';

/** AWS IoT: a thing type can be deleted 5 minutes after it was deprecated. */
export const DEFAULT_THING_TYPE_DELETE_DELAY_MS = 5 * 60_000;

export interface ThingRegistryOptions {
  readonly log: Log;
  readonly logger: Logger;
  /** Region and account in ARNs and events. */
  readonly region: string;
  readonly accountId: string;
  readonly clock?: () => number;
  /** Append registry events to `iot.ingress`. Default true. */
  readonly publishEvents?: boolean;
  readonly thingTypeDeleteDelayMs?: number;
  /**
   * Called (inside the command queue) before a thing is deleted; throwing refuses the delete
   * with that error. The certificates service uses it to refuse deleting a thing that still
   * has principals attached (AWS IoT: InvalidRequestException).
   */
  readonly beforeDeleteThing?: (thing: ThingRecord) => void | Promise<void>;
}

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

const KNOWN_PREFIXES = Object.values(KEY_PREFIX);

/**
 * A thing or thing group record changed (created, updated, deleted), by this process or any
 * other writing `iot.registry`. `previous`/`value` are undefined when it did not exist before /
 * was deleted. The security service uses it to re-check certificates whose group-inherited
 * policies may have changed.
 */
export type ThingRegistryChange =
  | { readonly kind: 'thing'; readonly name: string; readonly previous: ThingRecord | undefined; readonly value: ThingRecord | undefined }
  | { readonly kind: 'thingGroup'; readonly name: string; readonly previous: ThingGroupRecord | undefined; readonly value: ThingGroupRecord | undefined };

function decodeRecord(value: Buffer, key: string): RegistryRecord | undefined {
  // Other services keep their own prefixes on iot.registry; only ours are decoded.
  if (!KNOWN_PREFIXES.some((p) => key.startsWith(p))) return undefined;
  return JSON.parse(value.toString('utf8')) as RegistryRecord;
}

export class ThingRegistry implements RegistryState {
  readonly arns: Arns;
  readonly #table: Table<RegistryRecord | undefined>;
  readonly #options: ThingRegistryOptions;
  readonly #logger: Logger;
  readonly #clock: () => number;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(table: Table<RegistryRecord | undefined>, options: ThingRegistryOptions) {
    this.#table = table;
    this.#options = options;
    this.#logger = options.logger.child({ module: 'registry.things' });
    this.#clock = options.clock ?? Date.now;
    this.arns = createArns(options.region, options.accountId);
  }

  /** Ensures `iot.registry` and `iot.ingress`, then opens the table (resolves once caught up). */
  static async open(options: ThingRegistryOptions): Promise<ThingRegistry> {
    for (const name of [TOPICS.registry, TOPICS.ingress]) {
      await options.log.ensureTopic(CORE_TOPICS.find((t) => t.name === name) ?? { name });
    }
    const table = await options.log.openTable<RegistryRecord | undefined>(TOPICS.registry, { decode: decodeRecord });
    return new ThingRegistry(table, options);
  }

  // --- state -----------------------------------------------------------------------------------

  thing(name: string): ThingRecord | undefined {
    const r = this.#table.get(KEY_PREFIX.thing + name);
    return r?.kind === 'thing' ? r : undefined;
  }

  thingType(name: string): ThingTypeRecord | undefined {
    const r = this.#table.get(KEY_PREFIX.thingType + name);
    return r?.kind === 'thingType' ? r : undefined;
  }

  thingGroup(name: string): ThingGroupRecord | undefined {
    const r = this.#table.get(KEY_PREFIX.thingGroup + name);
    return r?.kind === 'thingGroup' ? r : undefined;
  }

  *things(): IterableIterator<ThingRecord> {
    for (const [, r] of this.#table.entries()) if (r?.kind === 'thing') yield r;
  }

  *thingTypes(): IterableIterator<ThingTypeRecord> {
    for (const [, r] of this.#table.entries()) if (r?.kind === 'thingType') yield r;
  }

  *thingGroups(): IterableIterator<ThingGroupRecord> {
    for (const [, r] of this.#table.entries()) if (r?.kind === 'thingGroup') yield r;
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
    return this.#table.onChange(({ key, value, previous }) => {
      if (key.startsWith(KEY_PREFIX.thing)) {
        listener({ kind: 'thing', name: key.slice(KEY_PREFIX.thing.length), previous: previous?.kind === 'thing' ? previous : undefined, value: value?.kind === 'thing' ? value : undefined });
      } else if (key.startsWith(KEY_PREFIX.thingGroup)) {
        listener({ kind: 'thingGroup', name: key.slice(KEY_PREFIX.thingGroup.length), previous: previous?.kind === 'thingGroup' ? previous : undefined, value: value?.kind === 'thingGroup' ? value : undefined });
      }
    });
  }

  // --- commands (each throws the PlatformError of the rule it breaks) ---------------------------

  createThing(input: domain.CreateThingInput): Promise<ThingRecord> {
    return this.#run((ctx) => domain.createThing(this, input, ctx));
  }

  updateThing(input: domain.UpdateThingInput): Promise<ThingRecord> {
    return this.#run((ctx) => domain.updateThing(this, input, ctx));
  }

  deleteThing(input: { thingName: string; expectedVersion?: number }): Promise<ThingRecord | undefined> {
    return this.#run(
      (ctx) => domain.deleteThing(this, input, ctx),
      async (change) => {
        if (change.result && this.#options.beforeDeleteThing) await this.#options.beforeDeleteThing(change.result);
      },
    );
  }

  createThingType(input: domain.CreateThingTypeInput): Promise<ThingTypeRecord> {
    return this.#run((ctx) => domain.createThingType(this, input, ctx));
  }

  deprecateThingType(input: { thingTypeName: string; undoDeprecate?: boolean }): Promise<ThingTypeRecord> {
    return this.#run((ctx) => domain.deprecateThingType(this, input, ctx));
  }

  deleteThingType(input: { thingTypeName: string }): Promise<ThingTypeRecord> {
    return this.#run((ctx) => domain.deleteThingType(this, input, ctx, this.#options.thingTypeDeleteDelayMs ?? DEFAULT_THING_TYPE_DELETE_DELAY_MS));
  }

  createThingGroup(input: domain.CreateThingGroupInput): Promise<ThingGroupRecord> {
    return this.#run((ctx) => domain.createThingGroup(this, input, ctx));
  }

  updateThingGroup(input: domain.UpdateThingGroupInput): Promise<ThingGroupRecord> {
    return this.#run((ctx) => domain.updateThingGroup(this, input, ctx));
  }

  deleteThingGroup(input: { thingGroupName: string; expectedVersion?: number }): Promise<ThingGroupRecord | undefined> {
    return this.#run((ctx) => domain.deleteThingGroup(this, input, ctx));
  }

  addThingToThingGroup(input: { thingName: string; thingGroupName: string }): Promise<ThingRecord> {
    return this.#run((ctx) => domain.addThingToThingGroup(this, input, ctx));
  }

  removeThingFromThingGroup(input: { thingName: string; thingGroupName: string }): Promise<ThingRecord> {
    return this.#run((ctx) => domain.removeThingFromThingGroup(this, input, ctx));
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

  /** Stops following the topic. Commands in flight finish first. Safe twice. */
  async close(): Promise<void> {
    await this.#queue.catch(() => undefined);
    await this.#table.close();
  }

  // --- internals ---------------------------------------------------------------------------------

  #run<R>(command: (ctx: CommandContext) => Change<R>, beforeApply?: (change: Change<R>) => Promise<void>): Promise<R> {
    const next = this.#queue.then(async () => {
      const ctx: CommandContext = { now: this.#clock(), newId: randomUUID, arns: this.arns };
      const change = command(ctx);
      if (beforeApply) await beforeApply(change);
      for (const write of change.writes) {
        if (write.value === null) await this.#table.delete(write.key);
        else await this.#table.set(write.key, JSON.stringify(write.value));
      }
      await this.#publish(change.events);
      return change.result;
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #publish(events: readonly RegistryEvent[]): Promise<void> {
    if (events.length === 0 || this.#options.publishEvents === false) return;
    const records = events.map((event) => {
      const envelope = createEnvelope({ topic: event.topic, payload: Buffer.from(JSON.stringify(event.payload)), qos: 1, receivedAt: this.#clock() });
      return { key: event.key, value: encodeEnvelope(envelope) };
    });
    try {
      await this.#options.log.append(TOPICS.ingress, records);
    } catch (err) {
      // The change itself is durable; a lost event is logged rather than failing the call.
      this.#logger.error({ err, topics: events.map((e) => e.topic) }, 'registry events could not be published');
    }
  }
}

const notFoundGroup = (name: string): PlatformError => new PlatformError('REGISTRY_NOT_FOUND', `Thing group ${name} does not exist`, { details: { resourceId: name } });
