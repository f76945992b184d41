import { backoffMs, sleep } from '../backoff.js';
import { PlatformError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Pauses before asking again: from 0.5 s, doubling, up to 5 s (core/backoff.ts). */
const RETRY_BACKOFF = Object.freeze({ initialBackoffMs: 500, maxBackoffMs: 5_000 });

export interface AskAgainOptions {
  readonly logger: Logger;
  /** True once the caller is stopping: the last retriable error is then thrown instead. */
  readonly stopping: () => boolean;
  /** Logged (warn) with `fields` and the attempt before each new attempt. */
  readonly message: string;
  readonly fields?: Record<string, unknown>;
}

/**
 * Runs `task` until it ends with anything but a retriable PlatformError: for a request read
 * from the log and run as a routed command (core/state/router.ts), whose key's owner went away
 * (a process died, the group is rebalancing); the next owner runs it, and the old one skips it
 * once its deadline has passed.
 */
export async function askUntilAnswered<R>(task: () => Promise<R>, options: AskAgainOptions): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await task();
    } catch (err) {
      if (!(err instanceof PlatformError && err.retriable) || options.stopping()) throw err;
      options.logger.warn({ err, ...options.fields, attempt }, options.message);
      await sleep(backoffMs(RETRY_BACKOFF, attempt - 1));
    }
  }
}
