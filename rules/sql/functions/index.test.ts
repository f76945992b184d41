import { describe, expect, test } from 'vitest';
import type { SqlValue } from '../values.js';
import { FUNCTIONS, lookupFunction } from './index.js';
import { testContext } from './test-context.js';

// Every function named in the guide's reference (iot-sql-functions), by family.
const DOCUMENTED = [
  'abs', 'accountid', 'acos', 'asin', 'atan', 'atan2', 'aws_lambda', 'bitand', 'bitor', 'bitxor', 'bitnot',
  'ceil', 'chr', 'clientid', 'concat', 'cos', 'cosh', 'decode', 'encode', 'endswith', 'exp', 'floor', 'get',
  'get_dynamodb', 'get_mqtt_property', 'get_or_default', 'get_registry_data', 'get_secret', 'get_thing_shadow',
  'get_user_properties', 'md2', 'md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'indexof', 'isnull',
  'isundefined', 'length', 'ln', 'log', 'lower', 'lpad', 'ltrim', 'machinelearning_predict', 'mod', 'nanvl',
  'newuuid', 'numbytes', 'parse_time', 'power', 'principal', 'rand', 'regexp_matches', 'regexp_replace',
  'regexp_substr', 'remainder', 'replace', 'rpad', 'round', 'rtrim', 'sign', 'sin', 'sinh', 'sourceip',
  'substring', 'sql_version', 'sqrt', 'startswith', 'tan', 'tanh', 'time_to_epoch', 'timestamp', 'topic',
  'traceid', 'transform', 'trim', 'trunc', 'upper',
];

/** Argument values of every type, to throw at every function. */
const SAMPLES: SqlValue[] = [undefined, null, true, 0, -3, 2.5, Number.NaN, '', 'x', '12', [], [1, 'a'], {}, { a: 1 }, Buffer.from([0xff])];

describe('the function catalogue', () => {
  test('has every documented function, keyed by its lower-case name', () => {
    for (const name of DOCUMENTED) expect(FUNCTIONS.has(name), name).toBe(true);
    for (const [key, fn] of FUNCTIONS) expect(key).toBe(fn.name);
    expect(FUNCTIONS.size).toBe(DOCUMENTED.length);
  });

  test('lookup is case-insensitive', () => {
    expect(lookupFunction('isNull')?.name).toBe('isnull');
    expect(lookupFunction('UPPER')?.name).toBe('upper');
    expect(lookupFunction('nope')).toBeUndefined();
  });

  test('arities are consistent', () => {
    for (const fn of FUNCTIONS.values()) {
      expect(fn.minArgs, fn.name).toBeGreaterThanOrEqual(0);
      expect(fn.maxArgs, fn.name).toBeGreaterThanOrEqual(fn.minArgs);
    }
  });

  test('direct forms give what call gives, for every argument type', () => {
    const ctx = testContext({ topic: 'a/b/c' });
    let checked = 0;
    for (const fn of FUNCTIONS.values()) {
      for (const [n, direct] of Object.entries(fn.direct ?? {})) {
        expect(fn.async, fn.name).toBeFalsy();
        expect(fn.pure || fn.directTakesTopic, fn.name).toBeTruthy();
        const arity = Number(n);
        for (const a of SAMPLES) {
          for (const b of SAMPLES) {
            const args = [a, b, a].slice(0, arity);
            const viaDirect = fn.directTakesTopic ? direct!(ctx.topic, ...args) : direct!(...args);
            expect(viaDirect, `${fn.name}/${arity}(${String(a)}, ${String(b)})`).toEqual(fn.call(args, ctx));
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  test('no synchronous function throws, whatever the argument types', () => {
    const ctx = testContext();
    for (const fn of FUNCTIONS.values()) {
      if (fn.async) continue;
      const arity = Math.min(fn.maxArgs, Math.max(fn.minArgs, 2));
      for (const a of SAMPLES) {
        for (const b of SAMPLES) {
          const args = [a, b, a, b].slice(0, arity);
          expect(() => fn.call(args, ctx), `${fn.name}(${String(a)}, ${String(b)})`).not.toThrow();
        }
      }
    }
  });
});
