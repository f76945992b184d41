/**
 * The shadow store's commands: get, update and delete of one shadow, run one at a time per
 * shadow by the owner of its partition of `iot.shadows` (core/state). Each reads the stored
 * document, applies the pure document logic (document.ts), writes the next version with
 * compare-and-set, and publishes what the Device Shadow service publishes (accepted, rejected,
 * delta, documents) on `iot.ingress` with the write (`Log.appendThen`: stored only if the write
 * is, and readable no earlier), so that devices and rules see them in version order.
 */
import { TOPICS, createEnvelope, type CommandDefinition, type StateWrite, envelopeRecord } from '../core/index.js';
import type { AppendRecord } from '../core/log/log.js';
import { applyUpdate, deleteDocument, errorDocument, getDocument, type ShadowError, type ShadowRequest, type StoredShadow } from './document.js';
import { historyRecord } from './history.js';
import { documentsJson, storedJson } from './record.js';
import { shadowKey, topicPrefix, type ShadowId, type ShadowOperation } from './topics.js';

/** Where a request came from: MQTT requests get their `/accepted` or `/rejected` reply on MQTT. */
export type ShadowSource = 'mqtt' | 'http';

export interface ShadowCommandInput extends ShadowId {
  readonly request: ShadowRequest;
  readonly source: ShadowSource;
  /**
   * The request's own record, when the service took it from its gateway as it was written
   * (service.ts): appended ahead of the answer, in the same append. Only ever run locally.
   */
  readonly message?: AppendRecord;
}

export type ShadowCommandResult = { readonly ok: true; readonly body: object } | { readonly ok: false; readonly error: ShadowError; readonly clientToken?: string };

/** A message the service publishes, before it becomes an envelope. */
interface Outgoing {
  readonly topic: string;
  readonly body: object;
  /** `body`'s JSON when it was made already. */
  readonly json?: string;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

export const getShadow: CommandDefinition<StoredShadow, ShadowCommandInput, ShadowCommandResult> = {
  name: 'shadow.get',
  keys: (input) => [shadowKey(input)],
  run(state, input, ctx) {
    const outcome = getDocument(state.get(shadowKey(input)), input.request, seconds(ctx.now), nameOf(input));
    return reply(input, 'get', outcome.ok ? { ok: true, body: outcome.value } : outcome, [], ctx.now);
  },
};

export const updateShadow: CommandDefinition<StoredShadow, ShadowCommandInput, ShadowCommandResult> = {
  name: 'shadow.update',
  keys: (input) => [shadowKey(input)],
  run(state, input, ctx) {
    const key = shadowKey(input);
    const previous = state.get(key);
    const nowSec = seconds(ctx.now);
    const outcome = applyUpdate(previous, input.request, nowSec);
    if (!outcome.ok) return reply(input, 'update', outcome, NO_BROADCAST, ctx.now);
    const { next, stateJson, accepted, delta } = outcome.value;
    const prefix = topicPrefix(input);
    // The new version's JSON, made once: the stored record, its history record and /update/documents hold it.
    const nextJson = storedJson(next, stateJson);
    // Published whoever asked (MQTT or HTTP): what a device and rules follow.
    const broadcast: Outgoing[] = [];
    if (input.source === 'http') broadcast.push({ topic: `${prefix}/update/accepted`, body: accepted });
    if (delta) broadcast.push({ topic: `${prefix}/update/delta`, body: delta });
    broadcast.push({ topic: `${prefix}/update/documents`, body: outcome.value.documents, json: documentsJson(previous, nextJson, nowSec, input.request.clientToken) });
    const revision = state.revision(key);
    const change = reply(input, 'update', { ok: true, body: accepted }, broadcast, ctx.now);
    change.appends.push({ topic: TOPICS.shadowHistory, records: [historyRecord(input, { version: next.version, timestamp: next.timestamp, document: next }, revision + 1)] });
    change.writes.push({ key, value: next, ifRevision: revision });
    return change;
  },
};

export const deleteShadow: CommandDefinition<StoredShadow, ShadowCommandInput, ShadowCommandResult> = {
  name: 'shadow.delete',
  keys: (input) => [shadowKey(input)],
  run(state, input, ctx) {
    const key = shadowKey(input);
    const outcome = deleteDocument(state.get(key), input.request, seconds(ctx.now), nameOf(input));
    if (!outcome.ok) return reply(input, 'delete', outcome, NO_BROADCAST, ctx.now);
    const { next, accepted } = outcome.value;
    const broadcast = input.source === 'http' ? [{ topic: `${topicPrefix(input)}/delete/accepted`, body: accepted }] : NO_BROADCAST;
    const revision = state.revision(key);
    const change = reply(input, 'delete', { ok: true, body: accepted }, broadcast, ctx.now);
    change.appends.push({ topic: TOPICS.shadowHistory, records: [historyRecord(input, { version: state.get(key)!.version, timestamp: seconds(ctx.now), deleted: true }, revision + 1)] });
    change.writes.push({ key, value: next, ifRevision: revision });
    return change;
  },
};

export const SHADOW_COMMANDS = [getShadow, updateShadow, deleteShadow] as const;

/** The name AWS's 404 message names: the shadow's, or the thing's for a classic shadow. */
const nameOf = (id: ShadowId): string => id.shadowName ?? id.thingName;

const NO_BROADCAST: readonly Outgoing[] = [];

/** A command's change as reply() builds it: the commands above add their write and history record. */
interface ShadowChange {
  readonly writes: StateWrite<StoredShadow>[];
  readonly result: ShadowCommandResult;
  readonly appends: { readonly topic: string; readonly records: readonly AppendRecord[] }[];
}

/**
 * The command's result, and its messages: the request itself when it was taken as written, an
 * MQTT request's `/accepted` or `/rejected` reply, then `broadcast` (published for requests from
 * any source).
 */
function reply(input: ShadowCommandInput, op: ShadowOperation, result: ShadowCommandResult, broadcast: readonly Outgoing[], now: number): ShadowChange {
  const records: AppendRecord[] = [];
  if (input.message) records.push(input.message);
  if (input.source === 'mqtt') {
    const prefix = topicPrefix(input);
    records.push(
      record(
        input,
        result.ok
          ? { topic: `${prefix}/${op}/accepted`, body: result.body }
          : { topic: `${prefix}/${op}/rejected`, body: errorDocument(result.error, result.clientToken ?? input.request.clientToken, seconds(now)) },
        now,
      ),
    );
  }
  for (const m of broadcast) records.push(record(input, m, now));
  return { writes: [], result, appends: [{ topic: TOPICS.ingress, records }] };
}

function record(id: ShadowId, message: Outgoing, now: number): AppendRecord {
  const envelope = createEnvelope({ topic: message.topic, payload: Buffer.from(message.json ?? JSON.stringify(message.body)), qos: 1, thingName: id.thingName, receivedAt: now });
  return envelopeRecord(envelope);
}
