import { describe, expect, test } from 'vitest';
import { SHADOW_ERRORS, SHADOW_LIMITS, applyUpdate, deleteDocument, delta, errorDocument, getDocument, parseRequest, type ShadowRequest, type StoredShadow } from './document.js';
import { T0, update } from './testing/update.js';


function refusal(payload: string, op: 'get' | 'update' | 'delete' = 'update') {
  const parsed = parseRequest(payload, op);
  if (parsed.ok) throw new Error('accepted');
  return parsed;
}

describe('update (guide: "Device Shadow service documents", request and response state documents)', () => {
  test('the first update makes version 1; the accepted document echoes the request state, its metadata and the clientToken', () => {
    const { next, accepted } = update(undefined, { state: { desired: { color: 'RED', sequence: ['RED', 'GREEN', 'BLUE'] } }, clientToken: 'token' });
    expect(next).toEqual({
      state: { desired: { color: 'RED', sequence: ['RED', 'GREEN', 'BLUE'] } },
      metadata: { desired: { color: { timestamp: T0 }, sequence: [{ timestamp: T0 }, { timestamp: T0 }, { timestamp: T0 }] } },
      version: 1,
      timestamp: T0,
    });
    expect(accepted).toEqual({
      state: { desired: { color: 'RED', sequence: ['RED', 'GREEN', 'BLUE'] } },
      metadata: { desired: { color: { timestamp: T0 }, sequence: [{ timestamp: T0 }, { timestamp: T0 }, { timestamp: T0 }] } },
      version: 1,
      timestamp: T0,
      clientToken: 'token',
    });
  });

  test('nested objects merge; metadata keeps the time each leaf was last written', () => {
    const first = update(undefined, { state: { reported: { light: { color: 'red', level: 1 }, fan: 'on' } } }).next;
    const { next } = update(first, { state: { reported: { light: { level: 5 } } } }, T0 + 10);
    expect(next.state.reported).toEqual({ light: { color: 'red', level: 5 }, fan: 'on' });
    expect(next.metadata.reported).toEqual({ light: { color: { timestamp: T0 }, level: { timestamp: T0 + 10 } }, fan: { timestamp: T0 } });
    expect(next.version).toBe(2);
    expect(next.timestamp).toBe(T0 + 10);
  });

  test('null deletes a key and its metadata; "desired": null deletes the whole section', () => {
    const first = update(undefined, { state: { desired: { a: 1, b: { c: 2 } }, reported: { a: 1 } } }).next;
    const second = update(first, { state: { desired: { a: null, b: { c: null } } } }).next;
    expect(second.state.desired).toEqual({ b: {} });
    expect(second.metadata.desired).toEqual({ b: {} });
    const third = update(second, { state: { desired: null } }).next;
    expect(third.state).toEqual({ reported: { a: 1 } });
    expect(third.metadata).toEqual({ reported: { a: { timestamp: T0 } } });
    expect(third.version).toBe(3);
  });

  test('arrays replace whole, never merge by index', () => {
    const first = update(undefined, { state: { reported: { list: [1, 2, 3] } } }).next;
    const { next } = update(first, { state: { reported: { list: [9] } } });
    expect(next.state.reported).toEqual({ list: [9] });
    expect(next.metadata.reported).toEqual({ list: [{ timestamp: T0 }] });
  });

  test('a value replaces an object and an object replaces a value', () => {
    const first = update(undefined, { state: { reported: { x: { y: 1 }, z: 4 } } }).next;
    const { next } = update(first, { state: { reported: { x: 7, z: { w: true } } } });
    expect(next.state.reported).toEqual({ x: 7, z: { w: true } });
  });

  test('documents carry the shadow before and after (previous is null for a new shadow)', () => {
    const first = update(undefined, { state: { desired: { on: true } }, clientToken: 'a' });
    expect(first.documents).toMatchObject({ previous: null, current: { version: 1, state: { desired: { on: true } } }, timestamp: T0, clientToken: 'a' });
    const second = update(first.next, { state: { reported: { on: true } } });
    expect(second.documents).toEqual({
      previous: { state: { desired: { on: true } }, metadata: { desired: { on: { timestamp: T0 } } }, version: 1 },
      current: { state: { desired: { on: true }, reported: { on: true } }, metadata: { desired: { on: { timestamp: T0 } }, reported: { on: { timestamp: T0 } } }, version: 2 },
      timestamp: T0,
    });
  });

  test('a given version must be the current one (409 Version conflict) and a refused update changes nothing', () => {
    const first = update(undefined, { state: { desired: { on: true } } }).next;
    const parsed = parseRequest('{"state":{"desired":{"on":false}},"version":5,"clientToken":"c"}', 'update');
    expect(parsed.ok).toBe(true);
    const outcome = applyUpdate(first, (parsed as { value: ShadowRequest }).value, T0);
    expect(outcome).toEqual({ ok: false, error: SHADOW_ERRORS.versionConflict, clientToken: 'c' });
    expect(first.state.desired).toEqual({ on: true });
    expect(update(first, { state: { desired: { on: false } }, version: 1 }).next.version).toBe(2);
    // Version 0 is the version of a shadow that does not exist yet.
    expect(update(undefined, { state: { desired: { on: false } }, version: 0 }).next.version).toBe(1);
  });
});

describe('delta (guide: "Delta state")', () => {
  test('only desired leaves that differ from reported, compared leaf by leaf in objects and whole for arrays', () => {
    expect(delta({ a: 1, b: { c: 2, d: 3 }, e: [1, 2], f: 'same' }, { a: 2, b: { c: 2, d: 4 }, e: [1, 2], f: 'same' })).toEqual({ a: 1, b: { d: 3 } });
    expect(delta({ list: [1, 2] }, { list: [2, 1] })).toEqual({ list: [1, 2] });
    expect(delta({ x: 1 }, undefined)).toEqual({ x: 1 });
    // Reported keys that desired does not have are not in the delta.
    expect(delta({ x: 1 }, { x: 1, y: 2 })).toBeUndefined();
    expect(delta(undefined, { y: 2 })).toBeUndefined();
  });

  test('the delta document is sent only when it is not empty, with the desired metadata of its leaves', () => {
    const first = update(undefined, { state: { desired: { color: 'green', level: 2 }, reported: { color: 'red', level: 2 } }, clientToken: 'x' });
    expect(first.delta).toEqual({ version: 1, timestamp: T0, state: { color: 'green' }, metadata: { color: { timestamp: T0 } }, clientToken: 'x' });
    const resolved = update(first.next, { state: { reported: { color: 'green' } } });
    expect(resolved.delta).toBeUndefined();
  });

  test('get answers the state with its delta', () => {
    const shadow = update(undefined, { state: { desired: { on: true }, reported: { on: false } } }).next;
    const got = getDocument(shadow, { clientToken: 'g' }, T0 + 5);
    expect(got).toEqual({
      ok: true,
      value: { state: { desired: { on: true }, reported: { on: false }, delta: { on: true } }, metadata: shadow.metadata, version: 1, timestamp: T0 + 5, clientToken: 'g' },
    });
  });
});

describe('requests the guide refuses (guide: "Device Shadow error messages"), each changing nothing', () => {
  test('malformed JSON, and a payload that is not a JSON object', () => {
    expect(refusal('{"state":').error).toEqual(SHADOW_ERRORS.invalidJson);
    expect(refusal('[1,2]').error).toEqual(SHADOW_ERRORS.invalidJson);
    expect(refusal('{bad', 'get').error).toEqual(SHADOW_ERRORS.invalidJson);
  });

  test('bytes that are not UTF-8 (415)', () => {
    expect(parseRequest(Buffer.from([0x7b, 0xff, 0x7d]), 'update')).toMatchObject({ ok: false, error: { code: 415 } });
  });

  test('a missing or empty state, and state sections that are not objects', () => {
    expect(refusal('{"clientToken":"t"}')).toEqual({ ok: false, error: SHADOW_ERRORS.missingState, clientToken: 't' });
    expect(refusal('{"state":{}}').error).toEqual(SHADOW_ERRORS.missingState);
    expect(refusal('{"state":5}').error).toEqual(SHADOW_ERRORS.stateNotObject);
    expect(refusal('{"state":null}').error).toEqual(SHADOW_ERRORS.stateNotObject);
    expect(refusal('{"state":{"desired":[1]}}').error).toEqual(SHADOW_ERRORS.desiredNotObject);
    expect(refusal('{"state":{"reported":"on"}}').error).toEqual(SHADOW_ERRORS.reportedNotObject);
  });

  test('unknown nodes: in state (delta, metadata, anything else) and at the top level', () => {
    expect(refusal('{"state":{"delta":{"a":1}}}').error).toEqual(SHADOW_ERRORS.invalidStateNode);
    expect(refusal('{"state":{"desired":{"a":1}},"metadata":{}}').error).toEqual(SHADOW_ERRORS.unexpectedNode);
    expect(refusal('{"state":{"desired":{"a":1}}}', 'get').error).toEqual(SHADOW_ERRORS.unexpectedNode);
  });

  test('a version that is not a non-negative integer, and a clientToken that is not a string of at most 64 bytes', () => {
    expect(refusal('{"state":{"desired":{}},"version":"1"}').error).toEqual(SHADOW_ERRORS.invalidVersion);
    expect(refusal('{"state":{"desired":{}},"version":-1}').error).toEqual(SHADOW_ERRORS.invalidVersion);
    expect(refusal('{"state":{"desired":{}},"version":1.5}').error).toEqual(SHADOW_ERRORS.invalidVersion);
    expect(refusal(JSON.stringify({ state: { desired: {} }, clientToken: 'x'.repeat(SHADOW_LIMITS.maxClientTokenBytes + 1) })).error).toEqual(SHADOW_ERRORS.invalidClientToken);
    expect(refusal('{"clientToken":7}', 'get').error).toEqual(SHADOW_ERRORS.invalidClientToken);
    expect(parseRequest(JSON.stringify({ state: { desired: {} }, clientToken: 'x'.repeat(SHADOW_LIMITS.maxClientTokenBytes) }), 'update').ok).toBe(true);
  });

  test('more than 6 levels of nesting in desired or reported', () => {
    const nest = (levels: number): unknown => (levels === 1 ? { leaf: 1 } : { n: nest(levels - 1) });
    expect(parseRequest(JSON.stringify({ state: { desired: nest(6) } }), 'update').ok).toBe(true);
    expect(refusal(JSON.stringify({ state: { reported: nest(7) } })).error).toEqual(SHADOW_ERRORS.tooDeep);
  });

  test('a state larger than 8 KB (413), counted on the merged document, and the stored shadow stays as it was', () => {
    const first = update(undefined, { state: { reported: { a: 'x'.repeat(5000) } } }).next;
    const parsed = parseRequest(JSON.stringify({ state: { desired: { b: 'y'.repeat(4000) } } }), 'update');
    const outcome = applyUpdate(first, (parsed as { value: ShadowRequest }).value, T0);
    expect(outcome).toMatchObject({ ok: false, error: SHADOW_ERRORS.tooLarge });
    expect(first.state).toEqual({ reported: { a: 'x'.repeat(5000) } });
  });

  test('get and delete of a shadow that does not exist: 404 naming it', () => {
    expect(getDocument(undefined, { clientToken: 'q' }, T0, 'lamp')).toEqual({ ok: false, error: { code: 404, message: "No shadow exists with name: 'lamp'" }, clientToken: 'q' });
    expect(deleteDocument(undefined, {}, T0, 'cfg')).toMatchObject({ ok: false, error: { code: 404 } });
  });

  test('get and delete accept an empty payload', () => {
    expect(parseRequest('', 'get')).toEqual({ ok: true, value: {} });
    expect(parseRequest(Buffer.alloc(0), 'delete')).toEqual({ ok: true, value: {} });
    expect(parseRequest('', 'update')).toMatchObject({ ok: false, error: SHADOW_ERRORS.invalidJson });
  });
});

describe('delete and error documents', () => {
  test('delete answers the version it deleted and leaves a tombstone; a stale version is a conflict', () => {
    const shadow = update(update(undefined, { state: { desired: { a: 1 } } }).next, { state: { desired: { a: 2 } } }).next;
    expect(deleteDocument(shadow, { clientToken: 'd' }, T0 + 1)).toEqual({ ok: true, value: { next: null, accepted: { version: 2, timestamp: T0 + 1, clientToken: 'd' } } });
    expect(deleteDocument(shadow, { version: 1 }, T0)).toMatchObject({ ok: false, error: SHADOW_ERRORS.versionConflict });
  });

  test('the /rejected document: code, message, timestamp and the clientToken when there was one', () => {
    expect(errorDocument(SHADOW_ERRORS.versionConflict, 'c', T0)).toEqual({ code: 409, message: 'Version conflict', timestamp: T0, clientToken: 'c' });
    expect(errorDocument(SHADOW_ERRORS.invalidJson, undefined, T0)).toEqual({ code: 400, message: 'Invalid JSON', timestamp: T0 });
  });
});
