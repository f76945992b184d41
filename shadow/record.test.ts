import { expect, test } from 'vitest';
import { decodeFrame, encodeFrame } from '../core/index.js';
import { T0, update } from './testing/update.js';
import { historyCodec } from './history.js';
import { documentsJson, shadowCodec, storedJson } from './record.js';


// The update command writes these texts from the version's JSON made once (record.ts); each
// must be what JSON.stringify makes of the document it stands for.
test('the stored, history and /update/documents texts are JSON.stringify of their documents', () => {
  const first = update(undefined, { state: { desired: { on: true, modes: ['a', 'b'] }, reported: { on: false } }, clientToken: 'tok "1" é' });
  const second = update(first.next, { state: { reported: { on: true, nested: { deep: { x: 1 } } }, desired: null } }, T0 + 5);
  const third = update(second.next, { state: { desired: { colour: 'blue' } }, clientToken: 'c' }, T0 + 9);
  const cases = [
    { previous: undefined, outcome: first, token: 'tok "1" é', now: T0 },
    { previous: first.next, outcome: second, token: undefined, now: T0 + 5 },
    { previous: second.next, outcome: third, token: 'c', now: T0 + 9 },
  ];
  for (const { previous, outcome, token, now } of cases) {
    const next = outcome.next;
    expect(outcome.stateJson).toBe(JSON.stringify(next.state));
    const json = storedJson(next, outcome.stateJson);
    expect(json).toBe(JSON.stringify({ state: next.state, metadata: next.metadata, version: next.version, timestamp: next.timestamp }));
    expect(documentsJson(previous, json, now, token)).toBe(JSON.stringify(outcome.documents));
    const entry = { version: next.version, timestamp: next.timestamp, document: next };
    expect(historyCodec.encode(entry).toString('utf8')).toBe(JSON.stringify(entry));
    // The codec takes the text the update made; a second encode makes it again, the same.
    expect(shadowCodec.encode(next).toString('utf8')).toBe(json);
    expect(shadowCodec.encode(next).toString('utf8')).toBe(json);
    expect(decodeFrame(shadowCodec, encodeFrame(shadowCodec, next, 3), 'k')).toEqual({ value: next, revision: 3 });
    expect(decodeFrame(historyCodec, encodeFrame(historyCodec, entry, 3), 'k').value).toEqual(entry);
  }
  const deleted = { version: 3, timestamp: T0 + 10, deleted: true as const };
  expect(historyCodec.encode(deleted).toString('utf8')).toBe(JSON.stringify(deleted));
});
