import { expect, test } from 'vitest';
import { outputBytes } from './deps.js';

test('a plain output is its JSON text', () => {
  const output = { id: 'r1', seq: 3, t: 71.5, ok: true, none: null, list: [1, 'a', { b: 2 }] };
  expect(outputBytes(output).toString('utf8')).toBe(JSON.stringify(output));
});

test('Buffers inside an output are written as base64, at any depth; a Buffer output is its bytes', () => {
  const bytes = Buffer.from([0, 1, 2, 250]);
  expect(JSON.parse(outputBytes({ a: bytes, b: [{ c: bytes }], d: 1 }).toString('utf8'))).toEqual({ a: 'AAEC+g==', b: [{ c: 'AAEC+g==' }], d: 1 });
  expect(outputBytes(bytes)).toBe(bytes);
  expect(outputBytes(undefined)).toHaveLength(0);
});

test('an output nested past JSON.stringify\'s reach fails with a message, not a RangeError', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 200_000; i++) deep = [deep];
  expect(() => outputBytes(deep)).toThrow('the output is nested too deeply to write as JSON');
});
