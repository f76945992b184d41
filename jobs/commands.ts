/**
 * The jobs store's commands (core/state): pure functions of the store, run one at a time per
 * key by the owner of the key's partition of `iot.jobs`. Job commands name `job/<jobId>`; the
 * execution commands name `thing/<thingName>`, so one thing's executions change one at a time
 * and CreateJob, CancelJob and DeleteJob reach each thing with one command per thing (a
 * command writes the partition of its first key only). The transitions themselves are
 * execution.ts's.
 */
import { TOPICS, type AppendRecord, type Change, type CommandDefinition, type StateView, type StateWrite } from '../core/index.js';
import { jobError } from './errors.js';
import {
  cancelExecution,
  cancelForJob,
  checkDeleteExecution,
  queuedExecution,
  removeExecution,
  startInProgressTimer,
  timeOutExecution,
  updateExecution,
  type CancelExecutionInput,
  type DeleteExecutionInput,
  type ExecutionId,
  type UpdateExecutionInput,
} from './execution.js';
import { notifications, pendingExecutions } from './mqtt.js';
import { retryCriteriaOf, retryOf } from './retry.js';
import { ROLLOUT_LEASE_MS, rolloutConfigOf, rolloutStep, startRollout } from './rollout.js';
import { EXECUTION_STATUSES, jobKey, templateKey, thingKey, type TemplateRecord, type StatusDetails, type ExecutionRecord, type ExecutionStatus, type JobRecord, type JobStatus, type JobsValue, type RolloutState, type ThingJobsRecord } from './model.js';

/** How far a job's executions got: what DescribeJob's jobProcessDetails counts. */
export interface JobProgress {
  readonly counts: Readonly<Record<ExecutionStatus, number>>;
  readonly total: number;
  /** The latest lastUpdatedAt of its executions (0 when it has none). */
  readonly lastUpdatedAt: number;
}

export const emptyCounts = (): Record<ExecutionStatus, number> => Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as Record<ExecutionStatus, number>;

/** The progress of a set of executions. */
export function progressOf(executions: Iterable<ExecutionRecord>): JobProgress {
  const counts = emptyCounts();
  let total = 0;
  let lastUpdatedAt = 0;
  for (const e of executions) {
    counts[e.status]++;
    total++;
    lastUpdatedAt = Math.max(lastUpdatedAt, e.lastUpdatedAt);
  }
  return { counts, total, lastUpdatedAt };
}

/**
 * A job's status as AWS reports it: a SNAPSHOT job that is IN_PROGRESS is COMPLETED once its
 * executions are all queued and all terminal (a CONTINUOUS job never completes by itself).
 */
export function jobStatus(job: JobRecord, progress: JobProgress): JobStatus {
  if (job.status !== 'IN_PROGRESS' || job.targetSelection !== 'SNAPSHOT' || job.processingTargets !== undefined) return job.status;
  const open = progress.counts.QUEUED + progress.counts.IN_PROGRESS;
  return open === 0 ? 'COMPLETED' : 'IN_PROGRESS';
}

export interface CreateJobInput {
  readonly jobId: string;
  readonly targets: readonly string[];
  readonly targetSelection: 'SNAPSHOT' | 'CONTINUOUS';
  readonly document: string;
  readonly description?: string;
  readonly thingGroupNames: readonly string[];
  readonly configs: Readonly<Record<string, unknown>>;
}

export interface UpdateJobInput {
  readonly jobId: string;
  readonly description?: string;
  readonly configs: Readonly<Record<string, unknown>>;
}

/** AssociateTargetsWithJob: thing groups added to a CONTINUOUS job. */
export interface AssociateTargetsInput {
  readonly jobId: string;
  /** Thing-group ARNs, as given. */
  readonly targets: readonly string[];
  /** Their names. */
  readonly thingGroupNames: readonly string[];
  readonly comment?: string;
}

/** AWS: "The total number of targets associated with a job must not exceed 100." */
export const MAX_JOB_TARGETS = 100;

export interface CancelJobInput {
  readonly jobId: string;
  readonly force?: boolean;
  readonly reasonCode?: string;
  readonly comment?: string;
}

type JobsCommand<I, R> = CommandDefinition<JobsValue, I, R>;

/** The input of a command on one thing's executions. */
export interface ThingInput {
  readonly thingName: string;
}

const jobOf = (state: StateView<JobsValue>, jobId: string): JobRecord | undefined => {
  const v = state.get(jobKey(jobId));
  return v?.kind === 'job' ? v : undefined;
};

const thingOf = (state: StateView<JobsValue>, thingName: string): ThingJobsRecord | undefined => {
  const v = state.get(thingKey(thingName));
  return v?.kind === 'thing' ? v : undefined;
};

const jobNotFound = (jobId: string) => jobError('ResourceNotFoundException', `Job ${jobId} does not exist`);

const existingJob = (state: StateView<JobsValue>, jobId: string): JobRecord => {
  const job = jobOf(state, jobId);
  if (!job) throw jobNotFound(jobId);
  return job;
};

const writeJob = (state: StateView<JobsValue>, job: JobRecord | null, jobId: string): StateWrite<JobsValue> => ({ key: jobKey(jobId), value: job, ifRevision: state.revision(jobKey(jobId)) });

/**
 * The thing's record with one execution replaced (or removed, with `null`), and the
 * `notify`/`notify-next` messages the change publishes (mqtt.ts). The record stays when its last
 * execution goes, so that execution numbers never repeat.
 */
function changeExecution(state: StateView<JobsValue>, before: ThingJobsRecord | undefined, thing: ThingJobsRecord, jobId: string, exec: ExecutionRecord | null, now: number): Pick<Change<JobsValue, unknown>, 'writes' | 'appends'> {
  const { [jobId]: _old, ...others } = thing.executions;
  return changeThing(state, before, { ...thing, executions: exec ? { ...others, [jobId]: exec } : others }, now);
}

function changeThing(state: StateView<JobsValue>, before: ThingJobsRecord | undefined, after: ThingJobsRecord, now: number): Pick<Change<JobsValue, unknown>, 'writes' | 'appends'> {
  const key = thingKey(after.thingName);
  const messages = notifications(after.thingName, before, after, (id) => jobOf(state, id)?.document, now);
  return { writes: [{ key, value: after, ifRevision: state.revision(key) }], appends: [{ topic: TOPICS.ingress, records: messages }] };
}

/** The job's timeoutConfig.inProgressTimeoutInMinutes, when it has one. */
function inProgressMinutes(state: StateView<JobsValue>, jobId: string): number | undefined {
  const config = jobOf(state, jobId)?.configs['timeoutConfig'] as { inProgressTimeoutInMinutes?: unknown } | undefined;
  return typeof config?.inProgressTimeoutInMinutes === 'number' ? config.inProgressTimeoutInMinutes : undefined;
}

/** One execution command: reads the thing's execution of the job and lets `step` decide. */
function executionCommand<I extends ExecutionId>(
  name: string,
  step: (exec: ExecutionRecord | undefined, input: I, now: number, state: StateView<JobsValue>) => ExecutionRecord | null | undefined,
): JobsCommand<I, ExecutionRecord | null> {
  return {
    name,
    keys: (input) => [thingKey(input.thingName)],
    run(state, input, ctx) {
      const thing = thingOf(state, input.thingName);
      const exec = thing?.executions[input.jobId];
      const next = step(exec, input, ctx.now, state);
      // undefined: nothing to change; the execution as it is (or null when there is none).
      if (next === undefined || !thing) return { writes: [], result: exec ?? null };
      return { ...changeExecution(state, thing, thing, input.jobId, next, ctx.now), result: next };
    },
  };
}

/**
 * The thing's record with `changed` executions in it, each FAILED or TIMED_OUT one that its
 * job's jobExecutionsRetryConfig allows replaced by its next attempt (retry.ts), numbered from
 * the thing's next execution number. A job that is no longer IN_PROGRESS retries nothing.
 */
function retried(state: StateView<JobsValue>, thing: ThingJobsRecord, changed: readonly ExecutionRecord[], now: number): ThingJobsRecord {
  let next = thing.nextExecutionNumber;
  const executions: Record<string, ExecutionRecord> = { ...thing.executions };
  for (const e of changed) {
    const job = jobOf(state, e.jobId);
    const again = job?.status === 'IN_PROGRESS' ? retryOf(retryCriteriaOf(job.configs), e, next, now) : undefined;
    if (again) next++;
    executions[e.jobId] = again ?? e;
  }
  return { ...thing, nextExecutionNumber: next, executions };
}

/** A job that stops rolling out (canceled, aborted): processingTargets goes, the position stays. */
function stopRollout(job: JobRecord): JobRecord {
  if (!job.rollout || job.processingTargets === undefined) return job;
  const { processingTargets: _stopped, ...rest } = job;
  return rest;
}

/** The rollout without its driver: nothing is being queued. */
function withoutDriver(rollout: RolloutState): RolloutState {
  const { driver: _driver, driverUntil: _until, ...rest } = rollout;
  return rest;
}

/** What `jobs.rollout-step` answers: things [from, to) of the job's rollout may be queued (none when from = to). */
export interface RolloutRelease {
  readonly from: number;
  readonly to: number;
}

/** The commands of the jobs store; `progress` reads the executions of a job from the store's index. */
export function jobsCommands(progress: (jobId: string) => JobProgress): readonly JobsCommand<any, any>[] {
  const createJob: JobsCommand<CreateJobInput, JobRecord> = {
    name: 'jobs.create',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input, ctx) {
      const existing = jobOf(state, input.jobId);
      if (existing) {
        const why = existing.status === 'DELETION_IN_PROGRESS' ? 'is being deleted' : 'already exists';
        throw jobError('ResourceAlreadyExistsException', `Job ${input.jobId} ${why}`, { resourceId: input.jobId });
      }
      const job: JobRecord = {
        kind: 'job',
        jobId: input.jobId,
        targets: [...input.targets],
        targetSelection: input.targetSelection,
        document: input.document,
        ...(input.description !== undefined ? { description: input.description } : {}),
        status: 'IN_PROGRESS',
        createdAt: ctx.now,
        lastUpdatedAt: ctx.now,
        thingGroupNames: [...input.thingGroupNames],
        processingTargets: [...input.targets],
        configs: input.configs,
      };
      return { writes: [writeJob(state, job, input.jobId)], result: job };
    },
  };

  /**
   * Every execution of the job is queued: processingTargets goes (jobProcessDetails). CreateJob
   * now ends with `jobs.rollout-queued`; this stays for processes of the previous version that
   * still route it here during a rolling upgrade.
   */
  const finishRollout: JobsCommand<{ jobId: string }, JobRecord | null> = {
    name: 'jobs.finish-rollout',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input) {
      const job = jobOf(state, input.jobId);
      if (!job || job.processingTargets === undefined) return { writes: [], result: job ?? null };
      const { processingTargets: _done, ...rest } = job;
      return { writes: [writeJob(state, rest, input.jobId)], result: rest };
    },
  };

  const cancelJob: JobsCommand<CancelJobInput, JobRecord> = {
    name: 'jobs.cancel',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input, ctx) {
      const job = existingJob(state, input.jobId);
      const status = jobStatus(job, progress(input.jobId));
      // A canceled job may be canceled again with force, to cancel its IN_PROGRESS executions too.
      if (status === 'COMPLETED' || status === 'DELETION_IN_PROGRESS' || (status === 'CANCELED' && !input.force)) {
        throw jobError('InvalidStateTransitionException', `Job ${input.jobId} cannot be canceled: it is ${status}`);
      }
      const next: JobRecord = {
        ...stopRollout(job),
        status: 'CANCELED',
        lastUpdatedAt: ctx.now,
        completedAt: job.completedAt ?? ctx.now,
        forceCanceled: Boolean(input.force) || Boolean(job.forceCanceled),
        ...(input.reasonCode !== undefined ? { reasonCode: input.reasonCode } : {}),
        ...(input.comment !== undefined ? { comment: input.comment } : {}),
      };
      return { writes: [writeJob(state, next, input.jobId)], result: next };
    },
  };

  /** UpdateJob: a new description and configs (a config given replaces the one stored). */
  const updateJob: JobsCommand<UpdateJobInput, JobRecord> = {
    name: 'jobs.update',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input, ctx) {
      const job = existingJob(state, input.jobId);
      if (job.status === 'DELETION_IN_PROGRESS') throw jobError('InvalidStateTransitionException', `Job ${input.jobId} cannot be updated: it is being deleted`);
      const next: JobRecord = { ...job, ...(input.description !== undefined ? { description: input.description } : {}), configs: { ...job.configs, ...input.configs }, lastUpdatedAt: ctx.now };
      return { writes: [writeJob(state, next, input.jobId)], result: next };
    },
  };

  /** DeleteJob's first step: the job becomes DELETION_IN_PROGRESS (refused while IN_PROGRESS without force). */
  const startDeleteJob: JobsCommand<{ jobId: string; force?: boolean }, JobRecord> = {
    name: 'jobs.start-delete',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input, ctx) {
      const job = existingJob(state, input.jobId);
      if (job.status === 'DELETION_IN_PROGRESS') return { writes: [], result: job };
      if (jobStatus(job, progress(input.jobId)) === 'IN_PROGRESS' && !input.force) {
        throw jobError('InvalidStateTransitionException', `Job ${input.jobId} cannot be deleted: it is IN_PROGRESS and force is not true`);
      }
      const next: JobRecord = { ...job, status: 'DELETION_IN_PROGRESS', lastUpdatedAt: ctx.now };
      return { writes: [writeJob(state, next, input.jobId)], result: next };
    },
  };

  /** DeleteJob's last step, once no thing has an execution of it: the job's tombstone. */
  const removeJob: JobsCommand<{ jobId: string }, null> = {
    name: 'jobs.remove',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input) {
      return { writes: jobOf(state, input.jobId) ? [writeJob(state, null, input.jobId)] : [], result: null };
    },
  };

  const queueExecution: JobsCommand<ExecutionId & { requeueRemoved?: boolean }, ExecutionRecord | null> = {
    name: 'jobs.queue-execution',
    keys: (input) => [thingKey(input.thingName)],
    run(state, input, ctx) {
      const before = thingOf(state, input.thingName);
      const thing = before ?? { kind: 'thing', thingName: input.thingName, nextExecutionNumber: 1, executions: {} };
      // Asked again (a retried rollout): the execution there is the answer. A CONTINUOUS job's
      // thing that left its groups (REMOVED) and came back gets a new execution.
      const existing = thing.executions[input.jobId];
      if (existing && !(input.requeueRemoved && existing.status === 'REMOVED')) return { writes: [], result: existing };
      // A job canceled or being deleted while it rolled out queues no more.
      const job = jobOf(state, input.jobId);
      if (job && job.status !== 'IN_PROGRESS') return { writes: [], result: null };
      const exec = queuedExecution(input.jobId, thing.nextExecutionNumber, ctx.now);
      const next: ThingJobsRecord = { ...thing, nextExecutionNumber: thing.nextExecutionNumber + 1 };
      return { ...changeExecution(state, before, next, input.jobId, exec, ctx.now), result: exec };
    },
  };

  /** UpdateJobExecution; a FAILED report that the job's retry config allows is followed by a new QUEUED attempt (retry.ts). */
  const update: JobsCommand<UpdateExecutionInput, ExecutionRecord> = {
    name: 'jobs.update-execution',
    keys: (input) => [thingKey(input.thingName)],
    run(state, input, ctx) {
      const thing = thingOf(state, input.thingName);
      const exec = thing?.executions[input.jobId];
      const next = startInProgressTimer(exec!, updateExecution(exec, input, ctx.now), inProgressMinutes(state, input.jobId), ctx.now);
      return { ...changeThing(state, thing, retried(state, thing!, [next], ctx.now), ctx.now), result: next };
    },
  };
  const cancel = executionCommand<CancelExecutionInput>('jobs.cancel-execution', cancelExecution);
  const cancelByJob = executionCommand<ExecutionId & { force: boolean }>('jobs.cancel-execution-for-job', (exec, input, now) => cancelForJob(exec, input.force, now));
  const remove = executionCommand<DeleteExecutionInput>('jobs.delete-execution', (exec, input) => (checkDeleteExecution(exec, input), null));
  // DeleteJob removes every execution of the job, whatever its state (force was checked on the job).
  const removeByJob = executionCommand<ExecutionId>('jobs.delete-execution-for-job', (exec) => (exec ? null : undefined));

  /**
   * StartNextPendingJobExecution: the thing's next pending execution (mqtt.ts); a QUEUED one
   * becomes IN_PROGRESS with the request's statusDetails and step timer, an IN_PROGRESS one is
   * answered as it is. Null when nothing is pending.
   */
  const startNext: JobsCommand<{ thingName: string; statusDetails?: StatusDetails; stepTimeoutInMinutes?: number }, ExecutionRecord | null> = {
    name: 'jobs.start-next',
    keys: (input) => [thingKey(input.thingName)],
    run(state, input, ctx) {
      const thing = thingOf(state, input.thingName);
      const next = pendingExecutions(thing)[0];
      if (!thing || !next || next.status === 'IN_PROGRESS') return { writes: [], result: next ?? null };
      const started = startInProgressTimer(next, updateExecution(next, { ...input, jobId: next.jobId, status: 'IN_PROGRESS' }, ctx.now), inProgressMinutes(state, next.jobId), ctx.now);
      return { ...changeExecution(state, thing, thing, next.jobId, started, ctx.now), result: started };
    },
  };

  /** The thing's IN_PROGRESS executions whose timer ran out become TIMED_OUT (all in one write). */
  const timeOut: JobsCommand<{ thingName: string }, ExecutionRecord[]> = {
    name: 'jobs.time-out',
    keys: (input) => [thingKey(input.thingName)],
    run(state, input, ctx) {
      const thing = thingOf(state, input.thingName);
      const timedOut = Object.values(thing?.executions ?? {}).flatMap((e) => timeOutExecution(e, ctx.now) ?? []);
      if (!thing || timedOut.length === 0) return { writes: [], result: [] };
      return { ...changeThing(state, thing, retried(state, thing, timedOut, ctx.now), ctx.now), result: timedOut };
    },
  };

  /**
   * A job starts rolling out its `total` things (`rollout/<jobId>/<n>` are written), at its rate
   * if it has one; the `driver` that wrote them holds its first steps.
   */
  const beginRollout: JobsCommand<{ jobId: string; total: number; driver?: string }, JobRecord | null> = {
    name: 'jobs.begin-rollout',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input, ctx) {
      const job = jobOf(state, input.jobId);
      if (!job || job.rollout) return { writes: [], result: job ?? null };
      const rollout = startRollout(rolloutConfigOf(job.configs), input.total, ctx.now);
      const started: JobRecord = { ...job, rollout: input.driver !== undefined ? { ...rollout, driver: input.driver, driverUntil: ctx.now + ROLLOUT_LEASE_MS } : rollout, lastUpdatedAt: ctx.now };
      // Targets that hold no thing: nothing to roll out.
      const next = input.total === 0 ? stopRollout(started) : started;
      return { writes: [writeJob(state, next, input.jobId)], result: next };
    },
  };

  /**
   * One rollout step (rollout.ts): releases what the rate allows now and answers every released
   * thing not yet recorded as queued, so that a step after a crash queues them again (queuing is
   * idempotent). The range goes to one `driver` at a time: while another process holds it
   * (`driverUntil` not passed), the step answers nothing, so that two processes do not queue the
   * same things twice over. (A range always starts at `queued`, so whoever records it queued
   * says the truth.) Nothing for a job that is not IN_PROGRESS.
   */
  const stepRollout: JobsCommand<{ jobId: string; driver?: string }, RolloutRelease> = {
    name: 'jobs.rollout-step',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input, ctx) {
      const job = jobOf(state, input.jobId);
      if (!job?.rollout || job.status !== 'IN_PROGRESS') return { writes: [], result: { from: 0, to: 0 } };
      const held = job.rollout.driver !== undefined && job.rollout.driver !== input.driver && (job.rollout.driverUntil ?? 0) > ctx.now;
      if (held) return { writes: [], result: { from: 0, to: 0 } };
      const stepped = rolloutStep(rolloutConfigOf(job.configs), job.rollout, ctx.now, progress(input.jobId).counts.SUCCEEDED);
      const rollout = stepped.queued < stepped.released && input.driver !== undefined ? { ...stepped, driver: input.driver, driverUntil: ctx.now + ROLLOUT_LEASE_MS } : stepped;
      const result = { from: rollout.queued, to: rollout.released };
      if (JSON.stringify(rollout) === JSON.stringify(job.rollout)) return { writes: [], result };
      return { writes: [writeJob(state, { ...job, rollout }, input.jobId)], result };
    },
  };

  /**
   * Things [0, queued) of the rollout are queued; once all are, processingTargets goes. The
   * driver that reports it keeps its range for another lease, or lets it go once it is queued.
   */
  const rolloutQueued: JobsCommand<{ jobId: string; queued: number; driver?: string }, JobRecord | null> = {
    name: 'jobs.rollout-queued',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input, ctx) {
      const job = jobOf(state, input.jobId);
      if (!job?.rollout || input.queued <= job.rollout.queued) return { writes: [], result: job ?? null };
      const moved = { ...job.rollout, queued: Math.min(input.queued, job.rollout.released) };
      const mine = input.driver !== undefined && job.rollout.driver === input.driver;
      const rollout = !mine ? moved : moved.queued < moved.released ? { ...moved, driverUntil: ctx.now + ROLLOUT_LEASE_MS } : withoutDriver(moved);
      const next: JobRecord = rollout.queued >= rollout.total ? stopRollout({ ...job, rollout }) : { ...job, rollout };
      return { writes: [writeJob(state, next, input.jobId)], result: next };
    },
  };

  /**
   * The job's abort criteria were met (abort.ts): an IN_PROGRESS job becomes CANCELED with the
   * reason; any other is left as it is (null), so that every process may ask.
   */
  const abortJob: JobsCommand<{ jobId: string; reasonCode: string; comment: string }, JobRecord | null> = {
    name: 'jobs.abort',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input, ctx) {
      const job = jobOf(state, input.jobId);
      if (!job || job.status !== 'IN_PROGRESS') return { writes: [], result: null };
      const next: JobRecord = { ...stopRollout(job), status: 'CANCELED', lastUpdatedAt: ctx.now, completedAt: ctx.now, forceCanceled: false, reasonCode: input.reasonCode, comment: input.comment };
      return { writes: [writeJob(state, next, input.jobId)], result: next };
    },
  };

  /** A CONTINUOUS job's thing left its groups (or was deleted): its QUEUED execution becomes REMOVED. */
  const removeForMembership = executionCommand<ExecutionId>('jobs.remove-execution', (exec, _input, now) => (exec?.status === 'QUEUED' ? removeExecution(exec, now) : undefined));

  /**
   * AssociateTargetsWithJob (API reference): the job must be CONTINUOUS and IN_PROGRESS, and keep
   * at most 100 targets; a target it has already is not added twice.
   */
  const associateTargets: JobsCommand<AssociateTargetsInput, JobRecord> = {
    name: 'jobs.associate-targets',
    keys: (input) => [jobKey(input.jobId)],
    run(state, input, ctx) {
      const job = existingJob(state, input.jobId);
      if (job.targetSelection !== 'CONTINUOUS') throw jobError('InvalidRequestException', `Job ${input.jobId} was not created with targetSelection CONTINUOUS`);
      if (job.status !== 'IN_PROGRESS') throw jobError('InvalidRequestException', `Job ${input.jobId} is ${job.status}, not IN_PROGRESS`);
      const targets = [...new Set([...job.targets, ...input.targets])];
      if (targets.length > MAX_JOB_TARGETS) throw jobError('LimitExceededException', `Job ${input.jobId} would have ${targets.length} targets; at most ${MAX_JOB_TARGETS} are allowed`);
      const next: JobRecord = { ...job, targets, thingGroupNames: [...new Set([...job.thingGroupNames, ...input.thingGroupNames])], lastUpdatedAt: ctx.now, ...(input.comment !== undefined ? { comment: input.comment } : {}) };
      return { writes: [writeJob(state, next, input.jobId)], result: next };
    },
  };

  /** A thing's executions as its owner has them (the device's get and describe requests). */
  const readThing: JobsCommand<{ thingName: string }, ThingJobsRecord | null> = {
    name: 'jobs.read-thing',
    keys: (input) => [thingKey(input.thingName)],
    run: (state, input) => ({ writes: [], result: thingOf(state, input.thingName) ?? null }),
  };

  const createTemplate: JobsCommand<Omit<TemplateRecord, 'kind' | 'createdAt'>, TemplateRecord> = {
    name: 'jobs.create-template',
    keys: (input) => [templateKey(input.jobTemplateId)],
    run(state, input, ctx) {
      const key = templateKey(input.jobTemplateId);
      if (state.has(key)) throw jobError('ResourceAlreadyExistsException', `Job template ${input.jobTemplateId} already exists`, { resourceId: input.jobTemplateId });
      const template: TemplateRecord = { kind: 'template', ...input, createdAt: ctx.now };
      return { writes: [{ key, value: template, ifRevision: 0 }], result: template };
    },
  };

  const deleteTemplate: JobsCommand<{ jobTemplateId: string }, null> = {
    name: 'jobs.delete-template',
    keys: (input) => [templateKey(input.jobTemplateId)],
    run(state, input) {
      const key = templateKey(input.jobTemplateId);
      if (state.get(key)?.kind !== 'template') throw jobError('ResourceNotFoundException', `Job template ${input.jobTemplateId} does not exist`);
      return { writes: [{ key, value: null, ifRevision: state.revision(key) }], result: null };
    },
  };

  const perThing = new Map<string, JobsCommand<ThingInput, unknown>>([queueExecution, cancelByJob, removeByJob].map((c) => [c.name, c as unknown as JobsCommand<ThingInput, unknown>]));

  /**
   * One of the per-thing commands a job fans out (queue, cancel, delete an execution) run on
   * many things of one partition at once: each as it runs alone, their writes in one append and
   * their messages in another, so that a job over a fleet costs a command per batch, not per
   * thing (service.ts `eachThing`). Things must be distinct. Answers each result, in order.
   */
  const eachThing: JobsCommand<{ command: string; inputs: readonly ThingInput[] }, unknown[]> = {
    name: 'jobs.each-thing',
    keys: (input) => input.inputs.map((i) => thingKey(i.thingName)),
    run(state, input, ctx) {
      const command = perThing.get(input.command);
      if (!command) throw jobError('InvalidRequestException', `jobs.each-thing: ${input.command} is not a per-thing command`);
      if (new Set(input.inputs.map((i) => i.thingName)).size !== input.inputs.length) throw jobError('InvalidRequestException', 'jobs.each-thing: a thing is named twice');
      const writes: StateWrite<JobsValue>[] = [];
      const messages: AppendRecord[] = [];
      const results: unknown[] = [];
      for (const one of input.inputs) {
        const change = command.run(state, one, ctx);
        if (change instanceof Promise) throw new Error(`${input.command} is not synchronous`);
        writes.push(...change.writes);
        for (const a of change.appends ?? []) messages.push(...a.records);
        results.push(change.result);
      }
      return { writes, appends: [{ topic: TOPICS.ingress, records: messages }], result: results };
    },
  };

  return [createTemplate, deleteTemplate, createJob, finishRollout, updateJob, cancelJob, startDeleteJob, removeJob, queueExecution, update, cancel, cancelByJob, remove, removeByJob, eachThing, startNext, timeOut, readThing, beginRollout, stepRollout, rolloutQueued, abortJob, removeForMembership, associateTargets];
}

