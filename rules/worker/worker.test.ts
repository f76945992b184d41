import { afterEach, beforeEach, expect, test } from 'vitest';
import { CORE_TOPICS, silentLogger, TOPICS, type Log, type TopicPartitionOffset } from '../../core/index.js';
import { createActionDeps, createActionRegistry, DeadLetterWriter, DEFAULT_RETRY_POLICY } from '../../actions/index.js';
import { parseSqlRuleFile } from '../files/index.js';
import { RuleSet, RulesWorker, type SourcedRule } from './index.js';
import { closeTestLog, openTestLog, publish, readN, waitFor, type TestLog } from './test-helpers.js';

const logger = silentLogger();
let t: TestLog;

beforeEach(async () => {
  t = await openTestLog('kiot-rules-worker-');
  for (const spec of CORE_TOPICS) await t.log.ensureTopic(spec);
});
afterEach(() => closeTestLog(t));

/** A worker with one republishing rule, over a log whose consumers record every commit they make. */
async function startWorker(commitIntervalMs: number): Promise<{ worker: RulesWorker; commits: TopicPartitionOffset[] }> {
  const commits: TopicPartitionOffset[] = [];
  const log = t.log;
  const counting: Log = Object.create(log, {
    consumer: {
      value: (options: Parameters<Log['consumer']>[0]) => {
        const consumer = log.consumer(options);
        const commit = consumer.commit.bind(consumer);
        consumer.commit = (offsets) => {
          commits.push(...offsets);
          return commit(offsets);
        };
        return consumer;
      },
    },
  });
  const text = "CREATE RULE echo AS SELECT seq FROM 'dev/+/seq' DO republish(topic = 'out/${topic(2)}');";
  const rules = new Map<string, SourcedRule>(parseSqlRuleFile(text, 'r.sql').map((model) => [model.name, { model, origin: { kind: 'file', file: 'r.sql', line: 1, column: 1 } }]));
  const deadLetter = new DeadLetterWriter(log, logger, DEFAULT_RETRY_POLICY);
  const ruleSet = new RuleSet({ registry: createActionRegistry(), sinkDeps: createActionDeps({ logger, log }), retry: DEFAULT_RETRY_POLICY, deadLetter, logger });
  ruleSet.apply(rules);
  const worker = new RulesWorker({ log: counting, logger, rules: ruleSet, deadLetter, commitIntervalMs });
  await worker.start();
  t.cleanups.push(async () => {
    await worker.stop();
    await ruleSet.close();
    await deadLetter.close();
  });
  return { worker, commits };
}

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
