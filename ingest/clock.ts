/**
 * Time as the gateway sees it: the wall clock and its timers (session expiry, will delay,
 * keep-alive, connect timeout). Injectable so that tests move time forward and wait on events
 * instead of sleeping (`ingest/gateway/testing/manual-clock.ts`).
 */
import type { Clock } from '../core/index.js';

/** A pending timer, as `GatewayClock` hands it out; only `cancel` it. */
export interface ClockTimer {
  cancel(): void;
}

export interface GatewayClock extends Clock {
  /**
   * Calls `callback` once after `delayMs`. The timer never keeps the process alive (a stopped
   * gateway leaves nothing behind that waits).
   */
  after(delayMs: number, callback: () => void): ClockTimer;
  /** Calls `callback` every `intervalMs` until cancelled; never keeps the process alive either. */
  every(intervalMs: number, callback: () => void): ClockTimer;
}

/** Node's timers cap a delay at 2^31-1 ms (about 24.8 days); longer waits fire then, early. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The real clock: `Date.now()` and unref'd Node timers. */
export const systemGatewayClock: GatewayClock = {
  now: () => Date.now(),
  after(delayMs, callback) {
    const timer = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
  every(intervalMs, callback) {
    const timer = setInterval(callback, intervalMs);
    timer.unref();
    return { cancel: () => clearInterval(timer) };
  },
};
