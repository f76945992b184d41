/**
 * Helpers for the function tests: a context with no services connected, and a call by name
 * that goes through FUNCTIONS the way the compiler does.
 */
import type { SqlValue } from '../values.js';
import { FUNCTIONS } from './index.js';
import { defaultSqlServices } from './services.js';
import type { SqlContext } from './types.js';

export function testContext(overrides: Partial<SqlContext> = {}): SqlContext {
  return { topic: 'a/b', timestamp: 1_481_825_251_155, services: defaultSqlServices(), ...overrides };
}

/** Calls the function `name` (any case) with `args`, checking the arity as the compiler does. */
export function callFunction(name: string, args: readonly SqlValue[], ctx: SqlContext = testContext()): SqlValue | Promise<SqlValue> {
  const fn = FUNCTIONS.get(name.toLowerCase());
  if (!fn) throw new Error(`no function ${name}`);
  if (args.length < fn.minArgs || args.length > fn.maxArgs) throw new Error(`${name}: wrong argument count ${args.length}`);
  fn.validate?.(args.length);
  return fn.call(args, ctx);
}

/** A synchronous call: fails the test if the function returned a Promise. */
export function call(name: string, ...args: SqlValue[]): SqlValue {
  const result = callFunction(name, args);
  if (result instanceof Promise) throw new Error(`${name} is async`);
  return result;
}
