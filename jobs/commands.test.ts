/** The jobs store's commands as pure functions over an in-memory view (no log). */
import { expect, test } from 'vitest';
import { PlatformError, type CommandDefinition, type StateView, type StateWrite } from '../core/index.js';
import { jobsCommands, jobStatus, progressOf, type CreateJobInput } from './commands.js';
import type { ExecutionRecord, JobRecord, JobsValue, ThingJobsRecord } from './model.js';

/** A map-backed store that applies a command's writes the way the owner does (compare-and-set included). */
function memoryStore() {
  const values = new Map<string, { value: JobsValue; revision: number }>();
  const view: StateView<JobsValue> = {
    get: (k) => values.get(k)?.value,
    revision: (k) => values.get(k)?.revision ?? 0,
    has: (k) => values.has(k),
    keys: () => values.keys(),
    *entries() {
      for (const [k, v] of values) yield [k, v.value];
    },
    get size() {
      return values.size;
    },
    onChange: () => () => undefined,
  };
  const executions = (jobId: string): ExecutionRecord[] =>
    [...values.values()].flatMap(({ value }) => (value.kind === 'thing' && value.executions[jobId] ? [value.executions[jobId]!] : []));
  const commands = new Map(jobsCommands((jobId) => progressOf(executions(jobId))).map((c) => [c.name, c as CommandDefinition<JobsValue, unknown, unknown>]));
  let now = 1_000;
  const apply = (writes: readonly StateWrite<JobsValue>[]) => {
    for (const w of writes) {
      if (w.ifRevision !== undefined) expect(w.ifRevision).toBe(view.revision(w.key));
      if (w.value === null) values.delete(w.key);
      else values.set(w.key, { value: w.value, revision: view.revision(w.key) + 1 });
    }
  };
  return {
    view,
    run<R>(name: string, input: unknown): R {
      const command = commands.get(name)!;
      const change = command.run(view, input, { now: (now += 1000), newId: () => 'id' });
      if (change instanceof Promise) throw new Error('jobs commands are synchronous');
      apply(change.writes);
      return change.result as R;
    },
    job: (jobId: string) => view.get(`job/${jobId}`) as JobRecord | undefined,
    thing: (name: string) => view.get(`thing/${name}`) as ThingJobsRecord | undefined,
    progress: (jobId: string) => progressOf(executions(jobId)),
  };
}

const create = (jobId: string, extra: Partial<CreateJobInput> = {}): CreateJobInput => ({
  jobId,
  targets: ['arn:aws:iot:us-east-1:123456789012:thing/a'],
  targetSelection: 'SNAPSHOT',
  document: '{"op":"reboot"}',
  thingGroupNames: [],
  configs: {},
  ...extra,
});

const typeOf = (call: () => unknown): unknown => {
  try {
    call();
  } catch (err) {
    expect(err).toBeInstanceOf(PlatformError);
    return (err as PlatformError).details['awsErrorType'];
  }
  throw new Error('expected the command to be refused');
};

test('create: IN_PROGRESS while rolling out, then COMPLETED once every execution is terminal; a second create is ResourceAlreadyExistsException', () => {
  const s = memoryStore();
  const job = s.run<JobRecord>('jobs.create', create('j1'));
  expect(job).toMatchObject({ jobId: 'j1', status: 'IN_PROGRESS', processingTargets: job.targets });
  expect(typeOf(() => s.run('jobs.create', create('j1')))).toBe('ResourceAlreadyExistsException');
  // No executions yet, but the rollout has not finished: still IN_PROGRESS.
  expect(jobStatus(s.job('j1')!, s.progress('j1'))).toBe('IN_PROGRESS');
  s.run('jobs.queue-execution', { thingName: 'a', jobId: 'j1' });
  s.run('jobs.queue-execution', { thingName: 'b', jobId: 'j1' });
  s.run('jobs.finish-rollout', { jobId: 'j1' });
  expect(s.job('j1')!.processingTargets).toBeUndefined();
  expect(jobStatus(s.job('j1')!, s.progress('j1'))).toBe('IN_PROGRESS');
  s.run('jobs.update-execution', { thingName: 'a', jobId: 'j1', status: 'SUCCEEDED' });
  s.run('jobs.update-execution', { thingName: 'b', jobId: 'j1', status: 'REJECTED' });
  expect(jobStatus(s.job('j1')!, s.progress('j1'))).toBe('COMPLETED');
  expect(s.progress('j1').counts).toMatchObject({ SUCCEEDED: 1, REJECTED: 1, QUEUED: 0 });
  // A CONTINUOUS job never completes by itself.
  expect(jobStatus({ ...s.job('j1')!, targetSelection: 'CONTINUOUS' }, s.progress('j1'))).toBe('IN_PROGRESS');
});

test("queue-execution numbers a thing's executions 1, 2, 3 and answers a repeat with the execution there", () => {
  const s = memoryStore();
  const first = s.run<ExecutionRecord>('jobs.queue-execution', { thingName: 'a', jobId: 'j1' });
  const second = s.run<ExecutionRecord>('jobs.queue-execution', { thingName: 'a', jobId: 'j2' });
  expect([first.executionNumber, second.executionNumber]).toEqual([1, 2]);
  expect(s.run<ExecutionRecord>('jobs.queue-execution', { thingName: 'a', jobId: 'j1' })).toEqual(first);
  // Deleting an execution does not give its number back.
  s.run('jobs.update-execution', { thingName: 'a', jobId: 'j1', status: 'SUCCEEDED' });
  s.run('jobs.delete-execution', { thingName: 'a', jobId: 'j1' });
  expect(s.thing('a')!.executions['j1']).toBeUndefined();
  expect(s.run<ExecutionRecord>('jobs.queue-execution', { thingName: 'a', jobId: 'j3' }).executionNumber).toBe(3);
});

test('cancel: IN_PROGRESS -> CANCELED; COMPLETED refused; CANCELED again only with force; reasonCode and comment kept', () => {
  const s = memoryStore();
  s.run('jobs.create', create('j1'));
  s.run('jobs.queue-execution', { thingName: 'a', jobId: 'j1' });
  s.run('jobs.finish-rollout', { jobId: 'j1' });
  const canceled = s.run<JobRecord>('jobs.cancel', { jobId: 'j1', reasonCode: 'BAD_FW', comment: 'wrong image' });
  expect(canceled).toMatchObject({ status: 'CANCELED', reasonCode: 'BAD_FW', comment: 'wrong image', forceCanceled: false });
  expect(canceled.completedAt).toBeGreaterThan(0);
  expect(typeOf(() => s.run('jobs.cancel', { jobId: 'j1' }))).toBe('InvalidStateTransitionException');
  expect(s.run<JobRecord>('jobs.cancel', { jobId: 'j1', force: true }).forceCanceled).toBe(true);
  expect(typeOf(() => s.run('jobs.cancel', { jobId: 'nope' }))).toBe('ResourceNotFoundException');

  s.run('jobs.create', create('j2'));
  s.run('jobs.finish-rollout', { jobId: 'j2' });
  expect(jobStatus(s.job('j2')!, s.progress('j2'))).toBe('COMPLETED');
  expect(typeOf(() => s.run('jobs.cancel', { jobId: 'j2' }))).toBe('InvalidStateTransitionException');
});

test("cancel-execution-for-job: QUEUED canceled, IN_PROGRESS only with force, else nothing written", () => {
  const s = memoryStore();
  s.run('jobs.queue-execution', { thingName: 'a', jobId: 'j1' });
  s.run('jobs.update-execution', { thingName: 'a', jobId: 'j1', status: 'IN_PROGRESS' });
  const before = s.view.revision('thing/a');
  expect(s.run<ExecutionRecord>('jobs.cancel-execution-for-job', { thingName: 'a', jobId: 'j1', force: false }).status).toBe('IN_PROGRESS');
  expect(s.view.revision('thing/a')).toBe(before);
  expect(s.run<ExecutionRecord>('jobs.cancel-execution-for-job', { thingName: 'a', jobId: 'j1', force: true })).toMatchObject({ status: 'CANCELED', forceCanceled: true });
  expect(s.run('jobs.cancel-execution-for-job', { thingName: 'zz', jobId: 'j1', force: true })).toBeNull();
});

test('delete: refused while IN_PROGRESS without force; DELETION_IN_PROGRESS, executions removed, then the tombstone', () => {
  const s = memoryStore();
  s.run('jobs.create', create('j1'));
  s.run('jobs.queue-execution', { thingName: 'a', jobId: 'j1' });
  s.run('jobs.finish-rollout', { jobId: 'j1' });
  expect(typeOf(() => s.run('jobs.start-delete', { jobId: 'j1' }))).toBe('InvalidStateTransitionException');
  expect(s.run<JobRecord>('jobs.start-delete', { jobId: 'j1', force: true }).status).toBe('DELETION_IN_PROGRESS');
  // A create under the id of a job being deleted is refused as AWS does.
  expect(typeOf(() => s.run('jobs.create', create('j1')))).toBe('ResourceAlreadyExistsException');
  expect(typeOf(() => s.run('jobs.cancel', { jobId: 'j1', force: true }))).toBe('InvalidStateTransitionException');
  s.run('jobs.delete-execution-for-job', { thingName: 'a', jobId: 'j1' });
  expect(s.thing('a')!.executions).toEqual({});
  s.run('jobs.remove', { jobId: 'j1' });
  expect(s.job('j1')).toBeUndefined();
  expect(typeOf(() => s.run('jobs.start-delete', { jobId: 'j1' }))).toBe('ResourceNotFoundException');
});

test('execution commands refuse as execution.ts does, and write nothing when they refuse', () => {
  const s = memoryStore();
  s.run('jobs.queue-execution', { thingName: 'a', jobId: 'j1' });
  const revision = s.view.revision('thing/a');
  expect(typeOf(() => s.run('jobs.update-execution', { thingName: 'a', jobId: 'j1', status: 'IN_PROGRESS', expectedVersion: 9 }))).toBe('VersionConflictException');
  expect(typeOf(() => s.run('jobs.delete-execution', { thingName: 'a', jobId: 'j1' }))).toBe('InvalidStateTransitionException');
  expect(typeOf(() => s.run('jobs.cancel-execution', { thingName: 'b', jobId: 'j1' }))).toBe('ResourceNotFoundException');
  expect(s.view.revision('thing/a')).toBe(revision);
  expect(s.run<ExecutionRecord>('jobs.cancel-execution', { thingName: 'a', jobId: 'j1', expectedVersion: 1 })).toMatchObject({ status: 'CANCELED', versionNumber: 2 });
});

test('a job canceled while it rolls out queues no more executions; update keeps what it is not given and refuses a job being deleted', () => {
  const s = memoryStore();
  s.run('jobs.create', create('j1', { configs: { timeoutConfig: { inProgressTimeoutInMinutes: 5 } } }));
  s.run('jobs.queue-execution', { thingName: 'a', jobId: 'j1' });
  s.run('jobs.cancel', { jobId: 'j1' });
  expect(s.run('jobs.queue-execution', { thingName: 'b', jobId: 'j1' })).toBeNull();
  expect(s.thing('b')).toBeUndefined();

  const updated = s.run<JobRecord>('jobs.update', { jobId: 'j1', description: 'new', configs: { abortConfig: { criteriaList: [] } } });
  expect(updated).toMatchObject({ description: 'new', configs: { timeoutConfig: { inProgressTimeoutInMinutes: 5 }, abortConfig: { criteriaList: [] } } });
  s.run('jobs.start-delete', { jobId: 'j1', force: true });
  expect(typeOf(() => s.run('jobs.update', { jobId: 'j1', configs: {} }))).toBe('InvalidStateTransitionException');
  expect(typeOf(() => s.run('jobs.update', { jobId: 'nope', configs: {} }))).toBe('ResourceNotFoundException');
});

test('time-out changes only the executions whose timer is due, in one write', () => {
  const s = memoryStore();
  s.run('jobs.queue-execution', { thingName: 'a', jobId: 'j1' });
  s.run('jobs.queue-execution', { thingName: 'a', jobId: 'j2' });
  s.run('jobs.update-execution', { thingName: 'a', jobId: 'j1', status: 'IN_PROGRESS', stepTimeoutInMinutes: 1 });
  s.run('jobs.update-execution', { thingName: 'a', jobId: 'j2', status: 'IN_PROGRESS', stepTimeoutInMinutes: 60 });
  // The store's clock moves 1 s per command: nothing is due yet.
  expect(s.run('jobs.time-out', { thingName: 'a' })).toEqual([]);
  const revision = s.view.revision('thing/a');
  for (let i = 0; i < 60; i++) s.run('jobs.read-thing', { thingName: 'a' });
  expect(s.run<ExecutionRecord[]>('jobs.time-out', { thingName: 'a' }).map((e) => e.jobId)).toEqual(['j1']);
  expect(s.view.revision('thing/a')).toBe(revision + 1);
  expect(s.thing('a')!.executions['j1']!.status).toBe('TIMED_OUT');
  expect(s.thing('a')!.executions['j2']!.status).toBe('IN_PROGRESS');
});

test('rollout commands: a step releases the window once and answers what is not yet recorded as queued; rollout-queued ends processingTargets', () => {
  const store = memoryStore();
  store.run('jobs.create', create('r', { configs: { jobExecutionsRolloutConfig: { maximumPerMinute: 2 } } }));
  expect(store.run('jobs.rollout-step', { jobId: 'r' })).toEqual({ from: 0, to: 0 });
  store.run('jobs.begin-rollout', { jobId: 'r', total: 3 });
  expect(store.run('jobs.rollout-step', { jobId: 'r' })).toEqual({ from: 0, to: 2 });
  // Asked again in the same minute (another process, or after a crash): the same things, no more.
  expect(store.run('jobs.rollout-step', { jobId: 'r' })).toEqual({ from: 0, to: 2 });
  store.run('jobs.rollout-queued', { jobId: 'r', queued: 2 });
  expect(store.run('jobs.rollout-step', { jobId: 'r' })).toEqual({ from: 2, to: 2 });
  expect(store.job('r')?.processingTargets).toBeDefined();
  store.run('jobs.rollout-queued', { jobId: 'r', queued: 1 });
  expect(store.job('r')?.rollout?.queued).toBe(2);
  // A canceled job releases nothing more and stops processing.
  store.run('jobs.cancel', { jobId: 'r' });
  expect(store.job('r')?.processingTargets).toBeUndefined();
  expect(store.run('jobs.rollout-step', { jobId: 'r' })).toEqual({ from: 0, to: 0 });
});

test('jobs.abort cancels an IN_PROGRESS job once, with its reason; jobs.update-execution retries a FAILED report in the same write', () => {
  const store = memoryStore();
  store.run('jobs.create', create('j', { configs: { jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 1 }] } } }));
  store.run('jobs.queue-execution', { thingName: 'a', jobId: 'j' });
  const reported = store.run<ExecutionRecord>('jobs.update-execution', { thingName: 'a', jobId: 'j', status: 'FAILED' });
  expect(reported).toMatchObject({ status: 'FAILED', executionNumber: 1 });
  expect(store.thing('a')).toMatchObject({ nextExecutionNumber: 3, executions: { j: { status: 'QUEUED', executionNumber: 2, retryAttempt: 1 } } });
  expect(store.run('jobs.abort', { jobId: 'j', reasonCode: 'ABORT_CRITERIA_MET', comment: 'c' })).toMatchObject({ status: 'CANCELED', reasonCode: 'ABORT_CRITERIA_MET', comment: 'c', forceCanceled: false });
  expect(store.run('jobs.abort', { jobId: 'j', reasonCode: 'X', comment: 'again' })).toBeNull();
  // A canceled job retries nothing.
  store.run('jobs.update-execution', { thingName: 'a', jobId: 'j', status: 'FAILED' });
  expect(store.thing('a')?.executions['j']).toMatchObject({ status: 'FAILED', executionNumber: 2 });
});

test('jobs.associate-targets: CONTINUOUS and IN_PROGRESS only, targets kept once, 100 at most', () => {
  const store = memoryStore();
  const group = (n: string) => `arn:aws:iot:us-east-1:123456789012:thinggroup/${n}`;
  store.run('jobs.create', create('c', { targetSelection: 'CONTINUOUS', targets: [group('g')], thingGroupNames: ['g'] }));
  store.run('jobs.create', create('s'));
  store.run('jobs.associate-targets', { jobId: 'c', targets: [group('g'), group('h')], thingGroupNames: ['g', 'h'] });
  expect(store.job('c')).toMatchObject({ targets: [group('g'), group('h')], thingGroupNames: ['g', 'h'] });
  expect(typeOf(() => store.run('jobs.associate-targets', { jobId: 's', targets: [group('h')], thingGroupNames: ['h'] }))).toBe('InvalidRequestException');
  const many = Array.from({ length: 99 }, (_, i) => group(`x${i}`));
  expect(typeOf(() => store.run('jobs.associate-targets', { jobId: 'c', targets: many, thingGroupNames: [] }))).toBe('LimitExceededException');
  store.run('jobs.cancel', { jobId: 'c' });
  expect(typeOf(() => store.run('jobs.associate-targets', { jobId: 'c', targets: [group('k')], thingGroupNames: ['k'] }))).toBe('InvalidRequestException');
});

test('jobs.remove-execution: only a QUEUED execution becomes REMOVED; jobs.queue-execution with requeueRemoved gives a REMOVED one a new number', () => {
  const store = memoryStore();
  store.run('jobs.create', create('c', { targetSelection: 'CONTINUOUS' }));
  store.run('jobs.queue-execution', { thingName: 'a', jobId: 'c' });
  store.run('jobs.remove-execution', { thingName: 'a', jobId: 'c' });
  expect(store.thing('a')?.executions['c']?.status).toBe('REMOVED');
  expect(store.run<ExecutionRecord>('jobs.queue-execution', { thingName: 'a', jobId: 'c' }).status).toBe('REMOVED');
  expect(store.run<ExecutionRecord>('jobs.queue-execution', { thingName: 'a', jobId: 'c', requeueRemoved: true })).toMatchObject({ status: 'QUEUED', executionNumber: 2 });
  store.run('jobs.update-execution', { thingName: 'a', jobId: 'c', status: 'IN_PROGRESS' });
  store.run('jobs.remove-execution', { thingName: 'a', jobId: 'c' });
  expect(store.thing('a')?.executions['c']?.status).toBe('IN_PROGRESS');
});

test('rollout driver lease: one driver steps a released range at a time; another takes it over once the lease has passed; recording it queued lets it go', () => {
  const store = memoryStore();
  store.run('jobs.create', create('r', { configs: { jobExecutionsRolloutConfig: { maximumPerMinute: 5 } } }));
  store.run('jobs.begin-rollout', { jobId: 'r', total: 8, driver: 'a' });
  expect(store.job('r')?.rollout).toMatchObject({ driver: 'a' });
  // b's timer loop asks while a holds the rollout: nothing for b.
  expect(store.run('jobs.rollout-step', { jobId: 'r', driver: 'b' })).toEqual({ from: 0, to: 0 });
  expect(store.run('jobs.rollout-step', { jobId: 'r', driver: 'a' })).toEqual({ from: 0, to: 5 });
  // a stops (killed) without recording; the store's clock moves 1 s per command: 15 s later b takes over the same range.
  for (let i = 0; i < 14; i++) expect(store.run('jobs.rollout-step', { jobId: 'r', driver: 'b' })).toEqual({ from: 0, to: 0 });
  expect(store.run('jobs.rollout-step', { jobId: 'r', driver: 'b' })).toEqual({ from: 0, to: 5 });
  expect(store.job('r')?.rollout).toMatchObject({ driver: 'b', queued: 0, released: 5 });
  // b records its range queued: the rollout has no driver until the next window.
  store.run('jobs.rollout-queued', { jobId: 'r', queued: 5, driver: 'b' });
  expect(store.job('r')?.rollout).toMatchObject({ queued: 5 });
  expect(store.job('r')?.rollout?.driver).toBeUndefined();
});

test('jobs.each-thing runs a per-thing command on many things in one change; things named twice and other commands are refused', () => {
  const store = memoryStore();
  store.run('jobs.create', create('j'));
  store.run('jobs.queue-execution', { thingName: 'b', jobId: 'j' });
  const results = store.run<(ExecutionRecord | null)[]>('jobs.each-thing', { command: 'jobs.queue-execution', inputs: ['a', 'b', 'c'].map((thingName) => ({ thingName, jobId: 'j' })) });
  expect(results.map((e) => [e?.executionNumber, e?.status])).toEqual([
    [1, 'QUEUED'],
    [1, 'QUEUED'],
    [1, 'QUEUED'],
  ]);
  // b's was there already: asked again, it is the answer and nothing changes.
  expect(store.view.revision('thing/b')).toBe(1);
  expect(store.progress('j').counts.QUEUED).toBe(3);
  store.run('jobs.each-thing', { command: 'jobs.cancel-execution-for-job', inputs: ['a', 'c'].map((thingName) => ({ thingName, jobId: 'j', force: false })) });
  expect(store.progress('j').counts).toMatchObject({ QUEUED: 1, CANCELED: 2 });
  expect(() => store.run('jobs.each-thing', { command: 'jobs.queue-execution', inputs: [{ thingName: 'd', jobId: 'j' }, { thingName: 'd', jobId: 'j' }] })).toThrow(/named twice/);
  expect(() => store.run('jobs.each-thing', { command: 'jobs.cancel', inputs: [{ thingName: 'd', jobId: 'j' }] })).toThrow(/not a per-thing command/);
});
