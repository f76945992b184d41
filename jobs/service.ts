/**
 * The Jobs service (AWS IoT developer guide, "Jobs"): jobs and their executions on the
 * compacted `iot.jobs` topic, one writer per key (core/state). A job's record is changed by
 * the owner of `job/<jobId>`; a thing's executions by the owner of `thing/<thingName>`.
 * CreateJob, CancelJob and DeleteJob change the job first and then each targeted thing, one
 * command per thing, a bounded number at a time. Every process that opens the store indexes
 * executions by job, so DescribeJob's counts and ListJobExecutionsForJob read memory, not the
 * topic. See jobs/README.md.
 */
import { StateStore, TOPICS, askUntilAnswered, createRequestConsumer, topicSpec, type Envelope, type EnvelopeConsumer, type Log, type Logger } from '../core/index.js';
import { jobsCommands, jobStatus, progressOf, type AssociateTargetsInput, type CancelJobInput, type CreateJobInput, type JobProgress, type ThingInput, type UpdateJobInput } from './commands.js';
import { answerDevice } from './device.js';
import { jobError } from './errors.js';
import type { CancelExecutionInput, DeleteExecutionInput, UpdateExecutionInput } from './execution.js';
import { parseJobsTopic, pendingExecutions, publication, requestTopic } from './mqtt.js';
import { ABORT_REASON_CODE, abortComment, abortCriteriaOf, abortDecision } from './abort.js';
import { directThings, followsMembership, membershipAction, targetThings, type ThingMembership } from './continuous.js';
import { rolloutConfigOf } from './rollout.js';
import { createRolloutDriver } from './rollout-driver.js';
import { JOB_LIMITS, jobKey, jobsCodec, templateKey, thingKey, timeoutAt, type TemplateRecord, type ExecutionRecord, type JobRecord, type JobStatus, type JobsValue, type ThingJobsRecord } from './model.js';
import { eventConfigurations, watchJobEvents, withJobEvents, type JobEventType } from './events.js';
import { resolvePresignedUrls, withPresignedNotifications, type PresignGet } from './presign.js';
import { readDocumentSource, type ReadObject } from './document-source.js';
import type { EventConfigurationsRecord } from './model.js';

/** How many per-thing commands a CONTINUOUS job's catch-up keeps in flight. */
const FAN_OUT = 64;
/** Things per `jobs.each-thing` command, and how many of those one job's fan-out keeps in flight. */
export const FAN_OUT_BATCH = 100;
export const FAN_OUT_IN_FLIGHT = 8;

/** The consumer group that answers the jobs MQTT requests (one answer per request, whichever process runs it). */
export const JOBS_GROUP = 'kiot-jobs';

export interface JobsServiceDeps {
  readonly log: Log;
  readonly logger: Logger;
  /** The time commands and timers see. Default `Date.now`. */
  readonly clock?: () => number;
  /** How often due execution timers are looked for. Default 1 s. */
  readonly timerIntervalMs?: number;
  /** Presigns the S3 objects job documents name (presign.ts); without it placeholders stay as written. */
  readonly presignGet?: PresignGet;
  /** Reads CreateJob's documentSource (document-source.ts); without it documentSource is refused. */
  readonly readObject?: ReadObject;
}

/** The jobs control plane and the device's execution updates; every change goes to its key's owner. */
export interface Jobs {
  /**
   * CreateJob: stores the job, then queues an execution on each thing (resolved from the
   * targets by the caller, each named once; `targetThings` streams them from the registry). Resolves once every execution is queued; for a job with a
   * rollout rate (jobExecutionsRolloutConfig), once its things are stored and the first of them
   * queued: the service's timer loop queues the others at the rate (rollout-driver.ts).
   * @throws ResourceAlreadyExistsException, InvalidRequestException (errors.ts)
   */
  createJob(input: CreateJobInput, thingNames: Iterable<string>): Promise<JobRecord>;
  job(jobId: string): JobRecord | undefined;
  jobs(): IterableIterator<JobRecord>;
  progress(jobId: string): JobProgress;
  /** The job's status as AWS reports it (COMPLETED is derived, commands.ts `jobStatus`). */
  status(job: JobRecord): JobStatus;
  /** CreateJobTemplate. @throws ResourceAlreadyExistsException */
  createTemplate(input: Omit<TemplateRecord, 'kind' | 'createdAt'>): Promise<TemplateRecord>;
  template(jobTemplateId: string): TemplateRecord | undefined;
  templates(): TemplateRecord[];
  /** DeleteJobTemplate. @throws ResourceNotFoundException */
  deleteTemplate(jobTemplateId: string): Promise<void>;
  /** UpdateJob. */
  updateJob(input: UpdateJobInput): Promise<JobRecord>;
  /** CancelJob: the job becomes CANCELED, then its QUEUED executions (and IN_PROGRESS ones with force). */
  cancelJob(input: CancelJobInput): Promise<JobRecord>;
  /** DeleteJob: DELETION_IN_PROGRESS, then every execution of it goes, then the job. */
  deleteJob(input: { jobId: string; force?: boolean }): Promise<void>;
  execution(thingName: string, jobId: string): ExecutionRecord | undefined;
  /** A job's executions by thing name. */
  executionsOfJob(jobId: string): ReadonlyMap<string, ExecutionRecord>;
  /** A thing's executions, in the order they were queued. */
  executionsOfThing(thingName: string): ExecutionRecord[];
  /** UpdateJobExecution (what a device reports). */
  updateExecution(input: UpdateExecutionInput): Promise<ExecutionRecord>;
  /** StartNextPendingJobExecution: the next pending execution, started if it was QUEUED; null when none is pending. */
  startNext(input: { thingName: string; statusDetails?: Readonly<Record<string, string>>; stepTimeoutInMinutes?: number }): Promise<ExecutionRecord | null>;
  /** A thing's pending executions as its owner has them, next first (mqtt.ts `pendingExecutions`). */
  pending(thingName: string): Promise<ExecutionRecord[]>;
  cancelExecution(input: CancelExecutionInput): Promise<ExecutionRecord>;
  deleteExecution(input: DeleteExecutionInput): Promise<void>;
  /** The job document as a device gets it: presigned URLs in place of their placeholders (presign.ts). */
  deviceDocument(jobId: string): Promise<string | undefined>;
  /** The document at CreateJob's documentSource (document-source.ts). @throws InvalidRequestException */
  documentFromSource(source: string): Promise<string>;
  /** DescribeEventConfigurations' JOB and JOB_EXECUTION (events.ts). */
  eventConfigurations(): EventConfigurationsRecord | undefined;
  /** UpdateEventConfigurations for JOB and JOB_EXECUTION. */
  updateEventConfigurations(enabled: Partial<Record<JobEventType, boolean>>): Promise<EventConfigurationsRecord>;
  /**
   * Follows thing-group membership for CONTINUOUS jobs (continuous.ts): brings every such job up
   * to date with it now, then acts on each change. Returns a function that stops following.
   */
  followMembership(membership: ThingMembership): () => void;
  /**
   * AssociateTargetsWithJob: adds thing groups to a CONTINUOUS job, then queues its execution on
   * each of their things (resolved by the caller), a REMOVED one included.
   * @throws ResourceNotFoundException, InvalidRequestException, LimitExceededException
   */
  associateTargets(input: AssociateTargetsInput, thingNames: Iterable<string>): Promise<JobRecord>;
  /** Commands this process ran as their thing's or job's owner, and those it sent to another owner. */
  stats(): { readonly executed: number; readonly asked: number };
}

export interface JobsService {
  /** Opens the store (joining its owner group); resolves once it has caught up with `iot.jobs`. */
  start(): Promise<Jobs>;
  /** Safe twice. */
  stop(): Promise<void>;
}

/**
 * How long after its creation a job with `processingTargets` and no rollout is taken for a
 * CreateJob cut short (a live one stores its things within a few appends of creating the job).
 */
const CREATE_CUT_SHORT_MS = 120_000;

/** A job CreateJob created and then stopped before its things were stored (rollout-driver.ts). */
const cutShortBeforeRollout = (job: JobRecord, now: number): boolean =>
  job.status === 'IN_PROGRESS' && job.processingTargets !== undefined && job.rollout === undefined && now - job.createdAt > CREATE_CUT_SHORT_MS;

/** Each item of a stream, changed by `f`, as a stream. */
function* mapped<T, U>(items: Iterable<T>, f: (item: T) => U): Generator<U> {
  for (const item of items) yield f(item);
}

/**
 * Runs a per-thing command on every input (CreateJob's rollout, CancelJob, DeleteJob,
 * AssociateTargetsWithJob) as `jobs.each-thing` commands of up to FAN_OUT_BATCH things of one partition
 * each (commands.ts), so that a fleet costs a round trip to the owner per batch, not per thing.
 * The inputs are read as a stream: a partition's batch goes once it is full (the rest at the
 * end), FAN_OUT_IN_FLIGHT at a time. Each thing is named once.
 */
async function eachThing(s: StateStore<JobsValue>, command: string, inputs: Iterable<ThingInput>): Promise<void> {
  function* batches(): Generator<ThingInput[]> {
    const filling = new Map<number, ThingInput[]>();
    for (const input of inputs) {
      const partition = s.partitionOf(thingKey(input.thingName));
      const batch = filling.get(partition) ?? [];
      batch.push(input);
      if (batch.length < FAN_OUT_BATCH) filling.set(partition, batch);
      else {
        filling.delete(partition);
        yield batch;
      }
    }
    yield* filling.values();
  }
  await eachLimited(batches(), FAN_OUT_IN_FLIGHT, (batch) => s.execute('jobs.each-thing', { command, inputs: batch }));
}

/** Runs `task` on every item, at most `limit` at a time; rejects with the first failure once all settled. */
async function eachLimited<T>(items: Iterable<T>, limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  const failures: unknown[] = [];
  const worker = async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      try {
        await task(next.value);
      } catch (err) {
        failures.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  if (failures.length > 0) throw failures[0];
}

/** Why a CreateJob input is not valid (API reference, CreateJob), or undefined. */
export function createJobProblem(input: CreateJobInput): string | undefined {
  if (!JOB_LIMITS.jobId.test(input.jobId)) return `jobId must match [a-zA-Z0-9_-]{1,64}, received ${JSON.stringify(input.jobId)}`;
  if (input.targets.length === 0) return 'targets must name at least one thing or thing group';
  if (Buffer.byteLength(input.document, 'utf8') > JOB_LIMITS.documentBytes) return `document must be at most ${JOB_LIMITS.documentBytes} bytes`;
  try {
    const parsed: unknown = JSON.parse(input.document);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'document must be a JSON object';
  } catch {
    return 'document must be valid JSON';
  }
  if (input.description !== undefined && input.description.length > JOB_LIMITS.descriptionLength) return `description must be at most ${JOB_LIMITS.descriptionLength} characters`;
  return undefined;
}

/** The part of kiot's Config the jobs service reads (AWS's jobs limits are JOB_LIMITS). */
export interface JobsConfig {
  /** The account and region of the thing ARNs in job execution events. Default us-east-1, 000000000000. */
  readonly arns?: { readonly partition?: string; readonly region: string; readonly accountId: string };
}

export function createJobsService(config: JobsConfig, deps: JobsServiceDeps): JobsService {
  const arns = config.arns ?? { region: 'us-east-1', accountId: '000000000000' };
  const thingArn = (thingName: string) => `arn:${arns.partition ?? 'aws'}:iot:${arns.region}:${arns.accountId}:thing/${thingName}`;
  let unwatch: (() => void) | undefined;
  const logger = deps.logger.child({ module: 'jobs' });
  let store: StateStore<JobsValue> | undefined;
  let unsubscribe: (() => void) | undefined;
  let consumer: EnvelopeConsumer | undefined;
  const inFlight = new Set<Promise<void>>();
  let stopping: Promise<void> | undefined;
  /** jobId -> thingName -> execution, kept up to date from the store's changes. */
  const byJob = new Map<string, Map<string, ExecutionRecord>>();
  /** thingName -> when its first IN_PROGRESS execution times out (step or in-progress timer). */
  const timers = new Map<string, number>();
  /** Things whose time-out command is on its way (one at a time per thing). */
  const timingOut = new Set<string>();
  let ticker: NodeJS.Timeout | undefined;
  const clock = deps.clock ?? Date.now;

  /** The ids of the jobs and templates in the store, so that listing them does not walk every thing's record. */
  const jobIds = new Set<string>();
  const templateIds = new Set<string>();
  /** Jobs with abort criteria whose executions changed since the timer loop last looked. */
  const abortChecks = new Set<string>();
  const aborting = new Set<string>();
  const track = (work: Promise<unknown>) => {
    const p = work.then(() => undefined, (err: unknown) => logger.warn({ err }, 'jobs background work failed'));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const rollouts = createRolloutDriver({
    store: () => (stopping ? undefined : store),
    logger,
    clock,
    queueAll: (jobId, thingNames) => eachThing(store!, 'jobs.queue-execution', thingNames.map((thingName) => ({ thingName, jobId }))),
    track,
  });

  const index = (previous: JobsValue | undefined, value: JobsValue | undefined) => {
    if (previous?.kind === 'job' || value?.kind === 'job') {
      if (value?.kind === 'job') jobIds.add(value.jobId);
      else if (previous?.kind === 'job') jobIds.delete(previous.jobId);
      const job = value?.kind === 'job' ? value : undefined;
      rollouts.index((job ?? (previous as JobRecord)).jobId, job?.rollout, job?.status === 'IN_PROGRESS');
      return;
    }
    if (previous?.kind === 'rollout-chunk' || value?.kind === 'rollout-chunk') return;
    if (previous?.kind === 'template' || value?.kind === 'template') {
      if (value?.kind === 'template') templateIds.add(value.jobTemplateId);
      else if (previous?.kind === 'template') templateIds.delete(previous.jobTemplateId);
      return;
    }
    const before = previous?.kind === 'thing' ? previous : undefined;
    const after = value?.kind === 'thing' ? value : undefined;
    const thing = (after ?? before)?.thingName;
    if (thing === undefined) return;
    for (const jobId of Object.keys(before?.executions ?? {})) {
      if (after?.executions[jobId]) continue;
      const executions = byJob.get(jobId);
      executions?.delete(thing);
      if (executions?.size === 0) byJob.delete(jobId);
    }
    for (const [jobId, exec] of Object.entries(after?.executions ?? {})) {
      let executions = byJob.get(jobId);
      if (!executions) byJob.set(jobId, (executions = new Map()));
      executions.set(thing, exec);
      if (before?.executions[jobId] !== exec) abortChecks.add(jobId);
    }
    const due = Object.values(after?.executions ?? {}).flatMap((e) => timeoutAt(e) ?? []);
    if (due.length > 0) timers.set(thing, Math.min(...due));
    else timers.delete(thing);
  };

  /**
   * Runs the time-out command for every thing with a timer due. Every process that runs the
   * service looks; the command on the thing's owner times out only what is due, so a second
   * look changes nothing.
   */
  const tick = () => {
    const s = store;
    if (!s || stopping) return;
    rollouts.tick();
    checkAborts(s);
    const now = clock();
    for (const [thingName, at] of timers) {
      if (at > now || timingOut.has(thingName)) continue;
      timingOut.add(thingName);
      s.execute('jobs.time-out', { thingName })
        .catch((err: unknown) => logger.warn({ err, thingName }, 'job executions could not be timed out; trying again'))
        .finally(() => timingOut.delete(thingName));
    }
  };
  const progress = (jobId: string): JobProgress => progressOf(byJob.get(jobId)?.values() ?? []);
  /** The job's document with its presigned URLs, made for this request. */
  const deviceDocument = async (s: StateStore<JobsValue>, jobId: string): Promise<string | undefined> => {
    const v = s.get(jobKey(jobId));
    return v?.kind === 'job' ? resolvePresignedUrls(v.document, v.configs['presignedUrlConfig'], deps.presignGet) : undefined;
  };
  const executionsOfJob = (jobId: string): ReadonlyMap<string, ExecutionRecord> => byJob.get(jobId) ?? new Map();

  /** CancelJob's second step: each QUEUED execution (and IN_PROGRESS one, with force) is canceled by its thing's owner. */
  const cancelExecutionsOf = async (s: StateStore<JobsValue>, jobId: string, force: boolean) => {
    const open = [...executionsOfJob(jobId)].filter(([, e]) => e.status === 'QUEUED' || (force && e.status === 'IN_PROGRESS')).map(([thingName]) => ({ thingName, jobId, force }));
    await eachThing(s, 'jobs.cancel-execution-for-job', open);
  };

  /** DeleteJob's second and last steps: every execution goes (and a rollout's things), then the job. */
  const removeJob = async (s: StateStore<JobsValue>, jobId: string) => {
    await eachThing(s, 'jobs.delete-execution-for-job', [...executionsOfJob(jobId).keys()].map((thingName) => ({ thingName, jobId })));
    const rollout = (s.get(jobKey(jobId)) as JobRecord | undefined)?.rollout;
    if (rollout) await rollouts.forget(jobId, rollout.total);
    await s.execute('jobs.remove', { jobId });
  };

  /**
   * The abort criteria (abort.ts) of the jobs whose executions changed: a job that meets one is
   * canceled as CancelJob without force cancels (`jobs.abort` on its owner, then its QUEUED
   * executions). Every process looks; the owner aborts once.
   */
  const checkAborts = (s: StateStore<JobsValue>) => {
    for (const jobId of abortChecks) {
      abortChecks.delete(jobId);
      const job = s.get(jobKey(jobId));
      if (job?.kind !== 'job' || job.status !== 'IN_PROGRESS' || aborting.has(jobId)) continue;
      const criteria = abortCriteriaOf(job.configs);
      if (criteria.length === 0) continue;
      const p = progress(jobId);
      const decision = abortDecision(criteria, p.counts, p.total);
      if (!decision) continue;
      aborting.add(jobId);
      track(
        (async () => {
          const aborted = await s.execute('jobs.abort', { jobId, reasonCode: ABORT_REASON_CODE, comment: abortComment(decision) });
          if (aborted) await cancelExecutionsOf(s, jobId, false);
        })().finally(() => aborting.delete(jobId)),
      );
    }
  };

  /** Brings one thing up to date with every CONTINUOUS job (continuous.ts). */
  const followThing = async (s: StateStore<JobsValue>, membership: ThingMembership, thingName: string, only?: JobRecord) => {
    for (const job of only ? [only] : [...jobIds].map((id) => s.get(jobKey(id)))) {
      if (job?.kind !== 'job' || !followsMembership(job)) continue;
      const covered = directThings(job).includes(thingName) || membership.isIn(thingName, job.thingGroupNames);
      const thing = s.get(thingKey(thingName));
      const action = membershipAction(covered, thing?.kind === 'thing' ? thing.executions[job.jobId] : undefined);
      if (action === 'queue') await s.execute('jobs.queue-execution', { thingName, jobId: job.jobId, requeueRemoved: true });
      else if (action === 'remove') await s.execute('jobs.remove-execution', { thingName, jobId: job.jobId });
    }
  };

  /**
   * Finishes what a CancelJob or DeleteJob cut short (the process that ran it stopped between
   * the job and its executions): run once at start; every step is idempotent, so a process
   * finishing the same job meanwhile does no harm.
   */
  const finishInterrupted = async (s: StateStore<JobsValue>) => {
    for (const jobId of [...jobIds]) {
      const v = s.get(jobKey(jobId));
      if (stopping) return;
      if (v?.kind !== 'job') continue;
      if (v.status === 'DELETION_IN_PROGRESS') await removeJob(s, v.jobId);
      else if (v.status === 'CANCELED') await cancelExecutionsOf(s, v.jobId, Boolean(v.forceCanceled));
    }
  };

  const jobs = (s: StateStore<JobsValue>): Jobs => {
    const thingRecord = (thingName: string): ThingJobsRecord | undefined => {
      const v = s.get(thingKey(thingName));
      return v?.kind === 'thing' ? v : undefined;
    };
    const jobRecord = (jobId: string): JobRecord | undefined => {
      const v = s.get(jobKey(jobId));
      return v?.kind === 'job' ? v : undefined;
    };
    return {
      async createJob(input, thingNames) {
        const problem = createJobProblem(input);
        if (problem) throw jobError('InvalidRequestException', problem);
        const job = await s.execute<CreateJobInput, JobRecord>('jobs.create', input);
        // Every job rolls out through rollout-driver.ts: its things are stored first, so that a
        // CreateJob cut short is finished by any process; one with a rate returns after its first window.
        await rollouts.begin(input.jobId, thingNames, !rolloutConfigOf(input.configs));
        return jobRecord(input.jobId) ?? job;
      },
      job: jobRecord,
      *jobs() {
        for (const jobId of jobIds) {
          const job = jobRecord(jobId);
          if (job) yield job;
        }
      },
      progress,
      status: (job) => jobStatus(job, progress(job.jobId)),
      updateJob: (input) => s.execute('jobs.update', input),
      createTemplate: (input) => s.execute('jobs.create-template', input),
      template: (jobTemplateId) => {
        const v = s.get(templateKey(jobTemplateId));
        return v?.kind === 'template' ? v : undefined;
      },
      templates: () => [...templateIds].flatMap((id) => {
        const v = s.get(templateKey(id));
        return v?.kind === 'template' ? [v] : [];
      }),
      async deleteTemplate(jobTemplateId) {
        await s.execute('jobs.delete-template', { jobTemplateId });
      },
      async cancelJob(input) {
        const job = await s.execute<CancelJobInput, JobRecord>('jobs.cancel', input);
        await cancelExecutionsOf(s, input.jobId, Boolean(input.force));
        return job;
      },
      async deleteJob(input) {
        await s.execute('jobs.start-delete', input);
        await removeJob(s, input.jobId);
      },
      execution: (thingName, jobId) => thingRecord(thingName)?.executions[jobId],
      executionsOfJob,
      executionsOfThing: (thingName) => Object.values(thingRecord(thingName)?.executions ?? {}).sort((a, b) => a.executionNumber - b.executionNumber),
      updateExecution: (input) => s.execute('jobs.update-execution', input),
      startNext: (input) => s.execute('jobs.start-next', input),
      pending: async (thingName) => pendingExecutions((await s.execute<{ thingName: string }, ThingJobsRecord | null>('jobs.read-thing', { thingName })) ?? undefined),
      cancelExecution: (input) => s.execute('jobs.cancel-execution', input),
      async deleteExecution(input) {
        await s.execute('jobs.delete-execution', input);
      },
      deviceDocument: (jobId) => deviceDocument(s, jobId),
      stats: () => s.stats(),
      documentFromSource: (source) => readDocumentSource(source, deps.readObject),
      eventConfigurations: () => eventConfigurations(s),
      updateEventConfigurations: (enabled) => s.execute('jobs.update-event-configurations', { enabled }),
      async associateTargets(input, thingNames) {
        const job = await s.execute<AssociateTargetsInput, JobRecord>('jobs.associate-targets', input);
        await eachThing(s, 'jobs.queue-execution', mapped(thingNames, (thingName) => ({ thingName, jobId: input.jobId, requeueRemoved: true })));
        return job;
      },
      followMembership(membership) {
        // Things that joined or left while no process followed: every CONTINUOUS job is brought
        // up to date with the registry first (its groups' things, and its QUEUED executions).
        const catchUp = async () => {
          for (const jobId of [...jobIds]) {
            const job = jobRecord(jobId);
            if (job && cutShortBeforeRollout(job, clock())) {
              // A CreateJob that died before its things were stored: resolved again, from the registry as it is now.
              logger.warn({ jobId }, 'finishing a CreateJob cut short before its things were stored; its targets are resolved again');
              await rollouts.begin(jobId, targetThings(membership, directThings(job), job.thingGroupNames), true);
              continue;
            }
            if (!job || !followsMembership(job)) continue;
            const things = new Set([...membership.thingsIn(job.thingGroupNames), ...directThings(job), ...executionsOfJob(jobId).keys()]);
            await eachLimited(things, FAN_OUT, (thingName) => followThing(s, membership, thingName, job));
          }
        };
        track(catchUp());
        // One thing's changes are followed one at a time, each reading the registry as it is then
        // and the executions the previous one left.
        const chains = new Map<string, Promise<void>>();
        const unsubscribe = membership.onThingChange((thingName) => {
          if (stopping) return;
          const next = (chains.get(thingName) ?? Promise.resolve()).then(() => followThing(s, membership, thingName)).catch((err: unknown) => logger.warn({ err, thingName }, 'a CONTINUOUS job could not follow a thing group change'));
          chains.set(thingName, next);
          void next.finally(() => chains.get(thingName) === next && chains.delete(thingName));
          track(next);
        });
        return unsubscribe;
      },
    };
  };

  /**
   * A device's request from `iot.ingress`: answered on `<topic>/accepted` or `/rejected` once the
   * thing's owner ran it (device.ts). A thing's requests reach its owner in log order.
   */
  const onRequest = (envelope: Envelope): Promise<void> | undefined => {
    const request = parseJobsTopic(envelope.topic);
    const s = store;
    if (!request || !s) return undefined;
    const documentOf = (jobId: string) => deviceDocument(s, jobId);
    const handle = () =>
      askUntilAnswered(
        async () => {
          const answer = await answerDevice(request, envelope.payload, (name, input) => s.execute(name, input), documentOf, clock);
          const topic = `${requestTopic(request)}/${answer.accepted ? 'accepted' : 'rejected'}`;
          await deps.log.append(TOPICS.ingress, [publication(request.thingName, topic, answer.body, clock())]);
        },
        { logger, stopping: () => stopping !== undefined, message: 'jobs request not answered; asking again', fields: { topic: envelope.topic } },
      );
    const mine = handle().catch((err: unknown) => logger.error({ err, topic: envelope.topic }, 'jobs request failed'));
    inFlight.add(mine);
    void mine.finally(() => inFlight.delete(mine));
    return mine;
  };

  return {
    async start() {
      store = await StateStore.open<JobsValue>({ log: deps.log, logger, topic: topicSpec(TOPICS.jobs), codec: jobsCodec, commands: withPresignedNotifications(withJobEvents(jobsCommands(progress), { progress, thingArn }), deps.presignGet), clock });
      // No await between the replay and the subscription: no change falls between them.
      for (const [, value] of store.entries()) index(undefined, value);
      unsubscribe = store.onChange((change) => index(change.previous, change.value));
      const s = store;
      unwatch = watchJobEvents(s, progress, (name, input) => s.execute(name, input), logger, () => stopping !== undefined);
      consumer = createRequestConsumer({ log: deps.log, logger, groupId: JOBS_GROUP, accepts: (topic) => parseJobsTopic(topic) !== undefined, deliver: onRequest });
      await consumer.start();
      ticker = setInterval(tick, deps.timerIntervalMs ?? 1000);
      ticker.unref();
      const finishing = finishInterrupted(store).catch((err: unknown) => logger.warn({ err }, 'an interrupted CancelJob or DeleteJob could not be finished; the next start tries again'));
      inFlight.add(finishing);
      void finishing.finally(() => inFlight.delete(finishing));
      return jobs(store);
    },
    stop() {
      return (stopping ??= (async () => {
        clearInterval(ticker);
        await consumer?.stop();
        await Promise.allSettled([...inFlight]);
        unsubscribe?.();
        unwatch?.();
        await store?.close();
      })());
    },
  };
}
