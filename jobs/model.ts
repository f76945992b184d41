/**
 * How jobs and job executions are stored on the compacted `iot.jobs` topic (core/state), and
 * the AWS names and limits they are checked against (AWS IoT API reference: Job, JobExecution,
 * CreateJob).
 *
 * Keys:
 * - `job/<jobId>`: one job (its document, targets, status, configs as given);
 * - `template/<jobTemplateId>`: one job template;
 * - `thing/<thingName>`: every execution of one thing, by job id, with the thing's next
 *   execution number. A thing's executions are one record, so they live on one partition and
 *   one owner runs every change to them one at a time (start-next, update, cancel, delete).
 * - `rollout/<jobId>/<n>`: the n-th chunk (ROLLOUT_CHUNK names) of the things a job with a
 *   rollout rate releases, in order; written once by CreateJob, read by the rollout driver.
 */
import { z } from 'zod';
import { jsonCodec, type StateCodec } from '../core/index.js';

export const EXECUTION_STATUSES = ['QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/** AWS IoT: once an execution reaches one of these it never changes again (iot-jobs-lifecycle). */
export const TERMINAL_STATUSES: ReadonlySet<ExecutionStatus> = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED']);
export const isTerminal = (status: ExecutionStatus): boolean => TERMINAL_STATUSES.has(status);

/**
 * A job's stored status. COMPLETED is not stored: a SNAPSHOT job that is IN_PROGRESS is
 * COMPLETED once every execution it has is terminal (see `jobStatus` in jobs.ts).
 */
export const STORED_JOB_STATUSES = ['IN_PROGRESS', 'CANCELED', 'DELETION_IN_PROGRESS'] as const;
export type StoredJobStatus = (typeof STORED_JOB_STATUSES)[number];
export type JobStatus = StoredJobStatus | 'COMPLETED';

export type StatusDetails = Readonly<Record<string, string>>;

export interface ExecutionRecord {
  readonly jobId: string;
  readonly status: ExecutionStatus;
  /** 1 when queued, +1 on every change (AWS's `versionNumber`, checked against `expectedVersion`). */
  readonly versionNumber: number;
  /** Per thing, 1, 2, 3 ... in the order its executions were queued. */
  readonly executionNumber: number;
  /** ms since the epoch. */
  readonly queuedAt: number;
  readonly startedAt?: number;
  readonly lastUpdatedAt: number;
  readonly statusDetails?: StatusDetails;
  /** Set when a CANCELED execution was IN_PROGRESS (canceled with `force`). */
  readonly forceCanceled?: boolean;
  /** When an IN_PROGRESS step times out (stepTimeoutInMinutes), ms since the epoch. */
  readonly stepTimeoutAt?: number;
  /** When the execution, IN_PROGRESS, times out (the job's timeoutConfig.inProgressTimeoutInMinutes), ms since the epoch. */
  readonly inProgressTimeoutAt?: number;
  /** How many retries (jobExecutionsRetryConfig) came before this attempt; absent means 0. */
  readonly retryAttempt?: number;
  /** The retries so far by the failure that caused them (RetryCriteria's failureType). */
  readonly retries?: Readonly<Partial<Record<'FAILED' | 'TIMED_OUT', number>>>;
}

/** When an IN_PROGRESS execution times out: the earlier of its two timers, or undefined. */
export function timeoutAt(e: ExecutionRecord): number | undefined {
  if (e.status !== 'IN_PROGRESS') return undefined;
  const timers = [e.stepTimeoutAt, e.inProgressTimeoutAt].filter((t): t is number => t !== undefined);
  return timers.length > 0 ? Math.min(...timers) : undefined;
}

/** AWS's approximateSecondsBeforeTimedOut, when a timer runs. */
export function secondsBeforeTimeout(e: ExecutionRecord, now: number): { approximateSecondsBeforeTimedOut: number } | Record<string, never> {
  const at = timeoutAt(e);
  return at === undefined ? {} : { approximateSecondsBeforeTimedOut: Math.max(0, Math.round((at - now) / 1000)) };
}

export interface ThingJobsRecord {
  readonly kind: 'thing';
  readonly thingName: string;
  readonly nextExecutionNumber: number;
  readonly executions: Readonly<Record<string, ExecutionRecord>>;
}

export interface JobRecord {
  readonly kind: 'job';
  readonly jobId: string;
  /** Thing and thing-group ARNs, as given to CreateJob. */
  readonly targets: readonly string[];
  readonly targetSelection: 'SNAPSHOT' | 'CONTINUOUS';
  /** The job document (UTF-8 JSON text, as given). */
  readonly document: string;
  readonly description?: string;
  readonly status: StoredJobStatus;
  readonly createdAt: number;
  readonly lastUpdatedAt: number;
  /** Set when the job is canceled, or once it completed (events.ts `jobs.complete`: its `completed` event is then out). */
  readonly completedAt?: number;
  /** Set once the executions CancelJob cancels were all canceled (events.ts: its `canceled` event is then out). */
  readonly cancellationFinishedAt?: number;
  readonly forceCanceled?: boolean;
  readonly reasonCode?: string;
  readonly comment?: string;
  /** The names of the thing groups among `targets` (ListJobs' thingGroupName filter). */
  readonly thingGroupNames: readonly string[];
  /** Fan-out still running: the targets whose executions are being queued (jobProcessDetails.processingTargets). */
  readonly processingTargets?: readonly string[];
  /** presignedUrlConfig, jobExecutionsRolloutConfig, abortConfig, timeoutConfig, jobExecutionsRetryConfig, documentParameters: kept as given. */
  readonly configs: Readonly<Record<string, unknown>>;
  /** Where a job with a rollout rate is (rollout.ts); absent for a job queued all at once. */
  readonly rollout?: RolloutState;
}

/**
 * A rollout in progress (jobExecutionsRolloutConfig), kept in the job's record so that any
 * process, after a restart too, goes on from where it was. The things are `rollout/<jobId>/<n>`.
 */
export interface RolloutState {
  /** How many things the job releases in all. */
  readonly total: number;
  /** Things [0, released) may be queued: the rate allowed them. */
  readonly released: number;
  /** Things [0, queued) are queued (each one's execution exists or the job stopped queuing). */
  readonly queued: number;
  /** The current minute window: when it began (ms) and how many it released. */
  readonly windowStartAt: number;
  readonly windowCount: number;
  /** Things per minute now (exponentialRate raises it). */
  readonly ratePerMinute: number;
  /** `released` and the job's SUCCEEDED count when the rate last went up (rateIncreaseCriteria count from there). */
  readonly notifiedAtIncrease: number;
  readonly succeededAtIncrease: number;
  /**
   * The process queuing [queued, released) now (rollout-driver.ts), and until when it holds
   * that range: another takes it over only once `driverUntil` has passed without its progress.
   */
  readonly driver?: string;
  readonly driverUntil?: number;
}

/** How many thing names one `rollout/<jobId>/<n>` record holds. */
export const ROLLOUT_CHUNK = 1000;

/** A slice of the things a rolled-out job targets, in release order. */
export interface RolloutChunkRecord {
  readonly kind: 'rollout-chunk';
  readonly jobId: string;
  readonly index: number;
  readonly things: readonly string[];
}

/** A job template (CreateJobTemplate): a document and configs that CreateJob starts from. */
export interface TemplateRecord {
  readonly kind: 'template';
  readonly jobTemplateId: string;
  readonly description: string;
  readonly document: string;
  readonly createdAt: number;
  /** As JobRecord's: presignedUrlConfig, jobExecutionsRolloutConfig, abortConfig, timeoutConfig, jobExecutionsRetryConfig. */
  readonly configs: Readonly<Record<string, unknown>>;
}

/**
 * Which event types are published (UpdateEventConfigurations, DescribeEventConfigurations),
 * for the types the jobs service publishes: `JOB` and `JOB_EXECUTION` (events.ts).
 */
export interface EventConfigurationsRecord {
  readonly kind: 'event-configurations';
  readonly enabled: Readonly<Partial<Record<'JOB' | 'JOB_EXECUTION', boolean>>>;
  readonly createdAt: number;
  readonly lastModifiedAt: number;
}

export type JobsValue = JobRecord | ThingJobsRecord | TemplateRecord | EventConfigurationsRecord | RolloutChunkRecord;

export const jobKey = (jobId: string): string => `job/${jobId}`;
export const templateKey = (jobTemplateId: string): string => `template/${jobTemplateId}`;
export const thingKey = (thingName: string): string => `thing/${thingName}`;
/** The one event configurations record (account-wide, as AWS's). */
export const EVENT_CONFIGURATIONS_KEY = 'config/event-configurations';
export const rolloutChunkKey = (jobId: string, index: number): string => `rollout/${jobId}/${index}`;

/** AWS IoT limits and name patterns (API reference, CreateJob and JobExecutionStatusDetails). */
export const JOB_LIMITS = {
  jobId: /^[a-zA-Z0-9_-]{1,64}$/,
  jobTemplateId: /^[a-zA-Z0-9_-]{1,64}$/,
  thingName: /^[a-zA-Z0-9:_-]{1,128}$/,
  documentBytes: 32_768,
  descriptionLength: 2028,
  statusDetailsKey: /^[a-zA-Z0-9:_-]{1,128}$/,
  statusDetailsValueLength: 1024,
  reasonCode: /^[\p{L}\p{Z}\p{N}_.,/=+@-]{0,128}$/u,
  commentLength: 2028,
  /** stepTimeoutInMinutes: 1 minute to 7 days, or -1 to clear the step timer. */
  stepTimeoutMaxMinutes: 10_080,
} as const;

const epochMs = z.number().int().nonnegative();
const details = z.record(z.string(), z.string());

const executionSchema = z.object({
  jobId: z.string().min(1),
  status: z.enum(EXECUTION_STATUSES),
  versionNumber: z.number().int().min(1),
  executionNumber: z.number().int().min(1),
  queuedAt: epochMs,
  startedAt: epochMs.optional(),
  lastUpdatedAt: epochMs,
  statusDetails: details.optional(),
  forceCanceled: z.boolean().optional(),
  stepTimeoutAt: epochMs.optional(),
  inProgressTimeoutAt: epochMs.optional(),
  retryAttempt: z.number().int().nonnegative().optional(),
  retries: z.object({ FAILED: z.number().int().nonnegative().optional(), TIMED_OUT: z.number().int().nonnegative().optional() }).optional(),
});

const thingJobsSchema = z.object({
  kind: z.literal('thing'),
  thingName: z.string().min(1),
  nextExecutionNumber: z.number().int().min(1),
  executions: z.record(z.string(), executionSchema),
});

const jobSchema = z.object({
  kind: z.literal('job'),
  jobId: z.string().min(1),
  targets: z.array(z.string()),
  targetSelection: z.enum(['SNAPSHOT', 'CONTINUOUS']),
  document: z.string(),
  description: z.string().optional(),
  status: z.enum(STORED_JOB_STATUSES),
  createdAt: epochMs,
  lastUpdatedAt: epochMs,
  completedAt: epochMs.optional(),
  cancellationFinishedAt: epochMs.optional(),
  forceCanceled: z.boolean().optional(),
  reasonCode: z.string().optional(),
  comment: z.string().optional(),
  thingGroupNames: z.array(z.string()),
  processingTargets: z.array(z.string()).optional(),
  configs: z.record(z.string(), z.unknown()),
  rollout: z
    .object({
      total: z.number().int().nonnegative(),
      released: z.number().int().nonnegative(),
      queued: z.number().int().nonnegative(),
      windowStartAt: epochMs,
      windowCount: z.number().int().nonnegative(),
      ratePerMinute: z.number().int().positive(),
      notifiedAtIncrease: z.number().int().nonnegative(),
      succeededAtIncrease: z.number().int().nonnegative(),
      driver: z.string().optional(),
      driverUntil: epochMs.optional(),
    })
    .optional(),
});

const rolloutChunkSchema = z.object({
  kind: z.literal('rollout-chunk'),
  jobId: z.string().min(1),
  index: z.number().int().nonnegative(),
  things: z.array(z.string()),
});

const templateSchema = z.object({
  kind: z.literal('template'),
  jobTemplateId: z.string().min(1),
  description: z.string(),
  document: z.string(),
  createdAt: epochMs,
  configs: z.record(z.string(), z.unknown()),
});

const eventConfigurationsSchema = z.object({
  kind: z.literal('event-configurations'),
  enabled: z.object({ JOB: z.boolean().optional(), JOB_EXECUTION: z.boolean().optional() }),
  createdAt: epochMs,
  lastModifiedAt: epochMs,
});

/** The schema of the value under a key: `job/...`, `template/...`, `config/...`, `rollout/...` or `thing/...`. */
const schemaFor = (key: string): z.ZodType<JobsValue> =>
  (key.startsWith('job/')
    ? jobSchema
    : key.startsWith('template/')
      ? templateSchema
      : key.startsWith('config/')
        ? eventConfigurationsSchema
        : key.startsWith('rollout/')
          ? rolloutChunkSchema
          : thingJobsSchema) as unknown as z.ZodType<JobsValue>;

export const jobsCodec: StateCodec<JobsValue> = jsonCodec<JobsValue>({ name: 'jobs record', version: 1, schema: schemaFor });
