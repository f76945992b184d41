/** Action parameters rendered per message: templates anywhere in the tree, constants as given. */
import { expect, test } from 'vitest';
import { compileParams } from './compiled-rule.js';

const opts = { sqlVersion: '2016-03-23', services: undefined, accountId: undefined };
const input = { topic: 'plant/boiler-1/telemetry', payload: Buffer.from('{"t":21.5}') };

test('templates in nested objects and arrays render; constants and key order stay as given', () => {
  const r = compileParams({ url: 'http://h', tags: { site: '${topic(2)}', fixed: 'x' }, values: ['${t}', 1] }, 'rule', opts);
  const out = r.render(input, undefined) as Record<string, unknown>;
  expect(out).toEqual({ url: 'http://h', tags: { site: 'boiler-1', fixed: 'x' }, values: ['21.5', 1] });
  expect(Object.keys(out)).toEqual(['url', 'tags', 'values']);
});

test('a key named __proto__ (as JSON gives it) renders as an own key, not the prototype', () => {
  const params = JSON.parse('{"fields": {"__proto__": "${t}", "v": "${topic(1)}"}}') as Record<string, unknown>;
  const out = compileParams(params, 'rule', opts).render(input, undefined) as { fields: Record<string, unknown> };
  expect(Object.keys(out.fields)).toEqual(['__proto__', 'v']);
  expect(Object.getOwnPropertyDescriptor(out.fields, '__proto__')?.value).toBe('21.5');
  expect(Object.getPrototypeOf(out.fields)).toBe(Object.prototype);
});
