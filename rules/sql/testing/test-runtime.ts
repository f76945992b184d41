/**
 * A small SqlRuntime for the compiler's tests: the real operators and casts, and a handful of
 * functions written here, so that the compiler can be tested apart from the function library.
 */
import { ruleTopic } from '../functions/context.js';
import * as operators from '../operators.js';
import type { RuntimeFunction, SqlRuntime } from '../runtime.js';
import { castTo, isCastTypeName, toSqlString, type SqlValue } from '../values.js';

interface Ctx {
  topic: string;
  clientId?: string;
  timestamp: number;
  payload?: Buffer;
  services: { lookup(key: string): Promise<SqlValue> };
}

const fn = (name: string, minArgs: number, maxArgs: number, call: (args: readonly SqlValue[], ctx: Ctx) => SqlValue | Promise<SqlValue>, extra: Partial<RuntimeFunction> = {}): RuntimeFunction => ({
  name,
  minArgs,
  maxArgs,
  pure: false,
  call: call as RuntimeFunction['call'],
  ...extra,
});

export const testFunctions: RuntimeFunction[] = [
  fn('upper', 1, 1, ([s]) => (typeof s === 'string' ? s.toUpperCase() : undefined)),
  fn('lower', 1, 1, ([s]) => (typeof s === 'string' ? s.toLowerCase() : undefined)),
  fn('concat', 1, Infinity, (args) => args.map((a) => toSqlString(a) ?? '').join('')),
  fn('get', 2, 2, ([o, k]) => (Array.isArray(o) && typeof k === 'number' ? o[k] : o !== null && typeof o === 'object' && typeof k === 'string' && !Array.isArray(o) && !Buffer.isBuffer(o) ? (o as Record<string, SqlValue>)[k] : undefined)),
  fn('topic', 0, 1, ([n], ctx) => (n === undefined ? ruleTopic(ctx.topic) : typeof n === 'number' ? ruleTopic(ctx.topic).split('/')[n - 1] : undefined)),
  fn('clientid', 0, 0, (_a, ctx) => ctx.clientId ?? 'n/a'),
  fn('timestamp', 0, 0, (_a, ctx) => ctx.timestamp),
  fn('encode', 2, 2, ([v, enc], ctx) => (enc === 'base64' ? (Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v) ?? '')).toString('base64') : ctx && undefined)),
  fn('boom', 0, 0, () => {
    throw new TypeError('boom');
  }),
  fn('lookup', 1, 1, ([k], ctx) => ctx.services.lookup(String(k)), { async: true }),
  fn('machinelearning_predict', 3, 3, () => undefined, {
    validate() {
      throw new Error('machinelearning_predict has no local meaning in kiot');
    },
  }),
];

export const testServices = {
  async lookup(key: string): Promise<SqlValue> {
    return `value-of-${key}`;
  },
};

export const testRuntime: SqlRuntime = {
  operators,
  functions: new Map(testFunctions.map((f) => [f.name, f])),
  castTo,
  isCastTypeName,
  defaultServices: () => testServices,
};
