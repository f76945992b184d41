/**
 * How a shadow is stored on `iot.shadows` (key: see topics.ts `shadowKey`): the document's state,
 * metadata, version and timestamp as JSON, checked on every decode.
 *
 * Value layout (UTF-8 JSON, in a core/state frame), keys in this order:
 *   {"state":{"desired"?,"reported"?},"metadata":{"desired"?,"reported"?},"version":N,"timestamp":S}
 */
import { z } from 'zod';
import { jsonCodec, type StateCodec } from '../core/index.js';
import type { JsonObject, MetadataTree, StoredShadow } from './document.js';

const jsonObject = z.record(z.string(), z.unknown()) as unknown as z.ZodType<JsonObject>;
const metadataTree = z.record(z.string(), z.unknown()) as unknown as z.ZodType<MetadataTree>;

export const storedShadowSchema: z.ZodType<StoredShadow> = z.object({
  state: z.object({ desired: jsonObject.optional(), reported: jsonObject.optional() }),
  metadata: z.object({ desired: metadataTree.optional(), reported: metadataTree.optional() }),
  version: z.number().int().min(1),
  timestamp: z.number().int().min(0),
}) as unknown as z.ZodType<StoredShadow>;

/**
 * The JSON of the version an update just made: made once by the update command (which also puts
 * it in the version's history record and `/update/documents`), and taken by the codec when the
 * store writes that version, in the same synchronous run (core/state issues a command's writes
 * as soon as it returns). One slot, not a map: nothing keeps a stored shadow's text.
 */
let made: { shadow: StoredShadow; json: string } | undefined;

/**
 * A shadow's stored JSON (the layout above), as the codec writes it. `stateJson`, when the caller
 * has it (an update measured the new state's size with it), is `shadow.state`'s JSON, which
 * JSON.stringify would write again as the first member.
 */
export function storedJson(shadow: StoredShadow, stateJson?: string): string {
  if (made?.shadow === shadow) return made.json;
  const json =
    stateJson === undefined
      ? JSON.stringify({ state: shadow.state, metadata: shadow.metadata, version: shadow.version, timestamp: shadow.timestamp })
      : `{"state":${stateJson},"metadata":${JSON.stringify(shadow.metadata)},"version":${shadow.version},"timestamp":${shadow.timestamp}}`;
  made = { shadow, json };
  return json;
}

/**
 * `{"state","metadata","version"}` of a stored shadow's JSON: the shadow as `/update/documents`
 * shows it (document.ts `snapshot`). `timestamp` is the stored JSON's last key, and a number.
 */
export function snapshotJson(stored: string): string {
  return `${stored.slice(0, stored.lastIndexOf(',"timestamp":'))}}`;
}

const checked = jsonCodec<StoredShadow>({ name: 'shadow', version: 1, schema: storedShadowSchema });

export const shadowCodec: StateCodec<StoredShadow> = {
  ...checked,
  encode(value) {
    const json = storedJson(value);
    made = undefined;
    return json;
  },
};

/**
 * `/update/documents`' JSON (document.ts `applyUpdate`'s `documents`, as JSON.stringify writes
 * it) from the new version's stored JSON, which the update made once for the store and history.
 */
export function documentsJson(previous: StoredShadow | undefined, nextStored: string, nowSec: number, clientToken: string | undefined): string {
  const before = previous ? JSON.stringify({ state: previous.state, metadata: previous.metadata, version: previous.version }) : 'null';
  const token = clientToken === undefined ? '' : `,"clientToken":${JSON.stringify(clientToken)}`;
  return `{"previous":${before},"current":${snapshotJson(nextStored)},"timestamp":${nowSec}${token}}`;
}
