/**
 * Small helpers shared by the function families: a constructor for SqlFunction with the
 * defaults most functions share, and the argument coercions the guide's tables use.
 */
import { PlatformError } from '../../../core/errors.js';
import { parseDecimalString, toSqlString, type SqlValue } from '../values.js';
import type { SqlContext, SqlFunction } from './types.js';

export interface FunctionSpec {
  readonly name: string;
  readonly minArgs: number;
  /** Defaults to minArgs. */
  readonly maxArgs?: number;
  /** Defaults to true; false for functions that read the context, the clock or randomness. */
  readonly pure?: boolean;
  readonly async?: boolean;
  readonly validate?: (argCount: number) => void;
  readonly payloadBytesArgs?: readonly number[];
  readonly call: (args: readonly SqlValue[], ctx: SqlContext) => SqlValue | Promise<SqlValue>;
  readonly direct?: SqlFunction['direct'];
  readonly directTakesTopic?: boolean;
  readonly readsField?: SqlFunction['readsField'];
}

export function defineFunction(spec: FunctionSpec): SqlFunction {
  const fn: SqlFunction = {
    name: spec.name,
    minArgs: spec.minArgs,
    maxArgs: spec.maxArgs ?? spec.minArgs,
    pure: spec.pure ?? true,
    ...(spec.async ? { async: true } : {}),
    ...(spec.validate ? { validate: spec.validate } : {}),
    ...(spec.payloadBytesArgs ? { payloadBytesArgs: spec.payloadBytesArgs } : {}),
    call: spec.call,
    ...(spec.direct ? { direct: Object.freeze({ ...spec.direct }) } : {}),
    ...(spec.directTakesTopic ? { directTakesTopic: true } : {}),
    ...(spec.readsField ? { readsField: Object.freeze({ ...spec.readsField }) } : {}),
  };
  return Object.freeze(fn);
}

/** A compile-time error for a function call that kiot cannot evaluate. */
export const semanticError = (fn: string, message: string): PlatformError =>
  new PlatformError('RULES_SQL_SEMANTIC', `${fn}(): ${message}`, { details: { function: fn } });

/**
 * A numeric argument as the guide's function tables take it: Int and Decimal as they are,
 * a String when it parses as a Decimal, anything else (Boolean, Null, ...) undefined.
 */
export function numArg(v: SqlValue): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return parseDecimalString(v);
  return undefined;
}

/**
 * An integral argument for the rows that say "rounded down to the nearest Int" (bit
 * operations, chr, lpad, substring, trunc). The guide's floor() uses the same words for
 * rounding toward negative infinity (`floor(-1.2)` = -2), so kiot floors.
 */
export function floorArg(v: SqlValue): number | undefined {
  const n = numArg(v);
  return n === undefined || Number.isNaN(n) ? undefined : Math.floor(n) + 0;
}

/** A String argument after the standard "To String" conversion (Null and Undefined fail). */
export function strArg(v: SqlValue): string | undefined {
  return toSqlString(v);
}

/**
 * The result of a function that computes in double precision. NaN ("imaginary results are
 * returned as Undefined") and ±Infinity, which a 34-digit Decimal cannot hold, are Undefined.
 */
export function doubleResult(n: number): SqlValue {
  return Number.isFinite(n) ? n + 0 : undefined;
}
