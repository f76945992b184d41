/**
 * How an action retries a failed write: exponential backoff with full jitter, bounded by a
 * number of retries, so that one failing target holds its records for a known time at most
 * (issue #4: "never blocks other rules for longer than its retry bound").
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface RetryPolicy {
  /** Retries after the first attempt; 0 fails on the first error. */
  readonly retries: number;
  /** Backoff before the first retry; doubles for each further one. */
  readonly initialBackoffMs: number;
  /** Upper bound of a single backoff. */
  readonly maxBackoffMs: number;
}

/**
 * Defaults: 5 retries from 200 ms, capped at 5 s, so a record gives up after at most about
 * 0.2 + 0.4 + 0.8 + 1.6 + 3.2 = 6.2 s of backoff plus the attempts themselves (AWS IoT retries
 * its HTTP action for a similar few seconds before it calls the error action).
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ retries: 5, initialBackoffMs: 200, maxBackoffMs: 5_000 });

/** Backoff before retry number `attempt` (0-based): half fixed, half random, so retries spread. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** The longest time retries of one record can take in backoff (for tests and docs). */
export function retryBoundMs(policy: RetryPolicy): number {
  let total = 0;
  for (let i = 0; i < policy.retries; i++) total += Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** i);
  return total;
}

/** Resolves after `ms`, or false at once when `signal` aborts. */
export async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
