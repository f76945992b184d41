import { describe, expect, test } from 'vitest';
import { backoffCeilingMs, backoffMs, sleep } from './backoff.js';

describe('backoffMs', () => {
  const policy = { initialBackoffMs: 200, maxBackoffMs: 5_000 };

  test('doubles from the initial delay up to the maximum', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffCeilingMs(policy, a))).toEqual([200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    expect(backoffCeilingMs(policy, 10_000)).toBe(5_000);
  });

  test('is jittered between half the ceiling and the ceiling', () => {
    const delays = Array.from({ length: 200 }, () => backoffMs(policy, 2));
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
    expect(new Set(delays).size).toBeGreaterThan(1);
  });
});

describe('sleep', () => {
  test('resolves true after the delay and leaves no listener on the signal', async () => {
    const controller = new AbortController();
    const removed: string[] = [];
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.removeEventListener = (type: string, listener: never, options?: never) => {
      removed.push(type);
      remove(type, listener, options);
    };
    for (let i = 0; i < 20; i++) expect(await sleep(1, controller.signal)).toBe(true);
    expect(removed).toEqual(Array(20).fill('abort'));
  });

  test('resolves false as soon as the signal aborts, or at once if it has', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const slept = sleep(60_000, controller.signal);
    controller.abort();
    expect(await slept).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await sleep(60_000, controller.signal)).toBe(false);
  });

  test('sleeps without a signal', async () => {
    expect(await sleep(1)).toBe(true);
  });
});
