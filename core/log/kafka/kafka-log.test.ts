import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { isPlatformError } from '../../errors.js';
import { silentLogger } from '../../logger.js';
import { startKafkaMock, type KafkaMock, type ObservedRequest } from '../../testing/kafka-mock.js';
import { Inbox, runLogSuite, uniqueGroup, uniqueTopic, waitUntil } from '../../testing/run-log-suite.js';
import { partitionForKey } from '../log.js';
import { readRange } from '../read-range.js';
import { KafkaLog, type KafkaLogOptions } from './kafka-log.js';

/**
 * Group timings for the mock: as short as it allows so rebalances and the dead-member test
 * stay quick (the mock enforces no minimum session timeout; its first join of a group always
 * waits 3 s, group.initial.rebalance.delay.ms).
 */
const FAST: Partial<KafkaLogOptions> = {
  sessionTimeoutMs: 4_000,
  heartbeatIntervalMs: 400,
  maxWaitTimeMs: 250,
  retryPauseMs: 200,
};

let mock: KafkaMock;
beforeAll(async () => {
  mock = await startKafkaMock();
});
afterAll(async () => {
  await mock?.stop();
});

runLogSuite('KafkaLog', async () => new KafkaLog({ ...FAST, brokers: mock.brokers, logger: silentLogger() }));

describe('KafkaLog on Kafka', () => {
  const opened: KafkaLog[] = [];
  const children: ChildProcess[] = [];
  const openLog = (options: Partial<KafkaLogOptions> = {}) => {
    const log = new KafkaLog({ ...FAST, brokers: mock.brokers, logger: silentLogger(), ...options });
    opened.push(log);
    return log;
  };
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await Promise.all(opened.splice(0).map((log) => log.close()));
  });

  test('the producer is idempotent and appends wait for acks from all replicas', async () => {
    const requests: ObservedRequest[] = [];
    const unsubscribe = mock.onRequest((r) => requests.push(r));
    try {
      const log = openLog();
      const topic = uniqueTopic();
      await log.ensureTopic({ name: topic });
      await log.append(topic, [{ key: 'a', value: 'x' }, { key: 'b', value: 'y' }]);
    } finally {
      unsubscribe();
    }
    expect(requests.some((r) => r.apiKey === API_INIT_PRODUCER_ID)).toBe(true);
    const produces = requests.filter((r) => r.apiKey === API_PRODUCE).map(readProduce);
    expect(produces.length).toBeGreaterThan(0);
    for (const produce of produces) {
      expect(produce.acks).toBe(-1);
      expect(produce.producerId).toBeGreaterThanOrEqual(0n); // -1 marks a non-idempotent batch
      expect(produce.baseSequence).toBeGreaterThanOrEqual(0);
    }
  });

  test('appends made while a produce is in flight go together in the next request, each with its own offsets, in the order made', async () => {
    const requests: ObservedRequest[] = [];
    const log = openLog();
    const topics = [uniqueTopic(), uniqueTopic()];
    for (const topic of topics) await log.ensureTopic({ name: topic, partitions: 4 });
    const unsubscribe = mock.onRequest((r) => requests.push(r));
    // 60 appends at once, 1-3 keyed records each, over two topics; each key appended twice, so
    // that order within a partition shows (the second value of a key must come after the first).
    const appends = Array.from({ length: 60 }, (_, i) => ({
      topic: topics[i % 2]!,
      records: Array.from({ length: 1 + (i % 3) }, (_, j) => ({ key: `k${Math.floor(i / 2) % 15}-${j}`, value: `a${i}-r${j}` })),
    }));
    let results: Awaited<ReturnType<KafkaLog['append']>>[];
    try {
      results = await Promise.all(appends.map((a) => log.append(a.topic, a.records)));
    } finally {
      unsubscribe();
    }
    const produces = requests.filter((r) => r.apiKey === API_PRODUCE).length;
    expect(produces).toBeGreaterThan(0);
    expect(produces).toBeLessThan(appends.length / 4);
    for (const topic of topics) {
      const stored = new Map((await readRange(log, { topic })).map((r) => [`${r.partition}/${r.offset}`, r]));
      let count = 0;
      const lastOffsetOfKey = new Map<string, number>();
      appends.forEach((a, i) => {
        if (a.topic !== topic) return;
        a.records.forEach((record, j) => {
          const at = results[i]![j]!;
          expect(at.partition).toBe(partitionForKey(record.key, 4));
          const r = stored.get(`${at.partition}/${at.offset}`);
          expect(r?.key?.toString()).toBe(record.key);
          expect(r?.value?.toString()).toBe(record.value);
          expect(at.offset).toBeGreaterThan(lastOffsetOfKey.get(record.key) ?? -1);
          lastOffsetOfKey.set(record.key, at.offset);
          count++;
        });
      });
      expect(stored.size).toBe(count);
    }
  });

  test('appends that together pass 512 KiB go in requests of their own', async () => {
    const requests: ObservedRequest[] = [];
    const log = openLog();
    const topic = uniqueTopic();
    await log.ensureTopic({ name: topic });
    const unsubscribe = mock.onRequest((r) => requests.push(r));
    const values = Array.from({ length: 4 }, (_, i) => String(i).repeat(300 * 1024));
    let results: Awaited<ReturnType<KafkaLog['append']>>[];
    try {
      // One key: one partition, where the order shows.
      results = await Promise.all(values.map((value) => log.append(topic, [{ key: 'big', value }])));
    } finally {
      unsubscribe();
    }
    // The first goes alone (nothing was queued before it); the other three, 300 KB each, one per request.
    expect(requests.filter((r) => r.apiKey === API_PRODUCE).length).toBe(4);
    expect(results.map(([r]) => r!.offset)).toEqual([0, 1, 2, 3]);
    const stored = await readRange(log, { topic });
    expect(stored.map((r) => `${r.offset} ${r.value?.length} ${r.value?.toString().slice(0, 3)}`)).toEqual(values.map((v, i) => `${i} ${v.length} ${v.slice(0, 3)}`));
  });

  test('ensureTopic falls back to metadata when the broker refuses CreateTopics', async () => {
    const log = openLog();
    const topic = uniqueTopic();
    // The mock implements no CreateTopics and makes every topic with 4 partitions.
    await log.ensureTopic({ name: topic, partitions: 2, compacted: true });
    await log.ensureTopic({ name: topic, partitions: 2, compacted: true }); // again is fine
    const offsets = await log.offsets(topic);
    expect(offsets.map((o) => o.partition)).toEqual([0, 1, 2, 3]);
    const [result] = await log.append(topic, [{ value: 'on the last partition', partition: 3 }]);
    expect(result).toEqual({ partition: 3, offset: 0 });
  });

  test('keys land on the partition Kafka’s Java client picks', async () => {
    const log = openLog();
    const topic = uniqueTopic();
    await log.ensureTopic({ name: topic });
    const keys = Array.from({ length: 20 }, (_, i) => `device-${i}`);
    const results = await log.append(topic, keys.map((key) => ({ key, value: 'v' })));
    expect(results.map((r) => r.partition)).toEqual(keys.map((k) => partitionForKey(Buffer.from(k), 4)));
    expect(new Set(results.map((r) => r.partition)).size).toBeGreaterThan(1);
  });

  test('an unreachable broker fails with a retriable LOG_UNAVAILABLE', async () => {
    const log = openLog({ brokers: ['127.0.0.1:1'], retries: 0 });
    const err = await log.append(uniqueTopic(), [{ value: 'x' }]).catch((e: unknown) => e);
    expect(isPlatformError(err, 'LOG_UNAVAILABLE')).toBe(true);
    expect((err as { retriable: boolean }).retriable).toBe(true);
  });

  test('a batch that takes longer than the session timeout keeps its member in the group, and is delivered once', async () => {
    const log = openLog();
    const topic = uniqueTopic();
    await log.ensureTopic({ name: topic, partitions: 1 });
    await log.append(topic, [{ value: 'slow' }]);
    const delivered: number[] = [];
    let revoked = 0;
    const groupId = uniqueGroup();
    const consumer = log.consumer({
      groupId,
      topics: [topic],
      startFrom: 'earliest',
      onRevoked: () => void revoked++,
      eachBatch: async (batch, c) => {
        for (const r of batch.records) delivered.push(r.offset);
        // Twice the session timeout: kafkajs sends no heartbeat of its own meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 2 * FAST.sessionTimeoutMs! + 500));
        await c.commit([{ topic, partition: 0, offset: batch.records[batch.records.length - 1]!.offset + 1 }]);
      },
    });
    await consumer.start();
    await waitUntil(() => delivered.length > 0, 'the record is delivered', 10_000);
    // Past the batch, and long enough for an expelled member to rejoin and get the record again.
    await new Promise((resolve) => setTimeout(resolve, 2 * FAST.sessionTimeoutMs! + 6_000));
    expect(delivered).toEqual([0]);
    expect(revoked).toBe(0);
    await consumer.stop();
    // Its commit was stored: the group's next member starts after the slow record.
    await log.append(topic, [{ value: 'next' }]);
    const inbox = new Inbox();
    const next = log.consumer({ groupId, topics: [topic], startFrom: 'earliest', eachBatch: inbox.committingHandler });
    await next.start();
    await inbox.waitFor((r) => r.length >= 1, 15_000);
    expect(inbox.values()).toEqual(['next']);
    await next.stop();
  }, 60_000);

  test('a member killed before committing: its uncommitted records go to the next member', async () => {
    const log = openLog();
    const topic = uniqueTopic();
    const groupId = uniqueGroup();
    await log.ensureTopic({ name: topic });
    const records = [0, 1, 2, 3].flatMap((partition) => [0, 1, 2].map((i) => ({ value: `p${partition}-${i}`, partition })));
    await log.append(topic, records);

    // The child commits the first record of each partition, receives the rest, and dies.
    const child = spawnCrashMember({ brokers: mock.brokers, topic, groupId, settings: FAST });
    children.push(child.process);
    await child.until(() => child.received.size === 12 && child.committed.size === 4);
    const exited = new Promise((resolve) => child.process.once('exit', resolve));
    child.process.kill('SIGKILL');
    await exited;

    // 'latest' only applies without a commit: the survivor starts at the child's commits.
    const inbox = new Inbox();
    const survivor = log.consumer({ groupId, topics: [topic], startFrom: 'latest', eachBatch: inbox.committingHandler });
    await survivor.start();
    await inbox.waitFor((r) => r.length >= 8, 30_000);
    expect(inbox.values().sort()).toEqual(
      [0, 1, 2, 3].flatMap((p) => [`p${p}-1`, `p${p}-2`]).sort(),
    );
    await survivor.stop();
  }, 60_000);
});

const API_PRODUCE = 0;
const API_INIT_PRODUCER_ID = 22;

/**
 * Produce request v3–v8 (kafkajs sends v3+ with record batches):
 *   int32 size, int16 apiKey, int16 apiVersion, int32 correlationId, int16+bytes clientId,
 *   int16+bytes? transactionalId, int16 acks, int32 timeoutMs,
 *   int32 topicCount, { int16+bytes topic, int32 partitionCount, { int32 partition, int32 size, RecordBatch } }
 * RecordBatch: int64 baseOffset, int32 length, int32 leaderEpoch, int8 magic, int32 crc,
 *   int16 attributes, int32 lastOffsetDelta, int64 firstTimestamp, int64 maxTimestamp,
 *   int64 producerId, int16 producerEpoch, int32 baseSequence, ...
 */
function readProduce({ frame, apiVersion }: ObservedRequest): { acks: number; producerId: bigint; baseSequence: number } {
  expect(apiVersion).toBeGreaterThanOrEqual(3);
  let pos = 12;
  pos += 2 + frame.readInt16BE(pos); // clientId
  pos += 2 + Math.max(0, frame.readInt16BE(pos)); // transactionalId
  const acks = frame.readInt16BE(pos);
  pos += 2 + 4 + 4; // acks, timeout, topic count
  pos += 2 + frame.readInt16BE(pos); // first topic name
  pos += 4 + 4 + 4; // partition count, partition, record set size
  const batch = pos;
  return { acks, producerId: frame.readBigInt64BE(batch + 43), baseSequence: frame.readInt32BE(batch + 53) };
}

/** Runs core/testing/kafka-crash-member.ts in a child process through vite-node (no build step). */
function spawnCrashMember(args: object) {
  const require = createRequire(import.meta.url);
  const viteNode = path.join(path.dirname(require.resolve('vite-node')), '..', 'vite-node.mjs');
  const script = fileURLToPath(new URL('../../testing/kafka-crash-member.ts', import.meta.url));
  const child = spawn(process.execPath, [viteNode, script, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const received = new Set<string>();
  const committed = new Set<number>();
  let stderr = '';
  const changed = new Set<() => void>();
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const event = JSON.parse(line) as { received?: { partition: number; offset: number }[]; committed?: { partition: number } };
    for (const r of event.received ?? []) received.add(`${r.partition}:${r.offset}`);
    if (event.committed) committed.add(event.committed.partition);
    for (const wake of changed) wake();
  });
  return {
    process: child,
    received,
    committed,
    until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!condition()) return;
          finish();
          resolve();
        };
        const onExit = (code: number | null) => {
          finish();
          reject(new Error(`crash member exited early (${code}): ${stderr}`));
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`crash member: timed out after ${timeoutMs} ms (received ${received.size}, committed ${committed.size}): ${stderr}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          changed.delete(check);
          child.off('exit', onExit);
        };
        changed.add(check);
        child.once('exit', onExit);
        check();
      });
    },
  };
}
