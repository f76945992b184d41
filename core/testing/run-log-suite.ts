/**
 * The contract every Log implementation passes: `runLogSuite('EmbeddedLog', () => ...)` and the
 * same for KafkaLog. Each test opens its own Log, uses fresh topic and group names, and closes
 * what it opened.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, test } from 'vitest';
import { partitionForKey, type Consumer, type ConsumerOptions, type Log, type LogRecord, type RecordBatch, type TopicPartition } from '../log/log.js';

const SLOW_MS = 90_000; // group rebalances on Kafka take seconds

export function runLogSuite(name: string, open: () => Promise<Log>): void {
  describe(`${name} satisfies the log contract`, () => {
    const opened: Log[] = [];
    const openLog = async (): Promise<Log> => {
      const log = await open();
      opened.push(log);
      return log;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((log) => log.close()));
    });

    test('appends resolve with offsets in order and records read back intact', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic, partitions: 2 });
      const results = await log.append(topic, [
        { key: 'k1', value: 'one', headers: { h: 'x' }, timestamp: 1_000 },
        { key: 'k1', value: Buffer.from([0, 1, 2]), timestamp: 2_000 },
        { key: null, value: 'no key', partition: 1 },
      ]);
      expect(results).toHaveLength(3);
      expect(results[0]!.partition).toBe(results[1]!.partition); // same key, same partition
      expect(results[1]!.offset).toBe(results[0]!.offset + 1);
      expect(results[2]!.partition).toBe(1);

      const seen = await collect(log, { topics: [topic], startFrom: 'earliest' }, (r) => r.length >= 3);
      const byValue = new Map(seen.map((r) => [r.value?.toString('hex'), r]));
      const first = byValue.get(Buffer.from('one').toString('hex'))!;
      expect(first.key?.toString()).toBe('k1');
      expect(first.headers.h?.toString()).toBe('x');
      expect(first.timestamp).toBe(1_000);
      expect(first.offset).toBe(results[0]!.offset);
      expect(byValue.get('000102')!.timestamp).toBe(2_000);
      expect(byValue.get(Buffer.from('no key').toString('hex'))!.key).toBeNull();
    });

    test("a key or header given as a string is its UTF-8 bytes: read back as them, and a key is placed by Kafka's murmur2 of them, as the same key given as a Buffer", async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic, partitions: 7 });
      // As many as the topic has (the Kafka mock may keep its default for a topic it made first).
      const partitions = (await log.offsets(topic)).length;
      // Multibyte characters, the empty key (a key, not a keyless record) and one longer than any scratch space.
      const keys = ['thing-1', 'capteur-é-温度-🌡', '', `long-${'x'.repeat(2_000)}`];
      const results = await log.append(topic, [...keys.map((key, i) => ({ key, value: `s${i}`, headers: { name: key } })), ...keys.map((key, i) => ({ key: Buffer.from(key), value: `b${i}` }))]);
      keys.forEach((key, i) => {
        expect(results[i]!.partition, JSON.stringify(key.slice(0, 20))).toBe(partitionForKey(Buffer.from(key), partitions));
        expect(results[keys.length + i]!.partition).toBe(results[i]!.partition);
      });
      const seen = await collect(log, { topics: [topic], startFrom: 'earliest' }, (r) => r.length >= 2 * keys.length);
      const byValue = new Map(seen.map((r) => [r.value!.toString(), r]));
      keys.forEach((key, i) => {
        expect(byValue.get(`s${i}`)!.key).toEqual(Buffer.from(key));
        expect(byValue.get(`s${i}`)!.headers['name']).toEqual(Buffer.from(key));
        expect(byValue.get(`b${i}`)!.key).toEqual(Buffer.from(key));
      });
    });

    test('records of one key keep their order', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic, partitions: 4 });
      const values = Array.from({ length: 200 }, (_, i) => String(i));
      for (let i = 0; i < values.length; i += 50) {
        await log.append(topic, values.slice(i, i + 50).map((value) => ({ key: 'device-1', value })));
      }
      const seen = await collect(log, { topics: [topic], startFrom: 'earliest' }, (r) => r.length >= 200);
      expect(seen.map((r) => r.value!.toString())).toEqual(values);
    });

    test('appendThen: each batch resolves with its offsets and reads back; when the first fails, nothing of the rest is stored', async () => {
      const log = await openLog();
      const state = uniqueTopic();
      const events = uniqueTopic();
      await log.ensureTopic({ name: state, partitions: 2 });
      await log.ensureTopic({ name: events, partitions: 3 });
      const [written, announced, nothing] = log.appendThen({ topic: state, records: [{ key: 'k', value: 'v2' }] }, [
        { topic: events, records: [{ key: 'k', value: 'changed' }, { key: 'j', value: 'also' }] },
        { topic: events, records: [] },
      ]);
      expect(await written).toEqual([{ partition: expect.any(Number), offset: 0 }]);
      const eventResults = await announced!;
      expect(eventResults).toHaveLength(2);
      expect(await nothing).toEqual([]);
      const seen = await collect(log, { topics: [events], startFrom: 'earliest' }, (r) => r.length >= 2);
      expect(seen.map((r) => r.value?.toString()).sort()).toEqual(['also', 'changed']);
      expect(seen.find((r) => r.value?.toString() === 'changed')).toMatchObject(eventResults[0]!);
      // The first batch names a partition the topic does not have: it fails, and so does the rest, unwritten.
      const failed = log.appendThen({ topic: state, records: [{ key: 'k', value: 'v3', partition: 7 }] }, [{ topic: events, records: [{ key: 'k', value: 'orphan' }] }]);
      const outcomes = await Promise.allSettled(failed);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      const ends = await log.offsets(events);
      expect(ends.reduce((n, e) => n + e.high, 0)).toBe(2);
    });

    test('offsets() reports low and high per partition', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic, partitions: 2 });
      await log.append(topic, [{ value: 'a', partition: 0 }, { value: 'b', partition: 0 }, { value: 'c', partition: 1 }]);
      const offsets = await log.offsets(topic);
      expect(offsets.find((o) => o.partition === 0)).toMatchObject({ low: 0, high: 2 });
      expect(offsets.find((o) => o.partition === 1)).toMatchObject({ low: 0, high: 1 });
    });

    test('a new group starting at latest sees only records appended after it joined', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic, partitions: 1 });
      await log.append(topic, [{ value: 'old' }]);
      const inbox = new Inbox();
      const consumer = log.consumer({ groupId: uniqueGroup(), topics: [topic], startFrom: 'latest', eachBatch: inbox.handler });
      await consumer.start();
      await log.append(topic, [{ value: 'new' }]);
      await inbox.waitFor((r) => r.length >= 1);
      expect(inbox.values()).toEqual(['new']);
      await consumer.stop();
    });

    test('committed records never come back; uncommitted ones do', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      const groupId = uniqueGroup();
      await log.ensureTopic({ name: topic, partitions: 1 });
      await log.append(topic, ['a', 'b', 'c', 'd'].map((value) => ({ value })));

      // First member commits after "b" and stops, as if it died before committing c and d.
      const first = new Inbox();
      const c1 = log.consumer({ groupId, topics: [topic], startFrom: 'earliest', eachBatch: first.handler });
      await c1.start();
      const seen = await first.waitFor((r) => r.length >= 4);
      const b = seen.find((r) => r.value!.toString() === 'b')!;
      await c1.commit([{ topic, partition: b.partition, offset: b.offset + 1 }]);
      await c1.stop();

      const second = new Inbox();
      const c2 = log.consumer({ groupId, topics: [topic], startFrom: 'earliest', eachBatch: second.handler });
      await c2.start();
      await second.waitFor((r) => r.length >= 2);
      await log.append(topic, [{ value: 'e' }]);
      await second.waitFor((r) => r.length >= 3);
      expect(second.values()).toEqual(['c', 'd', 'e']);
      await c2.stop();
    }, SLOW_MS);

    test('a failing handler gets the same batch again', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic, partitions: 1 });
      await log.append(topic, [{ value: 'x' }, { value: 'y' }]);
      let failures = 0;
      const inbox = new Inbox();
      const consumer = log.consumer({
        groupId: uniqueGroup(),
        topics: [topic],
        startFrom: 'earliest',
        eachBatch: async (batch, c) => {
          if (failures === 0) {
            failures++;
            throw new Error('handler failed on purpose');
          }
          await inbox.handler(batch, c);
        },
      });
      await consumer.start();
      await inbox.waitFor((r) => r.length >= 2);
      expect(failures).toBe(1);
      expect(inbox.values()).toEqual(['x', 'y']);
      await consumer.stop();
    }, SLOW_MS);

    test('two members share the partitions and a leaving member hands its partitions over', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      const groupId = uniqueGroup();
      await log.ensureTopic({ name: topic, partitions: 4 });

      const inboxA = new Inbox();
      const inboxB = new Inbox();
      const revokedA: TopicPartition[] = [];
      // In the order they were called: a partition goes to B only once A was told it lost it.
      const handOver: string[] = [];
      const a = log.consumer({
        groupId, topics: [topic], startFrom: 'earliest', eachBatch: inboxA.committingHandler,
        onRevoked: (parts) => {
          revokedA.push(...parts);
          for (const p of parts) handOver.push(`A lost ${p.partition}`);
        },
      });
      await a.start();
      await waitUntil(() => a.assignment().length === 4, 'member A owns all 4 partitions');

      const b = log.consumer({
        groupId, topics: [topic], startFrom: 'earliest', eachBatch: inboxB.committingHandler,
        onAssigned: (parts) => {
          for (const p of parts) handOver.push(`B got ${p.partition}`);
        },
      });
      await b.start();
      await waitUntil(
        () => a.assignment().length > 0 && b.assignment().length > 0 && a.assignment().length + b.assignment().length === 4,
        'partitions split between A and B',
      );
      expect(revokedA.length).toBeGreaterThan(0);
      const ownedByA = new Set(a.assignment().map((p) => p.partition));
      const ownedByB = new Set(b.assignment().map((p) => p.partition));
      for (const p of ownedByA) expect(ownedByB.has(p)).toBe(false);
      for (const p of ownedByB) {
        expect(handOver.indexOf(`A lost ${p}`), handOver.join(', ')).toBeGreaterThanOrEqual(0);
        expect(handOver.indexOf(`A lost ${p}`), handOver.join(', ')).toBeLessThan(handOver.indexOf(`B got ${p}`));
      }

      await log.append(topic, Array.from({ length: 40 }, (_, i) => ({ value: `m${i}`, partition: i % 4 })));
      await waitUntil(() => inboxA.records.length + inboxB.records.length >= 40, 'all 40 records delivered');
      for (const r of inboxA.records) expect(ownedByA.has(r.partition)).toBe(true);
      for (const r of inboxB.records) expect(ownedByB.has(r.partition)).toBe(true);

      await a.stop();
      await waitUntil(() => b.assignment().length === 4, 'B takes over all partitions after A leaves');
      await log.append(topic, Array.from({ length: 8 }, (_, i) => ({ value: `n${i}`, partition: i % 4 })));
      await inboxB.waitFor(() => inboxB.records.filter((r) => r.value!.toString().startsWith('n')).length >= 8);
      // Everything A committed stays committed: B never sees A's records again.
      const fromA = new Set(inboxA.values());
      expect(inboxB.values().filter((v) => fromA.has(v))).toEqual([]);
      await b.stop();
    }, SLOW_MS);

    test('seek by timestamp replays from the first record at or after it', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic, partitions: 1 });
      await log.append(topic, [
        { value: 't1', timestamp: 1_000_000 },
        { value: 't2', timestamp: 2_000_000 },
        { value: 't3', timestamp: 3_000_000 },
      ]);
      const inbox = new Inbox();
      let sought = false;
      const consumer = log.consumer({
        groupId: uniqueGroup(),
        topics: [topic],
        startFrom: 'earliest',
        eachBatch: async (batch, c) => {
          if (!sought) {
            sought = true;
            await c.seek(batch.topic, batch.partition, { timestamp: 2_000_000 });
            return;
          }
          await inbox.handler(batch, c);
        },
      });
      await consumer.start();
      await inbox.waitFor((r) => r.length >= 2);
      expect(inbox.values().slice(0, 2)).toEqual(['t2', 't3']);

      await consumer.seek(topic, 0, 'earliest');
      await inbox.waitFor((r) => r.length >= 5);
      expect(inbox.values().slice(2, 5)).toEqual(['t1', 't2', 't3']);
      await consumer.stop();
    }, SLOW_MS);

    test('a table catches up before it serves reads, follows changes and honours tombstones', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic, compacted: true, partitions: 2 });
      const writes = [];
      for (let i = 0; i < 300; i++) writes.push({ key: `thing-${i % 50}`, value: JSON.stringify({ v: i }) });
      await log.append(topic, writes);
      await log.append(topic, [{ key: 'thing-7', value: null }]);

      const table = await log.openTable(topic, { decode: (b) => JSON.parse(b.toString()) as { v: number } });
      expect(table.size).toBe(49);
      expect(table.get('thing-0')).toEqual({ v: 250 });
      expect(table.get('thing-49')).toEqual({ v: 299 });
      expect(table.has('thing-7')).toBe(false);

      const changes: string[] = [];
      table.onChange((c) => changes.push(`${c.key}=${c.value === undefined ? 'deleted' : c.value.v}`));
      await table.set('thing-7', JSON.stringify({ v: 1000 }));
      expect(table.get('thing-7')).toEqual({ v: 1000 }); // read-your-writes
      await table.delete('thing-0');
      expect(table.has('thing-0')).toBe(false);

      // A write by someone else shows up too.
      await log.append(topic, [{ key: 'thing-1', value: JSON.stringify({ v: 2000 }) }]);
      await waitUntil(() => table.get('thing-1')?.v === 2000, 'table follows an append made elsewhere');
      expect(changes).toEqual(['thing-7=1000', 'thing-0=deleted', 'thing-1=2000']);

      // A second view sees the same state.
      const again = await log.openTable(topic, { decode: (b) => JSON.parse(b.toString()) as { v: number } });
      expect([...again.keys()].sort()).toEqual([...table.keys()].sort());
      await again.close();
      await table.close();
    }, SLOW_MS);

    test('an empty table opens at once', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic, compacted: true });
      const table = await log.openTable(topic);
      expect(table.size).toBe(0);
      await table.close();
    });

    test('stats count appends and consumption', async () => {
      const log = await openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic, partitions: 1 });
      await log.append(topic, [{ value: 'a' }, { value: 'b' }]);
      await collect(log, { topics: [topic], startFrom: 'earliest' }, (r) => r.length >= 2);
      const stats = log.stats();
      expect(stats.appendedRecords).toBeGreaterThanOrEqual(2);
      expect(stats.consumedRecords).toBeGreaterThanOrEqual(2);
    }, SLOW_MS);
  });
}

export const uniqueTopic = (): string => `t-${randomUUID().slice(0, 8)}`;
export const uniqueGroup = (): string => `g-${randomUUID().slice(0, 8)}`;

/** Collects delivered records; `committingHandler` commits each batch after storing it. */
export class Inbox {
  readonly records: LogRecord[] = [];
  #waiters: (() => void)[] = [];

  readonly handler = async (batch: RecordBatch, _consumer?: Consumer): Promise<void> => {
    this.records.push(...batch.records);
    for (const wake of this.#waiters.splice(0)) wake();
  };

  readonly committingHandler = async (batch: RecordBatch, consumer: Consumer): Promise<void> => {
    const last = batch.records[batch.records.length - 1];
    await this.handler(batch);
    if (last) await consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: last.offset + 1 }]);
  };

  values(): string[] {
    return this.records.map((r) => r.value?.toString() ?? '<null>');
  }

  async waitFor(done: (records: LogRecord[]) => boolean, timeoutMs = 30_000): Promise<LogRecord[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.records)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms with ${this.records.length} records: ${this.values().slice(0, 20).join(',')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.records;
  }
}

/** Consumes with a fresh group until `done`, then stops the consumer. */
export async function collect(
  log: Log,
  options: Pick<ConsumerOptions, 'topics' | 'startFrom'>,
  done: (records: LogRecord[]) => boolean,
): Promise<LogRecord[]> {
  const inbox = new Inbox();
  const consumer = log.consumer({ groupId: uniqueGroup(), ...options, eachBatch: inbox.handler });
  await consumer.start();
  try {
    return await inbox.waitFor(done);
  } finally {
    await consumer.stop();
  }
}

export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
