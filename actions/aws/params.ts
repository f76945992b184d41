import type { ActionRecord } from '../../core/index.js';

/**
 * A parameter for one record: the runtime puts rendered substitution templates in
 * `record.params`; a parameter it did not render falls back to the action's parsed config.
 */
export function paramOf(record: ActionRecord, config: object, name: string): unknown {
  const rendered = record.params[name];
  return rendered !== undefined ? rendered : (config as Record<string, unknown>)[name];
}

/** A string parameter, or undefined when absent; numbers and booleans are taken as their text. */
export function stringParam(record: ActionRecord, config: object, name: string): string | undefined {
  const value = paramOf(record, config, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
