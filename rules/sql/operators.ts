/**
 * IoT SQL operators, each following its type table in the AWS IoT developer guide
 * (iot-sql-operators.html). Every function is total: operands outside a table's rows give
 * Undefined, nothing throws. The compiler may inline a fast path (both operands numbers) but
 * must return what these functions return.
 */
import { formatNumber, isObject, parseDecimalString, toBoolean, toSqlString, type SqlValue } from './values.js';

type Binary = (a: SqlValue, b: SqlValue) => SqlValue;

// ---------------------------------------------------------------------------------------------
// Logic. AND, OR and NOT take Booleans or the strings "true"/"false" (any case); any other
// operand, Undefined included, makes the result Undefined. The tables have no short-circuit
// row, so `false AND x` is Undefined when x is not a Boolean: kiot follows the tables.
// ---------------------------------------------------------------------------------------------

export const and: Binary = (a, b) => {
  const l = toBoolean(a);
  const r = toBoolean(b);
  return l === undefined || r === undefined ? undefined : l && r;
};

export const or: Binary = (a, b) => {
  const l = toBoolean(a);
  const r = toBoolean(b);
  return l === undefined || r === undefined ? undefined : l || r;
};

export function not(a: SqlValue): SqlValue {
  const v = toBoolean(a);
  return v === undefined ? undefined : !v;
}

// ---------------------------------------------------------------------------------------------
// Equality. Int and Decimal compare as numbers; Strings, Booleans and Null compare with their
// own type; Arrays item by item in order; Objects by keys and values in any order; Undefined on
// either side gives Undefined; any other mix of types is simply unequal.
// ---------------------------------------------------------------------------------------------

/** Deep equality of two defined values under the `=` table. */
export function sqlEquals(a: SqlValue, b: SqlValue): boolean {
  if (a === b) return true; // numbers (Int = Decimal after conversion), strings, booleans, null
  if (typeof a === 'number' && typeof b === 'number') return false; // includes NaN = NaN, as Java's BigDecimal cannot hold NaN either
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b)) return false;
    const left = a.filter((x) => x !== undefined);
    const right = b.filter((x) => x !== undefined);
    if (left.length !== right.length) return false;
    for (let i = 0; i < left.length; i++) if (!sqlEquals(left[i], right[i])) return false;
    return true;
  }
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b);
  if (!isObject(b) || !isObject(a)) return false;
  const keys = Object.keys(a).filter((k) => a[k] !== undefined);
  const otherKeys = Object.keys(b).filter((k) => b[k] !== undefined);
  if (keys.length !== otherKeys.length) return false;
  for (const key of keys) {
    if (!Object.prototype.hasOwnProperty.call(b, key) || !sqlEquals(a[key], b[key])) return false;
  }
  return true;
}

/** `=`: Undefined if either side is Undefined, false for mismatched types. */
export const eq: Binary = (a, b) => (a === undefined || b === undefined ? undefined : sqlEquals(a, b));

/**
 * `<>` and `!=`: the negation of `=`. The table's rows agree with that: Null <> Null is false,
 * mismatched types are true, Undefined on either side is Undefined.
 */
export const neq: Binary = (a, b) => (a === undefined || b === undefined ? undefined : !sqlEquals(a, b));

// ---------------------------------------------------------------------------------------------
// Ordering. Both operands are converted to Decimal; Int, Decimal and Strings that parse as a
// Decimal qualify. Anything else (two non-numeric Strings included) gives Undefined.
// ---------------------------------------------------------------------------------------------

/** The operand of a numeric operator: a number, or a String that parses as a Decimal. */
function numeric(v: SqlValue): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return parseDecimalString(v);
  return undefined;
}

function compare(test: (l: number, r: number) => boolean): Binary {
  return (a, b) => {
    const l = numeric(a);
    if (l === undefined) return undefined;
    const r = numeric(b);
    if (r === undefined) return undefined;
    return test(l, r);
  };
}

export const gt = compare((l, r) => l > r);
export const gte = compare((l, r) => l >= r);
export const lt = compare((l, r) => l < r);
export const lte = compare((l, r) => l <= r);

// ---------------------------------------------------------------------------------------------
// Arithmetic. Int op Int is Int; with a Decimal the result is Decimal; Strings that parse as
// a Decimal take part (except in `+`, where a String means concatenation) and make the result
// a Decimal. Division or remainder by zero is Undefined: AWS's decimal arithmetic has no
// Infinity, so kiot does not let one into a rule's output.
// ---------------------------------------------------------------------------------------------

/** `+`: string concatenation when either side is a String, else numeric addition. */
export const add: Binary = (a, b) => {
  if (typeof a === 'string') {
    const r = toSqlString(b);
    return r === undefined ? undefined : a + r;
  }
  if (typeof b === 'string') {
    const l = toSqlString(a);
    return l === undefined ? undefined : l + b;
  }
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  return undefined;
};

function arithmetic(op: (l: number, r: number, integral: boolean) => number | undefined): Binary {
  return (a, b) => {
    const l = numeric(a);
    if (l === undefined) return undefined;
    const r = numeric(b);
    if (r === undefined) return undefined;
    // Int op Int keeps Int semantics only when both operands really are Ints (not Strings).
    const integral = typeof a === 'number' && typeof b === 'number' && Number.isInteger(a) && Number.isInteger(b);
    return op(l, r, integral);
  };
}

export const sub = arithmetic((l, r) => l - r);
export const mul = arithmetic((l, r) => l * r);

/** `/`: Int / Int is an Int, truncated toward zero as Java's integer division is. */
export const div = arithmetic((l, r, integral) => {
  if (r === 0) return undefined;
  return integral ? Math.trunc(l / r) + 0 : l / r;
});

/**
 * `/` with a Decimal operand that JavaScript cannot tell from an Int (SQL 2015-10-08 keeps the
 * literal `10.0` a Decimal): the compiler calls this instead of {@link div}, so `10.0 / 4` is 2.5.
 */
export const divDecimal = arithmetic((l, r) => (r === 0 ? undefined : l / r));

/** `%`: the remainder takes the sign of the dividend (Java and JavaScript agree). */
export const mod = arithmetic((l, r) => (r === 0 ? undefined : (l % r) + 0));

/** Unary `-`: Int stays Int, Decimal stays Decimal, a numeric String becomes a Decimal. */
export function neg(a: SqlValue): SqlValue {
  const v = numeric(a);
  return v === undefined ? undefined : 0 - v; // 0 - v, not -v, so that -(0) is 0 rather than -0
}

// ---------------------------------------------------------------------------------------------
// Membership and concatenation.
// ---------------------------------------------------------------------------------------------

/**
 * `x IN array`: true when an item of the array equals x under `=`. A right operand that is
 * not an Array, or an Undefined left operand, gives Undefined.
 */
export const inOp: Binary = (a, b) => {
  if (a === undefined || !Array.isArray(b)) return undefined;
  for (const item of b) if (item !== undefined && sqlEquals(a, item)) return true;
  return false;
};

/**
 * `x CONTAINS y`: a String contains a substring, or an Array contains an item equal to y.
 * Other operands give Undefined.
 */
export const contains: Binary = (a, b) => {
  if (b === undefined) return undefined;
  if (typeof a === 'string') return typeof b === 'string' ? a.includes(b) : undefined;
  if (Array.isArray(a)) {
    for (const item of a) if (item !== undefined && sqlEquals(item, b)) return true;
    return false;
  }
  return undefined;
};

/**
 * `||`, which the guide does not document as an operator: kiot gives it the two-argument
 * behaviour of the `concat()` function (Arrays are joined, anything else is converted to a
 * String and appended), so `a || b` and `concat(a, b)` always agree.
 */
export const concat: Binary = (a, b) => concatValues([a, b]);

/**
 * The `concat()` function (iot-sql-functions, "concat"):
 * - no arguments: Undefined;
 * - one argument: the table says "returned unmodified", but the description ("returns a
 *   String or an Array") and the example `concat(1)` = "1" both say a String. kiot follows
 *   the description and the example: an Array is returned as is, anything else is converted
 *   to a String;
 * - two or more: if any argument is an Array, one Array holding the items of the Array
 *   arguments and the other arguments themselves (`concat([1,2,3], "hello", [4,5,6])` =
 *   `[1,2,3,"hello",4,5,6]`); otherwise, if at least one argument is a String, the String
 *   conversions of all arguments joined; otherwise (no String, no Array) Undefined, as no
 *   row of the table applies.
 * A String conversion that fails (Null, Undefined) makes the result Undefined.
 */
export function concatValues(args: readonly SqlValue[]): SqlValue {
  if (args.length === 0) return undefined;
  if (args.length === 1) {
    const only = args[0];
    return Array.isArray(only) ? only : toSqlString(only);
  }
  if (args.some((a) => Array.isArray(a))) {
    const out: SqlValue[] = [];
    for (const a of args) {
      if (Array.isArray(a)) out.push(...a);
      else if (a !== undefined) out.push(a);
    }
    return out;
  }
  if (!args.some((a) => typeof a === 'string')) return undefined;
  let text = '';
  for (const a of args) {
    const s = toSqlString(a);
    if (s === undefined) return undefined;
    text += s;
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Null and Undefined tests (IS NULL / IS UNDEFINED and the isNull() / isUndefined() functions).
// ---------------------------------------------------------------------------------------------

export const isNull = (a: SqlValue): boolean => a === null;
export const isNotNull = (a: SqlValue): boolean => a !== null;
export const isUndefined = (a: SqlValue): boolean => a === undefined;
export const isNotUndefined = (a: SqlValue): boolean => a !== undefined;

/** Re-exported for the compiler's constant folding of number literals in messages. */
export { formatNumber };
