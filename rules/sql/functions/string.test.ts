import { describe, expect, test } from 'vitest';
import type { SqlValue } from '../values.js';
import { call } from './test-context.js';

// Cases from each function's section of the guide (iot-sql-functions): examples, then rows
// of its table.
type Case = [name: string, args: SqlValue[], expected: SqlValue];

const CASES: Case[] = [
  // chr
  ['chr', [65], 'A'],
  ['chr', [49], '1'],
  ['chr', [65.9], 'A'],
  ['chr', ['65'], 'A'],
  ['chr', [128], undefined],
  ['chr', [-1], undefined],
  ['chr', [true], undefined],
  ['chr', [[65]], undefined],
  ['chr', [null], undefined],
  // concat: the examples and the table's argument counts
  ['concat', [], undefined],
  ['concat', [1], '1'],
  ['concat', [[1, 2, 3], 4], [1, 2, 3, 4]],
  ['concat', [[1, 2, 3], 'hello'], [1, 2, 3, 'hello']],
  ['concat', ['con', 'cat'], 'concat'],
  ['concat', [1, 'hello'], '1hello'],
  ['concat', ['he', 'is', 'man'], 'heisman'],
  ['concat', [[1, 2, 3], 'hello', [4, 5, 6]], [1, 2, 3, 'hello', 4, 5, 6]],
  ['concat', [[1]], [1]],
  ['concat', ['a', null], undefined],
  // endswith / startswith
  ['endswith', ['cat', 'at'], true],
  ['endswith', ['cat', 'ca'], false],
  ['endswith', [123, 3], true],
  ['endswith', ['cat', null], undefined],
  ['endswith', [undefined, 'a'], undefined],
  ['startswith', ['ranger', 'ran'], true],
  ['startswith', ['ranger', 'er'], false],
  ['startswith', [true, 'tr'], true],
  ['startswith', [null, 'a'], undefined],
  // get
  ['get', [['a', 'b', 'c'], 1], 'b'],
  ['get', [{ a: 'b' }, 'a'], 'b'],
  ['get', ['abc', 1], 'b'],
  ['get', [['a', 'b'], '1'], 'b'],
  ['get', [['a', 'b'], 5], undefined],
  ['get', [['a', 'b'], -1], undefined],
  ['get', [['a', 'b'], 'x'], undefined],
  ['get', ['abc', 3], undefined],
  ['get', [{ a: 'b' }, 1], undefined],
  ['get', [{ a: 'b' }, 'z'], undefined],
  ['get', [5, 0], undefined],
  // get_or_default
  ['get_or_default', [undefined, 'd'], 'd'],
  ['get_or_default', [null, 'd'], 'd'],
  ['get_or_default', [0, 'd'], 0],
  // indexof
  ['indexof', ['abcd', 'bc'], 1],
  ['indexof', ['abcd', 'x'], -1],
  ['indexof', [12345, 34], 2],
  ['indexof', [null, 'a'], undefined],
  // isNull / isUndefined: the tables
  ['isNull', [5], false],
  ['isNull', [null], true],
  ['isNull', [1.5], false],
  ['isNull', [true], false],
  ['isNull', ['s'], false],
  ['isNull', [[]], false],
  ['isNull', [{}], false],
  ['isNull', [undefined], false],
  ['isUndefined', [5], false],
  ['isUndefined', [undefined], true],
  ['isUndefined', [1.5], false],
  ['isUndefined', [false], false],
  ['isUndefined', [''], false],
  ['isUndefined', [[]], false],
  ['isUndefined', [{}], false],
  ['isUndefined', [null], false],
  // length / numbytes
  ['length', ['hi'], 2],
  ['length', [false], 5],
  ['length', [null], undefined],
  ['numbytes', ['hi'], 2],
  ['numbytes', ['€'], 3],
  ['numbytes', [12], 2],
  ['numbytes', [undefined], undefined],
  // lower / upper
  ['lower', ['HELLO'], 'hello'],
  ['lower', [['HELLO']], '["hello"]'],
  ['lower', [null], undefined],
  ['upper', ['hello'], 'HELLO'],
  ['upper', [['hello']], '["HELLO"]'],
  ['upper', [true], 'TRUE'],
  // lpad / rpad: examples and rows
  ['lpad', ['hello', 2], '  hello'],
  ['lpad', [1, 3], '   1'],
  ['lpad', ['a', 2.9], '  a'],
  ['lpad', ['a', '2'], '  a'],
  ['lpad', ['a', 'x'], undefined],
  ['lpad', ['a', -5], 'a'],
  ['lpad', ['a', 5000], ' '.repeat(1000) + 'a'],
  ['lpad', ['a', true], undefined],
  ['lpad', [null, 2], undefined],
  ['rpad', ['hello', 2], 'hello  '],
  ['rpad', [1, 3], '1   '],
  ['rpad', ['a', 1.5], 'a '],
  ['rpad', ['a', '3'], 'a   '],
  ['rpad', ['a', [1]], undefined],
  // ltrim / rtrim / trim: examples and one row per type
  ['ltrim', [' h i '], 'h i '],
  ['ltrim', ['\t\tx'], 'x'],
  ['ltrim', [12], '12'],
  ['ltrim', [1.5], '1.5'],
  ['ltrim', [true], 'true'],
  ['ltrim', [[' a']], '[" a"]'],
  ['ltrim', [{ a: 1 }], '{"a":1}'],
  ['ltrim', [null], undefined],
  ['ltrim', [undefined], undefined],
  ['rtrim', [' h i '], ' h i'],
  ['rtrim', [12], '12'],
  ['rtrim', [null], undefined],
  ['trim', [' hi '], 'hi'],
  ['trim', [false], 'false'],
  ['trim', [['a ']], '["a "]'],
  ['trim', [undefined], undefined],
  // replace: examples and the "All arguments" table
  ['replace', ['abcd', 'bc', 'x'], 'axd'],
  ['replace', ['abcdabcd', 'b', 'x'], 'axcdaxcd'],
  ['replace', [1234, 23, true], '1true4'],
  ['replace', [['a'], 'a', 'b'], '["b"]'],
  ['replace', ['a.c', '.', '-'], 'a-c'], // literal, not a pattern
  ['replace', ['ab', '', '-'], '-a-b-'],
  ['replace', ['abcd', null, 'x'], undefined],
  ['replace', [undefined, 'a', 'x'], undefined],
  // substring: every example
  ['substring', ['012345', 0], '012345'],
  ['substring', ['012345', 2], '2345'],
  ['substring', ['012345', 2.745], '2345'],
  ['substring', [123, 2], '3'],
  ['substring', ['012345', -1], '012345'],
  ['substring', [true, 1.2], 'rue'],
  ['substring', [false, -2.411e247], 'false'],
  ['substring', ['012345', 1, 3], '12'],
  ['substring', ['012345', -50, 50], '012345'],
  ['substring', ['012345', 3, 1], ''],
  ['substring', ['012345', 'x'], undefined],
  ['substring', [null, 1], undefined],
];

describe('string and collection functions (guide examples and type tables)', () => {
  test.each(CASES)('%s(%o) = %o', (name, args, expected) => {
    expect(call(name, ...args)).toEqual(expected);
  });
});

describe('transform', () => {
  const payload = { attributes: { data1: 1, data2: 2 }, values: [{ a: 3 }, { b: 4 }, { c: 5 }] };
  test('example 1: enrichArray adds the object\'s attributes to every item', () => {
    expect(call('transform', 'enrichArray', payload.attributes, payload.values)).toEqual([
      { a: 3, data1: 1, data2: 2 },
      { b: 4, data1: 1, data2: 2 },
      { c: 5, data1: 1, data2: 2 },
    ]);
  });
  test('example 2: a literal object renames an attribute', () => {
    expect(call('transform', 'enrichArray', { key: payload.attributes.data1 }, payload.values)).toEqual([
      { a: 3, key: 1 },
      { b: 4, key: 1 },
      { c: 5, key: 1 },
    ]);
  });
  test('example 3: objects built by nested selects', () => {
    const c = [
      { x: { someInt: 5, someString: 'hello' }, y: true },
      { x: { someInt: 10, someString: 'world' }, y: false },
    ];
    expect(call('transform', 'enrichArray', { a: 'first attribute', b: 'second attribute' }, c)).toEqual([
      { x: { someInt: 5, someString: 'hello' }, y: true, a: 'first attribute', b: 'second attribute' },
      { x: { someInt: 10, someString: 'world' }, y: false, a: 'first attribute', b: 'second attribute' },
    ]);
  });
  test('any other mode, or arguments of other types, is Undefined', () => {
    expect(call('transform', 'other', {}, [])).toBeUndefined();
    expect(call('transform', 'enrichArray', [], [])).toBeUndefined();
    expect(call('transform', 'enrichArray', {}, {})).toBeUndefined();
  });
  test('does not change its arguments', () => {
    const values = [{ a: 1 }];
    call('transform', 'enrichArray', { b: 2 }, values);
    expect(values).toEqual([{ a: 1 }]);
  });
});
