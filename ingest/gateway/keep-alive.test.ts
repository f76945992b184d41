import { expect, test } from 'vitest';
import { KeepAliveWatch, type KeepAliveClient } from './keep-alive.js';
import type { GatewayClock } from '../clock.js';
import { ManualClock } from './testing/manual-clock.js';

function client(clock: { now(): number }, expired: string[], name: string): KeepAliveClient & { lastSeen: number } {
  return { lastSeen: clock.now(), keepAliveSec: 0, keepAliveExpired: () => void expired.push(name) };
}

test('clients silent for 1.5 times their keep-alive expire; one timer per keep-alive value, gone with its last client', () => {
  const manual = new ManualClock(0);
  // The manual clock, counting the intervals that are running.
  let running = 0;
  const clock: GatewayClock & { advance(ms: number): void } = {
    now: () => manual.now(),
    after: (ms, cb) => manual.after(ms, cb),
    every: (ms, cb) => {
      running++;
      const t = manual.every(ms, cb);
      return { cancel: () => (running--, t.cancel()) };
    },
    advance: (ms) => manual.advance(ms),
  };
  const watch = new KeepAliveWatch(clock);
  const expired: string[] = [];
  const a = client(clock, expired, 'a');
  const b = client(clock, expired, 'b');
  const c = client(clock, expired, 'c');
  watch.watch(a, 10);
  watch.watch(b, 10);
  watch.watch(c, 60);
  expect(watch.size).toBe(3);
  expect(running).toBe(2);
  clock.advance(10_000);
  b.lastSeen = clock.now(); // b speaks
  clock.advance(10_000); // checked every 5 s: at 20 s a has been silent for 20 s (> 15 s), b for 10 s
  expect(expired).toEqual(['a']);
  expect(a.keepAliveSec).toBe(0);
  watch.unwatch(b);
  expect(running).toBe(1);
  clock.advance(100_000); // c: checked every 30 s, silent 120 s (> 90 s) at the check at 120 s
  expect(expired).toEqual(['a', 'c']);
  expect(watch.size).toBe(0);
  expect(running).toBe(0);
});
