/**
 * Rollout rates, abort criteria, retries and CONTINUOUS jobs through the jobs service on the
 * embedded log, with a clock the test moves (no test waits a minute): the rollout goes on after
 * a restart from the position in the job's record, and a step cut short is queued again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { EmbeddedLog, StateStore, TOPICS, silentLogger, topicSpec, type Log } from '../core/index.js';
import { createJobsService, type CreateJobInput, type Jobs, type ThingMembership } from './index.js';
import { jobsCodec, type JobRecord, type JobsValue } from './model.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const T0 = Date.UTC(2026, 0, 1);
const clock = { now: T0 };

async function openLog(): Promise<{ log: Log; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiot-jobsroll-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  cleanups.push(() => log.close());
  return { log, dataDir };
}

async function startJobs(log: Log): Promise<{ jobs: Jobs; stop: () => Promise<void> }> {
  const service = createJobsService({}, { log, logger: silentLogger(), clock: () => clock.now, timerIntervalMs: 20 });
  const jobs = await service.start();
  cleanups.push(() => service.stop());
  return { jobs, stop: () => service.stop() };
}

const job = (jobId: string, configs: Record<string, unknown>, extra: Partial<CreateJobInput> = {}): CreateJobInput => ({
  jobId,
  targets: ['arn:aws:iot:us-east-1:123456789012:thinggroup/all'],
  targetSelection: 'SNAPSHOT',
  document: '{"op":"x"}',
  thingGroupNames: ['all'],
  configs,
  ...extra,
});
const things = (n: number) => Array.from({ length: n }, (_, i) => `dev-${i}`);

test('maximumPerMinute: executions are queued no faster than the rate, by the timer loop, and the rollout goes on after a restart', async () => {
  clock.now = T0;
  const { log } = await openLog();
  const first = await startJobs(log);
  const created = await first.jobs.createJob(job('slow', { jobExecutionsRolloutConfig: { maximumPerMinute: 2 } }), things(5));
  expect(created.processingTargets).toBeDefined();
  // CreateJob returns with the first window released; the others wait for the clock.
  expect(first.jobs.progress('slow').counts.QUEUED).toBe(2);
  expect(first.jobs.job('slow')?.rollout).toMatchObject({ total: 5, released: 2, queued: 2 });
  await new Promise((r) => setTimeout(r, 200));
  expect(first.jobs.progress('slow').total).toBe(2);
  expect(first.jobs.status(first.jobs.job('slow')!)).toBe('IN_PROGRESS');

  clock.now += 60_000;
  await expect.poll(() => first.jobs.progress('slow').total, { timeout: 10_000 }).toBe(4);
  expect([...first.jobs.executionsOfJob('slow').keys()].sort()).toEqual(['dev-0', 'dev-1', 'dev-2', 'dev-3']);
  await first.stop();

  // A new process reads the position from the job's record and goes on from it.
  const second = await startJobs(log);
  expect(second.jobs.job('slow')?.rollout).toMatchObject({ released: 4, queued: 4 });
  clock.now += 30_000;
  await new Promise((r) => setTimeout(r, 200));
  expect(second.jobs.progress('slow').total).toBe(4);
  clock.now += 30_000;
  await expect.poll(() => second.jobs.job('slow')?.processingTargets, { timeout: 10_000 }).toBeUndefined();
  expect(second.jobs.progress('slow').counts.QUEUED).toBe(5);
  for (const thingName of things(5)) await second.jobs.updateExecution({ thingName, jobId: 'slow', status: 'SUCCEEDED' });
  expect(second.jobs.status(second.jobs.job('slow')!)).toBe('COMPLETED');
  // DeleteJob removes the rollout's thing records too.
  await second.jobs.deleteJob({ jobId: 'slow' });
  const raw = await StateStore.open<JobsValue>({ log, logger: silentLogger(), topic: topicSpec(TOPICS.jobs), codec: jobsCodec });
  expect([...raw.keys()].filter((k) => k.startsWith('rollout/slow/'))).toEqual([]);
  await raw.close();
});

test('a rollout step cut short (released, not recorded as queued) is queued by the next process, once per thing', async () => {
  clock.now = T0;
  const { log } = await openLog();
  const first = await startJobs(log);
  await first.jobs.createJob(job('cut', { jobExecutionsRolloutConfig: { maximumPerMinute: 3 } }), things(6));
  const stored = first.jobs.job('cut')!;
  await first.stop();
  // What a process that died right after its step left: 6 released, 3 queued.
  const raw = await StateStore.open<JobsValue>({ log, logger: silentLogger(), topic: topicSpec(TOPICS.jobs), codec: jobsCodec });
  await raw.write([{ key: 'job/cut', value: { ...stored, rollout: { ...stored.rollout!, released: 6, windowCount: 6, ratePerMinute: 6 } } satisfies JobRecord }]);
  await raw.close();

  const second = await startJobs(log);
  await expect.poll(() => second.jobs.job('cut')?.processingTargets, { timeout: 10_000 }).toBeUndefined();
  expect(second.jobs.progress('cut').counts.QUEUED).toBe(6);
  expect(second.jobs.executionsOfThing('dev-0').map((e) => e.executionNumber)).toEqual([1]);
});

test('exponentialRate: the rate rises once enough things succeeded', async () => {
  clock.now = T0;
  const { log } = await openLog();
  const { jobs } = await startJobs(log);
  await jobs.createJob(job('exp', { jobExecutionsRolloutConfig: { exponentialRate: { baseRatePerMinute: 2, incrementFactor: 2, rateIncreaseCriteria: { numberOfSucceededThings: 2 } } } }), things(10));
  expect(jobs.progress('exp').total).toBe(2);
  for (const thingName of ['dev-0', 'dev-1']) await jobs.updateExecution({ thingName, jobId: 'exp', status: 'SUCCEEDED' });
  clock.now += 60_000;
  await expect.poll(() => jobs.progress('exp').total, { timeout: 10_000 }).toBe(6);
  expect(jobs.job('exp')?.rollout?.ratePerMinute).toBe(4);
});

test('abortConfig: once the failures reach the threshold the job is canceled with its reason, QUEUED executions canceled, IN_PROGRESS ones left, and no more rolled out', async () => {
  clock.now = T0;
  const { log } = await openLog();
  const { jobs } = await startJobs(log);
  const abortConfig = { criteriaList: [{ failureType: 'FAILED', action: 'CANCEL', thresholdPercentage: 50, minNumberOfExecutedThings: 4 }] };
  await jobs.createJob(job('bad', { abortConfig, jobExecutionsRolloutConfig: { maximumPerMinute: 4 } }), things(8));
  await jobs.updateExecution({ thingName: 'dev-0', jobId: 'bad', status: 'IN_PROGRESS' });
  await jobs.updateExecution({ thingName: 'dev-1', jobId: 'bad', status: 'FAILED' });
  await new Promise((r) => setTimeout(r, 200));
  expect(jobs.job('bad')?.status).toBe('IN_PROGRESS');
  await jobs.updateExecution({ thingName: 'dev-2', jobId: 'bad', status: 'FAILED' });
  await expect.poll(() => jobs.progress('bad').counts.CANCELED, { timeout: 10_000 }).toBe(1);
  expect(jobs.job('bad')).toMatchObject({ status: 'CANCELED', reasonCode: 'ABORT_CRITERIA_MET', forceCanceled: false });
  expect(jobs.job('bad')?.comment).toContain('2 of 4 notified things are FAILED');
  expect(jobs.job('bad')?.processingTargets).toBeUndefined();
  expect(jobs.progress('bad').counts).toMatchObject({ IN_PROGRESS: 1, FAILED: 2, CANCELED: 1, QUEUED: 0 });
  clock.now += 120_000;
  await new Promise((r) => setTimeout(r, 200));
  expect(jobs.progress('bad').total).toBe(4);
});

test('jobExecutionsRetryConfig: FAILED and TIMED_OUT executions come back QUEUED with the next execution number and retryAttempt + 1, until the retries run out', async () => {
  clock.now = T0;
  const { log } = await openLog();
  const { jobs } = await startJobs(log);
  const retry = { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 1 }, { failureType: 'TIMED_OUT', numberOfRetries: 1 }] };
  await jobs.createJob(job('again', { jobExecutionsRetryConfig: retry }), ['a', 'b']);
  const failed = await jobs.updateExecution({ thingName: 'a', jobId: 'again', status: 'FAILED' });
  // The device is answered with what it reported; the thing has the next attempt.
  expect(failed.status).toBe('FAILED');
  expect(jobs.execution('a', 'again')).toMatchObject({ status: 'QUEUED', executionNumber: 2, retryAttempt: 1, versionNumber: 1 });
  await jobs.updateExecution({ thingName: 'a', jobId: 'again', status: 'FAILED' });
  expect(jobs.execution('a', 'again')).toMatchObject({ status: 'FAILED', executionNumber: 2, retryAttempt: 1 });
  // A step timer that runs out retries too, once.
  await jobs.updateExecution({ thingName: 'b', jobId: 'again', status: 'IN_PROGRESS', stepTimeoutInMinutes: 1 });
  clock.now += 61_000;
  await expect.poll(() => jobs.execution('b', 'again')?.retryAttempt, { timeout: 10_000 }).toBe(1);
  expect(jobs.execution('b', 'again')).toMatchObject({ status: 'QUEUED', executionNumber: 2, retries: { TIMED_OUT: 1 } });
  // REJECTED is never retried.
  await jobs.updateExecution({ thingName: 'b', jobId: 'again', status: 'REJECTED' });
  expect(jobs.execution('b', 'again')?.status).toBe('REJECTED');
  expect(jobs.status(jobs.job('again')!)).toBe('COMPLETED');
});

/** A registry stand-in: thing -> groups, groups nested by parent. */
function fakeMembership(parents: Record<string, string>) {
  const groups = new Map<string, string[]>();
  const listeners = new Set<(thing: string) => void>();
  const covered = (names: readonly string[]) => {
    const all = new Set(names);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [child, parent] of Object.entries(parents)) if (all.has(parent) && !all.has(child)) (all.add(child), (grew = true));
    }
    return all;
  };
  const membership: ThingMembership = {
    *thingsIn(names) {
      const all = covered(names);
      for (const [thing, gs] of groups) if (gs.some((g) => all.has(g))) yield thing;
    },
    isIn: (thing, names) => (groups.get(thing) ?? []).some((g) => covered(names).has(g)),
    onThingChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const set = (thing: string, gs: string[]) => {
    groups.set(thing, gs);
    for (const l of listeners) l(thing);
  };
  return { membership, set };
}

test('CONTINUOUS: a thing that joins a targeted group (or one nested under it) gets the job, one that leaves has its QUEUED execution REMOVED, and the job never completes', async () => {
  clock.now = T0;
  const { log } = await openLog();
  const { jobs } = await startJobs(log);
  const registry = fakeMembership({ child: 'fleet', grandchild: 'child' });
  registry.set('early', ['fleet']);
  const continuous = job('live', {}, { targetSelection: 'CONTINUOUS', targets: ['arn:aws:iot:us-east-1:123456789012:thinggroup/fleet'], thingGroupNames: ['fleet'] });
  await jobs.createJob(continuous, ['early']);
  // Joined while nobody followed: following catches up.
  registry.set('missed', ['child']);
  const unfollow = jobs.followMembership(registry.membership);
  cleanups.push(async () => unfollow());
  await expect.poll(() => jobs.execution('missed', 'live')?.status, { timeout: 10_000 }).toBe('QUEUED');

  registry.set('late', ['grandchild']);
  await expect.poll(() => jobs.execution('late', 'live')?.status, { timeout: 10_000 }).toBe('QUEUED');
  registry.set('other', ['elsewhere']);
  registry.set('late', []);
  await expect.poll(() => jobs.execution('late', 'live')?.status, { timeout: 10_000 }).toBe('REMOVED');
  expect(jobs.execution('other', 'live')).toBeUndefined();
  // Back in a group: a new execution, with the thing's next number.
  registry.set('late', ['fleet']);
  await expect.poll(() => jobs.execution('late', 'live')?.status, { timeout: 10_000 }).toBe('QUEUED');
  expect(jobs.execution('late', 'live')?.executionNumber).toBe(2);
  // An IN_PROGRESS execution is left to finish when its thing leaves.
  await jobs.updateExecution({ thingName: 'early', jobId: 'live', status: 'IN_PROGRESS' });
  registry.set('early', []);
  await new Promise((r) => setTimeout(r, 200));
  expect(jobs.execution('early', 'live')?.status).toBe('IN_PROGRESS');
  for (const thingName of ['early', 'missed', 'late']) await jobs.updateExecution({ thingName, jobId: 'live', status: 'SUCCEEDED' });
  expect(jobs.status(jobs.job('live')!)).toBe('IN_PROGRESS');
  // A canceled CONTINUOUS job follows no more.
  await jobs.cancelJob({ jobId: 'live' });
  registry.set('after', ['fleet']);
  await new Promise((r) => setTimeout(r, 200));
  expect(jobs.execution('after', 'live')).toBeUndefined();
});

test('a CreateJob cut short after its things were stored is finished by the next process; a job over several chunks drops them once queued', async () => {
  clock.now = T0;
  const { log } = await openLog();
  const first = await startJobs(log);
  // 2500 things: three chunk records, queued chunk by chunk inside CreateJob.
  await first.jobs.createJob(job('big', {}), things(2500));
  expect(first.jobs.progress('big').counts.QUEUED).toBe(2500);
  expect(first.jobs.job('big')).toMatchObject({ rollout: { total: 2500, queued: 2500 } });
  expect(first.jobs.job('big')?.processingTargets).toBeUndefined();
  await first.jobs.createJob(job('cut-short', {}), things(5));
  const stored = first.jobs.job('cut-short')!;
  await first.stop();
  const raw = await StateStore.open<JobsValue>({ log, logger: silentLogger(), topic: topicSpec(TOPICS.jobs), codec: jobsCodec });
  expect([...raw.keys()].filter((k) => k.startsWith('rollout/'))).toEqual([]);
  // What a process that died right after `jobs.begin-rollout` left: the things stored, none queued.
  await raw.write([
    { key: 'rollout/half/0', value: { kind: 'rollout-chunk', jobId: 'half', index: 0, things: things(5) } },
    { key: 'job/half', value: { ...stored, jobId: 'half', processingTargets: stored.targets, rollout: { ...stored.rollout!, total: 5, released: 0, queued: 0 } } satisfies JobRecord },
  ]);
  await raw.close();

  const second = await startJobs(log);
  await expect.poll(() => second.jobs.job('half')?.processingTargets, { timeout: 10_000 }).toBeUndefined();
  expect(second.jobs.progress('half').counts.QUEUED).toBe(5);
  // dev-0 had big (1) and cut-short (2): half is its third execution, queued once.
  expect(second.jobs.executionsOfThing('dev-0').map((e) => [e.jobId, e.executionNumber])).toEqual([['big', 1], ['cut-short', 2], ['half', 3]]);
});

test('a CreateJob cut short before its things were stored is finished, from the registry, when the service starts following membership', async () => {
  clock.now = T0;
  const { log } = await openLog();
  const first = await startJobs(log);
  await first.jobs.createJob(job('model', {}), []);
  const stored = first.jobs.job('model')!;
  await first.stop();
  const raw = await StateStore.open<JobsValue>({ log, logger: silentLogger(), topic: topicSpec(TOPICS.jobs), codec: jobsCodec });
  const { rollout: _none, ...withoutRollout } = stored;
  // Created, then nothing: no things stored, no rollout. One created just now is left alone (a live CreateJob).
  await raw.write([
    { key: 'job/lost', value: { ...withoutRollout, jobId: 'lost', processingTargets: stored.targets } satisfies JobRecord },
    { key: 'job/fresh', value: { ...withoutRollout, jobId: 'fresh', processingTargets: stored.targets, createdAt: T0 + 10 * 60_000 } satisfies JobRecord },
  ]);
  await raw.close();
  clock.now = T0 + 10 * 60_000;
  const second = await startJobs(log);
  const registry = fakeMembership({});
  registry.set('x', ['all']);
  registry.set('y', ['all']);
  const unfollow = second.jobs.followMembership(registry.membership);
  cleanups.push(async () => unfollow());
  await expect.poll(() => second.jobs.job('lost')?.processingTargets, { timeout: 10_000 }).toBeUndefined();
  expect([...second.jobs.executionsOfJob('lost').keys()].sort()).toEqual(['x', 'y']);
  expect(second.jobs.job('fresh')?.processingTargets).toBeDefined();
  expect(second.jobs.executionsOfJob('fresh').size).toBe(0);
});
