import { describe, expect, test } from 'vitest';
import { typeOf, type SqlValue } from '../values.js';
import { call } from './test-context.js';

// Each case comes from the function's section of the guide (iot-sql-functions): its
// examples first, then one case per row of its type table.
type Case = [name: string, args: SqlValue[], expected: SqlValue];

const CASES: Case[] = [
  // abs: example, then Int, Decimal, Boolean, String, bad String, Array, Object, Null, Undefined
  ['abs', [-5], 5],
  ['abs', [-7], 7],
  ['abs', [-1.5], 1.5],
  ['abs', [true], undefined],
  ['abs', ['-5.123'], 5.123],
  ['abs', ['x'], undefined],
  ['abs', [[1]], undefined],
  ['abs', [{}], undefined],
  ['abs', [null], undefined],
  ['abs', [undefined], undefined],
  // acos/asin/atan: examples; imaginary results are Undefined
  ['acos', [0], 1.5707963267948966],
  ['acos', ['0'], 1.5707963267948966],
  ['acos', [2], undefined],
  ['acos', [false], undefined],
  ['asin', [0], 0],
  ['asin', [0.5], Math.asin(0.5)],
  ['asin', ['1'], Math.PI / 2],
  ['asin', [2], undefined],
  ['asin', [null], undefined],
  ['atan', [0], 0],
  ['atan', ['1'], Math.PI / 4],
  ['atan', [[0]], undefined],
  ['atan2', [1, 0], 1.5707963267948966],
  ['atan2', ['1', '0'], 1.5707963267948966],
  ['atan2', ['x', 0], undefined],
  ['atan2', [true, 0], undefined],
  // bit operations: examples, Decimals and Strings rounded down
  ['bitand', [13, 5], 5],
  ['bitand', [13.9, 5.2], 5],
  ['bitand', ['13', '5.7'], 5],
  ['bitand', ['x', 5], undefined],
  ['bitand', [null, 5], undefined],
  ['bitor', [8, 5], 13],
  ['bitor', [8.5, '5'], 13],
  ['bitor', [[8], 5], undefined],
  ['bitxor', [13, 5], 8],
  ['bitxor', ['13.2', 5], 8],
  ['bitxor', [{}, 5], undefined],
  ['bitand', [2 ** 40 + 1, 2 ** 40 + 3], 2 ** 40 + 1], // 64-bit, not 32-bit
  ['bitnot', [13], 2],
  ['bitnot', [13.7], 2],
  ['bitnot', ['13'], 2],
  ['bitnot', ['x'], undefined],
  ['bitnot', [true], undefined],
  // ceil / floor: examples, Int, Decimal, String, other
  ['ceil', [1.2], 2],
  ['ceil', [-1.2], -1],
  ['ceil', [3], 3],
  ['ceil', ['1.2'], 2],
  ['ceil', ['x'], undefined],
  ['ceil', [true], undefined],
  ['floor', [1.2], 1],
  ['floor', [-1.2], -2],
  ['floor', [3], 3],
  ['floor', ['-1.2'], -2],
  ['floor', [[1, 2, 3]], undefined],
  // cos / cosh / sin / sinh / tan / tanh
  ['cos', [0], 1],
  ['cos', ['0'], 1],
  ['cos', [false], undefined],
  ['cosh', [2.3], 5.037220649268761],
  ['cosh', [null], undefined],
  ['sin', [0], 0],
  ['sin', ['x'], undefined],
  ['sinh', [2.3], 4.936961805545957],
  ['sinh', [{}], undefined],
  ['tan', [3], -0.1425465430742778],
  ['tan', [undefined], undefined],
  ['tanh', [2.3], 0.9800963962661914],
  ['tanh', [[2.3]], undefined],
  // exp / ln / log / sqrt / power
  ['exp', [1], Math.E],
  ['exp', ['0'], 1],
  ['exp', [true], undefined],
  ['ln', [Math.E], 1],
  ['ln', ['1'], 0],
  ['ln', [0], undefined], // -Infinity is no Decimal
  ['log', [100], 2],
  ['log', ['1000'], 3],
  ['log', [[]], undefined],
  ['sqrt', [9], 3],
  ['sqrt', ['16'], 4],
  ['sqrt', [-1], undefined],
  ['sqrt', [null], undefined],
  ['power', [2, 5], 32],
  ['power', ['2', 0.5], Math.SQRT2],
  ['power', ['x', 2], undefined],
  ['power', [true, 2], undefined],
  // mod / remainder (same table as %)
  ['mod', [8, 3], 2],
  ['mod', [8.5, 3], 2.5],
  ['mod', ['8', '3'], 2],
  ['mod', ['x', 3], undefined],
  ['mod', [null, 3], undefined],
  ['remainder', [8, 3], 2],
  ['remainder', [-8, 3], -2],
  ['remainder', [{}, 3], undefined],
  // nanvl: Undefined, Null, NaN give the second argument; anything else the first
  ['nanvl', [8, 3], 8],
  ['nanvl', [undefined, 3], 3],
  ['nanvl', [null, 3], 3],
  ['nanvl', [Number.NaN, 3], 3],
  ['nanvl', [1.5, 3], 1.5],
  ['nanvl', ['x', 3], 'x'],
  // round: examples
  ['round', [1.2], 1],
  ['round', [1.5], 2],
  ['round', [1.7], 2],
  ['round', [-1.1], -1],
  ['round', [-1.5], -2],
  ['round', [4], 4],
  ['round', ['2.5'], 3],
  ['round', ['x'], undefined],
  ['round', [true], undefined],
  // sign
  ['sign', [-7], -1],
  ['sign', [0], 0],
  ['sign', [13], 1],
  ['sign', [-0.5], -1],
  ['sign', ['-2'], -1],
  ['sign', ['x'], undefined],
  ['sign', [[1]], undefined],
  // trunc: examples, then places clamped to 0..34, Int/Int returns the source
  ['trunc', [2.3, 0], 2],
  ['trunc', [2.3123, 2], 2.31],
  ['trunc', [2.888, 2], 2.88],
  ['trunc', [2.0, 5], 2],
  ['trunc', [7, 2], 7],
  ['trunc', [2.3, 1], 2.3],
  ['trunc', [-2.789, 1], -2.7],
  ['trunc', [2.789, -3], 2],
  ['trunc', [2.789, 1.9], 2.7],
  ['trunc', ['2.789', 2], 2.78],
  ['trunc', [1.23e-10, 11], 1.2e-10],
  ['trunc', ['x', 2], undefined],
  ['trunc', [2.5, '1'], undefined],
  ['trunc', [true, 1], undefined],
];

describe('math functions (guide examples and type tables)', () => {
  test.each(CASES)('%s(%o) = %o', (name, args, expected) => {
    expect(call(name, ...args)).toEqual(expected);
  });
});

describe('result types', () => {
  test('abs keeps Int and Decimal; ceil, floor, round and sign return Int', () => {
    expect(typeOf(call('abs', -5))).toBe('Int');
    expect(typeOf(call('abs', -5.5))).toBe('Decimal');
    for (const name of ['ceil', 'floor', 'round', 'sign']) expect(typeOf(call(name, '2.5'))).toBe('Int');
  });
  test('rand returns a Decimal in [0, 1)', () => {
    const r = call('rand');
    expect(typeof r).toBe('number');
    expect(r as number).toBeGreaterThanOrEqual(0);
    expect(r as number).toBeLessThan(1);
  });
});
