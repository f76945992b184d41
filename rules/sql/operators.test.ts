import { describe, expect, test } from 'vitest';
import {
  add,
  and,
  concat,
  contains,
  div,
  eq,
  gt,
  gte,
  inOp,
  isNotNull,
  isNotUndefined,
  isNull,
  isUndefined,
  lt,
  lte,
  mod,
  mul,
  neg,
  neq,
  not,
  or,
  sub,
} from './operators.js';
import { typeOf, type SqlValue } from './values.js';

// Each block below is one table of the guide's operators page (iot-sql-operators), one test
// case per row, plus rows the table implies (Undefined operands, mismatched types).
type Case = [left: SqlValue, right: SqlValue, expected: SqlValue];

function table(name: string, op: (a: SqlValue, b: SqlValue) => SqlValue, cases: Case[]): void {
  describe(`${name} operator`, () => {
    test.each(cases)(`%o ${name} %o = %o`, (a, b, expected) => {
      expect(op(a, b)).toEqual(expected);
    });
  });
}

table('AND', and, [
  // Boolean | Boolean
  [true, true, true],
  [true, false, false],
  [false, false, false],
  // String/Boolean | String/Boolean: "true"/"false" in any case
  ['true', true, true],
  ['TRUE', 'False', false],
  [true, 'tRuE', true],
  // Other value
  ['yes', true, undefined],
  [1, true, undefined],
  [true, null, undefined],
  [false, undefined, undefined],
  [[true], true, undefined],
]);

table('OR', or, [
  [true, false, true],
  [false, false, false],
  ['false', 'TRUE', true],
  ['false', false, false],
  [true, 'nope', undefined],
  [0, false, undefined],
  [undefined, true, undefined],
]);

describe('NOT operator', () => {
  test.each<[SqlValue, SqlValue]>([
    [true, false],
    [false, true],
    ['true', false],
    ['FALSE', true],
    ['other', undefined],
    [1, undefined],
    [null, undefined],
    [undefined, undefined],
  ])('NOT %o = %o', (a, expected) => {
    expect(not(a)).toEqual(expected);
  });
});

// >, >=, <, <=: Int/Decimal, or Strings that convert to Decimal; other values are Undefined.
table('>', gt, [
  [2, 1, true],
  [1, 2, false],
  [1.5, 1, true],
  ['10', 9, true], // compared as Decimals, not as text
  ['10', '9', true],
  ['1e1', 9.5, true],
  ['a', 'b', undefined],
  ['a', 1, undefined],
  [true, false, undefined],
  [null, 1, undefined],
  [undefined, 1, undefined],
  [[2], [1], undefined],
]);
table('>=', gte, [
  [2, 2, true],
  [1, 2, false],
  ['2.0', 2, true],
  [{}, 1, undefined],
  [1, undefined, undefined],
]);
table('<', lt, [
  [1, 2, true],
  [2, 1, false],
  ['-1.5', -1, true],
  ['x', 1, undefined],
  [null, null, undefined],
]);
table('<=', lte, [
  [2, 2, true],
  [3, 2, false],
  [2, '2', true],
  [false, 1, undefined],
  [undefined, undefined, undefined],
]);

table('=', eq, [
  // Int | Int
  [1, 1, true],
  [1, 2, false],
  // Decimal | Decimal (Int converted to Decimal)
  [1.5, 1.5, true],
  [1, 1.0, true],
  [1, 1.5, false],
  // String | String
  ['a', 'a', true],
  ['a', 'A', false],
  // Array | Array: equal items in the same order
  [[1, 'a', [2]], [1, 'a', [2]], true],
  [[1, 2], [2, 1], false],
  [[1], [1, 1], false],
  // Object | Object: equal keys and values, order unimportant
  [{ a: 1, b: { c: [1] } }, { b: { c: [1] }, a: 1 }, true],
  [{ a: 1 }, { a: 2 }, false],
  [{ a: 1 }, { a: 1, b: 2 }, false],
  // Null | Null, Boolean | Boolean
  [null, null, true],
  [true, true, true],
  [true, false, false],
  // Any value | Undefined, Undefined | Any value
  [1, undefined, undefined],
  [undefined, 1, undefined],
  [undefined, undefined, undefined],
  // Mismatched types
  ['1', 1, false],
  [true, 'true', false],
  [null, 0, false],
  [[1], 1, false],
  [{}, [], false],
]);

table('<>', neq, [
  [1, 1, false],
  [1, 2, true],
  [1, 1.0, false],
  [2.5, 2.4, true],
  ['a', 'b', true],
  ['a', 'a', false],
  [[1, 2], [1, 2], false],
  [[1, 2], [2, 1], true],
  [{ a: 1, b: 2 }, { b: 2, a: 1 }, false],
  [{ a: 1 }, { a: '1' }, true],
  [null, null, false], // the table's Null | Null row
  [1, undefined, undefined],
  [undefined, 'x', undefined],
  ['1', 1, true], // mismatched types
  [false, null, true],
]);

describe('+ operator', () => {
  test.each<[SqlValue, SqlValue, SqlValue, string]>([
    // String | Any value: the right operand converted to a String and appended
    ['a', 1, 'a1', 'String'],
    ['a', 1.5, 'a1.5', 'String'],
    ['a', true, 'atrue', 'String'],
    ['a', [1, 'b'], 'a[1,"b"]', 'String'],
    ['a', { k: 1 }, 'a{"k":1}', 'String'],
    ['a', 'b', 'ab', 'String'],
    ['a', null, undefined, 'Undefined'], // Null has no String conversion
    ['a', undefined, undefined, 'Undefined'],
    // Any value | String
    [1, 'a', '1a', 'String'],
    [false, 'a', 'falsea', 'String'],
    // Int | Int
    [2, 3, 5, 'Int'],
    // Int/Decimal | Int/Decimal
    [2, 0.5, 2.5, 'Decimal'],
    [0.25, 0.5, 0.75, 'Decimal'],
    // Other value
    [true, 1, undefined, 'Undefined'],
    [null, 1, undefined, 'Undefined'],
    [[1], [2], undefined, 'Undefined'],
    [undefined, 1, undefined, 'Undefined'],
  ])('%o + %o = %o (%s)', (a, b, expected, type) => {
    const result = add(a, b);
    expect(result).toEqual(expected);
    expect(typeOf(result)).toBe(type);
  });
});

describe('-, *, /, % operators', () => {
  test.each<[string, (a: SqlValue, b: SqlValue) => SqlValue, SqlValue, SqlValue, SqlValue, string]>([
    // -: Int | Int, Int/Decimal, String/Int/Decimal, Other
    ['-', sub, 5, 3, 2, 'Int'],
    ['-', sub, 5, 0.5, 4.5, 'Decimal'],
    ['-', sub, '5.5', 1, 4.5, 'Decimal'],
    ['-', sub, '5', '2', 3, 'Int'], // V2: whole numbers are Ints
    ['-', sub, 'x', 1, undefined, 'Undefined'],
    ['-', sub, true, 1, undefined, 'Undefined'],
    ['-', sub, null, 1, undefined, 'Undefined'],
    // *
    ['*', mul, 4, 3, 12, 'Int'],
    ['*', mul, 4, 0.5, 2, 'Int'],
    ['*', mul, 3, 0.5, 1.5, 'Decimal'],
    ['*', mul, '1.5', '2.5', 3.75, 'Decimal'],
    ['*', mul, 'x', 2, undefined, 'Undefined'],
    ['*', mul, [1], 2, undefined, 'Undefined'],
    // /: Int / Int is an Int (integer division)
    ['/', div, 7, 2, 3, 'Int'],
    ['/', div, -7, 2, -3, 'Int'],
    ['/', div, 7, 2.0, 3, 'Int'], // 2.0 is the Int 2 in V2
    ['/', div, 7.5, 2, 3.75, 'Decimal'],
    ['/', div, '7', 2, 3.5, 'Decimal'], // a String operand makes it a Decimal division
    ['/', div, 'x', 2, undefined, 'Undefined'],
    ['/', div, {}, 2, undefined, 'Undefined'],
    ['/', div, 1, 0, undefined, 'Undefined'],
    // %
    ['%', mod, 8, 3, 2, 'Int'],
    ['%', mod, -8, 3, -2, 'Int'],
    ['%', mod, 8.5, 3, 2.5, 'Decimal'],
    ['%', mod, '8.5', '3', 2.5, 'Decimal'],
    ['%', mod, 'x', 3, undefined, 'Undefined'],
    ['%', mod, true, 3, undefined, 'Undefined'],
    ['%', mod, 8, 0, undefined, 'Undefined'],
  ])('%o %s %o', (_name, op, a, b, expected, type) => {
    const result = op(a, b);
    expect(result).toEqual(expected);
    expect(typeOf(result)).toBe(type);
  });
});

describe('unary -', () => {
  test.each<[SqlValue, SqlValue]>([
    [5, -5],
    [-1.5, 1.5],
    [0, 0],
    ['2.5', -2.5],
    ['x', undefined],
    [true, undefined],
    [null, undefined],
    [undefined, undefined],
  ])('-(%o) = %o', (a, expected) => {
    expect(neg(a)).toEqual(expected);
  });
  test('-(0) is 0, not -0', () => {
    expect(Object.is(neg(0), 0)).toBe(true);
  });
});

table('IN', inOp, [
  [3, [1, 2, 3, 'three', 5.7, null], true],
  ['three', [1, 2, 3, 'three'], true],
  [5.7, [1, 5.7], true],
  [[1, 2], [[1, 2], 3], true],
  [{ a: 1 }, [{ a: 1 }], true],
  [null, [1, null], true],
  [4, [1, 2, 3], false],
  ['3', [3], false], // = on mismatched types is false
  [3, 3, undefined],
  [undefined, [1], undefined],
]);

table('CONTAINS', contains, [
  ['hello', 'ell', true],
  ['hello', 'xyz', false],
  [[1, 2, 3], 2, true],
  [[1, [2]], [2], true],
  [[1, 2], 5, false],
  ['hello', 1, undefined],
  [5, 5, undefined],
  [[1], undefined, undefined],
]);

table('||', concat, [
  ['con', 'cat', 'concat'],
  [1, 'hello', '1hello'],
  [[1, 2, 3], 4, [1, 2, 3, 4]],
  [[1], [2], [1, 2]],
  ['a', null, undefined],
  [undefined, 'a', undefined],
]);

describe('IS [NOT] NULL and IS [NOT] UNDEFINED', () => {
  test.each<[SqlValue, boolean, boolean]>([
    [null, true, false],
    [undefined, false, true],
    [0, false, false],
    ['', false, false],
  ])('%o', (v, nullness, undefinedness) => {
    expect(isNull(v)).toBe(nullness);
    expect(isNotNull(v)).toBe(!nullness);
    expect(isUndefined(v)).toBe(undefinedness);
    expect(isNotUndefined(v)).toBe(!undefinedness);
  });
});
