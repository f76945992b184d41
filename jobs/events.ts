/**
 * Jobs events (AWS IoT developer guide, "Jobs events"), published to `iot.ingress` with the
 * write that causes them, so that subscribers and rules see them:
 *
 * - `$aws/events/job/<jobId>/cancellation_in_progress|canceled|deletion_in_progress|deleted|completed`
 *   (`eventType: JOB`);
 * - `$aws/events/jobExecution/<jobId>/succeeded|failed|rejected|canceled|timed_out|removed|deleted`
 *   (`eventType: JOB_EXECUTION`).
 *
 * Each type is published only while it is enabled (UpdateEventConfigurations, as AWS IoT: off
 * until enabled). The events are read off the writes of the store's commands (`withJobEvents`
 * wraps each command), so commands.ts knows nothing of them: an execution that became terminal,
 * or went, in a write of `thing/<name>`; a job that became DELETION_IN_PROGRESS or went, or was
 * canceled (`jobs.cancel`), in a write of `job/<jobId>`. `completed` and `canceled` are not one
 * write: they are due once the job's executions are all terminal (or all that CancelJob cancels
 * are canceled), which only the executions-by-job index tells. Every process watches its index
 * (`watchJobEvents`) and asks the job's owner to run `jobs.complete` / `jobs.finish-cancel`,
 * which publish only if the job's record says they are not out yet (`completedAt`,
 * `cancellationFinishedAt`), so each is published once however many processes ask.
 */
import { TOPICS, createEnvelope, envelopeRecord, type AppendRecord, type CommandContext, type CommandDefinition, type Logger, type StateChange, type StateView, type StateWrite } from '../core/index.js';
import { jobStatus, type JobProgress } from './commands.js';
import { jobError } from './errors.js';
import { publication } from './mqtt.js';
import { EVENT_CONFIGURATIONS_KEY, isTerminal, jobKey, type EventConfigurationsRecord, type ExecutionRecord, type JobRecord, type JobsValue, type ThingJobsRecord } from './model.js';

/** The event types the jobs service publishes (UpdateEventConfigurations' keys). */
export const JOB_EVENT_TYPES = ['JOB', 'JOB_EXECUTION'] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

export interface JobEventsContext {
  /** The executions of a job, counted (the store's index). */
  progress(jobId: string): JobProgress;
  /** `arn:aws:iot:<region>:<account>:thing/<name>`. */
  thingArn(thingName: string): string;
}

type JobsCommand = CommandDefinition<JobsValue, any, any>;

const seconds = (ms: number): number => Math.floor(ms / 1000);

/** The event configurations record, when UpdateEventConfigurations ever ran. */
export function eventConfigurations(state: Pick<StateView<JobsValue>, 'get'>): EventConfigurationsRecord | undefined {
  const v = state.get(EVENT_CONFIGURATIONS_KEY);
  return v?.kind === 'event-configurations' ? v : undefined;
}

/** AWS IoT publishes no event of a type until it is enabled. */
export const eventsEnabled = (state: Pick<StateView<JobsValue>, 'get'>, type: JobEventType): boolean => eventConfigurations(state)?.enabled[type] === true;

type JobOperation = 'completed' | 'canceled' | 'deleted' | 'cancellation_in_progress' | 'deletion_in_progress';

/** The guide's status for each job operation (`completed` is shown with status SUCCEEDED). */
const JOB_EVENT_STATUS: Record<JobOperation, string> = {
  completed: 'SUCCEEDED',
  canceled: 'CANCELED',
  deleted: 'DELETED',
  cancellation_in_progress: 'CANCELLATION_IN_PROGRESS',
  deletion_in_progress: 'DELETION_IN_PROGRESS',
};

/** A job event's payload ("Jobs events": times in ms but `timestamp`, in seconds). */
export function jobEventPayload(job: JobRecord, operation: JobOperation, progress: JobProgress | undefined, ctx: CommandContext): Record<string, unknown> {
  const n = progress?.counts;
  return {
    eventType: 'JOB',
    eventId: ctx.newId(),
    timestamp: seconds(ctx.now),
    operation,
    jobId: job.jobId,
    status: JOB_EVENT_STATUS[operation],
    ...(operation === 'canceled' ? { forceCanceled: Boolean(job.forceCanceled) } : {}),
    targetSelection: job.targetSelection,
    targets: job.targets,
    ...(job.description !== undefined ? { description: job.description } : {}),
    ...(operation === 'completed' && job.completedAt !== undefined ? { completedAt: job.completedAt } : {}),
    createdAt: job.createdAt,
    lastUpdatedAt: Math.max(job.lastUpdatedAt, progress?.lastUpdatedAt ?? 0),
    ...(job.comment !== undefined ? { comment: job.comment } : {}),
    ...(n && (operation === 'completed' || operation === 'canceled')
      ? {
          jobProcessDetails: {
            numberOfCanceledThings: n.CANCELED,
            numberOfRejectedThings: n.REJECTED,
            numberOfFailedThings: n.FAILED,
            numberOfRemovedThings: n.REMOVED,
            numberOfSucceededThings: n.SUCCEEDED,
            numberOfTimedOutThings: n.TIMED_OUT,
          },
        }
      : {}),
  };
}

/**
 * A job execution event's payload. `deleted` carries the status the execution had before it
 * was deleted ("When you delete a job, ... the status field reflects the job execution status
 * prior to the deletion").
 */
export function executionEventPayload(thingArn: string, e: ExecutionRecord, operation: string, ctx: CommandContext): Record<string, unknown> {
  return {
    eventType: 'JOB_EXECUTION',
    eventId: ctx.newId(),
    timestamp: seconds(ctx.now),
    operation,
    jobId: e.jobId,
    thingArn,
    status: e.status,
    ...(e.statusDetails !== undefined ? { statusDetails: e.statusDetails } : {}),
  };
}

const jobEventRecord = (job: JobRecord, operation: JobOperation, progress: JobProgress | undefined, ctx: CommandContext): AppendRecord =>
  envelopeRecord(createEnvelope({ topic: `$aws/events/job/${job.jobId}/${operation}`, payload: Buffer.from(JSON.stringify(jobEventPayload(job, operation, progress, ctx))), qos: 1, receivedAt: ctx.now }), jobKey(job.jobId));

/** The execution events of one write of a thing's record: executions that became terminal, and executions that went. */
export function executionEvents(before: ThingJobsRecord | undefined, after: ThingJobsRecord | undefined, thingArn: string, ctx: CommandContext): AppendRecord[] {
  const thing = (after ?? before)?.thingName;
  if (thing === undefined) return [];
  const out: AppendRecord[] = [];
  const event = (e: ExecutionRecord, operation: string) => publication(thing, `$aws/events/jobExecution/${e.jobId}/${operation}`, executionEventPayload(thingArn, e, operation, ctx), ctx.now);
  for (const [jobId, e] of Object.entries(after?.executions ?? {})) {
    const was = before?.executions[jobId];
    if (isTerminal(e.status) && (was === undefined || !isTerminal(was.status))) out.push(event(e, e.status.toLowerCase()));
  }
  for (const [jobId, e] of Object.entries(before?.executions ?? {})) if (after?.executions[jobId] === undefined) out.push(event(e, 'deleted'));
  return out;
}

/** The job events of one write of a job's record by `command`. */
function jobEvents(command: string, before: JobRecord | undefined, after: JobRecord | undefined, progress: JobProgress, ctx: CommandContext): AppendRecord[] {
  if (command === 'jobs.cancel' && after?.status === 'CANCELED') return [jobEventRecord(after, 'cancellation_in_progress', undefined, ctx)];
  if (after?.status === 'DELETION_IN_PROGRESS' && before?.status !== 'DELETION_IN_PROGRESS') return [jobEventRecord(after, 'deletion_in_progress', undefined, ctx)];
  if (before && !after) return [jobEventRecord(before, 'deleted', progress, ctx)];
  return [];
}

const asJob = (v: JobsValue | null | undefined): JobRecord | undefined => (v?.kind === 'job' ? v : undefined);
const asThing = (v: JobsValue | null | undefined): ThingJobsRecord | undefined => (v?.kind === 'thing' ? v : undefined);

/** The events that `writes` of `command` cause, for the types enabled now. */
function eventsOf(command: string, state: StateView<JobsValue>, writes: readonly StateWrite<JobsValue>[], ctx: CommandContext, events: JobEventsContext): AppendRecord[] {
  const jobOn = eventsEnabled(state, 'JOB');
  const executionOn = eventsEnabled(state, 'JOB_EXECUTION');
  if (!jobOn && !executionOn) return [];
  const out: AppendRecord[] = [];
  for (const w of writes) {
    const before = state.get(w.key);
    if (w.key.startsWith('thing/') && executionOn) {
      const thing = asThing(w.value) ?? asThing(before);
      if (thing) out.push(...executionEvents(asThing(before), asThing(w.value), events.thingArn(thing.thingName), ctx));
    } else if (w.key.startsWith('job/') && jobOn) {
      const job = asJob(w.value) ?? asJob(before);
      if (job) out.push(...jobEvents(command, asJob(before), asJob(w.value), events.progress(job.jobId), ctx));
    }
  }
  return out;
}

/**
 * The jobs store's commands with their events: each command's writes are read for the events
 * they cause, which go out with them (core/state appends them once the writes are durable).
 * Adds `jobs.complete`, `jobs.finish-cancel` and `jobs.update-event-configurations`.
 */
export function withJobEvents(commands: readonly JobsCommand[], events: JobEventsContext): JobsCommand[] {
  const wrapped = commands.map(
    (command): JobsCommand => ({
      ...command,
      async run(state, input, ctx) {
        const change = await command.run(state, input, ctx);
        // A new CancelJob (a second one, with force) has executions to cancel again: its `canceled` is due again.
        const writes = command.name === 'jobs.cancel' ? change.writes.map(reopenCancellation) : change.writes;
        const records = eventsOf(command.name, state, writes, ctx, events);
        if (records.length === 0 && writes === change.writes) return change;
        return { ...change, writes, appends: [...(change.appends ?? []), { topic: TOPICS.ingress, records }] };
      },
    }),
  );
  return [...wrapped, ...eventCommands(events)];
}

function reopenCancellation(w: StateWrite<JobsValue>): StateWrite<JobsValue> {
  const job = asJob(w.value);
  if (!job || job.cancellationFinishedAt === undefined) return w;
  const { cancellationFinishedAt: _reopened, ...rest } = job;
  return { ...w, value: rest };
}

/** Whether the job's `completed` event is due: COMPLETED (commands.ts `jobStatus`) and not yet marked. */
const completionDue = (job: JobRecord, progress: JobProgress): boolean => job.status === 'IN_PROGRESS' && job.completedAt === undefined && jobStatus(job, progress) === 'COMPLETED';

/** Whether the job's `canceled` event is due: CANCELED, and none of the executions CancelJob cancels is left. */
const cancellationDue = (job: JobRecord, progress: JobProgress): boolean =>
  job.status === 'CANCELED' && job.cancellationFinishedAt === undefined && progress.counts.QUEUED + (job.forceCanceled ? progress.counts.IN_PROGRESS : 0) === 0;

function eventCommands(events: JobEventsContext): JobsCommand[] {
  /** A job's marker is set (and its event published when enabled) once, however many processes ask. */
  const marker = (name: string, due: (job: JobRecord, p: JobProgress) => boolean, mark: (job: JobRecord, p: JobProgress, now: number) => JobRecord, operation: JobOperation): JobsCommand => ({
    name,
    keys: (input: { jobId: string }) => [jobKey(input.jobId)],
    run(state, input: { jobId: string }, ctx) {
      const job = asJob(state.get(jobKey(input.jobId)));
      const progress = events.progress(input.jobId);
      if (!job || !due(job, progress)) return { writes: [], result: null };
      const next = mark(job, progress, ctx.now);
      const records = eventsEnabled(state, 'JOB') ? [jobEventRecord(next, operation, progress, ctx)] : [];
      return { writes: [{ key: jobKey(input.jobId), value: next, ifRevision: state.revision(jobKey(input.jobId)) }], result: next, appends: [{ topic: TOPICS.ingress, records }] };
    },
  });
  // completedAt: its last execution's lastUpdatedAt, as DescribeJob answered it before it was stored.
  const complete = marker('jobs.complete', completionDue, (job, p) => ({ ...job, completedAt: Math.max(job.lastUpdatedAt, p.lastUpdatedAt) }), 'completed');
  const finishCancel = marker('jobs.finish-cancel', cancellationDue, (job, _p, now) => ({ ...job, cancellationFinishedAt: now }), 'canceled');

  const updateConfigurations: CommandDefinition<JobsValue, { enabled: Partial<Record<JobEventType, boolean>> }, EventConfigurationsRecord> = {
    name: 'jobs.update-event-configurations',
    keys: () => [EVENT_CONFIGURATIONS_KEY],
    run(state, input, ctx) {
      for (const type of Object.keys(input.enabled)) if (!(JOB_EVENT_TYPES as readonly string[]).includes(type)) throw jobError('InvalidRequestException', `eventConfigurations: ${type} is not a jobs event type`);
      const current = eventConfigurations(state);
      const next: EventConfigurationsRecord = { kind: 'event-configurations', enabled: { ...current?.enabled, ...input.enabled }, createdAt: current?.createdAt ?? ctx.now, lastModifiedAt: ctx.now };
      return { writes: [{ key: EVENT_CONFIGURATIONS_KEY, value: next, ifRevision: state.revision(EVENT_CONFIGURATIONS_KEY) }], result: next };
    },
  };
  return [complete, finishCancel, updateConfigurations];
}

/**
 * Watches the store (after the executions-by-job index saw the change) for jobs whose
 * `completed` or `canceled` event is due, and asks the job's owner to publish it; looks at every
 * job once at start, for what a stop cut short. Returns the unsubscribe function.
 *
 * A job is looked at only when one of its executions left QUEUED or IN_PROGRESS (or the job
 * changed), and counted in full (`progress`) only once none of them is QUEUED or IN_PROGRESS
 * any more: the watcher keeps those counts per job itself, so that a job over many things is not
 * counted again on every update of one of them.
 */
export function watchJobEvents(
  store: StateView<JobsValue>,
  progress: (jobId: string) => JobProgress,
  execute: (name: string, input: { jobId: string }) => Promise<unknown>,
  logger: Logger,
  stopping: () => boolean,
): () => void {
  const asking = new Set<string>();
  /** jobId -> its executions that are QUEUED or IN_PROGRESS, by status. */
  const open = new Map<string, { QUEUED: number; IN_PROGRESS: number }>();
  const isOpen = (e: ExecutionRecord | undefined): e is ExecutionRecord => e?.status === 'QUEUED' || e?.status === 'IN_PROGRESS';
  const count = (thing: ThingJobsRecord | undefined, sign: 1 | -1) => {
    for (const e of Object.values(thing?.executions ?? {})) {
      if (!isOpen(e)) continue;
      const n = open.get(e.jobId) ?? { QUEUED: 0, IN_PROGRESS: 0 };
      n[e.status as 'QUEUED' | 'IN_PROGRESS'] += sign;
      if (n.QUEUED === 0 && n.IN_PROGRESS === 0) open.delete(e.jobId);
      else open.set(e.jobId, n);
    }
  };
  /** Necessary for either event, cheap: none QUEUED (and, for completion, none IN_PROGRESS). */
  const mayBeDue = (job: JobRecord): boolean => {
    const n = open.get(job.jobId);
    if (job.status === 'IN_PROGRESS') return job.completedAt === undefined && job.processingTargets === undefined && (n === undefined || n.QUEUED + n.IN_PROGRESS === 0);
    return job.status === 'CANCELED' && job.cancellationFinishedAt === undefined && (n === undefined || n.QUEUED === 0);
  };
  const check = (jobId: string) => {
    const job = asJob(store.get(jobKey(jobId)));
    if (!job || !mayBeDue(job)) return;
    const p = progress(jobId);
    const name = completionDue(job, p) ? 'jobs.complete' : cancellationDue(job, p) ? 'jobs.finish-cancel' : undefined;
    if (name === undefined || asking.has(`${name}/${jobId}`)) return;
    asking.add(`${name}/${jobId}`);
    execute(name, { jobId })
      .catch((err: unknown) => {
        if (!stopping()) logger.warn({ err, jobId, command: name }, 'a job event could not be published; the next change or start asks again');
      })
      .finally(() => asking.delete(`${name}/${jobId}`));
  };
  const onChange = (change: StateChange<JobsValue>) => {
    if (change.key.startsWith('job/')) return check(change.key.slice('job/'.length));
    const before = asThing(change.previous);
    const after = asThing(change.value);
    if (!before && !after) return;
    count(before, -1);
    count(after, 1);
    for (const [jobId, was] of Object.entries(before?.executions ?? {})) if (isOpen(was) && !isOpen(after?.executions[jobId])) check(jobId);
  };
  // No await between the counts and the subscription: no change falls between them.
  for (const [, value] of store.entries()) count(asThing(value), 1);
  const unsubscribe = store.onChange(onChange);
  for (const key of [...store.keys()]) if (key.startsWith('job/')) check(key.slice('job/'.length));
  return unsubscribe;
}
