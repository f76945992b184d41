/**
 * The rollout driver: the I/O around rollout.ts. CreateJob of a job with a rollout rate writes
 * the things it targets, in order, as `rollout/<jobId>/<n>` records (ROLLOUT_CHUNK names each,
 * a few records per append, so the request holds one batch at a time beyond the names it was
 * given) and starts the rollout in the job's record; from then on the service's timer loop
 * drives it here: the job's owner releases what the rate allows (`jobs.rollout-step`), this
 * process queues those things and records them as queued (`jobs.rollout-queued`).
 *
 * Every process running the service drives every rollout it sees due; the step runs on the
 * job's owner one at a time, so two processes never release the same window twice, and queuing
 * a thing twice is answered with the execution already there. A process that stops between a
 * step and its `rollout-queued` leaves `queued < released`: the next step (here or elsewhere,
 * after a restart too) answers those things again and they are queued then.
 */
import type { Logger, StateStore } from '../core/index.js';
import type { RolloutRelease } from './commands.js';
import { ROLLOUT_CHUNK, rolloutChunkKey, type JobsValue, type RolloutState } from './model.js';
import { nextReleaseAt } from './rollout.js';

/** How many chunk records one append of CreateJob carries. */
const CHUNKS_PER_WRITE = 8;

export interface RolloutDriverDeps {
  readonly store: () => StateStore<JobsValue> | undefined;
  readonly logger: Logger;
  readonly clock: () => number;
  /** Queues the job's execution on each thing (bounded concurrency); rejects with the first failure. */
  readonly queueAll: (jobId: string, thingNames: readonly string[]) => Promise<void>;
  /** Keeps a promise until it settles, so that the service's stop waits for it. */
  readonly track: (work: Promise<unknown>) => void;
}

export interface RolloutDriver {
  /** Indexes a job record (from the store's replay and its changes). */
  index(jobId: string, rollout: RolloutState | undefined, inProgress: boolean): void;
  /** Writes the job's things as chunk records and starts its rollout; the first step runs at once. */
  begin(jobId: string, thingNames: Iterable<string>): Promise<void>;
  /** Drives every rollout that has something due (the service's timer loop). */
  tick(): void;
  /** Deletes a job's chunk records (DeleteJob). */
  forget(jobId: string, total: number): Promise<void>;
}

export function createRolloutDriver(deps: RolloutDriverDeps): RolloutDriver {
  /** Rollouts not yet fully queued, of IN_PROGRESS jobs, by job id. */
  const open = new Map<string, RolloutState>();
  const driving = new Set<string>();

  /** Things [from, to) of the job's rollout, or undefined when a chunk is not in this view yet. */
  const thingsOf = (s: StateStore<JobsValue>, jobId: string, from: number, to: number): string[] | undefined => {
    const names: string[] = [];
    for (let i = Math.floor(from / ROLLOUT_CHUNK); i * ROLLOUT_CHUNK < to; i++) {
      const chunk = s.get(rolloutChunkKey(jobId, i));
      if (chunk?.kind !== 'rollout-chunk') return undefined;
      const start = Math.max(from - i * ROLLOUT_CHUNK, 0);
      names.push(...chunk.things.slice(start, to - i * ROLLOUT_CHUNK));
    }
    return names;
  };

  const drive = async (jobId: string): Promise<void> => {
    const s = deps.store();
    if (!s || driving.has(jobId)) return;
    driving.add(jobId);
    try {
      const release = await s.execute<{ jobId: string }, RolloutRelease>('jobs.rollout-step', { jobId });
      if (release.to <= release.from) return;
      const names = thingsOf(s, jobId, release.from, release.to);
      if (!names) return; // the chunks reach this view later: the next tick
      await deps.queueAll(jobId, names);
      await s.execute('jobs.rollout-queued', { jobId, queued: release.to });
    } catch (err) {
      deps.logger.warn({ err, jobId }, 'job rollout step failed; the next tick tries again');
    } finally {
      driving.delete(jobId);
    }
  };

  return {
    index(jobId, rollout, inProgress) {
      if (rollout && inProgress && rollout.queued < rollout.total) open.set(jobId, rollout);
      else open.delete(jobId);
    },
    async begin(jobId, thingNames) {
      const s = deps.store();
      if (!s) return;
      let total = 0;
      let index = 0;
      let chunk: string[] = [];
      let batch: { key: string; value: JobsValue }[] = [];
      const flushChunk = () => {
        if (chunk.length === 0) return;
        batch.push({ key: rolloutChunkKey(jobId, index), value: { kind: 'rollout-chunk', jobId, index, things: chunk } });
        index++;
        chunk = [];
      };
      for (const name of thingNames) {
        chunk.push(name);
        total++;
        if (chunk.length === ROLLOUT_CHUNK) flushChunk();
        if (batch.length === CHUNKS_PER_WRITE) {
          await s.write(batch);
          batch = [];
        }
      }
      flushChunk();
      if (batch.length > 0) await s.write(batch);
      await s.execute('jobs.begin-rollout', { jobId, total });
      await drive(jobId);
    },
    tick() {
      const now = deps.clock();
      for (const [jobId, rollout] of open) {
        const due = rollout.queued < rollout.released || (nextReleaseAt(rollout) ?? Infinity) <= now;
        if (due && !driving.has(jobId)) deps.track(drive(jobId));
      }
    },
    async forget(jobId, total) {
      const s = deps.store();
      if (!s) return;
      const keys = Array.from({ length: Math.ceil(total / ROLLOUT_CHUNK) }, (_, i) => rolloutChunkKey(jobId, i)).filter((k) => s.has(k));
      for (let i = 0; i < keys.length; i += CHUNKS_PER_WRITE) await s.write(keys.slice(i, i + CHUNKS_PER_WRITE).map((key) => ({ key, value: null })));
    },
  };
}
