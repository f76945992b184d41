/**
 * Device Shadow documents as pure logic (AWS IoT developer guide, "Device Shadow service
 * documents", "Device Shadow MQTT topics", "Device Shadow error messages" and the Device Shadow
 * quotas): parsing a request, merging an update, the delta, per-leaf metadata, versions and
 * the error documents. Nothing here reads a clock or a log: `nowSec` comes in, and every
 * function returns the next state and the documents to publish, or an error that changes nothing.
 *
 * Merge rules: nested objects merge key by key, `null` deletes a key (`"desired": null` the
 * whole section), arrays and other values replace what was there whole. A section left empty
 * is dropped. The delta holds each desired leaf whose reported value differs or is missing
 * (objects compared key by key, arrays as wholes).
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Metadata mirrors the state: a leaf's is `{ timestamp }`, an array's one entry per element. */
export type MetadataTree = { [key: string]: MetadataNode };
export type MetadataNode = { timestamp: number } | MetadataTree | MetadataNode[];

export interface ShadowState {
  readonly desired?: JsonObject;
  readonly reported?: JsonObject;
}

/** The value kept per shadow on `iot.shadows`. A deleted shadow is a tombstone, not a value. */
export interface StoredShadow {
  readonly state: ShadowState;
  readonly metadata: { readonly desired?: MetadataTree; readonly reported?: MetadataTree };
  /** 1 after the first accepted update, +1 per accepted update. */
  readonly version: number;
  /** Epoch seconds of the last accepted update. */
  readonly timestamp: number;
}

/** A request as devices and apps send it (get and delete use only `clientToken` and `version`). */
export interface ShadowRequest {
  readonly state?: { readonly desired?: JsonObject | null; readonly reported?: JsonObject | null };
  readonly version?: number;
  readonly clientToken?: string;
}

/** AWS's error codes: 400, 401, 403, 404, 409, 413, 415, 429, 500. */
export interface ShadowError {
  readonly code: number;
  readonly message: string;
}

export type ShadowResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ShadowError; readonly clientToken?: string };

/** Device Shadow quotas (AWS IoT Core endpoints and quotas, "AWS IoT Device Shadow"). */
export const SHADOW_LIMITS = {
  /** Bytes of the stored state (desired and reported, without metadata). */
  maxStateBytes: 8 * 1024,
  /** Levels of nesting inside `desired` or `reported`. */
  maxDepth: 6,
  maxClientTokenBytes: 64,
} as const;

/** The guide's error messages ("Device Shadow error messages"). */
export const SHADOW_ERRORS = {
  invalidJson: { code: 400, message: 'Invalid JSON' },
  missingState: { code: 400, message: 'Missing required node: state' },
  stateNotObject: { code: 400, message: 'State node must be an object' },
  desiredNotObject: { code: 400, message: 'Desired node must be an object' },
  reportedNotObject: { code: 400, message: 'Reported node must be an object' },
  invalidVersion: { code: 400, message: 'Invalid version' },
  invalidClientToken: { code: 400, message: 'Invalid clientToken' },
  tooDeep: { code: 400, message: `JSON contains too many levels of nesting; maximum is ${SHADOW_LIMITS.maxDepth}` },
  invalidStateNode: { code: 400, message: 'State contains an invalid node' },
  unexpectedNode: { code: 400, message: 'Payload contains an invalid node' },
  versionConflict: { code: 409, message: 'Version conflict' },
  tooLarge: { code: 413, message: 'The payload exceeds the maximum size allowed' },
  encoding: { code: 415, message: 'Unsupported document encoding; supported encoding is UTF-8' },
} as const satisfies Record<string, ShadowError>;

/** `No shadow exists with name: '<thing or shadow name>'` (404). */
export const notFound = (name: string): ShadowError => ({ code: 404, message: `No shadow exists with name: '${name}'` });

const REQUEST_KEYS: Readonly<Record<'get' | 'update' | 'delete', readonly string[]>> = {
  get: ['clientToken'],
  update: ['state', 'version', 'clientToken'],
  delete: ['clientToken', 'version'],
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses and checks a request payload. Get and delete accept an empty payload. Every check is
 * made before anything is stored, so a refused request changes nothing.
 */
export function parseRequest(payload: Uint8Array | string, op: 'get' | 'update' | 'delete'): ShadowResult<ShadowRequest> {
  let text: string;
  try {
    text = typeof payload === 'string' ? payload : utf8.decode(payload);
  } catch {
    return fail(SHADOW_ERRORS.encoding);
  }
  if (text.trim() === '' && op !== 'update') return { ok: true, value: {} };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return fail(SHADOW_ERRORS.invalidJson);
  }
  if (!isObject(body)) return fail(SHADOW_ERRORS.invalidJson);
  const token = body['clientToken'];
  if (token !== undefined && (typeof token !== 'string' || Buffer.byteLength(token) > SHADOW_LIMITS.maxClientTokenBytes)) return fail(SHADOW_ERRORS.invalidClientToken);
  const clientToken = token as string | undefined;
  const refuse = (error: ShadowError) => fail(error, clientToken);
  if (Object.keys(body).some((k) => !REQUEST_KEYS[op].includes(k))) return refuse(SHADOW_ERRORS.unexpectedNode);
  const version = body['version'];
  if (version !== undefined && !(Number.isSafeInteger(version) && (version as number) >= 0)) return refuse(SHADOW_ERRORS.invalidVersion);
  const request: { -readonly [K in keyof ShadowRequest]: ShadowRequest[K] } = {};
  if (clientToken !== undefined) request.clientToken = clientToken;
  if (version !== undefined) request.version = version as number;
  if (op !== 'update') return { ok: true, value: request };

  if (!('state' in body)) return refuse(SHADOW_ERRORS.missingState);
  const state = body['state'];
  if (!isObject(state)) return refuse(SHADOW_ERRORS.stateNotObject);
  const sections = Object.keys(state);
  if (sections.length === 0) return refuse(SHADOW_ERRORS.missingState);
  if (sections.some((k) => k !== 'desired' && k !== 'reported')) return refuse(SHADOW_ERRORS.invalidStateNode);
  for (const [section, error] of [
    ['desired', SHADOW_ERRORS.desiredNotObject],
    ['reported', SHADOW_ERRORS.reportedNotObject],
  ] as const) {
    const value = state[section];
    if (value === undefined || value === null) continue;
    if (!isObject(value)) return refuse(error);
    if (depth(value) > SHADOW_LIMITS.maxDepth) return refuse(SHADOW_ERRORS.tooDeep);
  }
  request.state = state as ShadowRequest['state'];
  return { ok: true, value: request };
}

/** The next shadow after an update, and what the service publishes for it. */
export interface UpdateOutcome {
  readonly next: StoredShadow;
  /** `next.state` as JSON, made once to measure it (record.ts's stored JSON reuses it). */
  readonly stateJson: string;
  /** The `/update/accepted` document: the request's state, its metadata, the new version. */
  readonly accepted: object;
  /** The `/update/delta` document, when desired and reported still differ. */
  readonly delta?: object;
  /** The `/update/documents` document: the shadow before and after. */
  readonly documents: object;
}

export function applyUpdate(current: StoredShadow | undefined, request: ShadowRequest, nowSec: number): ShadowResult<UpdateOutcome> {
  const { clientToken } = request;
  if (!request.state) return fail(SHADOW_ERRORS.missingState, clientToken);
  const currentVersion = current?.version ?? 0;
  if (request.version !== undefined && request.version !== currentVersion) return fail(SHADOW_ERRORS.versionConflict, clientToken);

  const state: { desired?: JsonObject; reported?: JsonObject } = {};
  const metadata: { desired?: MetadataTree; reported?: MetadataTree } = {};
  const changedMetadata: { desired?: MetadataNode; reported?: MetadataNode } = {};
  for (const section of ['desired', 'reported'] as const) {
    const patch = request.state[section];
    const before = current?.state[section];
    const beforeMeta = current?.metadata[section];
    if (patch === undefined) {
      if (before) state[section] = before;
      if (beforeMeta) metadata[section] = beforeMeta;
      continue;
    }
    const changed = patch === null ? { timestamp: nowSec } : metadataOf(patch, nowSec);
    changedMetadata[section] = changed;
    if (patch === null) continue; // the whole section is deleted
    const merged = merge(before ?? {}, patch);
    const mergedMeta = mergeMetadata(beforeMeta ?? {}, patch, changed as MetadataTree);
    if (Object.keys(merged).length > 0) {
      state[section] = merged;
      metadata[section] = mergedMeta;
    }
  }
  const stateJson = JSON.stringify(state);
  if (Buffer.byteLength(stateJson) > SHADOW_LIMITS.maxStateBytes) return fail(SHADOW_ERRORS.tooLarge, clientToken);

  const next: StoredShadow = { state, metadata, version: currentVersion + 1, timestamp: nowSec };
  // Literals, not spreads of an optional token: this runs once per update.
  const accepted: Record<string, unknown> = { state: request.state, metadata: changedMetadata, version: next.version, timestamp: nowSec };
  const documents: Record<string, unknown> = { previous: current ? snapshot(current) : null, current: snapshot(next), timestamp: nowSec };
  if (clientToken !== undefined) accepted['clientToken'] = documents['clientToken'] = clientToken;
  const deltaState = delta(state.desired, state.reported);
  if (!deltaState) return { ok: true, value: { next, stateJson, accepted, documents } };
  const deltaDocument: Record<string, unknown> = { version: next.version, timestamp: nowSec, state: deltaState, metadata: pick(metadata.desired ?? {}, deltaState) };
  if (clientToken !== undefined) deltaDocument['clientToken'] = clientToken;
  return { ok: true, value: { next, stateJson, accepted, documents, delta: deltaDocument } };
}

/** The `/get/accepted` document (GetThingShadow's body); 404 when there is no shadow. */
export function getDocument(current: StoredShadow | undefined, request: ShadowRequest, nowSec: number, name = ''): ShadowResult<object> {
  if (!current) return fail(notFound(name), request.clientToken);
  const deltaState = delta(current.state.desired, current.state.reported);
  return {
    ok: true,
    value: {
      state: { ...current.state, ...(deltaState ? { delta: deltaState } : {}) },
      metadata: current.metadata,
      version: current.version,
      timestamp: nowSec,
      ...(request.clientToken === undefined ? {} : { clientToken: request.clientToken }),
    },
  };
}

/** Deletes a shadow: `next` is null (a tombstone); the `/delete/accepted` document names the version deleted. */
export function deleteDocument(current: StoredShadow | undefined, request: ShadowRequest, nowSec: number, name = ''): ShadowResult<{ next: null; accepted: object }> {
  if (!current) return fail(notFound(name), request.clientToken);
  if (request.version !== undefined && request.version !== current.version) return fail(SHADOW_ERRORS.versionConflict, request.clientToken);
  return { ok: true, value: { next: null, accepted: { version: current.version, timestamp: nowSec, ...(request.clientToken === undefined ? {} : { clientToken: request.clientToken }) } } };
}

/** The `/rejected` document. */
export function errorDocument(error: ShadowError, clientToken: string | undefined, nowSec: number): object {
  return { code: error.code, message: error.message, timestamp: nowSec, ...(clientToken === undefined ? {} : { clientToken }) };
}

// --- the rules -----------------------------------------------------------------------------

/** Object merge: `null` deletes, objects merge, anything else replaces. */
export function merge(base: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const key of Object.keys(patch)) {
    const value = patch[key]!;
    if (value === null) delete out[key];
    else if (isObject(value)) out[key] = merge(isObject(out[key]) ? (out[key] as JsonObject) : {}, value);
    else out[key] = value;
  }
  return out;
}

/**
 * The same merge over metadata: the patch's leaves get their metadata in `changed` (the patch's
 * own metadata, {@link metadataOf}: the same nodes serve both), deleted keys lose theirs.
 */
function mergeMetadata(base: MetadataTree, patch: JsonObject, changed: MetadataTree): MetadataTree {
  const out: MetadataTree = { ...base };
  for (const key of Object.keys(patch)) {
    const value = patch[key]!;
    if (value === null) delete out[key];
    else if (isObject(value)) {
      const previous = out[key];
      out[key] = mergeMetadata(isMetadataTree(previous) ? previous : {}, value, changed[key] as MetadataTree);
    } else out[key] = changed[key]!;
  }
  return out;
}

/** Metadata of a value written now. */
function metadataOf(value: JsonValue, nowSec: number): MetadataNode {
  if (Array.isArray(value)) return value.map((v) => metadataOf(v, nowSec));
  if (isObject(value)) {
    const tree: MetadataTree = {};
    for (const k of Object.keys(value)) tree[k] = metadataOf(value[k]!, nowSec);
    return tree;
  }
  return { timestamp: nowSec };
}

/** Desired leaves whose reported value differs or is missing; undefined when there are none. */
export function delta(desired: JsonObject | undefined, reported: JsonObject | undefined): JsonObject | undefined {
  if (!desired) return undefined;
  const out: JsonObject = {};
  for (const [key, want] of Object.entries(desired)) {
    const have = reported?.[key];
    if (isObject(want) && isObject(have)) {
      const inner = delta(want, have);
      if (inner) out[key] = inner;
    } else if (have === undefined || !equal(want, have)) out[key] = want;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The metadata of the keys of `shape` (the delta's metadata is the desired metadata of its leaves). */
function pick(metadata: MetadataTree, shape: JsonObject): MetadataTree {
  const out: MetadataTree = {};
  for (const [key, value] of Object.entries(shape)) {
    const m = metadata[key];
    if (m === undefined) continue;
    out[key] = isObject(value) && isMetadataTree(m) ? pick(m, value) : m;
  }
  return out;
}

function snapshot(shadow: StoredShadow): object {
  return { state: shadow.state, metadata: shadow.metadata, version: shadow.version };
}

/** Levels of objects and arrays below (and including) `value`'s own keys. */
function depth(value: JsonValue): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depth));
  if (isObject(value)) return 1 + Math.max(0, ...Object.values(value).map(depth));
  return 0;
}

function equal(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => equal(v, b[i]!));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && equal(a[k]!, b[k]!));
  }
  return false;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isMetadataTree(node: MetadataNode | undefined): node is MetadataTree {
  return isObject(node) && !('timestamp' in node && typeof node.timestamp === 'number' && Object.keys(node).length === 1);
}

function fail(error: ShadowError, clientToken?: string): { ok: false; error: ShadowError; clientToken?: string } {
  return clientToken === undefined ? { ok: false, error } : { ok: false, error, clientToken };
}
