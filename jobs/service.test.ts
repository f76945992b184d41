/**
 * The jobs service through its store: on the embedded log (restart: the replay rebuilds jobs,
 * executions and the executions-by-job index), and on the Kafka mock with two services, so
 * that CreateJob's per-thing commands reach both owners through the log.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { EmbeddedLog, StateStore, TOPICS, silentLogger, topicSpec, type Log } from '../core/index.js';
import { KafkaLog } from '../core/log/kafka/kafka-log.js';
import { startKafkaMock } from '../core/testing/kafka-mock.js';
import { createJobsService, type CreateJobInput, type Jobs } from './index.js';
import { jobsCodec, type JobsValue } from './model.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startJobs(log: Log, clock?: () => number): Promise<Jobs> {
  const service = createJobsService({}, { log, logger: silentLogger(), ...(clock ? { clock, timerIntervalMs: 50 } : {}) });
  const jobs = await service.start();
  cleanups.push(() => service.stop());
  return jobs;
}

const job = (jobId: string): CreateJobInput => ({ jobId, targets: ['arn:aws:iot:us-east-1:123456789012:thinggroup/all'], targetSelection: 'SNAPSHOT', document: '{"op":"x"}', thingGroupNames: ['all'], configs: {} });

const things = (n: number) => Array.from({ length: n }, (_, i) => `dev-${i}`);

test('embedded log: what a restarted service reads back is what it wrote, index included', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiot-jobs-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const log1 = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  const service1 = createJobsService({}, { log: log1, logger: silentLogger() });
  const jobs1 = await service1.start();
  await jobs1.createJob(job('j1'), things(20));
  await jobs1.createJob(job('j2'), ['dev-0']);
  await jobs1.updateExecution({ thingName: 'dev-0', jobId: 'j1', status: 'IN_PROGRESS' });
  await jobs1.updateExecution({ thingName: 'dev-1', jobId: 'j1', status: 'FAILED', statusDetails: { reason: 'disk' } });
  await jobs1.cancelJob({ jobId: 'j2' });
  await jobs1.deleteJob({ jobId: 'j2' });
  const before = jobs1.progress('j1');
  expect(before.counts).toMatchObject({ QUEUED: 18, IN_PROGRESS: 1, FAILED: 1 });
  await service1.stop();
  await service1.stop();
  await log1.close();

  const log2 = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  cleanups.push(() => log2.close());
  const jobs2 = await startJobs(log2);
  expect(jobs2.progress('j1')).toEqual(before);
  expect(jobs2.job('j2')).toBeUndefined();
  expect(jobs2.executionsOfThing('dev-0').map((e) => [e.jobId, e.status, e.executionNumber])).toEqual([['j1', 'IN_PROGRESS', 1]]);
  expect(jobs2.execution('dev-1', 'j1')).toMatchObject({ status: 'FAILED', statusDetails: { reason: 'disk' }, versionNumber: 2 });
  // Execution numbers go on from where they were: dev-0's j2 (deleted) had number 2.
  await jobs2.createJob(job('j3'), ['dev-0']);
  expect(jobs2.execution('dev-0', 'j3')?.executionNumber).toBe(3);
});

test('a CancelJob or DeleteJob cut short between the job and its executions is finished by the next start', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiot-jobs-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  cleanups.push(() => log.close());
  const first = createJobsService({}, { log, logger: silentLogger() });
  const jobs1 = await first.start();
  await jobs1.createJob(job('gone'), things(5));
  await jobs1.createJob(job('stopped'), things(5));
  const stored = { gone: jobs1.job('gone')!, stopped: jobs1.job('stopped')! };
  await first.stop();
  // What a process that died right after the job's own command left behind.
  const raw = await StateStore.open<JobsValue>({ log, logger: silentLogger(), topic: topicSpec(TOPICS.jobs), codec: jobsCodec });
  await raw.write([
    { key: 'job/gone', value: { ...stored.gone, status: 'DELETION_IN_PROGRESS' } },
    { key: 'job/stopped', value: { ...stored.stopped, status: 'CANCELED', completedAt: Date.now() } },
  ]);
  await raw.close();

  const jobs2 = await startJobs(log);
  await expect.poll(() => jobs2.job('gone'), { timeout: 10_000 }).toBeUndefined();
  expect(jobs2.executionsOfJob('gone').size).toBe(0);
  await expect.poll(() => jobs2.progress('stopped').counts.CANCELED, { timeout: 10_000 }).toBe(5);
});

test('timers: a step timer and the job in-progress timeout make IN_PROGRESS executions TIMED_OUT; QUEUED ones wait', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiot-jobs-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  cleanups.push(() => log.close());
  let now = Date.UTC(2026, 0, 1);
  const service = createJobsService({}, { log, logger: silentLogger(), clock: () => now, timerIntervalMs: 20 });
  const jobs = await service.start();
  cleanups.push(() => service.stop());
  await jobs.createJob({ ...job('t1'), configs: { timeoutConfig: { inProgressTimeoutInMinutes: 5 } } }, ['a', 'b', 'c']);
  await jobs.updateExecution({ thingName: 'a', jobId: 't1', status: 'IN_PROGRESS', stepTimeoutInMinutes: 1 });
  await jobs.updateExecution({ thingName: 'b', jobId: 't1', status: 'IN_PROGRESS' });
  expect(jobs.execution('b', 't1')?.inProgressTimeoutAt).toBe(now + 5 * 60_000);

  now += 61_000;
  await expect.poll(() => jobs.execution('a', 't1')?.status, { timeout: 10_000 }).toBe('TIMED_OUT');
  expect(jobs.execution('b', 't1')?.status).toBe('IN_PROGRESS');
  // A report after the step timer ran out is refused: TIMED_OUT is terminal.
  await expect(jobs.updateExecution({ thingName: 'a', jobId: 't1', status: 'SUCCEEDED' })).rejects.toMatchObject({ details: { awsErrorType: 'InvalidStateTransitionException' } });

  now += 4 * 60_000;
  await expect.poll(() => jobs.execution('b', 't1')?.status, { timeout: 10_000 }).toBe('TIMED_OUT');
  expect(jobs.execution('c', 't1')?.status).toBe('QUEUED');
  expect(jobs.progress('t1').counts).toMatchObject({ TIMED_OUT: 2, QUEUED: 1 });
});

test('Kafka mock: two services share the owners; a job over 40 things is queued, updated and canceled from either, a rate-limited one rolled out by both timer loops, and a third reads it all back', async () => {
  const mock = await startKafkaMock();
  cleanups.push(() => mock.stop());
  const openLog = () => {
    const log = new KafkaLog({ brokers: mock.brokers, logger: silentLogger(), sessionTimeoutMs: 4_000, heartbeatIntervalMs: 400, maxWaitTimeMs: 100, retryPauseMs: 200 });
    cleanups.push(() => log.close());
    return log;
  };
  let now = Date.now();
  const clock = () => now;
  const a = await startJobs(openLog(), clock);
  const b = await startJobs(openLog(), clock);
  await a.createJob(job('fw'), things(40));
  expect(a.progress('fw').counts.QUEUED).toBe(40);
  // b's view has every write a's commands made, whichever process owned them.
  await expect.poll(() => b.progress('fw').counts.QUEUED, { timeout: 20_000 }).toBe(40);
  await b.updateExecution({ thingName: 'dev-7', jobId: 'fw', status: 'IN_PROGRESS' });
  await a.updateExecution({ thingName: 'dev-8', jobId: 'fw', status: 'SUCCEEDED' });
  await expect(a.updateExecution({ thingName: 'dev-8', jobId: 'fw', status: 'IN_PROGRESS' })).rejects.toMatchObject({ details: { awsErrorType: 'InvalidStateTransitionException' } });
  await b.cancelJob({ jobId: 'fw', reasonCode: 'STOP' });
  expect(b.progress('fw').counts).toMatchObject({ CANCELED: 38, IN_PROGRESS: 1, SUCCEEDED: 1, QUEUED: 0 });
  expect(b.status(b.job('fw')!)).toBe('CANCELED');

  // A rollout at 10 a minute: the first window in CreateJob, the next from either timer loop, once.
  await a.createJob({ ...job('paced'), configs: { jobExecutionsRolloutConfig: { maximumPerMinute: 10 } } }, things(25));
  expect(a.progress('paced').total).toBe(10);
  now += 60_000;
  await expect.poll(() => b.progress('paced').total, { timeout: 20_000 }).toBe(20);
  now += 60_000;
  await expect.poll(() => a.job('paced')?.processingTargets, { timeout: 20_000 }).toBeUndefined();
  expect(a.job('paced')?.rollout).toMatchObject({ total: 25, released: 25, queued: 25 });

  const c = await startJobs(openLog());
  expect(c.progress('fw')).toEqual(b.progress('fw'));
  expect(c.progress('paced').counts.QUEUED).toBe(25);
  expect(c.job('fw')).toMatchObject({ status: 'CANCELED', reasonCode: 'STOP' });
}, 90_000);
