import { afterEach, beforeEach, expect, test } from 'vitest';
import { CORE_TOPICS, silentLogger, TOPICS, type Log, type Sink, type SinkDefinition, type TopicPartitionOffset } from '../../core/index.js';
import { createActionDeps, createActionRegistry, DeadLetterWriter, DEFAULT_RETRY_POLICY, paramsSchema, type ActionDeps } from '../../actions/index.js';
import { parseSqlRuleFile } from '../files/index.js';
import { RuleSet, RulesWorker, type SourcedRule } from './index.js';
import { recordingCommits } from '../../core/testing/recording-log.js';
import { closeTestLog, openTestLog, publish, readN, waitFor, type TestLog } from './test-helpers.js';

const logger = silentLogger();
let t: TestLog;

beforeEach(async () => {
  t = await openTestLog('kiot-rules-worker-');
  for (const spec of CORE_TOPICS) await t.log.ensureTopic(spec);
});
afterEach(() => closeTestLog(t));

/** A worker running one rule of `text` with the given action kinds, over a log whose consumers record every commit they make. */
async function startRecordedWorker(text: string, kinds: Parameters<typeof createActionRegistry>[0], commitIntervalMs: number): Promise<{ worker: RulesWorker; commits: TopicPartitionOffset[] }> {
  const commits: TopicPartitionOffset[] = [];
  const log = t.log;
  const rules = new Map<string, SourcedRule>(parseSqlRuleFile(text, 'r.sql').map((model) => [model.name, { model, origin: { kind: 'file', file: 'r.sql', line: 1, column: 1 } }]));
  const deadLetter = new DeadLetterWriter(log, logger, DEFAULT_RETRY_POLICY);
  const ruleSet = new RuleSet({ registry: createActionRegistry(kinds), sinkDeps: createActionDeps({ logger, log }), retry: DEFAULT_RETRY_POLICY, deadLetter, logger });
  ruleSet.apply(rules);
  const worker = new RulesWorker({ log: recordingCommits(log, commits), logger, rules: ruleSet, deadLetter, commitIntervalMs });
  await worker.start();
  t.cleanups.push(async () => {
    await worker.stop();
    await ruleSet.close();
    await deadLetter.close();
  });
  return { worker, commits };
}

/** A worker with one republishing rule; its commits are recorded. */
const startWorker = (commitIntervalMs: number) => startRecordedWorker("CREATE RULE echo AS SELECT seq FROM 'dev/+/seq' DO republish(topic = 'out/${topic(2)}');", undefined, commitIntervalMs);

/** Publishes `n` messages of one device (one partition) one at a time, `gapMs` apart. */
async function trickle(n: number, gapMs: number): Promise<void> {
  for (let seq = 0; seq < n; seq++) {
    await publish(t.log, [{ topic: 'dev/d1/seq', clientId: 'd1', payload: Buffer.from(JSON.stringify({ seq })) }]);
    await new Promise((r) => setTimeout(r, gapMs));
  }
}

test('a worker commits a partition at most once per commit interval, and commits the last message once the interval has passed', async () => {
  const { worker, commits } = await startWorker(250);
  const started = performance.now();
  await trickle(30, 20);
  await readN(t.log, TOPICS.egress, 30);
  await waitFor(() => worker.settled(), 5_000, 'the last commit');
  const seconds = (performance.now() - started) / 1000;
  // One commit per message without the interval; with it, one per 250 ms and the first at once.
  expect(commits.length).toBeLessThanOrEqual(Math.ceil(seconds / 0.25) + 1);
  expect(commits.length).toBeGreaterThan(0);
  // Everything handled is committed (the partition held only these 30, offsets 0-29): a worker
  // that starts next in the group redoes nothing.
  expect(commits.at(-1)!.offset).toBe(30);
});

test('with interval 0 a worker commits whenever the commit point moves', async () => {
  const { worker, commits } = await startWorker(0);
  await trickle(10, 50);
  await readN(t.log, TOPICS.egress, 10);
  await waitFor(() => worker.settled(), 5_000, 'the last commit');
  // One per message, less those that came while the one before was being committed.
  expect(commits.length).toBeGreaterThanOrEqual(6);
  expect(commits.at(-1)!.offset).toBe(10);
});

test('stopping a worker commits what the interval held back', async () => {
  const { worker, commits } = await startWorker(60_000);
  await trickle(5, 10);
  await readN(t.log, TOPICS.egress, 5);
  // The first message was committed at once; the rest wait for the interval, or for the stop.
  await waitFor(() => commits.length === 1, 5_000, 'the first commit');
  expect(worker.settled()).toBe(false);
  await worker.stop();
  expect(commits.length).toBe(2);
  expect(commits[1]!.offset).toBe(5);
});

/**
 * A kind whose writes wait for `gate` (the first write only) and `writeMs` (every write), and
 * record the `seq` of every record written, in order.
 */
function gatedKind(written: number[], gate: Promise<void>, maxBatchSize: number, writeMs: number): SinkDefinition<Record<string, never>, ActionDeps> {
  let calls = 0;
  return {
    type: 'gated',
    awsKey: 'gated',
    summary: 'writes after a gate opens',
    config: paramsSchema({}),
    resourceParams: [],
    maxBatchSize,
    create: (): Sink<Record<string, never>> => ({
      connect: async () => {},
      writeBatch: async (records) => {
        if (++calls === 1) await gate;
        if (writeMs > 0) await new Promise((r) => setTimeout(r, writeMs));
        for (const r of records) written.push((r.output as { seq: number }).seq);
      },
      close: async () => {},
    }),
  };
}

/** A worker whose one rule writes every `dev/+/seq` message to the gated kind; its commits are recorded. */
const startGatedWorker = (written: number[], gate: Promise<void>, maxBatchSize = 4, writeMs = 0) =>
  startRecordedWorker("CREATE RULE g AS SELECT seq FROM 'dev/+/seq' DO gated();", [gatedKind(written, gate, maxBatchSize, writeMs)], 0);

const seqMessages = (n: number) => Array.from({ length: n }, (_, seq) => ({ topic: 'dev/d1/seq', clientId: 'd1', payload: Buffer.from(JSON.stringify({ seq })) }));

test('while a batch is being written the worker reads and queues the messages behind it, up to two batches, and commits only what is written, in order', async () => {
  const written: number[] = [];
  let open!: () => void;
  const { worker, commits } = await startGatedWorker(written, new Promise<void>((resolve) => (open = resolve)));
  await publish(t.log, seqMessages(20));
  // The first batch (4) is held at the target; two more batches (8) wait behind it, and the
  // worker reads no further than the one message that found them full.
  await waitFor(() => worker.stats().processed >= 12, 5_000, 'messages read behind the batch in flight');
  await new Promise((r) => setTimeout(r, 50));
  expect(worker.stats().processed).toBeLessThanOrEqual(13);
  expect(written).toEqual([]);
  expect(commits).toEqual([]);
  open();
  await waitFor(() => worker.settled() && written.length === 20, 5_000, 'every message written and committed');
  expect(written).toEqual(Array.from({ length: 20 }, (_, i) => i));
  // Every commit is of a prefix that was written by then, and the last one covers all 20.
  expect(commits.map((c) => c.offset)).toEqual([...commits.map((c) => c.offset)].sort((a, b) => a - b));
  expect(commits.at(-1)!.offset).toBe(20);
});

test('a worker working ahead of an action that has a whole batch waiting lets the event loop turn every 64 messages', async () => {
  const written: number[] = [];
  // Batches of 100 that take a few ms each: a full batch waits behind the write most of the time.
  const { worker } = await startGatedWorker(written, Promise.resolve(), 100, 3);
  // The most messages the worker evaluated between two turns of the event loop.
  let most = 0;
  let last = 0;
  let counting = true;
  const turn = (): void => {
    const processed = worker.stats().processed;
    most = Math.max(most, processed - last);
    last = processed;
    if (counting) setImmediate(turn);
  };
  setImmediate(turn);
  await publish(t.log, seqMessages(2_000));
  await waitFor(() => worker.settled() && written.length === 2_000, 10_000, 'every message written');
  counting = false;
  // The log hands them over 500 at a time; without a break the worker would go on until its
  // action had two batches waiting (ActionRunner.room), 300 messages and more in one turn.
  expect(most).toBeGreaterThan(0);
  expect(most).toBeLessThanOrEqual(128);
  expect(written).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
});
