/**
 * Abort criteria (AWS IoT developer guide, "Job rollout, scheduling, and abort
 * configurations"; API reference, AbortConfig, AbortCriteria) as a pure decision over a job's
 * execution counts. When a criterion is met the service cancels the job as CancelJob without
 * force does: the job becomes CANCELED, its QUEUED executions CANCELED, the IN_PROGRESS ones
 * finish (or time out) as they would after a CancelJob, and nothing more is rolled out.
 *
 * kiot's reading where the reference is terse: a criterion counts the things notified (every
 * execution the job has, whatever its status) and its failures (FAILED, REJECTED, TIMED_OUT,
 * or all three for ALL); it is met once at least minNumberOfExecutedThings things were
 * notified and failures are at least thresholdPercentage of them. An execution that will be
 * retried (jobExecutionsRetryConfig) is QUEUED again, so only its last attempt counts.
 */
import type { ExecutionStatus } from './model.js';

export const ABORT_FAILURE_TYPES = ['FAILED', 'REJECTED', 'TIMED_OUT', 'ALL'] as const;
export type AbortFailureType = (typeof ABORT_FAILURE_TYPES)[number];

export interface AbortCriterion {
  readonly failureType: AbortFailureType;
  readonly action: 'CANCEL';
  readonly thresholdPercentage: number;
  readonly minNumberOfExecutedThings: number;
}

/** What kiot writes on a job its abort criteria canceled (AWS does not document its values). */
export const ABORT_REASON_CODE = 'ABORT_CRITERIA_MET';

/** Why an abortConfig is not valid (API reference, AbortCriteria), or undefined. */
export function abortConfigProblem(config: unknown): string | undefined {
  const list = (config as { criteriaList?: unknown }).criteriaList;
  if (!Array.isArray(list) || list.length === 0) return 'abortConfig.criteriaList must hold at least one criterion';
  for (const [i, c] of list.entries()) {
    const at = `abortConfig.criteriaList[${i}]`;
    if (typeof c !== 'object' || c === null) return `${at} must be an object`;
    const { failureType, action, thresholdPercentage: t, minNumberOfExecutedThings: m } = c as Record<string, unknown>;
    if (!(ABORT_FAILURE_TYPES as readonly unknown[]).includes(failureType)) return `${at}.failureType must be one of ${ABORT_FAILURE_TYPES.join(', ')}`;
    if (action !== 'CANCEL') return `${at}.action must be CANCEL`;
    if (typeof t !== 'number' || !(t > 0 && t <= 100) || Math.abs(t * 100 - Math.round(t * 100)) > 1e-9) return `${at}.thresholdPercentage must be above 0 and at most 100, with at most two digits after the decimal`;
    if (!Number.isInteger(m) || (m as number) < 1) return `${at}.minNumberOfExecutedThings must be a whole number of at least 1`;
  }
  return undefined;
}

export const abortCriteriaOf = (configs: Readonly<Record<string, unknown>>): readonly AbortCriterion[] => (configs['abortConfig'] as { criteriaList?: AbortCriterion[] } | undefined)?.criteriaList ?? [];

const failuresOf = (type: AbortFailureType, counts: Readonly<Record<ExecutionStatus, number>>): number =>
  type === 'ALL' ? counts.FAILED + counts.REJECTED + counts.TIMED_OUT : counts[type];

/** The first criterion the counts meet, with the numbers that met it; undefined when none is. */
export function abortDecision(criteria: readonly AbortCriterion[], counts: Readonly<Record<ExecutionStatus, number>>, notified: number): { criterion: AbortCriterion; failures: number; notified: number } | undefined {
  for (const criterion of criteria) {
    if (notified < criterion.minNumberOfExecutedThings) continue;
    const failures = failuresOf(criterion.failureType, counts);
    if (failures > 0 && (failures * 100) / notified >= criterion.thresholdPercentage) return { criterion, failures, notified };
  }
  return undefined;
}

/** The comment kiot writes on an aborted job. */
export const abortComment = (d: { criterion: AbortCriterion; failures: number; notified: number }): string =>
  `abortConfig: ${d.failures} of ${d.notified} notified things ${d.criterion.failureType === 'ALL' ? 'failed, were rejected or timed out' : `are ${d.criterion.failureType}`} (threshold ${d.criterion.thresholdPercentage}%, minNumberOfExecutedThings ${d.criterion.minNumberOfExecutedThings})`;
