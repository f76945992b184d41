/**
 * Issue 14, at fleet scale, on the Kafka mock: two `jobs` processes split the per-thing work of
 * one CreateJob (each runs the commands of the partitions it owns), the one driving the rollout
 * is SIGKILLed mid-way and restarted, and the job ends with every thing queued exactly once:
 * one execution per thing, execution number 1, no thing skipped, the chunk records gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { StateStore, TOPICS, silentLogger, topicSpec } from '../core/index.js';
import { KafkaLog } from '../core/log/kafka/kafka-log.js';
import { TSX_LOADER } from '../core/testing/child-process.js';
import { startKafkaMock, type KafkaMock } from '../core/testing/kafka-mock.js';
import { waitUntil } from '../core/testing/run-log-suite.js';
import { jobsCodec, type JobsValue } from './model.js';

const MEMBER = fileURLToPath(new URL('./testing/jobs-member.ts', import.meta.url));
const THINGS = 6_000;

let mock: KafkaMock;
const children: ChildProcess[] = [];
beforeAll(async () => {
  mock = await startKafkaMock();
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await mock?.stop();
});

interface Member {
  readonly child: ChildProcess;
  readonly lines: Interface;
  stats(): Promise<{ executed: number; asked: number }>;
}

function startMember(create?: { jobId: string; things: number }): Promise<Member> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, MEMBER, JSON.stringify({ brokers: mock.brokers, ...(create ? { create } : {}) })], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  const member: Member = {
    child,
    lines,
    stats: () =>
      new Promise((resolve) => {
        lines.once('line', (line) => resolve(JSON.parse(line) as { executed: number; asked: number }));
        child.stdin!.write('stats\n');
      }),
  };
  return new Promise((resolve, reject) => {
    const onLine = (line: string) => {
      if (line !== 'ready') return;
      lines.off('line', onLine);
      resolve(member);
    };
    lines.on('line', onLine);
    child.once('exit', (code, signal) => reject(new Error(`jobs member exited with ${code ?? signal}: ${stderr}`)));
  });
}

test(`two jobs processes split a ${THINGS}-thing job; the driver SIGKILLed mid-rollout and restarted: no duplicate, no thing skipped`, async () => {
  const log = new KafkaLog({ brokers: mock.brokers, logger: silentLogger(), sessionTimeoutMs: 4_000, heartbeatIntervalMs: 400, maxWaitTimeMs: 100, retryPauseMs: 200 });
  // A view of iot.jobs (no commands: it owns nothing), to watch the executions appear.
  const view = await StateStore.open<JobsValue>({ log, logger: silentLogger(), topic: topicSpec(TOPICS.jobs), codec: jobsCodec });
  const executions = () => {
    let n = 0;
    for (const key of view.keys()) {
      const v = view.get(key);
      if (v?.kind === 'thing' && v.executions['fleet']) n++;
    }
    return n;
  };
  try {
    const b = await startMember();
    const a = await startMember({ jobId: 'fleet', things: THINGS });
    let created = false;
    a.lines.on('line', (line) => (created ||= line === 'created'));
    await waitUntil(() => executions() >= THINGS / 4, 'a quarter of the executions queued', 60_000);
    expect(created).toBe(false);
    // Both processes ran commands as owners while a drove the rollout: the work is split.
    const split = await b.stats();
    expect(split.executed).toBeGreaterThan(0);
    a.child.kill('SIGKILL');
    const atKill = executions();
    expect(atKill).toBeLessThan(THINGS);

    // Restarted: it joins the owners again; the rollout is taken over once the dead driver's
    // lease has passed (b's or the restarted process's timer loop) and goes on from its record.
    const again = await startMember();
    await waitUntil(() => {
      const job = view.get('job/fleet');
      return job?.kind === 'job' && job.processingTargets === undefined;
    }, 'the rollout finished', 90_000);
    const job = view.get('job/fleet');
    expect(job).toMatchObject({ kind: 'job', status: 'IN_PROGRESS', rollout: { total: THINGS, released: THINGS, queued: THINGS } });
    expect(executions()).toBe(THINGS);
    for (let i = 0; i < THINGS; i++) {
      const thing = view.get(`thing/dev-${i}`);
      if (thing?.kind !== 'thing') throw new Error(`dev-${i} has no record`);
      // Queued once: its only execution, number 1, and the next number 2.
      expect(Object.keys(thing.executions)).toEqual(['fleet']);
      expect(thing.executions['fleet']).toMatchObject({ status: 'QUEUED', executionNumber: 1, versionNumber: 1 });
      expect(thing.nextExecutionNumber).toBe(2);
    }
    await waitUntil(() => ![...view.keys()].some((k) => k.startsWith('rollout/')), 'the chunk records deleted', 10_000);
    const [bAfter, againAfter] = [await b.stats(), await again.stats()];
    expect(bAfter.executed + againAfter.executed).toBeGreaterThan(split.executed);
    expect(againAfter.executed + againAfter.asked).toBeGreaterThan(0);
  } finally {
    await view.close();
    await log.close();
  }
}, 240_000);
