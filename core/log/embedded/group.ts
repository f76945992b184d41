import { sleep } from '../../backoff.js';
import type { Logger } from '../../logger.js';
import type {
  Consumer,
  ConsumerOptions,
  SeekPosition,
  TopicPartition,
  TopicPartitionOffset,
} from '../log.js';
import type { OffsetStore } from './offset-store.js';
import type { Partition } from './partition.js';

const DEFAULT_MAX_BATCH_RECORDS = 500;
/** Pause before a failed batch is delivered again. */
const HANDLER_RETRY_MS = 200;

/** What a group member needs from the embedded log. */
export interface GroupHost {
  readonly logger: Logger;
  readonly offsets: OffsetStore;
  partitionsOf(topic: string): readonly Partition[];
  partition(topic: string, partition: number): Partition;
  countConsumed(records: number): void;
}

const tpKey = (topic: string, partition: number): string => `${topic}/${partition}`;

/**
 * In-process group coordination: members join and leave, and every change reassigns the
 * group's partitions round-robin. Hand-over is strict: a partition is first revoked from its old
 * owner (its batch in flight finishes, then `onRevoked`), only then assigned to the new one, which
 * starts at the group's committed offset.
 */
export class Group {
  readonly members: EmbeddedConsumer[] = [];
  #rebalancing: Promise<void> = Promise.resolve();

  constructor(readonly id: string, readonly host: GroupHost) {}

  join(member: EmbeddedConsumer): Promise<void> {
    this.members.push(member);
    return this.rebalance();
  }

  leave(member: EmbeddedConsumer): Promise<void> {
    const i = this.members.indexOf(member);
    if (i >= 0) this.members.splice(i, 1);
    return this.rebalance(member);
  }

  /** Recomputes the assignment; serialised so two rebalances never interleave. */
  rebalance(leaving?: EmbeddedConsumer): Promise<void> {
    this.#rebalancing = this.#rebalancing.catch(() => undefined).then(async () => {
      const target = new Map<EmbeddedConsumer, TopicPartition[]>(this.members.map((m) => [m, []]));
      const topics = [...new Set(this.members.flatMap((m) => m.options.topics))].sort();
      for (const topic of topics) {
        const candidates = this.members.filter((m) => m.options.topics.includes(topic));
        this.host.partitionsOf(topic).forEach((p, i) => {
          target.get(candidates[i % candidates.length]!)!.push({ topic, partition: p.id });
        });
      }
      const everyone = leaving ? [...this.members, leaving] : this.members;
      // Revoke first, everywhere, then assign: a partition never has two owners.
      await Promise.all(
        everyone.map((m) => {
          const keep = new Set((target.get(m) ?? []).map((tp) => tpKey(tp.topic, tp.partition)));
          return m.revoke(m.assignment().filter((tp) => !keep.has(tpKey(tp.topic, tp.partition))));
        }),
      );
      await Promise.all(
        this.members.map((m) => {
          const owned = new Set(m.assignment().map((tp) => tpKey(tp.topic, tp.partition)));
          return m.assign(target.get(m)!.filter((tp) => !owned.has(tpKey(tp.topic, tp.partition))));
        }),
      );
    });
    return this.#rebalancing;
  }
}

interface PartitionRun {
  readonly tp: TopicPartition;
  readonly partition: Partition;
  position: number;
  seekTo: number | undefined;
  readonly stop: AbortController;
  /** Resolves the run's wait for data (see #run). */
  resume: (() => void) | undefined;
  /** Registered with the partition for every wait: ends the current one. */
  readonly wakeUp: () => void;
  loop: Promise<void>;
}

/** Ends a run's wait for data: when data comes, on a seek and on stop. */
function interrupt(run: PartitionRun): void {
  run.partition.offData(run.wakeUp);
  run.wakeUp();
}

export class EmbeddedConsumer implements Consumer {
  readonly #runs = new Map<string, PartitionRun>();
  readonly #logger: Logger;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #stopping: Promise<void> | undefined;

  constructor(
    readonly options: ConsumerOptions,
    readonly group: Group,
    readonly onStopped: (member: EmbeddedConsumer) => void,
  ) {
    this.#logger = group.host.logger.child({ module: 'log.consumer', groupId: options.groupId });
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'running';
    await this.group.join(this);
  }

  assignment(): TopicPartition[] {
    return [...this.#runs.values()].map((r) => r.tp);
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    const owned = offsets.filter((o) => this.#runs.has(tpKey(o.topic, o.partition)));
    if (owned.length === 0) return;
    await this.group.host.offsets.commit(this.options.groupId, owned);
  }

  async seek(topic: string, partition: number, position: SeekPosition): Promise<void> {
    const run = this.#runs.get(tpKey(topic, partition));
    if (!run) return;
    run.seekTo = await resolvePosition(run.partition, position);
    interrupt(run);
  }

  lag(): { topic: string; partition: number; lag: number }[] {
    return [...this.#runs.values()].map((r) => ({ ...r.tp, lag: Math.max(0, r.partition.high - r.position) }));
  }

  /** Called by the group: stop reading these partitions, let batches in flight finish, tell the owner. */
  async revoke(partitions: readonly TopicPartition[]): Promise<void> {
    if (partitions.length === 0) return;
    const runs = partitions.map((tp) => this.#runs.get(tpKey(tp.topic, tp.partition))).filter((r) => r !== undefined);
    for (const run of runs) {
      run.stop.abort();
      interrupt(run);
    }
    await Promise.all(runs.map((r) => r.loop));
    try {
      await this.options.onRevoked?.(partitions);
    } catch (err) {
      this.#logger.error({ err }, 'onRevoked failed');
    }
    for (const run of runs) this.#runs.delete(tpKey(run.tp.topic, run.tp.partition));
  }

  /** Called by the group: start reading these partitions from the committed offset. */
  async assign(partitions: readonly TopicPartition[]): Promise<void> {
    if (partitions.length === 0 || this.#state !== 'running') return;
    try {
      await this.options.onAssigned?.(partitions);
    } catch (err) {
      this.#logger.error({ err }, 'onAssigned failed');
    }
    for (const tp of partitions) {
      const partition = this.group.host.partition(tp.topic, tp.partition);
      const committed = this.group.host.offsets.get(this.options.groupId, tp.topic, tp.partition);
      const start = committed ?? ((this.options.startFrom ?? 'latest') === 'earliest' ? partition.low : partition.high);
      const run: PartitionRun = {
        tp,
        partition,
        position: start,
        seekTo: undefined,
        stop: new AbortController(),
        resume: undefined,
        wakeUp: () => {
          const resume = run.resume;
          run.resume = undefined;
          resume?.();
        },
        loop: Promise.resolve(),
      };
      this.#runs.set(tpKey(tp.topic, tp.partition), run);
      run.loop = this.#run(run);
    }
  }

  async #run(run: PartitionRun): Promise<void> {
    const maxRecords = this.options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS;
    while (!run.stop.signal.aborted) {
      if (run.seekTo !== undefined) {
        run.position = run.seekTo;
        run.seekTo = undefined;
      }
      let records;
      try {
        records = await run.partition.read(run.position, maxRecords);
      } catch (err) {
        this.#logger.error({ err, topic: run.tp.topic, partition: run.tp.partition }, 'read failed');
        await sleep(HANDLER_RETRY_MS, run.stop.signal);
        continue;
      }
      if (records.length === 0) {
        if (run.seekTo !== undefined) continue; // a seek arrived during the read
        await new Promise<void>((resolve) => {
          run.resume = resolve;
          if (run.stop.signal.aborted) run.wakeUp(); // stopped while reading
          else run.partition.onData(run.position, run.wakeUp);
        });
        continue;
      }
      const last = records[records.length - 1]!;
      try {
        await this.options.eachBatch(
          { topic: run.tp.topic, partition: run.tp.partition, records, highWatermark: run.partition.high },
          this,
        );
        this.group.host.countConsumed(records.length);
        if (run.seekTo === undefined) run.position = last.offset + 1;
      } catch (err) {
        this.#logger.warn({ err, topic: run.tp.topic, partition: run.tp.partition, offset: records[0]!.offset }, 'batch handler failed; delivering the batch again');
        await sleep(HANDLER_RETRY_MS, run.stop.signal);
      }
    }
  }

  stop(): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return Promise.resolve();
    }
    this.#stopping ??= (async () => {
      this.#state = 'stopping';
      await this.group.leave(this);
      this.#state = 'stopped';
      this.onStopped(this);
    })();
    return this.#stopping;
  }
}

async function resolvePosition(partition: Partition, position: SeekPosition): Promise<number> {
  if (position === 'earliest') return partition.low;
  if (position === 'latest') return partition.high;
  if ('offset' in position) return position.offset;
  return partition.offsetForTimestamp(position.timestamp);
}
