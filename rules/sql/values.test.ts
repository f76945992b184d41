import { describe, expect, test } from 'vitest';
import {
  castTo,
  convert,
  formatNumber,
  fromJs,
  isCastTypeName,
  toBoolean,
  toDecimal,
  toInt,
  toJsonText,
  toSqlString,
  typeOf,
  type ConversionTarget,
  type SqlValue,
} from './values.js';

// One row per line of the guide's tables (iot-sql-data-types, "Conversions"). Each row names
// the argument type, a sample value of it, and the expected result.
type Row = [type: string, input: SqlValue, expected: SqlValue];

const TABLES: Record<ConversionTarget, Row[]> = {
  Decimal: [
    ['Int', 5, 5],
    ['Decimal', -1.25, -1.25],
    ['Boolean', true, undefined],
    ['String "0"', '0', 0],
    ['String "-1.2"', '-1.2', -1.2],
    ['String "5E-12"', '5E-12', 5e-12],
    ['String "5e-12" (E is case-insensitive)', '5e-12', 5e-12],
    ['String that does not match the pattern', 'abc', undefined],
    ['String with a leading +', '+5', undefined],
    ['String with blanks', ' 5', undefined],
    ['Array', [1], undefined],
    ['Object', { a: 1 }, undefined],
    ['Null', null, null],
    ['Undefined', undefined, undefined],
  ],
  Int: [
    ['Int', 7, 7],
    ['Decimal (rounded to the nearest Int)', 2.6, 3],
    ['Decimal, negative', -2.6, -3],
    ['Decimal, half rounds away from zero', 2.5, 3],
    ['Boolean', false, undefined],
    ['String (parsed, then truncated)', '2.6', 2],
    ['String, negative (truncated)', '-2.6', -2],
    ['String "5E-12"', '5E-12', 0],
    ['String that does not parse', '2.6x', undefined],
    ['Array', [1], undefined],
    ['Object', {}, undefined],
    ['Null', null, null],
    ['Undefined', undefined, undefined],
  ],
  Boolean: [
    ['Int', 1, undefined],
    ['Decimal', 0.5, undefined],
    ['Boolean', true, true],
    ['String "true"', 'true', true],
    ['String "FALSE" (case-insensitive)', 'FALSE', false],
    ['String "TrUe"', 'TrUe', true],
    ['other String', 'yes', undefined],
    ['Array', [true], undefined],
    ['Object', { a: true }, undefined],
    ['Null', null, undefined],
    ['Undefined', undefined, undefined],
  ],
  String: [
    ['Int (standard notation)', 42, '42'],
    ['large Int stays in standard notation', 1e21, '1000000000000000000000'],
    ['Decimal', 1.5, '1.5'],
    ['small Decimal (scientific notation)', 5e-12, '5E-12'],
    ['Boolean true (lower case)', true, 'true'],
    ['Boolean false', false, 'false'],
    ['String', 'abc', 'abc'],
    ['Array (JSON, Strings quoted)', [1, 'a', true, null, 2.5], '[1,"a",true,null,2.5]'],
    ['Object (JSON)', { a: 'b', n: 1, z: null }, '{"a":"b","n":1,"z":null}'],
    ['Null', null, undefined],
    ['Undefined', undefined, undefined],
  ],
};

describe.each(Object.entries(TABLES))('the "To %s" conversion table', (target, rows) => {
  test.each(rows)('%s', (_type, input, expected) => {
    expect(convert(input, target as ConversionTarget)).toEqual(expected);
  });
});

describe('argument conversions used by functions', () => {
  test('agree with the tables on every row but Null, which functions treat as invalid (Undefined)', () => {
    const fns = { Decimal: toDecimal, Int: toInt, Boolean: toBoolean, String: toSqlString };
    for (const [target, rows] of Object.entries(TABLES)) {
      for (const [type, input, expected] of rows) {
        const got = fns[target as ConversionTarget](input);
        expect(got, `${target} ${type}`).toEqual(input === null ? undefined : expected);
      }
    }
  });
  test('abs("-5.123") is treated as abs(-5.123): the guide\'s example of a String converted to Decimal', () => {
    expect(toDecimal('-5.123')).toBe(-5.123);
  });
});

describe('typeOf', () => {
  test.each<[SqlValue, string]>([
    [undefined, 'Undefined'],
    [null, 'Null'],
    [true, 'Boolean'],
    [10, 'Int'],
    [10.0, 'Int'], // SQL V2: 10.0 is processed as the Int 10
    [10.5, 'Decimal'],
    [Number.NaN, 'Decimal'],
    ['s', 'String'],
    [[1], 'Array'],
    [{ a: 1 }, 'Object'],
    [Object.create(null) as SqlValue, 'Object'],
    [Buffer.from('x'), 'Binary'],
  ])('typeOf(%o) is %s', (v, type) => {
    expect(typeOf(v)).toBe(type);
  });
});

// iot-sql-functions, "cast": one table per target type.
describe('castTo', () => {
  test.each<[SqlValue, string, SqlValue]>([
    // Cast to decimal
    [5, 'Decimal', 5],
    [1.5, 'Decimal', 1.5],
    [true, 'Decimal', 1],
    [false, 'Decimal', 0],
    ['-1.2', 'Decimal', -1.2],
    ['abc', 'Decimal', undefined],
    [[1], 'Decimal', undefined],
    [{}, 'Decimal', undefined],
    [null, 'Decimal', undefined],
    [undefined, 'Decimal', undefined],
    [1.5, 'Double', 1.5],
    // Cast to int
    [7, 'Int', 7],
    [2.7, 'Int', 2],
    [-1.2, 'Int', -2],
    [true, 'Int', 1], // the guide's example: cast(true as Int) = 1
    [false, 'Integer', 0],
    ['2.7', 'Int', 2],
    ['x', 'Int', undefined],
    [[1], 'Int', undefined],
    [{}, 'Int', undefined],
    [null, 'Int', undefined],
    [undefined, 'Int', undefined],
    // Cast to Boolean
    [0, 'Boolean', false],
    [3, 'Boolean', true],
    [0.5, 'Bool', true],
    [true, 'Boolean', true],
    ['TRUE', 'Boolean', true],
    ['false', 'Boolean', false],
    ['maybe', 'Boolean', undefined],
    [[true], 'Boolean', undefined],
    [{}, 'Boolean', undefined],
    [null, 'Boolean', undefined],
    [undefined, 'Boolean', undefined],
    // Cast to string
    [42, 'String', '42'],
    [1.5, 'varchar', '1.5'],
    [true, 'String', 'true'],
    ['abc', 'Nvarchar', 'abc'],
    [[1, 'a'], 'Text', '[1,"a"]'],
    [{ a: 1 }, 'Ntext', '{"a":1}'],
    [null, 'String', undefined],
    [undefined, 'String', undefined],
    // unknown type
    [1, 'Blob', undefined],
  ])('cast(%o as %s) = %o', (value, type, expected) => {
    expect(castTo(value, type)).toEqual(expected);
  });
  test('type names are case-insensitive and checked at compile time', () => {
    expect(castTo('1', 'INT')).toBe(1);
    expect(isCastTypeName('decimal')).toBe(true);
    expect(isCastTypeName('blob')).toBe(false);
  });
});

describe('toJsonText', () => {
  test('leaves Undefined members out: {"foo":null,"bar":undefined} serializes as {"foo":null}', () => {
    expect(toJsonText({ foo: null, bar: undefined })).toBe('{"foo":null}');
  });
  test('Undefined on its own serializes as the empty string', () => {
    expect(toJsonText(undefined)).toBe('');
  });
  test('leaves Undefined items out of arrays and writes Buffers as base64', () => {
    expect(toJsonText([1, undefined, 2, Buffer.from('hi')])).toBe('[1,2,"aGk="]');
  });
  test('writes NaN and Infinity, which JSON cannot hold, as null', () => {
    expect(toJsonText({ a: Number.NaN, b: Number.POSITIVE_INFINITY })).toBe('{"a":null,"b":null}');
  });
});

describe('formatNumber and fromJs', () => {
  test('formats numbers as IoT SQL prints them', () => {
    expect(formatNumber(-0)).toBe('0');
    expect(formatNumber(1.5e300)).toBe('1.5E+300');
    expect(formatNumber(Number.NaN)).toBe('NaN');
  });
  test('turns JavaScript values into SqlValues', () => {
    expect(fromJs({ a: 1n, b: new Uint8Array([104, 105]), c: () => 1 })).toEqual({
      a: 1,
      b: Buffer.from('hi'),
      c: undefined,
    });
  });
});
