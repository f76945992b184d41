/**
 * The one backoff and the one abortable sleep: every retry loop in kiot (action retries, the
 * bridge's reconnects, shadow requests whose owner went away, the logs' handler and fetch
 * retries) waits with these, so that a fix to either reaches all of them.
 */

/** How long to wait before a retry: doubles from the initial delay up to the maximum. */
export interface BackoffPolicy {
  /** Backoff before the first retry; doubles for each further one. */
  readonly initialBackoffMs: number;
  /** Upper bound of a single backoff. */
  readonly maxBackoffMs: number;
}

/** Beyond this the doubling has long passed any sensible maximum; it keeps `2 ** attempt` finite. */
const MAX_DOUBLINGS = 30;

/** The upper bound of the backoff before retry number `attempt` (0-based), before jitter. */
export function backoffCeilingMs(policy: BackoffPolicy, attempt: number): number {
  return Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(Math.max(attempt, 0), MAX_DOUBLINGS));
}

/**
 * The backoff before retry number `attempt` (0-based): half of the ceiling fixed, half random,
 * so that clients that failed together (bridges after a broker restart, actions after a target
 * outage) do not retry in step.
 */
export function backoffMs(policy: BackoffPolicy, attempt: number): number {
  const ceiling = backoffCeilingMs(policy, attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/**
 * Resolves true after `ms`, or false as soon as `signal` aborts (at once if it already has).
 * Never rejects. The abort listener is removed when the timer fires, so a loop that sleeps
 * many times on one long-lived signal does not pile listeners up on it.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
