/**
 * Shadow history (a kiot extension; no AWS IoT peer keeps one): every accepted update and every
 * delete appends the shadow's resulting version to `iot.shadows.history`, a topic that is not
 * compacted, keyed like `iot.shadows`. Reading a shadow's history scans the one partition its
 * key hashes to, from the oldest record retention keeps to the end as of the call.
 *
 * Versions restart at 1 after a delete (as AWS numbers them), so one number can name several
 * documents over a shadow's life; they come back in log order, oldest first.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { PlatformError, TOPICS, jsonCodec, partitionForKey, topicSpec, type AppendRecord, type Log, type Logger } from '../core/index.js';
import { getDocument, type StoredShadow } from './document.js';
import { storedShadowSchema } from './record.js';
import { shadowKey, type ShadowId } from './topics.js';

/** One version of a shadow: its document after an accepted update, or `deleted` when a delete ended it. */
export type HistoryEntry =
  | { readonly version: number; readonly timestamp: number; readonly document: StoredShadow; readonly deleted?: undefined }
  | { readonly version: number; readonly timestamp: number; readonly deleted: true; readonly document?: undefined };

const entrySchema = z.union([
  z.object({ version: z.number().int().min(1), timestamp: z.number().int().min(0), document: storedShadowSchema }),
  z.object({ version: z.number().int().min(1), timestamp: z.number().int().min(0), deleted: z.literal(true) }),
]) as unknown as z.ZodType<HistoryEntry>;

const historyCodec = jsonCodec<HistoryEntry>({ name: 'shadow-history', version: 1, schema: entrySchema });

/** A stored version in GetThingShadow's shape (delta included), stamped with the time it was written. */
export function versionDocument(document: StoredShadow): object {
  const outcome = getDocument(document, {}, document.timestamp);
  if (!outcome.ok) throw new PlatformError('INTERNAL', 'a stored shadow version has no document');
  return outcome.value;
}

/** The record an accepted update (`document`) or a delete (`deleted`, of the version it ended) appends. */
export function historyRecord(id: ShadowId, entry: HistoryEntry): AppendRecord {
  return { key: shadowKey(id), value: historyCodec.encode(entry) };
}

export interface HistoryQuery {
  /** Only versions written at or after this time (epoch seconds). */
  readonly since?: number;
}

/** How long a history read may take; a slower one fails rather than answer with part of the history. */
const READ_TIMEOUT_MS = 30_000;

/**
 * The versions of one shadow that retention still keeps, oldest first. Reads with a consumer of
 * its own (no committed offsets) up to the partition's end as of the call.
 */
export async function readShadowHistory(deps: { readonly log: Log; readonly logger: Logger }, id: ShadowId, query: HistoryQuery = {}): Promise<HistoryEntry[]> {
  const spec = topicSpec(TOPICS.shadowHistory);
  await deps.log.ensureTopic(spec);
  const key = shadowKey(id);
  const partition = partitionForKey(Buffer.from(key), spec.partitions ?? 1);
  const ends = await deps.log.offsets(spec.name);
  const range = ends.find((o) => o.partition === partition);
  if (!range || range.high <= range.low) return [];
  const entries: HistoryEntry[] = [];
  const sinceMs = query.since === undefined ? undefined : query.since * 1000;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const consumer = deps.log.consumer({
    groupId: `kiot.shadow-history.${randomUUID()}`,
    topics: [spec.name],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      if (batch.partition !== partition) return;
      for (const record of batch.records) {
        if (record.offset >= range.high) break;
        if (record.key?.toString('utf8') !== key || !record.value) continue;
        if (sinceMs !== undefined && record.timestamp < sinceMs) continue;
        try {
          entries.push(historyCodec.decode(record.value, 1, key));
        } catch (err) {
          deps.logger.warn({ err, partition, offset: record.offset }, 'skipped a shadow history record that does not decode');
        }
      }
      if (batch.records.at(-1)!.offset + 1 >= range.high) done();
    },
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    done();
  }, READ_TIMEOUT_MS);
  try {
    await consumer.start();
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.stop();
  }
  if (timedOut) throw new PlatformError('LOG_UNAVAILABLE', `the history of ${key} could not be read within ${READ_TIMEOUT_MS} ms`, { retriable: true });
  return entries;
}
