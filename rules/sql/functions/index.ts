/**
 * The IoT SQL function library: every function of the AWS IoT developer guide's reference
 * (iot-sql-functions), keyed by lower-case name. The compiler looks names up
 * case-insensitively, checks the argument count against minArgs/maxArgs, runs `validate`
 * at compile time and calls `call` per message.
 */
import { PlatformError } from '../../../core/errors.js';
import { CONTEXT_FUNCTIONS } from './context.js';
import { ENCODING_FUNCTIONS } from './encoding.js';
import { MATH_FUNCTIONS } from './math.js';
import { REGEX_FUNCTIONS } from './regex.js';
import { SERVICE_FUNCTIONS } from './services.js';
import { STRING_FUNCTIONS } from './string.js';
import { TIME_FUNCTIONS } from './time.js';
import type { SqlFunction } from './types.js';

export type { SqlContext, SqlFunction, SqlServices } from './types.js';
export { defaultSqlServices } from './services.js';
export { DEFAULT_ACCOUNT_ID, DEFAULT_SQL_VERSION, ruleTopic } from './context.js';
export { castTo, isCastTypeName } from '../values.js';

function catalogue(families: readonly (readonly SqlFunction[])[]): ReadonlyMap<string, SqlFunction> {
  const map = new Map<string, SqlFunction>();
  for (const family of families) {
    for (const fn of family) {
      if (map.has(fn.name)) throw new PlatformError('INTERNAL', `IoT SQL function ${fn.name} is defined twice`);
      map.set(fn.name, fn);
    }
  }
  return map;
}

/** Every function, by lower-case name. */
export const FUNCTIONS: ReadonlyMap<string, SqlFunction> = catalogue([
  MATH_FUNCTIONS,
  STRING_FUNCTIONS,
  REGEX_FUNCTIONS,
  ENCODING_FUNCTIONS,
  TIME_FUNCTIONS,
  CONTEXT_FUNCTIONS,
  SERVICE_FUNCTIONS,
]);

/** The function named `name` in any case, or undefined. */
export function lookupFunction(name: string): SqlFunction | undefined {
  return FUNCTIONS.get(name.toLowerCase());
}
