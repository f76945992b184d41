/**
 * The jobs device MQTT API as pure documents (AWS IoT developer guide, "Jobs device MQTT API"
 * and "Jobs notifications"): the request topics, the pending list and next execution of a
 * thing, the accepted and rejected replies, and the `notify` / `notify-next` messages a change
 * of a thing's executions publishes. Times in these documents are epoch seconds.
 */
import { createEnvelope, envelopeRecord } from '../core/index.js';
import type { AppendRecord } from '../core/log/log.js';
import { isTerminal, secondsBeforeTimeout, type ExecutionRecord, type ThingJobsRecord } from './model.js';

export type JobsRequest =
  | { readonly thingName: string; readonly op: 'get' | 'start-next' }
  | { readonly thingName: string; readonly op: 'describe' | 'update'; readonly jobId: string };

const REQUEST = /^\$aws\/things\/([^/]+)\/jobs\/(?:(get|start-next)|([^/]+)\/(get|update))$/;

/** The request a topic carries, or undefined when it is not a jobs request topic. */
export function parseJobsTopic(topic: string): JobsRequest | undefined {
  const m = REQUEST.exec(topic);
  if (!m) return undefined;
  const thingName = m[1]!;
  if (m[2] !== undefined) return { thingName, op: m[2] as 'get' | 'start-next' };
  return { thingName, op: m[4] === 'get' ? 'describe' : 'update', jobId: m[3]! };
}

/** The topic a request was published on (replies go to `<it>/accepted` and `<it>/rejected`). */
export function requestTopic(request: JobsRequest): string {
  const base = `$aws/things/${request.thingName}/jobs`;
  if (!('jobId' in request)) return `${base}/${request.op}`;
  return `${base}/${request.jobId}/${request.op === 'describe' ? 'get' : 'update'}`;
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

/**
 * A thing's pending executions (QUEUED or IN_PROGRESS) as AWS orders them: IN_PROGRESS before
 * QUEUED, then by when they were queued. The first is the thing's next execution (`$next`).
 */
export function pendingExecutions(thing: ThingJobsRecord | undefined): ExecutionRecord[] {
  const pending = Object.values(thing?.executions ?? {}).filter((e) => !isTerminal(e.status));
  const rank = (e: ExecutionRecord) => (e.status === 'IN_PROGRESS' ? 0 : 1);
  return pending.sort((a, b) => rank(a) - rank(b) || a.queuedAt - b.queuedAt || a.executionNumber - b.executionNumber);
}

/** JobExecutionSummary (jobs MQTT API). */
export function executionSummary(e: ExecutionRecord) {
  return {
    jobId: e.jobId,
    queuedAt: seconds(e.queuedAt),
    ...(e.startedAt !== undefined ? { startedAt: seconds(e.startedAt) } : {}),
    lastUpdatedAt: seconds(e.lastUpdatedAt),
    versionNumber: e.versionNumber,
    executionNumber: e.executionNumber,
  };
}

/** JobExecution (jobs MQTT API), with the job document when it is given. */
export function executionDocument(thingName: string, e: ExecutionRecord, now: number, jobDocument?: string) {
  return {
    jobId: e.jobId,
    thingName,
    ...(jobDocument !== undefined ? { jobDocument: parseDocument(jobDocument) } : {}),
    status: e.status,
    ...(e.statusDetails !== undefined ? { statusDetails: e.statusDetails } : {}),
    queuedAt: seconds(e.queuedAt),
    ...(e.startedAt !== undefined ? { startedAt: seconds(e.startedAt) } : {}),
    lastUpdatedAt: seconds(e.lastUpdatedAt),
    ...secondsBeforeTimeout(e, now),
    versionNumber: e.versionNumber,
    executionNumber: e.executionNumber,
  };
}

/** JobExecutionState (the update reply's `executionState`). */
export const executionState = (e: Pick<ExecutionRecord, 'status' | 'versionNumber' | 'statusDetails'>) => ({
  status: e.status,
  ...(e.statusDetails !== undefined ? { statusDetails: e.statusDetails } : {}),
  versionNumber: e.versionNumber,
});

/** Job documents are JSON objects (CreateJob checks it); the MQTT API carries them as JSON, not text. */
function parseDocument(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The jobs MQTT API's error response. */
export function errorDocument(code: string, message: string, clientToken: string | undefined, now: number, state?: unknown) {
  return { code, message, ...(clientToken !== undefined ? { clientToken } : {}), timestamp: seconds(now), ...(state !== undefined ? { executionState: state } : {}) };
}

/** At most this many executions in a `notify` message (Jobs notifications: "no more than 15"). */
const NOTIFY_LIMIT = 15;

/**
 * What a change of a thing's executions publishes: `notify` (the pending list) when an
 * execution joined it, left it, or changed between QUEUED and IN_PROGRESS; `notify-next` when
 * the first pending execution is another one (without `execution` when none is left). A retry
 * (retry.ts) is another execution of the same job: a new execution number.
 */
export function notifications(thingName: string, before: ThingJobsRecord | undefined, after: ThingJobsRecord | undefined, jobDocument: (jobId: string) => string | undefined, now: number): AppendRecord[] {
  const was = pendingExecutions(before);
  const is = pendingExecutions(after);
  const shape = (list: ExecutionRecord[]) => list.map((e) => `${e.jobId}:${e.executionNumber}:${e.status}`).join(',');
  const out: { topic: string; body: object }[] = [];
  const base = `$aws/things/${thingName}/jobs`;
  if (shape(was) !== shape(is)) {
    const listed = is.slice(0, NOTIFY_LIMIT);
    const of = (status: string) => listed.filter((e) => e.status === status).map(executionSummary);
    const jobs = { ...(of('IN_PROGRESS').length > 0 ? { IN_PROGRESS: of('IN_PROGRESS') } : {}), ...(of('QUEUED').length > 0 ? { QUEUED: of('QUEUED') } : {}) };
    out.push({ topic: `${base}/notify`, body: { timestamp: seconds(now), jobs } });
  }
  const next = is[0];
  if (was[0]?.jobId !== next?.jobId || was[0]?.executionNumber !== next?.executionNumber) {
    out.push({ topic: `${base}/notify-next`, body: next ? { timestamp: seconds(now), execution: executionDocument(thingName, next, now, jobDocument(next.jobId)) } : { timestamp: seconds(now) } });
  }
  return out.map((m) => publication(thingName, m.topic, m.body, now));
}

/** A message the jobs service publishes, as the record appended to `iot.ingress`. */
export function publication(thingName: string, topic: string, body: object, now: number): AppendRecord {
  return envelopeRecord(createEnvelope({ topic, payload: Buffer.from(JSON.stringify(body)), qos: 1, thingName, receivedAt: now }));
}
