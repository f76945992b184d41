/** Rollout rates as pure decisions (rollout.ts): no log, no clock but the one given. */
import { expect, test } from 'vitest';
import { nextReleaseAt, rolloutConfigProblem, rolloutStep, startRollout, type RolloutConfig } from './rollout.js';

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;

/** Steps once a second for `seconds`, answering how many were released at each minute's end. */
function run(config: RolloutConfig, total: number, minutes: number, succeeded: (released: number) => number = () => 0): number[] {
  let state = startRollout(config, total, T0);
  const perMinute: number[] = [];
  for (let m = 0; m < minutes; m++) {
    for (let s = 0; s < 60; s++) state = rolloutStep(config, state, T0 + m * MIN + s * 1000, succeeded(state.released));
    perMinute.push(state.released);
  }
  return perMinute;
}

test('maximumPerMinute: no more than the rate in any minute, all of it at the start of each window', () => {
  expect(run({ maximumPerMinute: 3 }, 10, 5)).toEqual([3, 6, 9, 10, 10]);
  let state = startRollout({ maximumPerMinute: 3 }, 10, T0);
  state = rolloutStep({ maximumPerMinute: 3 }, state, T0, 0);
  expect(state).toMatchObject({ released: 3, windowCount: 3, queued: 0 });
  // Nothing more until the minute is over, then the next window opens.
  expect(rolloutStep({ maximumPerMinute: 3 }, state, T0 + MIN - 1, 0)).toEqual(state);
  expect(nextReleaseAt(state)).toBe(T0 + MIN);
  expect(rolloutStep({ maximumPerMinute: 3 }, state, T0 + MIN, 0)).toMatchObject({ released: 6, windowStartAt: T0 + MIN });
});

test('a rollout that released everything stays as it is', () => {
  const config = { maximumPerMinute: 1000 };
  const state = rolloutStep(config, startRollout(config, 5, T0), T0, 0);
  expect(state.released).toBe(5);
  expect(rolloutStep(config, state, T0 + 10 * MIN, 0)).toBe(state);
  expect(nextReleaseAt(state)).toBeUndefined();
});

test('exponentialRate: the guide example, 50 a minute doubled each 1000 notified, capped by maximumPerMinute', () => {
  const config: RolloutConfig = { maximumPerMinute: 300, exponentialRate: { baseRatePerMinute: 50, incrementFactor: 2, rateIncreaseCriteria: { numberOfNotifiedThings: 100 } } };
  const released = run(config, 10_000, 6);
  // 50, 50 (100 notified since the start: x2), 100 (100 more: x2), 200, then 300 (the cap).
  expect(released.map((r, i) => r - (released[i - 1] ?? 0))).toEqual([50, 50, 100, 200, 300, 300]);
});

test('exponentialRate on succeeded things: the rate rises once that many succeeded since the last rise', () => {
  const config: RolloutConfig = { exponentialRate: { baseRatePerMinute: 10, incrementFactor: 1.5, rateIncreaseCriteria: { numberOfSucceededThings: 10 } } };
  // Nothing succeeds: the rate stays at the base.
  expect(run(config, 1000, 3)).toEqual([10, 20, 30]);
  // Every released thing succeeds at once: 10, 15, 22.
  const released = run(config, 1000, 3, (r) => r);
  expect(released.map((r, i) => r - (released[i - 1] ?? 0))).toEqual([10, 15, 22]);
});

test('configs are checked against the reference ranges', () => {
  expect(rolloutConfigProblem({ maximumPerMinute: 1000 })).toBeUndefined();
  expect(rolloutConfigProblem({ maximumPerMinute: 0 })).toMatch(/maximumPerMinute/);
  expect(rolloutConfigProblem({ maximumPerMinute: 1001 })).toMatch(/maximumPerMinute/);
  expect(rolloutConfigProblem({ exponentialRate: { baseRatePerMinute: 5, incrementFactor: 1.55, rateIncreaseCriteria: { numberOfNotifiedThings: 1 } } })).toMatch(/incrementFactor/);
  expect(rolloutConfigProblem({ exponentialRate: { baseRatePerMinute: 5, incrementFactor: 1.5, rateIncreaseCriteria: {} } })).toMatch(/rateIncreaseCriteria/);
  expect(rolloutConfigProblem({ exponentialRate: { baseRatePerMinute: 5, incrementFactor: 1.5, rateIncreaseCriteria: { numberOfSucceededThings: 2 } } })).toBeUndefined();
});

test('without a rate everything is released at the first step; a new maximumPerMinute applies from the next window', () => {
  expect(rolloutStep(undefined, startRollout(undefined, 5000, T0), T0, 0)).toMatchObject({ released: 5000 });
  let state = rolloutStep({ maximumPerMinute: 2 }, startRollout({ maximumPerMinute: 2 }, 100, T0), T0, 0);
  state = rolloutStep({ maximumPerMinute: 5 }, state, T0 + 1000, 0);
  expect(state.released).toBe(2);
  expect(rolloutStep({ maximumPerMinute: 5 }, state, T0 + MIN, 0)).toMatchObject({ released: 7, ratePerMinute: 5 });
});
