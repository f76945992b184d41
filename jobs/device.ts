/**
 * Answers the jobs device MQTT API's requests (AWS IoT developer guide, "Jobs device MQTT
 * API"): GetPendingJobExecutions (`jobs/get`), StartNextPendingJobExecution
 * (`jobs/start-next`), DescribeJobExecution (`jobs/<jobId|$next>/get`) and UpdateJobExecution
 * (`jobs/<jobId>/update`). Each runs as a command on the thing's owner; the answer is the
 * document for `<request topic>/accepted` or `/rejected`.
 */
import { PlatformError } from '../core/index.js';
import { jobError, jobExceptionOf, JOB_EXCEPTIONS } from './errors.js';
import type { UpdateExecutionInput } from './execution.js';
import { isTerminal, type ExecutionRecord, type ThingJobsRecord } from './model.js';
import { errorDocument, executionDocument, executionState, executionSummary, pendingExecutions, type JobsRequest } from './mqtt.js';

/** Runs a jobs store command (on its key's owner) and resolves with its result. */
export type ExecuteCommand = <I, R>(name: string, input: I) => Promise<R>;

export interface DeviceAnswer {
  readonly accepted: boolean;
  readonly body: object;
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

type Fields = Record<string, unknown>;

function field<T>(body: Fields, name: string, type: 'string' | 'boolean' | 'integer' | 'object'): T | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  const ok = type === 'integer' ? Number.isInteger(value) : type === 'object' ? typeof value === 'object' && !Array.isArray(value) : typeof value === type;
  if (!ok) throw jobError('InvalidRequestException', `${name} must be ${type === 'integer' ? 'an integer' : `a ${type}`}`);
  return value as T;
}

/**
 * The answer to one request. Never throws for a refusal (that is a `/rejected` document);
 * rethrows what is retriable (the owner did not answer) so that the caller asks again.
 */
export async function answerDevice(
  request: JobsRequest,
  payload: Uint8Array,
  execute: ExecuteCommand,
  /** The job document as the device gets it (presigned URLs made per request: presign.ts). */
  jobDocument: (jobId: string) => string | undefined | Promise<string | undefined>,
  now: () => number,
): Promise<DeviceAnswer> {
  let body: Fields;
  try {
    const text = Buffer.from(payload).toString('utf8');
    const parsed: unknown = text.trim() === '' ? {} : JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    body = parsed as Fields;
  } catch {
    return { accepted: false, body: errorDocument('InvalidJson', 'The request payload is not a JSON object', undefined, now()) };
  }
  const clientToken = typeof body['clientToken'] === 'string' ? body['clientToken'] : undefined;
  const token = clientToken !== undefined ? { clientToken } : {};
  const stamp = () => ({ timestamp: seconds(now()), ...token });
  const withDocument = async (thingName: string, e: ExecutionRecord, include: boolean) => executionDocument(thingName, e, now(), include ? await jobDocument(e.jobId) : undefined);
  try {
    const { thingName } = request;
    switch (request.op) {
      case 'get': {
        const thing = await execute<{ thingName: string }, ThingJobsRecord | null>('jobs.read-thing', { thingName });
        const pending = pendingExecutions(thing ?? undefined);
        return {
          accepted: true,
          body: { inProgressJobs: pending.filter((e) => e.status === 'IN_PROGRESS').map(executionSummary), queuedJobs: pending.filter((e) => e.status === 'QUEUED').map(executionSummary), ...stamp() },
        };
      }
      case 'start-next': {
        const statusDetails = field<Record<string, string>>(body, 'statusDetails', 'object');
        const stepTimeoutInMinutes = field<number>(body, 'stepTimeoutInMinutes', 'integer');
        const started = await execute<object, ExecutionRecord | null>('jobs.start-next', { thingName, ...(statusDetails ? { statusDetails } : {}), ...(stepTimeoutInMinutes !== undefined ? { stepTimeoutInMinutes } : {}) });
        return { accepted: true, body: { ...(started ? { execution: await withDocument(thingName, started, true) } : {}), ...stamp() } };
      }
      case 'describe': {
        const executionNumber = field<number>(body, 'executionNumber', 'integer');
        const includeJobDocument = field<boolean>(body, 'includeJobDocument', 'boolean') ?? true;
        const thing = (await execute<{ thingName: string }, ThingJobsRecord | null>('jobs.read-thing', { thingName })) ?? undefined;
        if (request.jobId === '$next') {
          const next = pendingExecutions(thing)[0];
          return { accepted: true, body: { ...(next ? { execution: await withDocument(thingName, next, includeJobDocument) } : {}), ...stamp() } };
        }
        const e = thing?.executions[request.jobId];
        if (!e || (executionNumber !== undefined && e.executionNumber !== executionNumber)) throw jobError('ResourceNotFoundException', `Job execution of job ${request.jobId} on thing ${thingName} does not exist`);
        // AWS IoT: "TerminalStateReached: a command to describe a job is performed on a job that is in a terminal state".
        if (isTerminal(e.status)) return { accepted: false, body: errorDocument('TerminalStateReached', `The job execution of job ${request.jobId} on thing ${thingName} is ${e.status}`, clientToken, now()) };
        return { accepted: true, body: { execution: await withDocument(thingName, e, includeJobDocument), ...stamp() } };
      }
      case 'update': {
        const status = field<string>(body, 'status', 'string');
        if (status === undefined) throw jobError('InvalidRequestException', 'status is required');
        const statusDetails = field<Record<string, string>>(body, 'statusDetails', 'object');
        const input: UpdateExecutionInput = {
          thingName,
          jobId: request.jobId,
          status,
          ...(statusDetails !== undefined ? { statusDetails } : {}),
          ...optional(body, 'expectedVersion'),
          ...optional(body, 'executionNumber'),
          ...optional(body, 'stepTimeoutInMinutes'),
        };
        const includeState = field<boolean>(body, 'includeJobExecutionState', 'boolean') ?? false;
        const includeDocument = field<boolean>(body, 'includeJobDocument', 'boolean') ?? false;
        const updated = await execute<UpdateExecutionInput, ExecutionRecord>('jobs.update-execution', input);
        const document = includeDocument ? await jobDocument(request.jobId) : undefined;
        return {
          accepted: true,
          body: { ...(includeState ? { executionState: executionState(updated) } : {}), ...(document !== undefined ? { jobDocument: JSON.parse(document) as unknown } : {}), ...stamp() },
        };
      }
    }
  } catch (err) {
    if (err instanceof PlatformError && err.retriable) throw err;
    const type = jobExceptionOf(err);
    if (type === undefined) return { accepted: false, body: errorDocument('InternalError', 'An internal error occurred', clientToken, now()) };
    const details = (err as PlatformError).details;
    return { accepted: false, body: errorDocument(JOB_EXCEPTIONS[type].mqtt, (err as Error).message, clientToken, now(), details['executionState']) };
  }
}

function optional(body: Fields, name: 'expectedVersion' | 'executionNumber' | 'stepTimeoutInMinutes'): Partial<Record<typeof name, number>> {
  const value = field<number>(body, name, 'integer');
  return value === undefined ? {} : { [name]: value };
}
