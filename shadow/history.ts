/**
 * Shadow history (a kiot extension; no AWS IoT peer keeps one): every accepted update and every
 * delete appends the shadow's resulting version to `iot.shadows.history`, a topic that is not
 * compacted, keyed like `iot.shadows`. Reading a shadow's history scans the one partition its
 * key hashes to, from the oldest record retention keeps to the end as of the call.
 *
 * Versions restart at 1 after a delete (as AWS numbers them), so one number can name several
 * documents over a shadow's life; they come back in log order, oldest first.
 *
 * Records are framed like every state record (core/state/codec.ts: schema version, revision,
 * then the JSON entry below). The frame's revision counts the shadow's writes up to this one
 * (its `iot.shadows` revision before the change, plus one; like that revision, it restarts after
 * a delete). Records written before the frame decode as schema version 0, the same JSON.
 */
import { z } from 'zod';
import { PlatformError, TOPICS, decodeFrame, encodeFrame, jsonCodec, partitionForKey, readRange, topicSpec, type AppendRecord, type Log, type Logger, type StateCodec } from '../core/index.js';
import { getDocument, type StoredShadow } from './document.js';
import { storedJson, storedShadowSchema } from './record.js';
import { shadowKey, type ShadowId } from './topics.js';

/** One version of a shadow: its document after an accepted update, or `deleted` when a delete ended it. */
export type HistoryEntry =
  | { readonly version: number; readonly timestamp: number; readonly document: StoredShadow; readonly deleted?: undefined }
  | { readonly version: number; readonly timestamp: number; readonly deleted: true; readonly document?: undefined };

const entrySchema = z.union([
  z.object({ version: z.number().int().min(1), timestamp: z.number().int().min(0), document: storedShadowSchema }),
  z.object({ version: z.number().int().min(1), timestamp: z.number().int().min(0), deleted: z.literal(true) }),
]) as unknown as z.ZodType<HistoryEntry>;

const checked = jsonCodec<HistoryEntry>({ name: 'shadow-history', version: 1, schema: entrySchema });

/**
 * The entry inside a history record's frame: `{"version","timestamp","document"}` (the document
 * as `iot.shadows` stores it, record.ts, whose JSON the update made once) or
 * `{"version","timestamp","deleted":true}`.
 */
export const historyCodec: StateCodec<HistoryEntry> = {
  ...checked,
  encode: (entry) => (entry.document ? `{"version":${entry.version},"timestamp":${entry.timestamp},"document":${storedJson(entry.document)}}` : JSON.stringify(entry)),
};

/** A stored version in GetThingShadow's shape (delta included), stamped with the time it was written. */
export function versionDocument(document: StoredShadow): object {
  const outcome = getDocument(document, {}, document.timestamp);
  if (!outcome.ok) throw new PlatformError('INTERNAL', 'a stored shadow version has no document');
  return outcome.value;
}

/**
 * The record an accepted update (`document`) or a delete (`deleted`, of the version it ended)
 * appends; `revision` as the module comment says.
 */
export function historyRecord(id: ShadowId, entry: HistoryEntry, revision: number): AppendRecord {
  return { key: shadowKey(id), value: encodeFrame(historyCodec, entry, revision) };
}

export interface HistoryQuery {
  /** Only versions written at or after this time (epoch seconds). */
  readonly since?: number;
}

/**
 * The versions of one shadow that retention still keeps, oldest first: the partition its key
 * hashes to (over the topic's live partition count, as the log placed it on append), read up
 * to its end as of the call.
 */
export async function readShadowHistory(deps: { readonly log: Log; readonly logger: Logger }, id: ShadowId, query: HistoryQuery = {}): Promise<HistoryEntry[]> {
  const spec = topicSpec(TOPICS.shadowHistory);
  await deps.log.ensureTopic(spec);
  const key = shadowKey(id);
  const partitions = (await deps.log.offsets(spec.name)).length;
  const records = await readRange(deps.log, { topic: spec.name, partitions: [partitionForKey(key, partitions)] });
  const sinceMs = query.since === undefined ? undefined : query.since * 1000;
  const entries: HistoryEntry[] = [];
  for (const record of records) {
    if (record.key?.toString('utf8') !== key || !record.value) continue;
    if (sinceMs !== undefined && record.timestamp < sinceMs) continue;
    try {
      entries.push(decodeFrame(historyCodec, record.value, key).value);
    } catch (err) {
      deps.logger.warn({ err, partition: record.partition, offset: record.offset }, 'skipped a shadow history record that does not decode');
    }
  }
  return entries;
}
