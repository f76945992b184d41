/**
 * Reading part of a topic once, without a group of one's own to keep: the records of some
 * partitions from a start offset up to each partition's end as of the call. For lookups that
 * are not a service's stream (a shadow's history, `kiot topics tail`).
 */
import { randomUUID } from 'node:crypto';
import { PlatformError } from '../errors.js';
import type { Log, LogRecord } from './log.js';

export interface ReadRangeOptions {
  readonly topic: string;
  /** Partitions to read; every partition by default. */
  readonly partitions?: readonly number[];
  /** Where to start in a partition that holds `low` to `high - 1`; `low` by default. */
  readonly start?: (range: { partition: number; low: number; high: number }) => number;
  /** Fails rather than answer with part of the range after this long (default 30 s). */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** The records of the range, per partition in offset order, partitions in ascending order. */
export async function readRange(log: Log, options: ReadRangeOptions): Promise<LogRecord[]> {
  const wanted = options.partitions ? new Set(options.partitions) : undefined;
  const ranges = (await log.offsets(options.topic))
    .filter((r) => !wanted || wanted.has(r.partition))
    .map((r) => ({ ...r, from: Math.min(r.high, Math.max(r.low, options.start?.(r) ?? r.low)) }))
    .filter((r) => r.from < r.high);
  if (ranges.length === 0) return [];
  const byPartition = new Map(ranges.map((r) => [r.partition, { ...r, records: [] as LogRecord[], done: false }]));
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const consumer = log.consumer({
    groupId: `kiot.read.${randomUUID()}`,
    topics: [options.topic],
    startFrom: 'earliest',
    eachBatch: async (batch, c) => {
      const r = byPartition.get(batch.partition);
      if (!r || r.done) return;
      const last = batch.records.at(-1)!.offset;
      if (last < r.from - 1) {
        await c.seek(options.topic, batch.partition, { offset: r.from }); // skip ahead rather than read
        return;
      }
      for (const record of batch.records) {
        if (record.offset >= r.high) break;
        if (record.offset >= r.from) r.records.push(record);
      }
      if (last + 1 >= r.high) r.done = true;
      if ([...byPartition.values()].every((p) => p.done)) done();
    },
  });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    done();
  }, timeoutMs);
  try {
    await consumer.start();
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.stop();
  }
  if (timedOut) throw new PlatformError('LOG_UNAVAILABLE', `${options.topic} could not be read within ${timeoutMs} ms`, { retriable: true, details: { topic: options.topic } });
  return [...byPartition.values()].sort((a, b) => a.partition - b.partition).flatMap((p) => p.records);
}
