/**
 * registry.batch on the real registry store (EmbeddedLog): groups are each all or nothing and
 * independent, later groups see earlier ones, `once` replays a sequence number's memo without
 * writing, keeps only the marks at or after `keepFrom`, and forgetOnce removes the mark.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { EmbeddedLog, silentLogger } from '../core/index.js';
import { FORGET_ONCE_COMMAND, REGISTRY_BATCH_COMMAND, onceKey, type BatchInput, type BatchResult, type OnceRecord } from './batch.js';
import { THING_COMMANDS } from './things/commands.js';
import { ThingRegistry } from './things/index.js';

let dir: string;
let log: EmbeddedLog;
let registry: ThingRegistry;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-registry-batch-'));
  log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  registry = await ThingRegistry.open({ log, logger: silentLogger(), region: 'us-east-1', accountId: '123456789012', publishEvents: false });
  await registry.createThingGroup({ thingGroupName: 'g' });
});

afterAll(async () => {
  await registry.close();
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

const batch = (input: BatchInput) => registry.store.execute<BatchResult>(REGISTRY_BATCH_COMMAND, input);
const create = (thingName: string) => ({ command: THING_COMMANDS.createThing, input: { thingName } });
const addTo = (thingName: string, thingGroupName: string) => ({ command: THING_COMMANDS.addThingToThingGroup, input: { thingName, thingGroupName } });

test('groups are each all or nothing, independent, and see the groups before them', async () => {
  const out = await batch({ groups: [{ steps: [create('a'), addTo('a', 'g')] }, { steps: [create('b'), addTo('b', 'missing')] }, { steps: [addTo('a', 'g'), create('c')] }] });
  expect(out.groups.map((g) => g.ok)).toEqual([true, false, true]);
  expect(out.groups[1]).toMatchObject({ ok: false, error: { code: 'REGISTRY_NOT_FOUND', message: 'Thing group missing does not exist' } });
  expect([registry.thing('a')?.groups.map((m) => m.groupName), registry.thing('b'), registry.thing('c')?.thingName]).toEqual([['g'], undefined, 'c']);
});

test('once: a sequence number applies once and replays its memo; marks below keepFrom are dropped; forgetOnce removes them', async () => {
  const first = await batch({ groups: [{ steps: [create('o1')], once: { id: 'run', seq: 1, keepFrom: 0, memo: { n: 1 } } }, { steps: [create('o2')], once: { id: 'run', seq: 2, keepFrom: 0, memo: { n: 2 } } }] });
  expect(first.groups.map((g) => g.ok && g.replayed)).toEqual([false, false]);
  const revision = registry.store.state.revision('thing/o1');
  const again = await batch({ groups: [{ steps: [create('o1'), addTo('o1', 'g')], once: { id: 'run', seq: 1, keepFrom: 0, memo: { n: 9 } } }] });
  expect(again.groups[0]).toEqual({ ok: true, replayed: true, memo: { n: 1 } });
  expect([registry.store.state.revision('thing/o1'), registry.thing('o1')?.groups]).toEqual([revision, []]);
  await batch({ groups: [{ steps: [create('o3')], once: { id: 'run', seq: 3, keepFrom: 2, memo: { n: 3 } } }] });
  expect(registry.store.state.get(onceKey('run')) as OnceRecord).toEqual({ low: 2, done: { '2': { n: 2 }, '3': { n: 3 } } });
  await registry.store.execute(FORGET_ONCE_COMMAND, { id: 'run' });
  expect(registry.store.state.has(onceKey('run'))).toBe(false);
});
