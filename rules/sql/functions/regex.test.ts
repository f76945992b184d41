import { describe, expect, test } from 'vitest';
import type { SqlValue } from '../values.js';
import { call } from './test-context.js';

type Case = [name: string, args: SqlValue[], expected: SqlValue];

// iot-sql-functions: regexp_matches, regexp_replace, regexp_substr, with the rows of their
// "First argument" tables and the rules for the pattern and replacement arguments.
const CASES: Case[] = [
  ['regexp_matches', ['aaaa', 'a{2,}'], true],
  ['regexp_matches', ['aaaa', 'b'], false],
  ['regexp_matches', [12345, '3'], true], // Int -> its String
  ['regexp_matches', [1.5, '\\.'], true], // Decimal
  ['regexp_matches', [true, '^tr'], true], // Boolean
  ['regexp_matches', [[1, 2], '^\\[1,2\\]$'], true], // Array as JSON
  ['regexp_matches', [{ a: 1 }, '"a"'], true], // Object as JSON
  ['regexp_matches', [null, 'a'], undefined],
  ['regexp_matches', [undefined, 'a'], undefined],
  ['regexp_matches', ['abc', '('], undefined], // invalid pattern
  ['regexp_matches', ['a1', 1], true], // a non-String pattern is converted
  ['regexp_matches', ['ABC', '(?i)abc'], true], // Java's inline flags
  ['regexp_replace', ['abcd', 'bc', 'x'], 'axd'],
  ['regexp_replace', ['abcd', 'b(.*)d', '$1'], 'ac'],
  ['regexp_replace', ['aXbXc', 'X', '-'], 'a-b-c'], // every occurrence
  ['regexp_replace', ['ab', '(?<first>a)', '${first}${first}'], 'aab'],
  ['regexp_replace', ['ab', 'a', '\\$'], '$b'], // \ escapes in Java replacements
  ['regexp_replace', [123, 2, 9], '193'],
  ['regexp_replace', ['abcd', 'b', '$2'], undefined], // no group 2: invalid replacement
  ['regexp_replace', ['abcd', 'b', '$'], undefined],
  ['regexp_replace', ['abcd', '[', 'x'], undefined],
  ['regexp_replace', [null, 'a', 'x'], undefined],
  ['regexp_replace', ['a', 'a', null], undefined],
  ['regexp_substr', ['hihihello', 'hi'], 'hi'],
  ['regexp_substr', ['hihihello', '(hi)*'], 'hihi'],
  ['regexp_substr', ['abc', 'x'], undefined],
  ['regexp_substr', [false, 'l.e'], 'lse'],
  ['regexp_substr', [undefined, 'a'], undefined],
  // Java syntax that needs backtracking is not available and counts as an invalid pattern.
  ['regexp_matches', ['abab', '(ab)\\1'], undefined],
  ['regexp_matches', ['ab', 'a(?=b)'], undefined],
];

describe('regular-expression functions', () => {
  test.each(CASES)('%s(%o) = %o', (name, args, expected) => {
    expect(call(name, ...args)).toEqual(expected);
  });

  test('a catastrophic pattern returns promptly: (a+)+$ against "aaaa…ab"', () => {
    // A backtracking engine (JavaScript's, Java's) takes exponential time here: 2^40 paths.
    const subject = `${'a'.repeat(40_000)}b`;
    const started = process.hrtime.bigint();
    expect(call('regexp_matches', subject, '(a+)+$')).toBe(false);
    expect(call('regexp_replace', subject, '(a|aa)+$', 'x')).toBe(subject);
    expect(call('regexp_substr', subject, '(a*)*c')).toBeUndefined();
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    // Linear time: 40k characters take milliseconds. The bound is generous for a busy CI.
    expect(elapsedMs).toBeLessThan(5_000);
  });
});
