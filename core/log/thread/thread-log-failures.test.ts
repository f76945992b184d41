/**
 * ThreadLog and serveLog when things go wrong: a worker thread that goes away mid-batch, a
 * ThreadLog closed while its handlers still work, an owner that goes away under a worker, errors
 * crossing the port, and what crossing the port does to record buffers.
 *
 * Written in review of the change that brought them; each case that failed then is fixed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { PlatformError } from '../../errors.js';
import { silentLogger } from '../../logger.js';
import { Inbox, uniqueGroup, uniqueTopic, waitUntil } from '../../testing/run-log-suite.js';
import { EmbeddedLog } from '../embedded/embedded-log.js';
import type { LogRecord } from '../log.js';
import { serveLog, type ServedLog } from './serve.js';
import { ThreadLog } from './thread-log.js';

const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const logger = silentLogger();

async function ownerLog(): Promise<EmbeddedLog> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiot-thread-fail-'));
  dirs.push(dataDir);
  const owner = await EmbeddedLog.open({ dataDir, logger });
  cleanups.push(() => owner.close());
  return owner;
}

/** A ThreadLog served by `owner` over a real MessageChannel (both ends in this thread). */
function threadLog(owner: EmbeddedLog): { log: ThreadLog; served: ServedLog; ownerPort: MessagePort; workerPort: MessagePort } {
  const { port1, port2 } = new MessageChannel();
  const served = serveLog(owner, port1, logger);
  const log = new ThreadLog(port2, { logger, kind: owner.kind });
  cleanups.push(async () => {
    await Promise.race([log.close(), sleep(500)]);
    await served.close();
  });
  return { log, served, ownerPort: port1, workerPort: port2 };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Settles with 'pending' if `p` has not settled within `ms`. */
const within = <T>(p: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | 'pending'> =>
  Promise.race([p.then((value) => ({ value }), (error: unknown) => ({ error })), sleep(ms).then(() => 'pending' as const)]);

function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

const values = (records: readonly LogRecord[]) => records.map((r) => r.value?.toString() ?? '<null>');

describe('a worker whose port closes', () => {
  test('mid-batch: its partition goes to another member, which gets the uncommitted records again', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    const groupId = uniqueGroup();
    await owner.ensureTopic({ name: topic, partitions: 1 });
    await owner.append(topic, ['a', 'b', 'c'].map((value) => ({ value })));

    const { log, workerPort } = threadLog(owner);
    const inFlight = gate();
    const seenByWorker: string[] = [];
    const worker = log.consumer({
      groupId,
      topics: [topic],
      startFrom: 'earliest',
      eachBatch: async (batch, consumer) => {
        seenByWorker.push(...values(batch.records));
        // Commits the first record, then hangs on the rest as a thread that is about to die would.
        await consumer.commit([{ topic, partition: 0, offset: batch.records[0]!.offset + 1 }]);
        inFlight.open();
        await new Promise(() => undefined);
      },
    });
    await worker.start();
    await inFlight.wait;

    // Another member joins while the worker's batch is in flight.
    const inbox = new Inbox();
    const other = owner.consumer({ groupId, topics: [topic], startFrom: 'earliest', eachBatch: inbox.handler });
    cleanups.push(() => other.stop());
    // The worker is the group's first member, so it keeps the only partition.
    await other.start();
    expect(other.assignment()).toEqual([]);

    // The worker's end of the port closes (its thread exited): the owner's member leaves.
    workerPort.close();
    const records = await inbox.waitFor((r) => r.length >= 2);
    expect(seenByWorker).toEqual(['a', 'b', 'c']);
    expect(values(records)).toEqual(['b', 'c']);
    expect(records.map((r) => r.offset)).toEqual([1, 2]);
  });

  test('a real worker thread that exits mid-batch: the owner sees the port close and hands its partition on', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    const groupId = uniqueGroup();
    await owner.ensureTopic({ name: topic, partitions: 1 });
    await owner.append(topic, ['a', 'b'].map((value) => ({ value })));
    const { port1, port2 } = new MessageChannel();
    const served = serveLog(owner, port1, logger);
    cleanups.push(() => served.close());
    // A hand-written worker speaking the protocol: starts a member, acknowledges its assignment,
    // and exits on its first batch.
    const worker = new Worker(
      `
      const { workerData } = require('node:worker_threads');
      const port = workerData.port;
      port.on('message', (messages) => {
        for (const m of messages) {
          if (m.op === 'batch') process.exit(7);
          if (m.op === 'assigned' || m.op === 'revoked') port.postMessage([{ op: 'done', call: m.call }]);
        }
      });
      port.postMessage([{ op: 'consumerStart', id: 1, consumer: 1, options: { groupId: ${JSON.stringify(groupId)}, topics: [${JSON.stringify(topic)}], startFrom: 'earliest' } }]);
      `,
      { eval: true, workerData: { port: port2 }, transferList: [port2] },
    );
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    expect(await exited).toBe(7);

    const inbox = new Inbox();
    const other = owner.consumer({ groupId, topics: [topic], startFrom: 'earliest', eachBatch: inbox.handler });
    cleanups.push(() => other.stop());
    await other.start();
    expect(values(await inbox.waitFor((r) => r.length >= 2))).toEqual(['a', 'b']);
  });
});

describe('ThreadLog.close() with work in flight', () => {
  test('a batch in flight when close() starts can still commit, and its records do not come again', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    const groupId = uniqueGroup();
    await owner.ensureTopic({ name: topic, partitions: 1 });
    await owner.append(topic, ['a', 'b'].map((value) => ({ value })));
    const { log } = threadLog(owner);
    const inFlight = gate();
    const release = gate();
    let commitError: unknown;
    const consumer = log.consumer({
      groupId,
      topics: [topic],
      startFrom: 'earliest',
      eachBatch: async (batch, c) => {
        inFlight.open();
        await release.wait;
        const last = batch.records[batch.records.length - 1]!;
        await c.commit([{ topic, partition: 0, offset: last.offset + 1 }]).catch((err: unknown) => {
          commitError = err;
          throw err;
        });
      },
    });
    await consumer.start();
    await inFlight.wait;
    const closing = log.close();
    release.open();
    await closing;
    expect(commitError).toBeUndefined();
    const inbox = new Inbox();
    const next = owner.consumer({ groupId, topics: [topic], startFrom: 'earliest', eachBatch: inbox.handler });
    cleanups.push(() => next.stop());
    await next.start();
    await owner.append(topic, [{ value: 'c' }]);
    expect(values(await inbox.waitFor((r) => r.length >= 1))).toEqual(['c']);
  });

  test('onRevoked run by close() can commit', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    const groupId = uniqueGroup();
    await owner.ensureTopic({ name: topic, partitions: 1 });
    await owner.append(topic, ['a', 'b'].map((value) => ({ value })));
    const { log } = threadLog(owner);
    let done = 0;
    let revokeCommitError: unknown = 'onRevoked not called';
    const consumer = log.consumer({
      groupId,
      topics: [topic],
      startFrom: 'earliest',
      eachBatch: async (batch) => {
        done = batch.records[batch.records.length - 1]!.offset + 1;
      },
      onRevoked: async () => {
        revokeCommitError = undefined;
        await consumer.commit([{ topic, partition: 0, offset: done }]).catch((err: unknown) => (revokeCommitError = err));
      },
    });
    await consumer.start();
    await waitUntil(() => done === 2, 'the worker handled both records', 5_000);
    await log.close();
    expect(revokeCommitError).toBeUndefined();
    const inbox = new Inbox();
    const next = owner.consumer({ groupId, topics: [topic], startFrom: 'earliest', eachBatch: inbox.handler });
    cleanups.push(() => next.stop());
    await next.start();
    await owner.append(topic, [{ value: 'c' }]);
    expect(values(await inbox.waitFor((r) => r.length >= 1))).toEqual(['c']);
  });

  test('consumer.stop() before close(): onRevoked commits and nothing comes again (the path service-thread.ts takes)', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    const groupId = uniqueGroup();
    await owner.ensureTopic({ name: topic, partitions: 1 });
    await owner.append(topic, ['a', 'b'].map((value) => ({ value })));
    const { log } = threadLog(owner);
    let done = 0;
    const consumer = log.consumer({
      groupId,
      topics: [topic],
      startFrom: 'earliest',
      eachBatch: async (batch) => {
        done = batch.records[batch.records.length - 1]!.offset + 1;
      },
      onRevoked: () => consumer.commit([{ topic, partition: 0, offset: done }]),
    });
    await consumer.start();
    await waitUntil(() => done === 2, 'the worker handled both records', 5_000);
    await consumer.stop();
    await log.close();
    const inbox = new Inbox();
    const next = owner.consumer({ groupId, topics: [topic], startFrom: 'earliest', eachBatch: inbox.handler });
    cleanups.push(() => next.stop());
    await next.start();
    await owner.append(topic, [{ value: 'c' }]);
    expect(values(await inbox.waitFor((r) => r.length >= 1))).toEqual(['c']);
  });
});

describe('a ThreadLog whose owner has gone', () => {
  test('an append after the owner closed the port rejects with LOG_CLOSED instead of hanging', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    await owner.ensureTopic({ name: topic, partitions: 1 });
    const { log, ownerPort } = threadLog(owner);
    expect(await log.append(topic, [{ value: 'a' }])).toEqual([{ partition: 0, offset: 0 }]);
    ownerPort.close();
    await sleep(50);
    const result = await within(log.append(topic, [{ value: 'b' }]), 1_000);
    expect(result).not.toBe('pending');
    expect(result).toMatchObject({ error: { code: 'LOG_CLOSED' } });
  });

  test('close() of a ThreadLog with a started consumer resolves after the owner is gone', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    await owner.ensureTopic({ name: topic, partitions: 1 });
    const { log, ownerPort } = threadLog(owner);
    const consumer = log.consumer({ groupId: uniqueGroup(), topics: [topic], eachBatch: async () => undefined });
    await consumer.start();
    ownerPort.close();
    await sleep(50);
    expect(await within(log.close(), 1_000)).not.toBe('pending');
  });

  test('requests pending when the port closes are rejected with LOG_CLOSED', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    await owner.ensureTopic({ name: topic, partitions: 1 });
    const { log, ownerPort } = threadLog(owner);
    // Posted in this microtask run, the port closes before the owner answers.
    const pending = log.offsets(topic);
    ownerPort.close();
    await expect(pending).rejects.toMatchObject({ code: 'LOG_CLOSED' });
  });
});

describe('errors across the port', () => {
  test('a PlatformError from the owner arrives as a PlatformError with its code, details and retriable flag', async () => {
    const owner = await ownerLog();
    const { log } = threadLog(owner);
    const err = await log.append('no-such-topic', [{ value: 'x' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformError);
    expect(err).toMatchObject({ code: 'LOG_TOPIC_UNKNOWN', retriable: false, details: { topic: 'no-such-topic' } });
  });

  test('a handler that throws in the worker gets its batch again (the owner member retries)', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    await owner.ensureTopic({ name: topic, partitions: 1 });
    await owner.append(topic, [{ value: 'a' }]);
    const { log } = threadLog(owner);
    const seen: string[] = [];
    const consumer = log.consumer({
      groupId: uniqueGroup(),
      topics: [topic],
      startFrom: 'earliest',
      eachBatch: async (batch) => {
        seen.push(...values(batch.records));
        if (seen.length === 1) throw new PlatformError('SINK_UNAVAILABLE', 'down', { retriable: true });
      },
    });
    await consumer.start();
    await waitUntil(() => seen.length >= 2, 'the batch came again', 5_000);
    expect(seen.slice(0, 2)).toEqual(['a', 'a']);
    await consumer.stop();
  });
});

describe('record buffers across the port', () => {
  test('an append does not clone the pooled ArrayBuffer under a small Buffer (records are packed)', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    await owner.ensureTopic({ name: topic, partitions: 1 });
    const { log } = threadLog(owner);
    const pooled = Buffer.from('small'); // a slice of the 8 KiB pool
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    await log.append(topic, [{ value: pooled }]);
    // The caller's buffer is untouched (nothing it shares was transferred away).
    expect(pooled.toString()).toBe('small');
    expect(pooled.buffer.byteLength).toBeGreaterThan(0);
  });

  test('a table over a ThreadLog keeps each value in a buffer of its own, not a view of the whole batch', async () => {
    const owner = await ownerLog();
    const topic = uniqueTopic();
    await owner.ensureTopic({ name: topic, partitions: 1, compacted: true });
    await owner.append(
      topic,
      Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(1024, i) })),
    );
    const { log } = threadLog(owner);
    const table = await log.openTable(topic);
    expect(table.size).toBe(200);
    const value = table.get('k7')!;
    expect(value.length).toBe(1024);
    expect(value.buffer.byteLength).toBeLessThanOrEqual(8 * 1024); // its own bytes (or a slice of Node's 8 KiB pool), not the ~200 KB batch
    await table.close();
  });
});
