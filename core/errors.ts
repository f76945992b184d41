/**
 * Every error kiot throws on purpose is a PlatformError with a stable `code`. Callers branch
 * on `code`, `retriable` or `instanceof`, never on message text.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: 'configuration is invalid',
  INPUT_INVALID: 'input is invalid',
  ENVELOPE_INVALID: 'bytes are not a kiot message envelope',
  LOG_CLOSED: 'the log is closed',
  LOG_CORRUPT: 'a file in the data directory is corrupt or not kiot data',
  LOG_LOCKED: 'the data directory is in use by another process',
  LOG_UNAVAILABLE: 'the log is unavailable',
  LOG_TOPIC_UNKNOWN: 'the topic does not exist',
  LOG_OFFSET_OUT_OF_RANGE: 'the offset is outside the partition',
  RULES_SQL_SYNTAX: 'rule SQL could not be parsed',
  RULES_SQL_SEMANTIC: 'rule SQL is not valid',
  RULES_SQL_RUNTIME: 'rule SQL failed while evaluating',
  RULES_FILE_INVALID: 'rule file is not valid',
  SINK_UNAVAILABLE: 'action target is unavailable',
  INTERNAL: 'internal error',
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorInit {
  details?: Record<string, unknown>;
  retriable?: boolean;
  cause?: unknown;
}

export class PlatformError extends Error {
  readonly details: Readonly<Record<string, unknown>>;
  readonly retriable: boolean;
  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CODES[code],
    init: ErrorInit = {},
  ) {
    super(message, { cause: init.cause });
    this.name = new.target.name;
    this.details = Object.freeze({ ...init.details });
    this.retriable = init.retriable ?? false; // retrying has to be opted into
  }
}

/** One-line error for a bad field: `field: expected X, received Y`. */
export const invalidInput = (field: string, expected: string, received: unknown): PlatformError =>
  new PlatformError('INPUT_INVALID', `${field}: expected ${expected}, received ${describe(received)}`, {
    details: { field, expected },
  });

export const invalidConfig = (field: string, expected: string, received: unknown): PlatformError =>
  new PlatformError('CONFIG_INVALID', `${field}: expected ${expected}, received ${describe(received)}`, {
    details: { field, expected },
  });

function describe(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export const isPlatformError = (err: unknown, code?: ErrorCode): err is PlatformError =>
  err instanceof PlatformError && (code === undefined || err.code === code);
