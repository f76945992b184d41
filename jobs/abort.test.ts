/** Abort criteria as a pure decision over counts (abort.ts). */
import { expect, test } from 'vitest';
import { abortComment, abortConfigProblem, abortDecision, type AbortCriterion } from './abort.js';
import { emptyCounts } from './commands.js';

const counts = (c: Partial<ReturnType<typeof emptyCounts>>) => ({ ...emptyCounts(), ...c });
const criterion = (c: Partial<AbortCriterion>): AbortCriterion => ({ failureType: 'FAILED', action: 'CANCEL', thresholdPercentage: 50, minNumberOfExecutedThings: 4, ...c });

test('no abort before minNumberOfExecutedThings things were notified, whatever failed', () => {
  expect(abortDecision([criterion({})], counts({ FAILED: 3 }), 3)).toBeUndefined();
  expect(abortDecision([criterion({})], counts({ FAILED: 3, QUEUED: 1 }), 4)).toMatchObject({ failures: 3, notified: 4 });
});

test('the threshold is a percentage of the things notified, reached inclusively', () => {
  expect(abortDecision([criterion({ thresholdPercentage: 50 })], counts({ FAILED: 1, QUEUED: 3 }), 4)).toBeUndefined();
  expect(abortDecision([criterion({ thresholdPercentage: 50 })], counts({ FAILED: 2, QUEUED: 2 }), 4)).toBeDefined();
  expect(abortDecision([criterion({ thresholdPercentage: 33.33, minNumberOfExecutedThings: 1 })], counts({ FAILED: 1, SUCCEEDED: 2 }), 3)).toBeDefined();
});

test('failureType picks what counts; ALL counts FAILED, REJECTED and TIMED_OUT together; the first criterion met wins', () => {
  const c = counts({ FAILED: 1, REJECTED: 1, TIMED_OUT: 1, SUCCEEDED: 3 });
  expect(abortDecision([criterion({ failureType: 'REJECTED' })], c, 6)).toBeUndefined();
  expect(abortDecision([criterion({ failureType: 'TIMED_OUT', thresholdPercentage: 10 })], c, 6)?.failures).toBe(1);
  const all = abortDecision([criterion({ failureType: 'REJECTED' }), criterion({ failureType: 'ALL' })], c, 6);
  expect(all).toMatchObject({ criterion: { failureType: 'ALL' }, failures: 3 });
  expect(abortComment(all!)).toContain('3 of 6 notified things');
});

test('configs are checked against the reference', () => {
  expect(abortConfigProblem({ criteriaList: [criterion({})] })).toBeUndefined();
  expect(abortConfigProblem({ criteriaList: [] })).toMatch(/at least one/);
  expect(abortConfigProblem({ criteriaList: [{ ...criterion({}), action: 'STOP' }] })).toMatch(/action/);
  expect(abortConfigProblem({ criteriaList: [criterion({ failureType: 'REMOVED' as never })] })).toMatch(/failureType/);
  expect(abortConfigProblem({ criteriaList: [criterion({ thresholdPercentage: 10.999 })] })).toMatch(/two digits/);
  expect(abortConfigProblem({ criteriaList: [criterion({ thresholdPercentage: 10.99 })] })).toBeUndefined();
  expect(abortConfigProblem({ criteriaList: [criterion({ minNumberOfExecutedThings: 0 })] })).toMatch(/minNumberOfExecutedThings/);
});
