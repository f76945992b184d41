/**
 * Rollout rates (AWS IoT developer guide, "Job rollout, scheduling, and abort configurations";
 * API reference, JobExecutionsRolloutConfig, ExponentialRolloutRate, RateIncreaseCriteria) as
 * pure functions of the job's RolloutState (model.ts) and the time: how many more things a job
 * may notify now. The service's timer loop asks the job's owner to take a step
 * (`jobs.rollout-step`), queues what it released, then records that they are queued
 * (`jobs.rollout-queued`); the position lives in the job's record, so a restart goes on from it.
 *
 * Rate: at most `ratePerMinute` things are released in each minute window; a window opens when
 * the first step after the previous one's minute runs. With exponentialRate the rate starts at
 * baseRatePerMinute and, when a window opens, is multiplied by incrementFactor (rounded down,
 * at least +1) if numberOfNotifiedThings things were notified, or numberOfSucceededThings
 * succeeded, since the last increase; maximumPerMinute (default 1000) caps it.
 */
import type { RolloutState } from './model.js';

export interface RolloutConfig {
  readonly maximumPerMinute?: number;
  readonly exponentialRate?: {
    readonly baseRatePerMinute: number;
    readonly incrementFactor: number;
    readonly rateIncreaseCriteria: { readonly numberOfNotifiedThings?: number; readonly numberOfSucceededThings?: number };
  };
}

/** AWS's ranges (API reference): maximumPerMinute and baseRatePerMinute 1..1000, incrementFactor 1.1..5 (one decimal), criteria >= 1. */
export const ROLLOUT_LIMITS = { maxPerMinute: 1000, minFactor: 1.1, maxFactor: 5 } as const;

const WINDOW_MS = 60_000;

/**
 * How long the process queuing a rollout's released things holds that range after its last
 * progress (a chunk of ROLLOUT_CHUNK things queued) before another process may take it over.
 */
export const ROLLOUT_LEASE_MS = 15_000;

const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): v is number => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/** Why a jobExecutionsRolloutConfig is not valid, or undefined. */
export function rolloutConfigProblem(config: unknown): string | undefined {
  const c = config as Record<string, unknown>;
  if (c['maximumPerMinute'] !== undefined && !isInt(c['maximumPerMinute'], 1, ROLLOUT_LIMITS.maxPerMinute)) return 'jobExecutionsRolloutConfig.maximumPerMinute must be a whole number from 1 to 1000';
  const e = c['exponentialRate'] as Record<string, unknown> | undefined;
  if (e === undefined) return undefined;
  if (typeof e !== 'object' || e === null) return 'jobExecutionsRolloutConfig.exponentialRate must be an object';
  if (!isInt(e['baseRatePerMinute'], 1, ROLLOUT_LIMITS.maxPerMinute)) return 'jobExecutionsRolloutConfig.exponentialRate.baseRatePerMinute must be a whole number from 1 to 1000';
  const f = e['incrementFactor'];
  if (typeof f !== 'number' || f < ROLLOUT_LIMITS.minFactor || f > ROLLOUT_LIMITS.maxFactor || Math.round(f * 10) !== f * 10) return 'jobExecutionsRolloutConfig.exponentialRate.incrementFactor must be from 1.1 to 5, with at most one digit after the decimal';
  const r = e['rateIncreaseCriteria'] as Record<string, unknown> | undefined;
  if (typeof r !== 'object' || r === null) return 'jobExecutionsRolloutConfig.exponentialRate.rateIncreaseCriteria is required';
  const notified = r['numberOfNotifiedThings'];
  const succeeded = r['numberOfSucceededThings'];
  if (notified === undefined && succeeded === undefined) return 'jobExecutionsRolloutConfig.exponentialRate.rateIncreaseCriteria must give numberOfNotifiedThings or numberOfSucceededThings';
  if (notified !== undefined && !isInt(notified, 1)) return 'rateIncreaseCriteria.numberOfNotifiedThings must be a whole number of at least 1';
  if (succeeded !== undefined && !isInt(succeeded, 1)) return 'rateIncreaseCriteria.numberOfSucceededThings must be a whole number of at least 1';
  return undefined;
}

/** The job's rollout config when it limits the rate, else undefined (every execution is queued at once). */
export function rolloutConfigOf(configs: Readonly<Record<string, unknown>>): RolloutConfig | undefined {
  const c = configs['jobExecutionsRolloutConfig'] as RolloutConfig | undefined;
  return c && (c.maximumPerMinute !== undefined || c.exponentialRate !== undefined) ? c : undefined;
}

const maximumOf = (config: RolloutConfig): number => config.maximumPerMinute ?? ROLLOUT_LIMITS.maxPerMinute;

/** A rollout of `total` things that has released none yet (no config: no rate, all go at the first step). */
export function startRollout(config: RolloutConfig | undefined, total: number, now: number): RolloutState {
  const rate = config ? Math.min(maximumOf(config), config.exponentialRate?.baseRatePerMinute ?? maximumOf(config)) : ROLLOUT_LIMITS.maxPerMinute;
  return { total, released: 0, queued: 0, windowStartAt: now, windowCount: 0, ratePerMinute: rate, notifiedAtIncrease: 0, succeededAtIncrease: 0 };
}

/**
 * The rate of the window that opens: maximumPerMinute as it is now (UpdateJob may change it),
 * or the exponential rate, raised once if its criteria were met, and capped by maximumPerMinute.
 */
function raised(config: RolloutConfig, state: RolloutState, succeeded: number): RolloutState {
  const e = config.exponentialRate;
  if (!e) return { ...state, ratePerMinute: maximumOf(config) };
  if (state.ratePerMinute >= maximumOf(config)) return { ...state, ratePerMinute: maximumOf(config) };
  const { numberOfNotifiedThings: notified, numberOfSucceededThings: succeededNeeded } = e.rateIncreaseCriteria;
  const met = (notified !== undefined && state.released - state.notifiedAtIncrease >= notified) || (succeededNeeded !== undefined && succeeded - state.succeededAtIncrease >= succeededNeeded);
  if (!met) return state;
  const rate = Math.min(maximumOf(config), Math.max(state.ratePerMinute + 1, Math.floor(state.ratePerMinute * e.incrementFactor)));
  return { ...state, ratePerMinute: rate, notifiedAtIncrease: state.released, succeededAtIncrease: succeeded };
}

/**
 * One step of the rollout at `now`, given how many of the job's executions have SUCCEEDED:
 * the state with `released` moved on as far as the rate allows (unchanged when nothing more
 * may go yet, or everything went). Without a config (a job with no rate), everything goes.
 */
export function rolloutStep(config: RolloutConfig | undefined, state: RolloutState, now: number, succeeded: number): RolloutState {
  if (state.released >= state.total) return state;
  if (!config) return { ...state, released: state.total };
  // The rate changes between windows only: a window never releases more than the rate it began with.
  let next = state;
  if (now >= next.windowStartAt + WINDOW_MS) next = { ...raised(config, next, succeeded), windowStartAt: now, windowCount: 0 };
  const release = Math.min(next.ratePerMinute - next.windowCount, next.total - next.released);
  if (release <= 0) return next;
  return { ...next, released: next.released + release, windowCount: next.windowCount + release };
}

/** When the next step may release more (ms), or undefined when all were released. */
export function nextReleaseAt(state: RolloutState): number | undefined {
  if (state.released >= state.total) return undefined;
  return state.windowCount < state.ratePerMinute ? state.windowStartAt : state.windowStartAt + WINDOW_MS;
}
