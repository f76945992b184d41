/**
 * A clock for gateway tests: time moves only when the test calls `advance`, and every timer
 * that falls due fires then, in order. Tests wait on the events that follow instead of sleeping.
 */
import type { ClockTimer, GatewayClock } from '../../clock.js';

interface Scheduled {
  at: number;
  readonly seq: number;
  readonly intervalMs: number | undefined;
  readonly callback: () => void;
}

export class ManualClock implements GatewayClock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<Scheduled>();

  constructor(start: number = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(delayMs: number, callback: () => void): ClockTimer {
    return this.#schedule(Math.max(0, delayMs), undefined, callback);
  }

  every(intervalMs: number, callback: () => void): ClockTimer {
    return this.#schedule(intervalMs, intervalMs, callback);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, earliest first. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: Scheduled | undefined;
      for (const t of this.#timers) if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.#now = next.at;
      if (next.intervalMs === undefined) this.#timers.delete(next);
      else next.at += Math.max(1, next.intervalMs);
      next.callback();
    }
    this.#now = target;
  }

  #schedule(delayMs: number, intervalMs: number | undefined, callback: () => void): ClockTimer {
    const timer: Scheduled = { at: this.#now + delayMs, seq: this.#seq++, intervalMs, callback };
    this.#timers.add(timer);
    return {
      cancel: () => {
        this.#timers.delete(timer);
      },
    };
  }
}
