/** Jobs events as the store's commands publish them (events.ts), over an in-memory view (no log). */
import { expect, test } from 'vitest';
import { decodeEnvelope, type CommandDefinition, type StateView, type StateWrite } from '../core/index.js';
import { jobsCommands, progressOf, type CreateJobInput } from './commands.js';
import { withJobEvents } from './events.js';
import type { ExecutionRecord, JobRecord, JobsValue } from './model.js';

/** A map-backed store that applies a command's writes and collects what it appends. */
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
  const progress = (jobId: string) => progressOf(executions(jobId));
  const commands = new Map(withJobEvents(jobsCommands(progress), { progress, thingArn: (name) => `arn:aws:iot:us-east-1:123456789012:thing/${name}` }).map((c) => [c.name, c as CommandDefinition<JobsValue, unknown, unknown>]));
  let now = 1_000_000;
  const events: { topic: string; body: Record<string, any> }[] = [];
  const apply = (writes: readonly StateWrite<JobsValue>[]) => {
    for (const w of writes) {
      if (w.value === null) values.delete(w.key);
      else values.set(w.key, { value: w.value, revision: view.revision(w.key) + 1 });
    }
  };
  return {
    events,
    async run<R>(name: string, input: unknown): Promise<R> {
      const change = await commands.get(name)!.run(view, input, { now: (now += 1000), newId: () => `id-${now}` });
      apply(change.writes);
      for (const { records } of change.appends ?? []) {
        for (const r of records) {
          const e = decodeEnvelope(Buffer.from(r.value!));
          if (e.topic.startsWith('$aws/events/')) events.push({ topic: e.topic, body: JSON.parse(Buffer.from(e.payload).toString()) as Record<string, any> });
        }
      }
      return change.result as R;
    },
    job: (jobId: string) => view.get(`job/${jobId}`) as JobRecord | undefined,
    advance: (ms: number) => void (now += ms),
  };
}

const create = (jobId: string, targets: string[]): CreateJobInput => ({
  jobId,
  targets: targets.map((t) => `arn:aws:iot:us-east-1:123456789012:thing/${t}`),
  targetSelection: 'SNAPSHOT',
  document: '{"op":"reboot"}',
  thingGroupNames: [],
  configs: {},
});

async function rolledOut(store: ReturnType<typeof memoryStore>, jobId: string, things: string[]) {
  await store.run('jobs.create', create(jobId, things));
  for (const thingName of things) await store.run('jobs.queue-execution', { thingName, jobId });
  await store.run('jobs.finish-rollout', { jobId });
}

const topics = (store: ReturnType<typeof memoryStore>) => store.events.map((e) => e.topic);

test('nothing is published until the types are enabled; the completion is still marked once', async () => {
  const store = memoryStore();
  await rolledOut(store, 'j1', ['a']);
  await store.run('jobs.update-execution', { thingName: 'a', jobId: 'j1', status: 'SUCCEEDED' });
  expect(await store.run('jobs.complete', { jobId: 'j1' })).not.toBeNull();
  expect(store.job('j1')!.completedAt).toBeGreaterThan(0);
  expect(await store.run('jobs.complete', { jobId: 'j1' })).toBeNull();
  expect(store.events).toEqual([]);
});

test('execution events once per transition, completed once, deleted with the prior status', async () => {
  const store = memoryStore();
  await store.run('jobs.update-event-configurations', { enabled: { JOB: true, JOB_EXECUTION: true } });
  await rolledOut(store, 'j2', ['a', 'b']);
  await store.run('jobs.update-execution', { thingName: 'a', jobId: 'j2', status: 'IN_PROGRESS' });
  // Not yet complete: b is QUEUED.
  expect(await store.run('jobs.complete', { jobId: 'j2' })).toBeNull();
  await store.run('jobs.update-execution', { thingName: 'a', jobId: 'j2', status: 'SUCCEEDED', statusDetails: { k: 'v' } });
  await store.run('jobs.update-execution', { thingName: 'b', jobId: 'j2', status: 'REJECTED' });
  await store.run('jobs.complete', { jobId: 'j2' });
  await store.run('jobs.complete', { jobId: 'j2' });
  expect(topics(store)).toEqual(['$aws/events/jobExecution/j2/succeeded', '$aws/events/jobExecution/j2/rejected', '$aws/events/job/j2/completed']);
  expect(store.events[0]!.body).toEqual({ eventType: 'JOB_EXECUTION', eventId: expect.any(String), timestamp: expect.any(Number), operation: 'succeeded', jobId: 'j2', thingArn: 'arn:aws:iot:us-east-1:123456789012:thing/a', status: 'SUCCEEDED', statusDetails: { k: 'v' } });
  expect(store.events[2]!.body).toMatchObject({ status: 'SUCCEEDED', jobProcessDetails: { numberOfSucceededThings: 1, numberOfRejectedThings: 1 } });

  store.events.length = 0;
  await store.run('jobs.start-delete', { jobId: 'j2' });
  await store.run('jobs.delete-execution-for-job', { thingName: 'a', jobId: 'j2' });
  await store.run('jobs.delete-execution-for-job', { thingName: 'b', jobId: 'j2' });
  await store.run('jobs.remove', { jobId: 'j2' });
  await store.run('jobs.remove', { jobId: 'j2' });
  expect(store.events.map((e) => `${e.topic} ${e.body.status}`)).toEqual([
    '$aws/events/job/j2/deletion_in_progress DELETION_IN_PROGRESS',
    '$aws/events/jobExecution/j2/deleted SUCCEEDED',
    '$aws/events/jobExecution/j2/deleted REJECTED',
    '$aws/events/job/j2/deleted DELETED',
  ]);
});

test('CancelJob: cancellation_in_progress at once, canceled once its executions are; a forced cancel opens it again', async () => {
  const store = memoryStore();
  await store.run('jobs.update-event-configurations', { enabled: { JOB: true, JOB_EXECUTION: true } });
  await rolledOut(store, 'j3', ['a', 'b']);
  await store.run('jobs.update-execution', { thingName: 'a', jobId: 'j3', status: 'IN_PROGRESS' });
  await store.run('jobs.cancel', { jobId: 'j3' });
  expect(await store.run('jobs.finish-cancel', { jobId: 'j3' })).toBeNull(); // b is still QUEUED
  await store.run('jobs.cancel-execution-for-job', { thingName: 'b', jobId: 'j3', force: false });
  await store.run('jobs.finish-cancel', { jobId: 'j3' });
  await store.run('jobs.finish-cancel', { jobId: 'j3' });
  expect(topics(store)).toEqual(['$aws/events/job/j3/cancellation_in_progress', '$aws/events/jobExecution/j3/canceled', '$aws/events/job/j3/canceled']);
  expect(store.events[2]!.body).toMatchObject({ forceCanceled: false, jobProcessDetails: { numberOfCanceledThings: 1 } });

  store.events.length = 0;
  await store.run('jobs.cancel', { jobId: 'j3', force: true });
  expect(store.job('j3')!.cancellationFinishedAt).toBeUndefined();
  await store.run('jobs.cancel-execution-for-job', { thingName: 'a', jobId: 'j3', force: true });
  await store.run('jobs.finish-cancel', { jobId: 'j3' });
  expect(topics(store)).toEqual(['$aws/events/job/j3/cancellation_in_progress', '$aws/events/jobExecution/j3/canceled', '$aws/events/job/j3/canceled']);
  expect(store.events[2]!.body).toMatchObject({ forceCanceled: true, jobProcessDetails: { numberOfCanceledThings: 2 } });
});

test('a step timer running out publishes timed_out, and the job completes', async () => {
  const store = memoryStore();
  await store.run('jobs.update-event-configurations', { enabled: { JOB: true, JOB_EXECUTION: true } });
  await rolledOut(store, 'j4', ['a']);
  await store.run('jobs.update-execution', { thingName: 'a', jobId: 'j4', status: 'IN_PROGRESS', stepTimeoutInMinutes: 1 });
  store.advance(60_000);
  await store.run('jobs.time-out', { thingName: 'a' });
  await store.run('jobs.time-out', { thingName: 'a' });
  await store.run('jobs.complete', { jobId: 'j4' });
  expect(store.events.map((e) => `${e.topic} ${e.body.status}`)).toEqual(['$aws/events/jobExecution/j4/timed_out TIMED_OUT', '$aws/events/job/j4/completed SUCCEEDED']);
  expect(store.events[1]!.body.jobProcessDetails).toMatchObject({ numberOfTimedOutThings: 1 });
});

test('UpdateEventConfigurations keeps the types not named and refuses others', async () => {
  const store = memoryStore();
  await store.run('jobs.update-event-configurations', { enabled: { JOB: true } });
  const record = await store.run<{ enabled: object }>('jobs.update-event-configurations', { enabled: { JOB_EXECUTION: false } });
  expect(record.enabled).toEqual({ JOB: true, JOB_EXECUTION: false });
  await expect(store.run('jobs.update-event-configurations', { enabled: { THING: true } })).rejects.toThrow(/not a jobs event type/);
});
