/**
 * The contract of the state-service base (`core/state/`), run on every Log implementation:
 * `runStateStoreSuite('EmbeddedLog', () => ...)` and the same for KafkaLog. Each test opens
 * its own logs and fresh topics, and closes what it opened.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { PlatformError } from '../errors.js';
import type { AppendBatch, Log } from '../log/log.js';
import { silentLogger } from '../logger.js';
import { jsonCodec, StateStore, type CommandDefinition, type StateStoreOptions } from '../state/index.js';
import { readRange } from '../log/read-range.js';
import { ownerGroupFor, STATE_REPLIES_TOPIC } from '../state/router.js';
import { requestsTopicFor } from '../topics.js';
import { uniqueTopic, waitUntil } from './run-log-suite.js';

const SLOW_MS = 120_000; // owner groups on Kafka take seconds to form

/** A test value: a counter and the ids of the commands that touched it. */
interface Tally {
  readonly count: number;
  readonly ids: readonly string[];
}

const tallyCodec = jsonCodec<Tally>({
  name: 'tally',
  version: 2,
  schema: z.object({ count: z.number().int(), ids: z.array(z.string()) }),
  // Version 1 (and plain JSON before frames) stored only the count.
  upgrade: (value, from) => (from < 2 ? { count: (value as { count: number }).count, ids: [] } : value),
});

const increment: CommandDefinition<Tally, { key: string }, { count: number; id: string }> = {
  name: 'increment',
  keys: (input) => [input.key],
  run: (state, input, ctx) => {
    const current = state.get(input.key) ?? { count: 0, ids: [] };
    const id = ctx.newId();
    return { writes: [{ key: input.key, value: { count: current.count + 1, ids: [...current.ids, id] } }], result: { count: current.count + 1, id } };
  },
};

const replace: CommandDefinition<Tally, { key: string; count: number; expectedRevision?: number }, number> = {
  name: 'replace',
  keys: (input) => [input.key],
  run: (state, input) => ({
    writes: [{ key: input.key, value: { count: input.count, ids: [] }, ...(input.expectedRevision !== undefined ? { ifRevision: input.expectedRevision } : {}) }],
    result: state.revision(input.key) + 1,
  }),
};

const remove: CommandDefinition<Tally, { key: string }, boolean> = {
  name: 'remove',
  keys: (input) => [input.key],
  run: (state, input) => ({ writes: state.has(input.key) ? [{ key: input.key, value: null }] : [], result: state.has(input.key) }),
};

const refuse: CommandDefinition<Tally, { key: string }, never> = {
  name: 'refuse',
  keys: (input) => [input.key],
  run: () => {
    throw new PlatformError('INPUT_INVALID', 'refused on purpose', { details: { field: 'key' } });
  },
};

const COMMANDS = [increment, replace, remove, refuse];

export function runStateStoreSuite(name: string, openLog: () => Promise<Log>): void {
  describe(`${name}: the state store contract`, () => {
    const logs: Log[] = [];
    const stores: StateStore<Tally>[] = [];
    const log = async (): Promise<Log> => {
      const l = await openLog();
      logs.push(l);
      return l;
    };
    const open = async (l: Log, topic: string, options: Partial<StateStoreOptions<Tally>> = {}): Promise<StateStore<Tally>> => {
      const store = await StateStore.open<Tally>({ log: l, logger: silentLogger(), topic: { name: topic, partitions: 2 }, codec: tallyCodec, commands: COMMANDS, ...options });
      stores.push(store);
      return store;
    };
    afterEach(async () => {
      for (const s of stores.splice(0).reverse()) await s.close();
      await Promise.all(logs.splice(0).map((l) => l.close()));
    });

    test(
      'commands on one key run one at a time: 40 concurrent increments lose nothing and issue no id twice',
      async () => {
        const l = await log();
        const store = await open(l, uniqueTopic());
        const results = await Promise.all(Array.from({ length: 40 }, () => store.execute<{ key: string }, { count: number; id: string }>('increment', { key: 'k' })));
        expect(results.map((r) => r.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(new Set(results.map((r) => r.id)).size).toBe(40);
        expect(store.get('k')).toEqual({ count: 40, ids: results.sort((a, b) => a.count - b.count).map((r) => r.id) });
        expect(store.revision('k')).toBe(40);
      },
      SLOW_MS,
    );

    test(
      "a command that had not issued its writes when its key's partition moved runs on the new owner, after the old owner's last writes",
      async () => {
        const topic = uniqueTopic();
        const { hold, release } = holding();
        const commands = [...COMMANDS, hold];
        const first = await open(await log(), topic, { commands });
        const partitions = first.ownedPartitions();
        expect(partitions.length).toBeGreaterThanOrEqual(2);
        // One key per partition, each held, with an increment waiting behind the hold.
        const candidates = Array.from({ length: 200 }, (_, i) => `key-${i}`);
        const keys = partitions.map((p) => candidates.find((k) => first.partitionOf(k) === p)!);
        const held = keys.map((key) => first.execute('hold', { key }));
        const queued = keys.map((key) => first.execute<{ key: string }, { count: number }>('increment', { key }));
        // A second process joins and takes partitions over; once the first has given some up, the holds end.
        const joining = open(await log(), topic, { commands });
        const deadline = Date.now() + 60_000;
        while (first.ownedPartitions().length === partitions.length) {
          if (Date.now() > deadline) throw new Error('no partition was revoked from the first store');
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        release();
        const second = await joining;
        await Promise.all(held);
        expect((await Promise.all(queued)).map((c) => c.count)).toEqual(keys.map(() => 2));
        // Every command on a partition that moved ran on its new owner: the hold (its run ended
        // after the revocation, so its writes were not issued) and then the increment, which read it.
        const moved = second.ownedPartitions();
        expect(moved.length).toBeGreaterThanOrEqual(1);
        expect(first.ownedPartitions().filter((p) => moved.includes(p))).toEqual([]);
        expect(second.stats().executed).toBe(2 * moved.length);
        expect(first.stats().asked).toBeGreaterThanOrEqual(2 * moved.length);
        for (const key of keys) {
          expect(first.get(key)?.count).toBe(2);
          expect(first.revision(key)).toBe(2);
        }
      },
      SLOW_MS,
    );

    test(
      'a request runs once: delivered again to a new owner (its offset was not committed), it is skipped, and the ones after it run',
      async () => {
        const l = await log();
        const topic = uniqueTopic();
        const requests = requestsTopicFor({ name: topic, partitions: 2 }).name;
        const first = await open(l, topic);
        const key = 'once';
        const partition = first.partitionOf(key);
        const ask = (id: string) =>
          l.append(requests, [{ key, partition, value: JSON.stringify({ id, command: 'increment', input: { key }, replyTo: 'asker-once', deadline: Date.now() + 60_000 }) }]);
        await ask('r1');
        await waitUntil(() => first.get(key)?.count === 1, 'the first owner ran r1');
        await first.close();
        // As if the first owner had lost the partition before committing r1.
        const rewind = l.consumer({ groupId: ownerGroupFor(topic), topics: [requests], startFrom: 'earliest', eachBatch: async () => {} });
        await rewind.start();
        await rewind.commit([{ topic: requests, partition, offset: 0 }]);
        await rewind.stop();
        const second = await open(await log(), topic);
        await ask('r2');
        await waitUntil(() => second.get(key)?.count === 2, 'the second owner ran r2');
        expect(second.get(key)?.count).toBe(2);
        expect(second.stats().executed).toBe(1);
        // r2's answer follows its write; and a second answer to r1 would have come before it.
        const answers = async () =>
          (await readRange(l, { topic: STATE_REPLIES_TOPIC.name }))
            .filter((r) => r.key?.toString() === 'asker-once')
            .map((r) => JSON.parse(r.value!.toString()) as { id: string; result: { count: number } })
            .map((r) => [r.id, r.result.count]);
        const deadline = Date.now() + 30_000;
        while ((await answers()).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await answers()).toEqual([
          ['r1', 1],
          ['r2', 2],
        ]);
      },
      SLOW_MS,
    );

    test(
      'commands still queued when a store closes run there before it leaves the owner group',
      async () => {
        const { hold, release } = holding();
        const store = await open(await log(), uniqueTopic(), { commands: [...COMMANDS, hold] });
        const held = store.execute('hold', { key: 'k' });
        const queued = store.execute<{ key: string }, { count: number }>('increment', { key: 'k' });
        const closing = store.close();
        await new Promise((resolve) => setTimeout(resolve, 50));
        release();
        await expect(held).resolves.toBe(1);
        await expect(queued).resolves.toMatchObject({ count: 2 });
        await closing;
        expect(store.stats()).toEqual({ executed: 2, asked: 0 });
      },
      SLOW_MS,
    );

    test(
      'replay equals live state: values, revisions and deletions, on a topic nobody compacted',
      async () => {
        const l = await log();
        const topic = uniqueTopic();
        const live = await open(l, topic);
        for (let i = 0; i < 30; i++) await live.execute('increment', { key: `k${i % 7}` });
        await live.execute('remove', { key: 'k3' });
        await live.execute('replace', { key: 'k5', count: 100 });
        await live.write([{ key: 'k6', value: null }]);
        await live.write([{ key: 'w', value: { count: 9, ids: ['x'] } }]);
        const replayed = await open(await log(), topic, { commands: [] });
        expect(new Map(replayed.entries())).toEqual(new Map(live.entries()));
        for (const key of ['k0', 'k1', 'k3', 'k5', 'k6', 'w']) expect(replayed.revision(key)).toBe(live.revision(key));
        expect(replayed.has('k3')).toBe(false);
        expect(replayed.revision('k3')).toBe(0);
        expect(replayed.get('k5')).toEqual({ count: 100, ids: [] });
      },
      SLOW_MS,
    );

    test(
      'a tombstone deletes the key everywhere, and a later write starts its revisions again',
      async () => {
        const l = await log();
        const topic = uniqueTopic();
        const store = await open(l, topic);
        const changes: { key: string; revision: number; deleted: boolean }[] = [];
        store.onChange((c) => changes.push({ key: c.key, revision: c.revision, deleted: c.value === undefined }));
        await store.execute('increment', { key: 'gone' });
        await store.execute('increment', { key: 'gone' });
        expect(await store.execute('remove', { key: 'gone' })).toBe(true);
        expect(store.get('gone')).toBeUndefined();
        expect(await store.execute('remove', { key: 'gone' })).toBe(false);
        expect(await store.execute<{ key: string }, { count: number }>('increment', { key: 'gone' })).toMatchObject({ count: 1 });
        expect(store.revision('gone')).toBe(1);
        expect(changes).toEqual([
          { key: 'gone', revision: 1, deleted: false },
          { key: 'gone', revision: 2, deleted: false },
          { key: 'gone', revision: 0, deleted: true },
          { key: 'gone', revision: 1, deleted: false },
        ]);
      },
      SLOW_MS,
    );

    test(
      'compare-and-set: a stale revision is refused and changes nothing; a command\'s own error reaches the caller',
      async () => {
        const l = await log();
        const store = await open(l, uniqueTopic());
        await store.execute('replace', { key: 'cas', count: 1, expectedRevision: 0 });
        await store.execute('replace', { key: 'cas', count: 2, expectedRevision: 1 });
        const stale = store.execute('replace', { key: 'cas', count: 3, expectedRevision: 1 });
        await expect(stale).rejects.toMatchObject({ code: 'STATE_CONFLICT', details: { expected: 1, actual: 2 } });
        await expect(store.write([{ key: 'cas', value: { count: 4, ids: [] }, ifRevision: 0 }])).rejects.toMatchObject({ code: 'STATE_CONFLICT' });
        expect(store.get('cas')).toEqual({ count: 2, ids: [] });
        expect(store.revision('cas')).toBe(2);
        await expect(store.execute('refuse', { key: 'cas' })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: 'refused on purpose' });
      },
      SLOW_MS,
    );

    test(
      'two instances converge: commands from both reach each key\'s one owner, and both views end equal',
      async () => {
        const topic = uniqueTopic();
        const a = await open(await log(), topic);
        const b = await open(await log(), topic);
        const keys = ['p', 'q', 'r', 's', 't', 'u'];
        const results = await Promise.all(
          Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).execute<{ key: string }, { count: number; id: string }>('increment', { key: keys[i % keys.length]! })),
        );
        expect(new Set(results.map((r) => r.id)).size).toBe(60);
        for (const key of keys) {
          expect(a.get(key)?.count).toBe(10);
          expect(b.get(key)).toEqual(a.get(key));
          expect(b.revision(key)).toBe(10);
        }
        // The keys span partitions; every command ran once, on an owner, and some were sent to the other store.
        expect(new Set(keys.map((k) => a.partitionOf(k))).size).toBeGreaterThan(1);
        expect(a.stats().executed + b.stats().executed).toBe(60);
        expect(a.stats().asked + b.stats().asked).toBeGreaterThan(0);
      },
      SLOW_MS,
    );

    test(
      'a read-only view follows the writers and refuses commands; old and damaged records are handled',
      async () => {
        const l = await log();
        const topic = uniqueTopic();
        // Written before frames existed: plain JSON of schema version 0, upgraded on read.
        await l.ensureTopic({ name: topic, partitions: 2, compacted: true });
        await l.append(topic, [{ key: 'legacy', value: JSON.stringify({ count: 5 }) }]);
        const writer = await open(l, topic);
        const view = await open(l, topic, { commands: [] });
        expect(view.get('legacy')).toEqual({ count: 5, ids: [] });
        expect(view.revision('legacy')).toBe(0);
        await expect(view.execute('increment', { key: 'x' })).rejects.toMatchObject({ code: 'INTERNAL' });
        const followed = changeOf(view, 'legacy');
        await writer.execute('increment', { key: 'legacy' });
        await followed;
        expect(view.get('legacy')?.count).toBe(6);
        // A value that fails its schema keeps the last good value instead of stopping the store.
        const probed = changeOf(view, 'probe');
        await l.append(topic, [{ key: 'legacy', value: JSON.stringify({ count: 'many' }) }]);
        await l.append(topic, [{ key: 'probe', value: JSON.stringify({ count: 1 }) }]);
        await probed;
        expect(view.get('legacy')?.count).toBe(6);
        expect(view.get('probe')).toEqual({ count: 1, ids: [] });
      },
      SLOW_MS,
    );

    test.each([
      ['pipelined', true],
      ['not pipelined', false],
    ])(
      "%s: a key's commands lose nothing and answer in order; after a failed append the commands and writes it held fail, and the next command reads what landed",
      async (_mode, pipelined) => {
        const l = await log();
        const topic = uniqueTopic();
        let failAppends = 0;
        // The log, but the next `failAppends` appends to the state topic fail without writing.
        const flaky = new Proxy(l, {
          get(target, prop) {
            if (prop === 'appendThen') {
              return (first: AppendBatch, then: readonly AppendBatch[]) => {
                if (first.topic !== topic || failAppends-- <= 0) return target.appendThen(first, then);
                const failed = Promise.reject(new PlatformError('LOG_UNAVAILABLE', 'append failed on purpose', { retriable: true }));
                return [failed, ...then.map(() => failed)];
              };
            }
            const value = Reflect.get(target, prop, target) as unknown;
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        });
        const store = await open(flaky, topic, { pipelined });
        const answered: number[] = [];
        const results = await Promise.all(
          Array.from({ length: 40 }, () =>
            store.execute<{ key: string }, { count: number; id: string }>('increment', { key: 'k' }).then((r) => {
              answered.push(r.count);
              return r;
            }),
          ),
        );
        expect(answered).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(new Set(results.map((r) => r.id)).size).toBe(40);
        expect(store.get('k')?.count).toBe(40);
        expect(store.revision('k')).toBe(40);

        failAppends = 1;
        const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => store.execute<{ key: string }, { count: number }>('increment', { key: 'k' })));
        expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: { code: 'LOG_UNAVAILABLE' } });
        const after = await store.execute<{ key: string }, { count: number }>('increment', { key: 'k' });
        expect(store.get('k')?.count).toBe(after.count);
        for (const o of outcomes) if (o.status === 'fulfilled') expect(o.value.count).toBeLessThan(after.count);
        const again = await store.execute<{ key: string }, { count: number }>('increment', { key: 'k' });
        expect(again.count).toBe(after.count + 1);
        // A write that fails to append rejects (and nothing else is left unhandled: vitest fails a run on that).
        failAppends = 1;
        await expect(store.write([{ key: 'k', value: { count: 0, ids: [] } }])).rejects.toMatchObject({ code: 'LOG_UNAVAILABLE' });
        const last = await store.execute<{ key: string }, { count: number }>('increment', { key: 'k' });
        expect(last.count).toBe(again.count + 1);
        // A fresh replay of the topic agrees with the owner.
        const replay = await open(l, topic, { commands: [] });
        expect(replay.get('k')).toEqual(store.get('k'));
        expect(replay.revision('k')).toBe(store.revision('k'));
      },
      SLOW_MS,
    );

    test(
      "pipelined: what commands run together append to a topic goes in one append after their writes, a key's records in order; the view keeps its own writes without decoding them",
      async () => {
        const l = await log();
        const topic = uniqueTopic();
        const events = uniqueTopic();
        await l.ensureTopic({ name: events, partitions: 1 });
        const appended: number[] = [];
        const counting = new Proxy(l, {
          get(target, prop) {
            if (prop === 'appendThen') {
              return (first: AppendBatch, then: readonly AppendBatch[]) => {
                for (const b of then) if (b.topic === events) appended.push(b.records.length);
                return target.appendThen(first, then);
              };
            }
            const value = Reflect.get(target, prop, target) as unknown;
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        });
        let decoded = 0;
        const codec = { ...tallyCodec, decode: (bytes: Buffer, version: number, key: string) => (decoded++, tallyCodec.decode(bytes, version, key)) };
        const announce: CommandDefinition<Tally, { key: string }, number> = {
          name: 'announce',
          keys: (input) => [input.key],
          run: (state, input) => {
            const count = (state.get(input.key)?.count ?? 0) + 1;
            return { writes: [{ key: input.key, value: { count, ids: [] } }], result: count, appends: [{ topic: events, records: [{ key: input.key, value: String(count) }] }] };
          },
        };
        const store = await StateStore.open<Tally>({ log: counting, logger: silentLogger(), topic: { name: topic, partitions: 1 }, codec, commands: [announce], pipelined: true });
        stores.push(store);
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.execute<{ key: string }, number>('announce', { key: `k${i % 4}` })));
        expect(results.sort((a, b) => a - b)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5]);
        expect(appended.reduce((a, b) => a + b, 0)).toBe(20);
        expect(appended.length).toBeLessThan(20);
        expect(decoded).toBe(0);
        const records = await readRange(l, { topic: events });
        for (const key of ['k0', 'k1', 'k2', 'k3']) {
          expect(records.filter((r) => r.key?.toString() === key).map((r) => Number(r.value?.toString()))).toEqual([1, 2, 3, 4, 5]);
        }
        // A fresh view decodes what the owner kept as written, and agrees with it.
        const replay = await open(l, topic, { commands: [] });
        for (const key of ['k0', 'k1', 'k2', 'k3']) {
          expect(replay.get(key)).toEqual(store.get(key));
          expect(replay.revision(key)).toBe(5);
        }
      },
      SLOW_MS,
    );
  });
}

/** A command that holds its key until `release()`, so that the commands after it wait their turn; it adds 1 to the count. */
function holding(): { hold: CommandDefinition<Tally, { key: string }, number>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const hold: CommandDefinition<Tally, { key: string }, number> = {
    name: 'hold',
    keys: (input) => [input.key],
    run: async (state, input) => {
      await gate;
      return { writes: [{ key: input.key, value: { count: (state.get(input.key)?.count ?? 0) + 1, ids: [] } }], result: 1 };
    },
  };
  return { hold, release };
}

/** Resolves at the next change of `key` in `store`'s view. */
function changeOf(store: StateStore<Tally>, key: string): Promise<void> {
  return new Promise((resolve) => {
    const off = store.onChange((c) => {
      if (c.key !== key) return;
      off();
      resolve();
    });
  });
}
