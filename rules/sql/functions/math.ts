/**
 * Numeric functions (iot-sql-functions: abs ... trunc). Each follows its type table: Int
 * and Decimal arguments as they are, Strings converted to Decimal, anything else Undefined.
 */
import { mod as modOp } from '../operators.js';
import { defineFunction, doubleResult, floorArg, numArg } from './define.js';
import type { SqlFunction } from './types.js';


/** A one-argument function computed in double precision. */
function unaryDouble(name: string, f: (x: number) => number): SqlFunction {
  return defineFunction({
    name,
    minArgs: 1,
    call: ([x]) => {
      const n = numArg(x);
      return n === undefined ? undefined : doubleResult(f(n));
    },
  });
}

/** A one-argument function from a number to an Int (ceil, floor, round, sign). */
function unaryInt(name: string, f: (x: number) => number): SqlFunction {
  return defineFunction({
    name,
    minArgs: 1,
    call: ([x]) => {
      const n = numArg(x);
      if (n === undefined || !Number.isFinite(n)) return undefined;
      return f(n) + 0;
    },
  });
}

/** Rounds half away from zero: `round(1.5)` = 2, `round(-1.5)` = -2 (the guide's examples). */
export function roundHalfAwayFromZero(n: number): number {
  return n < 0 ? -Math.round(-n) + 0 : Math.round(n);
}

/**
 * Bitwise operations work on 64-bit two's complement integers, as Java's `long` does; BigInt
 * keeps them exact past JavaScript's 32-bit bitwise operators.
 */
function bitwise(name: string, op: (a: bigint, b: bigint) => bigint): SqlFunction {
  return defineFunction({
    name,
    minArgs: 2,
    call: ([a, b]) => {
      const l = floorArg(a);
      const r = floorArg(b);
      if (l === undefined || r === undefined || !Number.isFinite(l) || !Number.isFinite(r)) return undefined;
      return Number(BigInt.asIntN(64, op(BigInt.asIntN(64, BigInt(l)), BigInt.asIntN(64, BigInt(r)))));
    },
  });
}

/**
 * bitnot: the guide's only example is `bitnot(13)` = 2, which is 13 (0b1101) with its
 * significant bits inverted (0b0010), not Java's `~13` = -14. kiot matches the example: for
 * n >= 0 the bits up to n's highest set bit are inverted (bitnot(0) = 1); for n < 0 the result
 * is the two's complement `~n`, which is then non-negative.
 */
export function bitnotValue(n: number): number {
  const v = BigInt(n);
  if (v < 0n) return Number(~v);
  const width = v === 0n ? 1 : v.toString(2).length;
  return Number(~v & ((1n << BigInt(width)) - 1n));
}

/**
 * Truncates `x` to `places` decimal places by cutting its shortest decimal representation,
 * so that `trunc(2.3, 1)` is 2.3 and not 2.2 (2.3 is 2.2999... in binary).
 */
export function truncDecimal(x: number, places: number): number {
  if (Number.isInteger(x) || !Number.isFinite(x)) return x;
  const text = plainDecimal(x);
  const dot = text.indexOf('.');
  if (dot < 0) return x;
  const cut = places === 0 ? text.slice(0, dot) : text.slice(0, dot + 1 + places);
  return Number(cut) + 0;
}

/** The shortest round-trip decimal text of x, without exponent notation. */
function plainDecimal(x: number): string {
  const text = String(x);
  const e = text.indexOf('e');
  if (e < 0) return text;
  const exponent = Number(text.slice(e + 1));
  const mantissa = text.slice(0, e);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const intLength = (mantissa.replace('-', '').indexOf('.') + 1 || mantissa.replace('-', '').length + 1) - 1;
  const point = intLength + exponent;
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${out}` : out;
}

const modFunction = (name: string): SqlFunction =>
  defineFunction({ name, minArgs: 2, call: ([a, b]) => modOp(a, b) });

export const MATH_FUNCTIONS: readonly SqlFunction[] = [
  defineFunction({
    name: 'abs',
    minArgs: 1,
    call: ([x]) => {
      const n = numArg(x);
      return n === undefined ? undefined : Math.abs(n);
    },
  }),
  unaryDouble('acos', Math.acos),
  unaryDouble('asin', Math.asin),
  unaryDouble('atan', Math.atan),
  defineFunction({
    // atan2(y, x) as Java's Math.atan2: the guide's example atan2(1, 0) = 1.5707963267948966.
    name: 'atan2',
    minArgs: 2,
    call: ([a, b]) => {
      const y = numArg(a);
      const x = numArg(b);
      return y === undefined || x === undefined ? undefined : doubleResult(Math.atan2(y, x));
    },
  }),
  bitwise('bitand', (a, b) => a & b),
  bitwise('bitor', (a, b) => a | b),
  bitwise('bitxor', (a, b) => a ^ b),
  defineFunction({
    name: 'bitnot',
    minArgs: 1,
    call: ([x]) => {
      const n = floorArg(x);
      return n === undefined || !Number.isFinite(n) ? undefined : bitnotValue(n);
    },
  }),
  unaryInt('ceil', Math.ceil),
  unaryDouble('cos', Math.cos),
  unaryDouble('cosh', Math.cosh),
  unaryDouble('exp', Math.exp),
  unaryInt('floor', Math.floor),
  unaryDouble('ln', Math.log),
  unaryDouble('log', Math.log10),
  modFunction('mod'),
  defineFunction({
    // nanvl: the first argument unless it is Undefined, Null or a NaN Decimal.
    name: 'nanvl',
    minArgs: 2,
    call: ([a, b]) => (a === undefined || a === null || (typeof a === 'number' && Number.isNaN(a)) ? b : a),
  }),
  defineFunction({
    name: 'power',
    minArgs: 2,
    call: ([a, b]) => {
      const x = numArg(a);
      const y = numArg(b);
      return x === undefined || y === undefined ? undefined : doubleResult(Math.pow(x, y));
    },
  }),
  defineFunction({ name: 'rand', minArgs: 0, pure: false, call: () => Math.random() }),
  modFunction('remainder'),
  // round: the table says "rounded down", but the description ("rounds to the nearest Int;
  // equidistant values are rounded up") and all five examples (round(1.7) = 2,
  // round(-1.5) = -2) agree with each other and not with it; kiot follows them.
  unaryInt('round', roundHalfAwayFromZero),
  unaryInt('sign', Math.sign),
  unaryDouble('sin', Math.sin),
  unaryDouble('sinh', Math.sinh),
  unaryDouble('sqrt', Math.sqrt),
  unaryDouble('tan', Math.tan),
  unaryDouble('tanh', Math.tanh),
  defineFunction({
    // trunc(x, places): places below 0 count as 0, above 34 as 34, a non-Int is rounded down;
    // the second argument takes Int or Decimal only (the table has no String row for it).
    name: 'trunc',
    minArgs: 2,
    call: ([a, b]) => {
      const x = numArg(a);
      if (x === undefined || typeof b !== 'number' || Number.isNaN(b)) return undefined;
      const places = Math.min(34, Math.max(0, Math.floor(b)));
      return truncDecimal(x, places);
    },
  }),
];
