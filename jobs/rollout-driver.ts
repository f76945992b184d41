/**
 * The rollout driver: the I/O around rollout.ts, for every CreateJob. CreateJob writes the
 * things it targets, in order, as `rollout/<jobId>/<n>` records (ROLLOUT_CHUNK names each, a
 * few records per append) and starts the rollout in the job's record (`jobs.begin-rollout`);
 * from then on the job's owner releases what the rate allows (`jobs.rollout-step`; a job with
 * no rate releases everything at once), and the process that asked queues the released things
 * one chunk at a time (in batches per partition: service.ts `eachThing`) and records each chunk as queued
 * (`jobs.rollout-queued`). A job with no rate is driven to the end inside CreateJob; one with a
 * rate gets its first window there and the rest from the service's timer loop. Once every
 * thing is queued the chunk records are deleted.
 *
 * Any process may drive any rollout, one at a time: steps run on the job's owner one at a time,
 * so a window is released once, and the step hands the released range to the process that asked
 * (its `driver` id, held while it makes progress: commands.ts); queuing a thing twice is
 * answered with the execution already there. A process that stops between a step and its
 * `rollout-queued` (a crash inside CreateJob too) leaves `queued < released`: once its hold has
 * passed, the timer loop of any process running the service, after a restart too, queues those
 * things again, and the rollout goes on from the job's record.
 */
import { randomUUID } from 'node:crypto';
import type { Logger, StateStore } from '../core/index.js';
import type { RolloutRelease } from './commands.js';
import { ROLLOUT_CHUNK, jobKey, rolloutChunkKey, type JobRecord, type JobsValue, type RolloutState } from './model.js';
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
  /**
   * Writes the job's things as chunk records and starts its rollout. With `toTheEnd`, resolves
   * once every thing is queued (or the job stopped rolling out); else after the first step.
   */
  begin(jobId: string, thingNames: Iterable<string>, toTheEnd: boolean): Promise<void>;
  /** Drives every rollout that has something due (the service's timer loop). */
  tick(): void;
  /** Deletes a job's chunk records (DeleteJob, a finished rollout). */
  forget(jobId: string, total: number): Promise<void>;
}

export function createRolloutDriver(deps: RolloutDriverDeps): RolloutDriver {
  /** Rollouts not yet fully queued, of IN_PROGRESS jobs, by job id. */
  const open = new Map<string, RolloutState>();
  /** The drive in progress here, per job. */
  const driving = new Map<string, Promise<void>>();
  /** This process as the driver of a rollout's released range (commands.ts: one driver at a time). */
  const driver = randomUUID();
  const heldElsewhere = (rollout: RolloutState, now: number) => rollout.driver !== undefined && rollout.driver !== driver && (rollout.driverUntil ?? 0) > now;

  const jobOf = (s: StateStore<JobsValue>, jobId: string): JobRecord | undefined => {
    const v = s.get(jobKey(jobId));
    return v?.kind === 'job' ? v : undefined;
  };

  const forget = async (jobId: string, total: number): Promise<void> => {
    const s = deps.store();
    if (!s) return;
    const keys = Array.from({ length: Math.ceil(total / ROLLOUT_CHUNK) }, (_, i) => rolloutChunkKey(jobId, i)).filter((k) => s.has(k));
    for (let i = 0; i < keys.length; i += CHUNKS_PER_WRITE) await s.write(keys.slice(i, i + CHUNKS_PER_WRITE).map((key) => ({ key, value: null })));
  };

  /** One step: what it released is queued chunk by chunk, each chunk recorded as queued once it is. */
  const step = async (s: StateStore<JobsValue>, jobId: string): Promise<void> => {
    const release = await s.execute<{ jobId: string; driver: string }, RolloutRelease>('jobs.rollout-step', { jobId, driver });
    for (let from = release.from; from < release.to; ) {
      const index = Math.floor(from / ROLLOUT_CHUNK);
      const to = Math.min(release.to, (index + 1) * ROLLOUT_CHUNK);
      const chunk = s.get(rolloutChunkKey(jobId, index));
      if (chunk?.kind !== 'rollout-chunk') return; // not in this view yet (another process wrote it): the next tick
      await deps.queueAll(jobId, chunk.things.slice(from - index * ROLLOUT_CHUNK, to - index * ROLLOUT_CHUNK));
      const job = await s.execute<{ jobId: string; queued: number; driver: string }, JobRecord | null>('jobs.rollout-queued', { jobId, queued: to, driver });
      if (job?.rollout && job.rollout.queued >= job.rollout.total) await forget(jobId, job.rollout.total);
      from = to;
    }
  };

  /** Runs one step for the job, or joins the one running here. */
  const drive = (jobId: string): Promise<void> => {
    const running = driving.get(jobId);
    if (running) return running;
    const s = deps.store();
    if (!s) return Promise.resolve();
    const work = step(s, jobId)
      .catch((err: unknown) => deps.logger.warn({ err, jobId }, 'job rollout step failed; the next tick tries again'))
      .finally(() => driving.delete(jobId));
    driving.set(jobId, work);
    return work;
  };

  return {
    index(jobId, rollout, inProgress) {
      if (rollout && inProgress && rollout.queued < rollout.total) open.set(jobId, rollout);
      else open.delete(jobId);
    },
    async begin(jobId, thingNames, toTheEnd) {
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
      const started = await s.execute<{ jobId: string; total: number; driver: string }, JobRecord | null>('jobs.begin-rollout', { jobId, total, driver });
      // Deleted while its things were written: they go too.
      if (!started) return forget(jobId, total);
      for (let before = -1; ; ) {
        await drive(jobId);
        const rollout = jobOf(s, jobId)?.rollout;
        const done = !rollout || rollout.queued >= rollout.total || jobOf(s, jobId)?.status !== 'IN_PROGRESS';
        // A step that queued nothing more (the rate holds the rest back) ends the wait.
        if (!toTheEnd || done || rollout.queued === before) return;
        before = rollout.queued;
      }
    },
    tick() {
      const now = deps.clock();
      for (const [jobId, rollout] of open) {
        const due = !heldElsewhere(rollout, now) && (rollout.queued < rollout.released || (nextReleaseAt(rollout) ?? Infinity) <= now);
        if (due && !driving.has(jobId)) deps.track(drive(jobId));
      }
    },
    forget,
  };
}
