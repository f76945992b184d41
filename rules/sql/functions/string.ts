/**
 * String and collection functions (iot-sql-functions). Arguments that are not Strings go
 * through the standard "To String" conversion; Null and Undefined have none, so they make the
 * result Undefined.
 */
import { concatValues } from '../operators.js';
import { isObject, toInt, toSqlString, type SqlObject, type SqlValue } from '../values.js';
import { defineFunction, floorArg, strArg } from './define.js';
import type { SqlFunction } from './types.js';

/** Java's String.trim() removes every character up to U+0020 (spaces, tabs, line breaks). */
const LEADING_BLANKS = /^[\u0000-\u0020]+/;
const TRAILING_BLANKS = /[\u0000-\u0020]+$/;

function stringFunction(name: string, f: (s: string) => SqlValue): SqlFunction {
  return defineFunction({
    name,
    minArgs: 1,
    call: ([x]) => {
      const s = strArg(x);
      return s === undefined ? undefined : f(s);
    },
  });
}

/** Two Strings after conversion, or undefined (startswith, endswith, indexof). */
function twoStrings(name: string, f: (a: string, b: string) => SqlValue): SqlFunction {
  return defineFunction({
    name,
    minArgs: 2,
    call: ([x, y]) => {
      const a = strArg(x);
      const b = strArg(y);
      return a === undefined || b === undefined ? undefined : f(a, b);
    },
  });
}

/** The longest padding lpad and rpad add: "The Int argument must be between 0 and 1000". */
const MAX_PAD = 1000;

function pad(name: string, f: (s: string, n: number) => string): SqlFunction {
  return defineFunction({
    name,
    minArgs: 2,
    call: ([x, count]) => {
      const s = strArg(x);
      if (s === undefined) return undefined;
      if (typeof count !== 'number' && typeof count !== 'string') return undefined;
      const n = floorArg(count);
      if (n === undefined) return undefined;
      return f(s, Math.min(MAX_PAD, Math.max(0, n)));
    },
  });
}

/**
 * substring(s, start[, end]): indices are rounded down (`substring("012345", 2.745)` =
 * "2345"), clamped to [0, length], and an end at or before the start gives "".
 */
function substringValue(args: readonly SqlValue[]): SqlValue {
  const s = strArg(args[0]);
  if (s === undefined) return undefined;
  const clamp = (i: number): number => Math.min(s.length, Math.max(0, i));
  const startRaw = floorArg(args[1]);
  if (startRaw === undefined) return undefined;
  const start = clamp(startRaw);
  if (args.length < 3) return s.slice(start);
  const endRaw = floorArg(args[2]);
  if (endRaw === undefined) return undefined;
  const end = clamp(endRaw);
  return start >= end ? '' : s.slice(start, end);
}

/**
 * get(collection, key): an Array or String indexed by the key converted to Int (0-based,
 * out of bounds is Undefined), or an Object's member named by a String key (no conversion).
 */
function getValue(collection: SqlValue, key: SqlValue): SqlValue {
  if (Array.isArray(collection) || typeof collection === 'string') {
    const i = toInt(key);
    if (i === undefined || i < 0 || i >= collection.length) return undefined;
    return collection[i];
  }
  if (isObject(collection)) {
    if (typeof key !== 'string' || !Object.prototype.hasOwnProperty.call(collection, key)) return undefined;
    return collection[key];
  }
  return undefined;
}

/**
 * transform("enrichArray", object, array): each Object of the array with the members of the
 * object added (the object's members win on a clash). Items that are not Objects are left
 * out, since the mode is defined for an "Array of objects". Any other mode is Undefined.
 */
function transformValue(mode: SqlValue, object: SqlValue, array: SqlValue): SqlValue {
  if (mode !== 'enrichArray' || !isObject(object) || !Array.isArray(array)) return undefined;
  const out: SqlValue[] = [];
  for (const item of array) {
    if (!isObject(item)) continue;
    const merged: SqlObject = { ...item };
    for (const key of Object.keys(object)) merged[key] = object[key];
    out.push(merged);
  }
  return out;
}

export const STRING_FUNCTIONS: readonly SqlFunction[] = [
  defineFunction({
    // chr(n): the ASCII character n (0-127), n rounded down; anything else is Undefined.
    name: 'chr',
    minArgs: 1,
    call: ([x]) => {
      if (typeof x !== 'number' && typeof x !== 'string') return undefined;
      const n = floorArg(x);
      return n === undefined || n < 0 || n > 127 ? undefined : String.fromCharCode(n);
    },
  }),
  defineFunction({ name: 'concat', minArgs: 0, maxArgs: Infinity, call: (args) => concatValues(args) }),
  twoStrings('endswith', (a, b) => a.endsWith(b)),
  defineFunction({ name: 'get', minArgs: 2, call: ([c, k]) => getValue(c, k) }),
  defineFunction({
    // get_or_default(value, default): the value, or the default when it is Undefined or Null.
    name: 'get_or_default',
    minArgs: 2,
    call: ([v, d]) => (v === undefined || v === null ? d : v),
  }),
  twoStrings('indexof', (a, b) => a.indexOf(b)),
  defineFunction({ name: 'isnull', minArgs: 1, call: ([v]) => v === null }),
  defineFunction({ name: 'isundefined', minArgs: 1, call: ([v]) => v === undefined }),
  // length counts UTF-16 code units, as Java's String.length() does.
  stringFunction('length', (s) => s.length),
  stringFunction('lower', (s) => s.toLowerCase()),
  pad('lpad', (s, n) => ' '.repeat(n) + s),
  stringFunction('ltrim', (s) => s.replace(LEADING_BLANKS, '')),
  stringFunction('numbytes', (s) => Buffer.byteLength(s, 'utf8')),
  defineFunction({
    // replace(s, find, with): every occurrence, literally; all three arguments are converted.
    name: 'replace',
    minArgs: 3,
    call: ([x, y, z]) => {
      const s = toSqlString(x);
      const find = toSqlString(y);
      const replacement = toSqlString(z);
      if (s === undefined || find === undefined || replacement === undefined) return undefined;
      // Java inserts the replacement around every character when the search string is empty.
      if (find === '') return replacement + s.split('').join(replacement) + replacement;
      return s.split(find).join(replacement);
    },
  }),
  pad('rpad', (s, n) => s + ' '.repeat(n)),
  stringFunction('rtrim', (s) => s.replace(TRAILING_BLANKS, '')),
  twoStrings('startswith', (a, b) => a.startsWith(b)),
  defineFunction({ name: 'substring', minArgs: 2, maxArgs: 3, call: (args) => substringValue(args) }),
  defineFunction({ name: 'transform', minArgs: 3, call: ([m, o, a]) => transformValue(m, o, a) }),
  stringFunction('trim', (s) => s.replace(LEADING_BLANKS, '').replace(TRAILING_BLANKS, '')),
  stringFunction('upper', (s) => s.toUpperCase()),
];
