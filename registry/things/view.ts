/**
 * The thing registry's records read from the registry store, typed by key prefix. The codec
 * checked each value against its prefix's schema on decode, so the kind test below is a type
 * guard, not a filter of foreign data.
 */
import type { StateView } from '../../core/index.js';
import type { RegistryValue } from '../store.js';
import type { RegistryState } from './domain.js';
import { KEY_PREFIX, type RegistryRecord, type ThingGroupRecord, type ThingRecord, type ThingTypeRecord } from './model.js';

const kindOf = (value: RegistryValue | undefined): RegistryRecord['kind'] | undefined => (value as { kind?: RegistryRecord['kind'] } | undefined)?.kind;

export class ThingsView implements RegistryState {
  readonly #view: StateView<RegistryValue>;

  constructor(view: StateView<RegistryValue>) {
    this.#view = view;
  }

  thing(name: string): ThingRecord | undefined {
    const r = this.#view.get(KEY_PREFIX.thing + name);
    return kindOf(r) === 'thing' ? (r as ThingRecord) : undefined;
  }

  thingType(name: string): ThingTypeRecord | undefined {
    const r = this.#view.get(KEY_PREFIX.thingType + name);
    return kindOf(r) === 'thingType' ? (r as ThingTypeRecord) : undefined;
  }

  thingGroup(name: string): ThingGroupRecord | undefined {
    const r = this.#view.get(KEY_PREFIX.thingGroup + name);
    return kindOf(r) === 'thingGroup' ? (r as ThingGroupRecord) : undefined;
  }

  things(): IterableIterator<ThingRecord> {
    return this.#ofKind<ThingRecord>('thing');
  }

  thingTypes(): IterableIterator<ThingTypeRecord> {
    return this.#ofKind<ThingTypeRecord>('thingType');
  }

  thingGroups(): IterableIterator<ThingGroupRecord> {
    return this.#ofKind<ThingGroupRecord>('thingGroup');
  }

  *#ofKind<R extends RegistryRecord>(kind: R['kind']): IterableIterator<R> {
    for (const [, r] of this.#view.entries()) if (kindOf(r) === kind) yield r as R;
  }
}

/** The record under a thing registry key, when it is one (for change listeners). */
export function thingRecordOf<K extends RegistryRecord['kind']>(value: RegistryValue | undefined, kind: K): Extract<RegistryRecord, { kind: K }> | undefined {
  return kindOf(value) === kind ? (value as Extract<RegistryRecord, { kind: K }>) : undefined;
}
