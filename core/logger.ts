import { pino } from 'pino';

/** Structured logger; one child per module (`logger.child({ module: 'rules.worker' })`). */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * JSON lines on stderr, so that stdout stays free for the `listening ...` / `ready` lines and
 * command output that scripts read.
 */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true })) as unknown as Logger;
}

/** A logger that drops everything; for tests and library use. */
export function silentLogger(): Logger {
  return createLogger('silent');
}
