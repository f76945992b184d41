/**
 * How an action retries a failed write: exponential backoff with jitter, bounded by a
 * number of retries, so that one failing target holds its records for a known time at most
 * (issue #4: "never blocks other rules for longer than its retry bound").
 */
import { backoffCeilingMs, type BackoffPolicy } from '../../core/index.js';

/** The backoff between attempts is core's one backoff (core/backoff.ts). */
export interface RetryPolicy extends BackoffPolicy {
  /** Retries after the first attempt; 0 fails on the first error. */
  readonly retries: number;
}

/**
 * Defaults: 5 retries from 200 ms, capped at 5 s, so a record gives up after at most about
 * 0.2 + 0.4 + 0.8 + 1.6 + 3.2 = 6.2 s of backoff plus the attempts themselves (AWS IoT retries
 * its HTTP action for a similar few seconds before it calls the error action).
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ retries: 5, initialBackoffMs: 200, maxBackoffMs: 5_000 });

/** The longest time retries of one record can take in backoff (for tests and docs). */
export function retryBoundMs(policy: RetryPolicy): number {
  let total = 0;
  for (let i = 0; i < policy.retries; i++) total += backoffCeilingMs(policy, i);
  return total;
}
