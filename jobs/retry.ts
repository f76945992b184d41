/**
 * Job execution retries (AWS IoT developer guide, "Job execution timeout and retry
 * configurations"; API reference, JobExecutionsRetryConfig, RetryCriteria) as pure functions.
 * An execution that ends FAILED or TIMED_OUT, while a criterion for that failure still allows a
 * retry, is followed at once by a new attempt of the same job on the same thing: QUEUED, with
 * the thing's next execution number and `retryAttempt` one more than the attempt it follows,
 * which the device is notified of (`notify`, `notify-next`) as of any new execution.
 *
 * kiot's reading: a FAILED or TIMED_OUT criterion counts the retries its failure caused; ALL
 * counts every retry; any criterion that still allows one retries. The new attempt replaces the
 * one that failed in the thing's record (one execution per job and thing), so the lists show the
 * latest attempt with its retryAttempt; the failed attempts are not kept.
 */
import { queuedExecution } from './execution.js';
import type { ExecutionRecord } from './model.js';

export const RETRY_FAILURE_TYPES = ['FAILED', 'TIMED_OUT', 'ALL'] as const;
export type RetryFailureType = (typeof RETRY_FAILURE_TYPES)[number];

export interface RetryCriterion {
  readonly failureType: RetryFailureType;
  readonly numberOfRetries: number;
}

/** AWS: numberOfRetries 0..10, one or two criteria. */
export const MAX_RETRIES = 10;

/** Why a jobExecutionsRetryConfig is not valid, or undefined. */
export function retryConfigProblem(config: unknown): string | undefined {
  const list = (config as { criteriaList?: unknown }).criteriaList;
  if (!Array.isArray(list) || list.length < 1 || list.length > 2) return 'jobExecutionsRetryConfig.criteriaList must hold one or two criteria';
  for (const [i, c] of list.entries()) {
    const at = `jobExecutionsRetryConfig.criteriaList[${i}]`;
    const { failureType, numberOfRetries: n } = (c ?? {}) as Record<string, unknown>;
    if (!(RETRY_FAILURE_TYPES as readonly unknown[]).includes(failureType)) return `${at}.failureType must be one of ${RETRY_FAILURE_TYPES.join(', ')}`;
    if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > MAX_RETRIES) return `${at}.numberOfRetries must be a whole number from 0 to ${MAX_RETRIES}`;
  }
  return undefined;
}

export const retryCriteriaOf = (configs: Readonly<Record<string, unknown>>): readonly RetryCriterion[] => (configs['jobExecutionsRetryConfig'] as { criteriaList?: RetryCriterion[] } | undefined)?.criteriaList ?? [];

/**
 * The attempt that follows `ended` (just FAILED or TIMED_OUT), numbered `executionNumber`, or
 * undefined when no criterion allows another retry.
 */
export function retryOf(criteria: readonly RetryCriterion[], ended: ExecutionRecord, executionNumber: number, now: number): ExecutionRecord | undefined {
  if (ended.status !== 'FAILED' && ended.status !== 'TIMED_OUT') return undefined;
  const cause = ended.status;
  const attempt = ended.retryAttempt ?? 0;
  const byCause = ended.retries?.[cause] ?? 0;
  const allowed = criteria.some((c) => (c.failureType === 'ALL' ? attempt < c.numberOfRetries : c.failureType === cause && byCause < c.numberOfRetries));
  if (!allowed) return undefined;
  return { ...queuedExecution(ended.jobId, executionNumber, now), retryAttempt: attempt + 1, retries: { ...ended.retries, [cause]: byCause + 1 } };
}
