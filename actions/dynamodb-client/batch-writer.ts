/**
 * Writes a sink's batch to DynamoDB with BatchWriteItem, keeping the per-record outcome:
 *
 * - Requests go per table in the batch's order, at most 25 per BatchWriteItem (DynamoDB's
 *   limit) and never two for the same key in one request (DynamoDB rejects that request
 *   whole); an UPDATE is its own UpdateItem, in order with the rest.
 * - Items DynamoDB returns as UnprocessedItems fail retriable at once: the action runtime
 *   retries exactly those records with the one retry policy (actions/runtime/retry.ts).
 * - A request DynamoDB rejects as invalid (ValidationException: item too large, wrong key type)
 *   is split into one request per record, so only the bad records fail, non-retriable.
 * - A missing table, or credentials it refuses, fail those records non-retriable; throttling
 *   and 5xx after the SDK's own retries fail them retriable.
 * - If the endpoint does not answer, the records not yet written fail retriable; when that is
 *   the whole batch, the batch rejects with SINK_UNAVAILABLE so the runtime reconnects.
 */
import { endBatch, type RecordFailure } from '../../core/index.js';
import { classifyAwsError, unavailable, type AwsClientSettings } from '../aws/index.js';
import type { DynamoDbApi, Item, WriteRequest } from './dynamodb-client.js';

/** BatchWriteItem takes at most 25 put or delete requests (DynamoDB API reference). */
export const DYNAMODB_BATCH_LIMIT = 25;

export type WriteOp =
  | {
      /** Index into the batch the sink was handed. */
      readonly index: number;
      readonly table: string;
      readonly request: WriteRequest;
      /** The item's key as a string when the sink knows the table's key; keeps one request free of duplicate keys. */
      readonly key?: string;
    }
  | { readonly index: number; readonly table: string; readonly update: { readonly key: Item; readonly set: Item } };

/** What the dynamodb and dynamodbv2 definitions take. */
export interface DynamoDbSinkOptions {
  /** Region, endpoint, credentials, timeouts; unset fields fall back to the AWS SDK's own. */
  readonly settings?: AwsClientSettings;
  /** Builds the DynamoDB client (default: the SDK's); tests wrap the real one. */
  readonly api?: (settings: AwsClientSettings) => DynamoDbApi;
}

type Outcome = RecordFailure | 'done';

/**
 * Writes `ops` and resolves when every record of the batch (`total` of them) is durable.
 * Rejects with SinkBatchError naming the failed records (`failed` are records that failed
 * before any write, e.g. a bad key value), or with a retriable SINK_UNAVAILABLE when the
 * endpoint answered for none of them.
 */
export async function writeToDynamoDb(
  api: DynamoDbApi,
  total: number,
  ops: readonly WriteOp[],
  failed: readonly RecordFailure[],
  signal: AbortSignal,
): Promise<void> {
  const outcomes = new Map<number, Outcome>();
  for (const f of failed) outcomes.set(f.index, f);
  const byTable = new Map<string, WriteOp[]>();
  for (const op of ops) {
    const list = byTable.get(op.table);
    if (list) list.push(op);
    else byTable.set(op.table, [op]);
  }
  let unreachable: unknown;
  await Promise.all(
    [...byTable.values()].map(async (tableOps) => {
      try {
        await writeTable(api, tableOps, outcomes, signal);
      } catch (err) {
        // The endpoint stopped answering (or the write was aborted): what is not written yet fails retriable.
        unreachable ??= err;
        const { message } = classifyAwsError(err);
        for (const op of tableOps) if (!outcomes.has(op.index)) outcomes.set(op.index, { index: op.index, message, retriable: true });
      }
    }),
  );
  const failures = [...outcomes.values()].filter((o): o is RecordFailure => o !== 'done');
  endBatch('DynamoDB', failures, total, unreachable === undefined ? undefined : unavailable('DynamoDB', unreachable));
}

async function writeTable(
  api: DynamoDbApi,
  ops: readonly WriteOp[],
  outcomes: Map<number, Outcome>,
  signal: AbortSignal,
): Promise<void> {
  let chunk: Extract<WriteOp, { request: WriteRequest }>[] = [];
  let keys = new Set<string>();
  const flush = async (): Promise<void> => {
    if (chunk.length === 0) return;
    const sending = chunk;
    chunk = [];
    keys = new Set();
    await writeChunk(api, sending, outcomes, signal);
  };
  for (const op of ops) {
    if ('update' in op) {
      await flush();
      await updateOne(api, op, outcomes, signal);
      continue;
    }
    if (chunk.length >= DYNAMODB_BATCH_LIMIT || (op.key !== undefined && keys.has(op.key))) await flush();
    chunk.push(op);
    if (op.key !== undefined) keys.add(op.key);
  }
  await flush();
}

async function updateOne(
  api: DynamoDbApi,
  op: Extract<WriteOp, { update: unknown }>,
  outcomes: Map<number, Outcome>,
  signal: AbortSignal,
): Promise<void> {
  try {
    await api.updateItem(op.table, op.update.key, op.update.set, signal);
    outcomes.set(op.index, 'done');
  } catch (err) {
    const c = classifyAwsError(err);
    if (c.kind === 'unreachable' || c.kind === 'aborted') throw err;
    outcomes.set(op.index, { index: op.index, message: c.message, retriable: c.retriable });
  }
}

async function writeChunk(
  api: DynamoDbApi,
  chunk: readonly Extract<WriteOp, { request: WriteRequest }>[],
  outcomes: Map<number, Outcome>,
  signal: AbortSignal,
): Promise<void> {
  const table = chunk[0]!.table;
  let unprocessed: WriteRequest[];
  try {
    unprocessed = (await api.batchWrite({ [table]: chunk.map((op) => op.request) }, signal))[table] ?? [];
  } catch (err) {
    const c = classifyAwsError(err);
    if (c.kind === 'unreachable' || c.kind === 'aborted') throw err;
    if (c.kind === 'invalid' && chunk.length > 1) {
      // One bad item (or a duplicate key) fails the whole request: find out which, one by one.
      for (const op of chunk) await writeChunk(api, [op], outcomes, signal);
      return;
    }
    for (const op of chunk) outcomes.set(op.index, { index: op.index, message: c.message, retriable: c.retriable });
    return;
  }
  const left = new Set(matchUnprocessed(chunk, unprocessed));
  const message = 'DynamoDB left the item unprocessed (UnprocessedItems: the throughput of the table is exceeded)';
  for (const op of chunk) outcomes.set(op.index, left.has(op) ? { index: op.index, message, retriable: true } : 'done');
}

/**
 * The ops whose requests DynamoDB returned unprocessed. It returns copies, so requests are
 * matched by content (canonical JSON); equal requests are counted, not deduplicated.
 */
function matchUnprocessed<T extends { request: WriteRequest }>(pending: readonly T[], unprocessed: readonly WriteRequest[]): T[] {
  if (unprocessed.length === 0) return [];
  const counts = new Map<string, number>();
  for (const r of unprocessed) {
    const k = canonical(r);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const left: T[] = [];
  for (const op of pending) {
    const k = canonical(op.request);
    const n = counts.get(k) ?? 0;
    if (n > 0) {
      counts.set(k, n - 1);
      left.push(op);
    }
  }
  return left;
}

/** JSON with object keys sorted and binary as base64, so equal requests give equal text. */
export function canonical(value: unknown): string {
  if (value instanceof Uint8Array) return JSON.stringify({ $b: Buffer.from(value).toString('base64') });
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
