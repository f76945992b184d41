/**
 * The job execution state machine, as pure functions of one execution (AWS IoT developer
 * guide, "Jobs and job execution states"; API reference, UpdateJobExecution,
 * CancelJobExecution, DeleteJobExecution). Each returns the next record, or throws the
 * exception AWS answers with (errors.ts); none reads a clock or the store.
 *
 *   QUEUED ──device──▶ IN_PROGRESS ──device──▶ SUCCEEDED | FAILED | REJECTED
 *     │  └─device──▶ SUCCEEDED | FAILED | REJECTED      │──step timer──▶ TIMED_OUT
 *     └──control plane──▶ CANCELED | REMOVED ◀──────────┘ (CANCELED from IN_PROGRESS only with force)
 *
 * Terminal states are final. Every change adds 1 to `versionNumber`; a request that names
 * `expectedVersion` is refused with VersionConflictException unless it matches.
 */
import { jobError } from './errors.js';
import { JOB_LIMITS, isTerminal, timeoutAt, type ExecutionRecord, type ExecutionStatus, type StatusDetails } from './model.js';

/** What a device may set with UpdateJobExecution ("IN_PROGRESS, FAILED, SUCCEEDED, or REJECTED"). */
export const DEVICE_STATUSES: ReadonlySet<ExecutionStatus> = new Set(['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED']);

export interface ExecutionId {
  readonly thingName: string;
  readonly jobId: string;
}

export interface UpdateExecutionInput extends ExecutionId {
  readonly status: string;
  readonly statusDetails?: StatusDetails;
  readonly expectedVersion?: number;
  readonly executionNumber?: number;
  readonly stepTimeoutInMinutes?: number;
}

export interface CancelExecutionInput extends ExecutionId {
  readonly force?: boolean;
  readonly expectedVersion?: number;
  readonly statusDetails?: StatusDetails;
}

export interface DeleteExecutionInput extends ExecutionId {
  readonly executionNumber?: number;
  readonly force?: boolean;
}

const notFound = (id: ExecutionId, executionNumber?: number): Error =>
  jobError(
    'ResourceNotFoundException',
    executionNumber === undefined ? `Job execution of job ${id.jobId} on thing ${id.thingName} does not exist` : `Job execution number ${executionNumber} of job ${id.jobId} on thing ${id.thingName} does not exist`,
  );

/** The execution a request names, or ResourceNotFoundException (also for a wrong executionNumber). */
function existing(exec: ExecutionRecord | undefined, id: ExecutionId, executionNumber?: number): ExecutionRecord {
  if (!exec || (executionNumber !== undefined && exec.executionNumber !== executionNumber)) throw notFound(id, executionNumber);
  return exec;
}

function checkVersion(exec: ExecutionRecord, id: ExecutionId, expectedVersion: number | undefined): void {
  if (expectedVersion !== undefined && expectedVersion !== exec.versionNumber) {
    throw jobError('VersionConflictException', `The expected version ${expectedVersion} of the job execution of job ${id.jobId} on thing ${id.thingName} does not match its current version ${exec.versionNumber}`, {
      executionState: { status: exec.status, versionNumber: exec.versionNumber, ...(exec.statusDetails ? { statusDetails: exec.statusDetails } : {}) },
    });
  }
}

const terminal = (exec: ExecutionRecord, id: ExecutionId, action: string): Error =>
  jobError('InvalidStateTransitionException', `Cannot ${action} the job execution of job ${id.jobId} on thing ${id.thingName}: it is in the terminal state ${exec.status}`);

/**
 * Why `details` is not a valid statusDetails map (API reference, JobExecutionStatusDetails:
 * keys [a-zA-Z0-9:_-]{1,128}, values 1..1024 characters without control characters).
 */
export function statusDetailsProblem(details: unknown, field = 'statusDetails'): string | undefined {
  if (typeof details !== 'object' || details === null || Array.isArray(details)) return `${field} must be a map of strings`;
  for (const [key, value] of Object.entries(details)) {
    if (!JOB_LIMITS.statusDetailsKey.test(key)) return `${field}: key ${JSON.stringify(key)} must match [a-zA-Z0-9:_-]{1,128}`;
    if (typeof value !== 'string') return `${field}.${key} must be a string`;
    if (value.length < 1 || value.length > JOB_LIMITS.statusDetailsValueLength || /\p{C}/u.test(value)) return `${field}.${key} must be 1 to ${JOB_LIMITS.statusDetailsValueLength} characters, none a control character`;
  }
  return undefined;
}

/** The fields every change sets: the next version, the time, and statusDetails replaced when given (else unchanged). */
function changed(exec: ExecutionRecord, status: ExecutionStatus, now: number, statusDetails: StatusDetails | undefined): ExecutionRecord {
  const { stepTimeoutAt: _step, inProgressTimeoutAt: _inProgress, ...rest } = exec;
  return {
    ...(isTerminal(status) ? rest : exec),
    status,
    versionNumber: exec.versionNumber + 1,
    lastUpdatedAt: now,
    ...(statusDetails !== undefined ? { statusDetails } : {}),
  };
}

/** A new execution of `jobId` on a thing: QUEUED, version 1. */
export function queuedExecution(jobId: string, executionNumber: number, now: number): ExecutionRecord {
  return { jobId, status: 'QUEUED', versionNumber: 1, executionNumber, queuedAt: now, lastUpdatedAt: now };
}

/** UpdateJobExecution: what a device reports (MQTT `.../jobs/<jobId>/update` or the jobs data plane). */
export function updateExecution(exec: ExecutionRecord | undefined, input: UpdateExecutionInput, now: number): ExecutionRecord {
  const status = input.status as ExecutionStatus;
  if (!DEVICE_STATUSES.has(status)) throw jobError('InvalidRequestException', `status must be one of IN_PROGRESS, SUCCEEDED, FAILED, REJECTED, received ${JSON.stringify(input.status)}`);
  const problem = input.statusDetails === undefined ? undefined : statusDetailsProblem(input.statusDetails);
  if (problem) throw jobError('InvalidRequestException', problem);
  const minutes = input.stepTimeoutInMinutes;
  if (minutes !== undefined && !(Number.isInteger(minutes) && (minutes === -1 || (minutes >= 1 && minutes <= JOB_LIMITS.stepTimeoutMaxMinutes)))) {
    throw jobError('InvalidRequestException', `stepTimeoutInMinutes must be -1 or 1 to ${JOB_LIMITS.stepTimeoutMaxMinutes}, received ${minutes}`);
  }
  const current = existing(exec, input, input.executionNumber);
  checkVersion(current, input, input.expectedVersion);
  if (isTerminal(current.status)) throw terminal(current, input, `update to ${status}`);
  const next = changed(current, status, now, input.statusDetails);
  if (status !== 'IN_PROGRESS') return next;
  const started = next.startedAt === undefined ? { ...next, startedAt: now } : next;
  // AWS: a new stepTimeoutInMinutes resets the step timer; -1 stops it; none leaves it as it was.
  if (minutes === undefined) return started;
  const { stepTimeoutAt: _old, ...untimed } = started;
  return minutes === -1 ? untimed : { ...untimed, stepTimeoutAt: now + minutes * 60_000 };
}

/** CancelJobExecution: QUEUED is canceled; IN_PROGRESS only with `force` (then `forceCanceled`); terminal never. */
export function cancelExecution(exec: ExecutionRecord | undefined, input: CancelExecutionInput, now: number): ExecutionRecord {
  const problem = input.statusDetails === undefined ? undefined : statusDetailsProblem(input.statusDetails);
  if (problem) throw jobError('InvalidRequestException', problem);
  const current = existing(exec, input);
  checkVersion(current, input, input.expectedVersion);
  if (isTerminal(current.status)) throw terminal(current, input, 'cancel');
  if (current.status === 'IN_PROGRESS' && !input.force) {
    throw jobError('InvalidStateTransitionException', `Cannot cancel the job execution of job ${input.jobId} on thing ${input.thingName}: it is IN_PROGRESS and force is not true`);
  }
  const next = changed(current, 'CANCELED', now, input.statusDetails);
  return current.status === 'IN_PROGRESS' ? { ...next, forceCanceled: true } : next;
}

/**
 * CancelJob's effect on one execution: QUEUED is canceled, IN_PROGRESS too when the job is
 * canceled with `force`; any other is left as it is (undefined).
 */
export function cancelForJob(exec: ExecutionRecord | undefined, force: boolean, now: number): ExecutionRecord | undefined {
  if (!exec || isTerminal(exec.status) || (exec.status === 'IN_PROGRESS' && !force)) return undefined;
  const next = changed(exec, 'CANCELED', now, undefined);
  return exec.status === 'IN_PROGRESS' ? { ...next, forceCanceled: true } : next;
}

/**
 * DeleteJobExecution: the execution must be terminal, or `force` be true (API reference: "When
 * true, you can delete a job execution which is IN_PROGRESS. Otherwise, you can only delete a
 * job execution which has a status which is terminal"); kiot reads force as covering QUEUED too.
 */
export function checkDeleteExecution(exec: ExecutionRecord | undefined, input: DeleteExecutionInput): ExecutionRecord {
  const current = existing(exec, input, input.executionNumber);
  if (isTerminal(current.status) || input.force) return current;
  throw jobError(
    'InvalidStateTransitionException',
    `Cannot delete the job execution of job ${input.jobId} on thing ${input.thingName}: it is ${current.status}, not in a terminal state, and force is not true`,
  );
}

/**
 * A timer ran out (the step timer, or the job's in-progress timeout): IN_PROGRESS becomes
 * TIMED_OUT once `now` reached the earlier of them; anything else is left as it is (undefined).
 */
export function timeOutExecution(exec: ExecutionRecord, now: number): ExecutionRecord | undefined {
  const at = timeoutAt(exec);
  return at !== undefined && at <= now ? changed(exec, 'TIMED_OUT', now, undefined) : undefined;
}

/**
 * The job's in-progress timer (timeoutConfig.inProgressTimeoutInMinutes) starts when the
 * execution first becomes IN_PROGRESS and is not reset by later updates.
 */
export function startInProgressTimer(before: ExecutionRecord, after: ExecutionRecord, minutes: number | undefined, now: number): ExecutionRecord {
  if (minutes === undefined || before.status !== 'QUEUED' || after.status !== 'IN_PROGRESS') return after;
  return { ...after, inProgressTimeoutAt: now + minutes * 60_000 };
}

/** The thing left a CONTINUOUS job's groups, or was deleted: a non-terminal execution becomes REMOVED. */
export function removeExecution(exec: ExecutionRecord, now: number): ExecutionRecord | undefined {
  return isTerminal(exec.status) ? undefined : changed(exec, 'REMOVED', now, undefined);
}
