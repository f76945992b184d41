/**
 * The real runtime: the semantics side's operators, casts and function library
 * (CONTRACT.md), as the compiler consumes them.
 */
import { defaultSqlServices, FUNCTIONS } from './functions/index.js';
import * as operators from './operators.js';
import type { RuntimeFunction, SqlRuntime } from './runtime.js';
import { castTo, isCastTypeName } from './values.js';

export const defaultRuntime: SqlRuntime = {
  operators,
  functions: FUNCTIONS as ReadonlyMap<string, RuntimeFunction>,
  castTo,
  isCastTypeName,
  defaultServices: defaultSqlServices,
};
