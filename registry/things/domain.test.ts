import { describe, expect, test } from 'vitest';
import { PlatformError } from '../../core/index.js';
import * as domain from './domain.js';
import { createArns, type RegistryRecord, type ThingGroupRecord, type ThingRecord, type ThingTypeRecord } from './model.js';

/** An in-memory registry that applies a command's writes, so the pure rules can be driven directly. */
function memoryRegistry() {
  const records = new Map<string, RegistryRecord>();
  let id = 0;
  const ctx: domain.CommandContext = { now: 1_000, newId: () => `id-${++id}`, arns: createArns('us-east-1', '000000000000') };
  const state: domain.RegistryState = {
    thing: (n) => records.get(`thing/${n}`) as ThingRecord | undefined,
    thingType: (n) => records.get(`thingType/${n}`) as ThingTypeRecord | undefined,
    thingGroup: (n) => records.get(`thingGroup/${n}`) as ThingGroupRecord | undefined,
    things: () => [...records.values()].filter((r): r is ThingRecord => r.kind === 'thing'),
    thingGroups: () => [...records.values()].filter((r): r is ThingGroupRecord => r.kind === 'thingGroup'),
  };
  const apply = <R>(change: domain.Change<R>): domain.Change<R> => {
    for (const w of change.writes) {
      if (w.value === null) records.delete(w.key);
      else records.set(w.key, w.value);
    }
    return change;
  };
  return { state, ctx, apply };
}

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof PlatformError ? err.code : 'other';
  }
  return undefined;
};

describe('registry rules', () => {
  test('attribute payloads merge (empty value removes) or replace', () => {
    expect(domain.applyAttributePayload({ a: '1', b: '2' }, { attributes: { b: '', c: '3' }, merge: true })).toEqual({ a: '1', c: '3' });
    expect(domain.applyAttributePayload({ a: '1' }, { attributes: { c: '3' } })).toEqual({ c: '3' });
    expect(domain.applyAttributePayload({ a: '1' }, undefined)).toEqual({ a: '1' });
  });

  test('group depth stops at 7 and a thing joins one group per hierarchy', () => {
    const { state, ctx, apply } = memoryRegistry();
    apply(domain.createThingGroup(state, { thingGroupName: 'g1' }, ctx));
    for (let i = 2; i <= 7; i++) apply(domain.createThingGroup(state, { thingGroupName: `g${i}`, parentGroupName: `g${i - 1}` }, ctx));
    expect(codeOf(() => domain.createThingGroup(state, { thingGroupName: 'g8', parentGroupName: 'g7' }, ctx))).toBe('REGISTRY_LIMIT');
    expect(domain.ancestorsOf(state, state.thingGroup('g3')!).map((g) => g.thingGroupName)).toEqual(['g1', 'g2']);
    expect([...domain.descendantNames(state, 'g5')]).toEqual(['g6', 'g7']);

    apply(domain.createThing(state, { thingName: 't' }, ctx));
    const added = apply(domain.addThingToThingGroup(state, { thingName: 't', thingGroupName: 'g4' }, ctx));
    expect(added.events.map((e) => e.topic)).toEqual(['$aws/events/thingGroupMembership/thingGroup/g4/thing/t/added']);
    expect(codeOf(() => domain.addThingToThingGroup(state, { thingName: 't', thingGroupName: 'g1' }, ctx))).toBe('REGISTRY_INVALID');
    expect(domain.addThingToThingGroup(state, { thingName: 't', thingGroupName: 'g4' }, ctx).writes).toEqual([]);
  });

  test('deleting a group removes its members first, and refuses while it has children', () => {
    const { state, ctx, apply } = memoryRegistry();
    apply(domain.createThingGroup(state, { thingGroupName: 'root' }, ctx));
    apply(domain.createThingGroup(state, { thingGroupName: 'leaf', parentGroupName: 'root' }, ctx));
    apply(domain.createThing(state, { thingName: 't' }, ctx));
    apply(domain.addThingToThingGroup(state, { thingName: 't', thingGroupName: 'leaf' }, ctx));
    expect(codeOf(() => domain.deleteThingGroup(state, { thingGroupName: 'root' }, ctx))).toBe('REGISTRY_INVALID');
    const change = apply(domain.deleteThingGroup(state, { thingGroupName: 'leaf' }, ctx));
    expect(change.writes.map((w) => [w.key, w.value === null])).toEqual([['thing/t', false], ['thingGroup/leaf', true]]);
    expect(state.thing('t')?.groups).toEqual([]);
    expect(change.events.map((e) => e.topic)).toContain('$aws/events/thingGroupHierarchy/thingGroup/root/childThingGroup/leaf/removed');
  });

  test('typed things take up to 50 attributes, untyped ones 3; deprecated types take no new things', () => {
    const { state, ctx, apply } = memoryRegistry();
    apply(domain.createThingType(state, { thingTypeName: 'T' }, ctx));
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`a${i}`, 'v']));
    apply(domain.createThing(state, { thingName: 'typed', thingTypeName: 'T', attributes: fifty }, ctx));
    expect(codeOf(() => domain.createThing(state, { thingName: 'x', thingTypeName: 'T', attributes: { ...fifty, one: 'more' } }, ctx))).toBe('REGISTRY_INVALID');
    expect(codeOf(() => domain.createThing(state, { thingName: 'x', attributes: { a: '1', b: '2', c: '3', d: '4' } }, ctx))).toBe('REGISTRY_INVALID');
    apply(domain.deprecateThingType(state, { thingTypeName: 'T' }, ctx));
    expect(codeOf(() => domain.createThing(state, { thingName: 'y', thingTypeName: 'T' }, ctx))).toBe('REGISTRY_INVALID');
    expect(codeOf(() => domain.createThing(state, { thingName: 'y', thingTypeName: 'Missing' }, ctx))).toBe('REGISTRY_NOT_FOUND');
    expect(codeOf(() => domain.deleteThingType(state, { thingTypeName: 'T' }, { ...ctx, now: ctx.now + 1 }, 300_000))).toBe('REGISTRY_INVALID');
  });
});
