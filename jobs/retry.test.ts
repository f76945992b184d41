/** Retries as pure decisions (retry.ts), and membership decisions of CONTINUOUS jobs (continuous.ts). */
import { expect, test } from 'vitest';
import { decodeEnvelope } from '../core/index.js';
import { membershipAction } from './continuous.js';
import { queuedExecution } from './execution.js';
import type { ExecutionRecord, ExecutionStatus, ThingJobsRecord } from './model.js';
import { notifications } from './mqtt.js';
import { retryConfigProblem, retryOf } from './retry.js';

const T0 = Date.UTC(2026, 0, 1);
const ended = (status: ExecutionStatus, extra: Partial<ExecutionRecord> = {}): ExecutionRecord => ({ ...queuedExecution('fw', 3, T0), status, versionNumber: 3, ...extra });

test('a FAILED execution is followed by a QUEUED attempt with the next number and retryAttempt + 1, until the criterion runs out', () => {
  const criteria = [{ failureType: 'FAILED' as const, numberOfRetries: 2 }];
  const first = retryOf(criteria, ended('FAILED'), 7, T0 + 1)!;
  expect(first).toEqual({ jobId: 'fw', status: 'QUEUED', versionNumber: 1, executionNumber: 7, queuedAt: T0 + 1, lastUpdatedAt: T0 + 1, retryAttempt: 1, retries: { FAILED: 1 } });
  const second = retryOf(criteria, { ...first, status: 'FAILED' }, 8, T0 + 2)!;
  expect(second).toMatchObject({ retryAttempt: 2, retries: { FAILED: 2 }, executionNumber: 8 });
  expect(retryOf(criteria, { ...second, status: 'FAILED' }, 9, T0 + 3)).toBeUndefined();
});

test('each failure type counts its own retries; ALL counts them all; other statuses are never retried', () => {
  const criteria = [{ failureType: 'FAILED' as const, numberOfRetries: 1 }, { failureType: 'TIMED_OUT' as const, numberOfRetries: 1 }];
  const afterFailure = retryOf(criteria, ended('FAILED'), 4, T0)!;
  expect(retryOf(criteria, { ...afterFailure, status: 'TIMED_OUT' }, 5, T0)).toMatchObject({ retryAttempt: 2, retries: { FAILED: 1, TIMED_OUT: 1 } });
  expect(retryOf(criteria, { ...afterFailure, status: 'FAILED' }, 5, T0)).toBeUndefined();
  const all = [{ failureType: 'ALL' as const, numberOfRetries: 1 }];
  expect(retryOf(all, ended('TIMED_OUT'), 4, T0)).toMatchObject({ retryAttempt: 1 });
  expect(retryOf(all, ended('TIMED_OUT', { retryAttempt: 1 }), 4, T0)).toBeUndefined();
  for (const status of ['REJECTED', 'SUCCEEDED', 'CANCELED', 'REMOVED'] as const) expect(retryOf(all, ended(status), 4, T0)).toBeUndefined();
  expect(retryOf([{ failureType: 'TIMED_OUT', numberOfRetries: 3 }], ended('FAILED'), 4, T0)).toBeUndefined();
});

test('retry configs: one or two criteria, numberOfRetries 0 to 10', () => {
  expect(retryConfigProblem({ criteriaList: [{ failureType: 'ALL', numberOfRetries: 10 }] })).toBeUndefined();
  expect(retryConfigProblem({ criteriaList: [{ failureType: 'ALL', numberOfRetries: 11 }] })).toMatch(/0 to 10/);
  expect(retryConfigProblem({ criteriaList: [{ failureType: 'REJECTED', numberOfRetries: 1 }] })).toMatch(/failureType/);
  expect(retryConfigProblem({ criteriaList: [] })).toMatch(/one or two/);
});

test('CONTINUOUS membership: a covered thing without an execution (or a REMOVED one) is queued; an uncovered QUEUED one removed', () => {
  expect(membershipAction(true, undefined)).toBe('queue');
  expect(membershipAction(true, ended('REMOVED'))).toBe('queue');
  expect(membershipAction(true, ended('SUCCEEDED'))).toBeUndefined();
  expect(membershipAction(true, ended('QUEUED'))).toBeUndefined();
  expect(membershipAction(false, ended('QUEUED'))).toBe('remove');
  expect(membershipAction(false, ended('IN_PROGRESS'))).toBeUndefined();
  expect(membershipAction(false, undefined)).toBeUndefined();
});

test('a retry notifies the device again: notify and notify-next carry the new attempt, even when the failed one was QUEUED', () => {
  const thing = (e: ExecutionRecord): ThingJobsRecord => ({ kind: 'thing', thingName: 'd', nextExecutionNumber: e.executionNumber + 1, executions: { fw: e } });
  const failedWhileQueued = ended('QUEUED');
  const again = retryOf([{ failureType: 'ALL', numberOfRetries: 1 }], { ...failedWhileQueued, status: 'FAILED' }, 4, T0)!;
  const sent = notifications('d', thing(failedWhileQueued), thing(again), () => '{}', T0).map((r) => decodeEnvelope(Buffer.from(r.value!)));
  expect(sent.map((e) => e.topic)).toEqual(['$aws/things/d/jobs/notify', '$aws/things/d/jobs/notify-next']);
  expect(JSON.parse(sent[1]!.payload.toString()).execution).toMatchObject({ jobId: 'fw', status: 'QUEUED', executionNumber: 4 });
});
