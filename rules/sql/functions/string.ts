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

// Each function below is written once with positional arguments: that form is its `direct[n]`
// (what compiled rules call, with no argument array) and `call` unpacks the array into it.

function stringFunction(name: string, f: (s: string) => SqlValue): SqlFunction {
  const one = (x: SqlValue): SqlValue => {
    const s = strArg(x);
    return s === undefined ? undefined : f(s);
  };
  return defineFunction({ name, minArgs: 1, call: ([x]) => one(x), direct: { 1: one } });
}

/** Two Strings after conversion, or undefined (startswith, endswith, indexof). */
function twoStrings(name: string, f: (a: string, b: string) => SqlValue): SqlFunction {
  const two = (x: SqlValue, y: SqlValue): SqlValue => {
    const a = strArg(x);
    const b = strArg(y);
    return a === undefined || b === undefined ? undefined : f(a, b);
  };
  return defineFunction({ name, minArgs: 2, call: ([x, y]) => two(x, y), direct: { 2: two } });
}

/** The longest padding lpad and rpad add: "The Int argument must be between 0 and 1000". */
const MAX_PAD = 1000;

function pad(name: string, f: (s: string, n: number) => string): SqlFunction {
  const two = (x: SqlValue, count: SqlValue): SqlValue => {
    const s = strArg(x);
    if (s === undefined) return undefined;
    if (typeof count !== 'number' && typeof count !== 'string') return undefined;
    const n = floorArg(count);
    if (n === undefined) return undefined;
    return f(s, Math.min(MAX_PAD, Math.max(0, n)));
  };
  return defineFunction({ name, minArgs: 2, call: ([x, count]) => two(x, count), direct: { 2: two } });
}

/**
 * substring(s, start[, end]): indices are rounded down (`substring("012345", 2.745)` =
 * "2345"), clamped to [0, length], and an end at or before the start gives "".
 */
function substring2(x: SqlValue, from: SqlValue): SqlValue {
  const s = strArg(x);
  if (s === undefined) return undefined;
  const start = floorArg(from);
  return start === undefined ? undefined : s.slice(Math.min(s.length, Math.max(0, start)));
}

function substring3(x: SqlValue, from: SqlValue, to: SqlValue): SqlValue {
  const s = strArg(x);
  if (s === undefined) return undefined;
  const startRaw = floorArg(from);
  if (startRaw === undefined) return undefined;
  const endRaw = floorArg(to);
  if (endRaw === undefined) return undefined;
  const start = Math.min(s.length, Math.max(0, startRaw));
  const end = Math.min(s.length, Math.max(0, endRaw));
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
  defineFunction({
    name: 'concat',
    minArgs: 0,
    maxArgs: Infinity,
    call: (args) => concatValues(args),
    // Strings are joined inline by the compiler; these serve the other argument types.
    direct: { 2: (a, b) => concatValues([a, b]), 3: (a, b, c) => concatValues([a, b, c]) },
  }),
  twoStrings('endswith', (a, b) => a.endsWith(b)),
  defineFunction({ name: 'get', minArgs: 2, call: ([c, k]) => getValue(c, k), direct: { 2: getValue } }),
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
  defineFunction({
    name: 'substring',
    minArgs: 2,
    maxArgs: 3,
    call: (args) => (args.length < 3 ? substring2(args[0], args[1]) : substring3(args[0], args[1], args[2])),
    direct: { 2: substring2, 3: substring3 },
  }),
  defineFunction({ name: 'transform', minArgs: 3, call: ([m, o, a]) => transformValue(m, o, a) }),
  stringFunction('trim', (s) => s.replace(LEADING_BLANKS, '').replace(TRAILING_BLANKS, '')),
  stringFunction('upper', (s) => s.toUpperCase()),
];
