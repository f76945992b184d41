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
  // Registry (issue 6). The AWS exception each maps to, in api/aws-errors.ts, is in brackets.
  REGISTRY_NOT_FOUND: 'the resource does not exist', // [ResourceNotFoundException 404]
  REGISTRY_ALREADY_EXISTS: 'the resource already exists', // [ResourceAlreadyExistsException 409]
  REGISTRY_DELETE_CONFLICT: 'the resource is still attached or in use', // [DeleteConflictException 409]
  REGISTRY_INVALID: 'the request is not valid', // [InvalidRequestException 400]
  REGISTRY_LIMIT: 'a registry limit was exceeded', // [LimitExceededException 410]
  REGISTRY_VERSIONS_LIMIT: 'the policy already has the maximum number of versions', // [VersionsLimitExceededException 409]
  CERTIFICATE_STATE: 'the certificate is in a state that does not allow this', // [CertificateStateException 406]
  CERTIFICATE_INVALID: 'the certificate is not valid', // [CertificateValidationException 400]
  CERTIFICATE_REGISTRATION_CODE: 'the verification certificate does not carry the registration code', // [RegistrationCodeValidationException 400]
  POLICY_MALFORMED: 'the policy document is not valid', // [MalformedPolicyException 400]
  REGISTRY_VERSION_CONFLICT: 'the expected version does not match the resource version', // [VersionConflictException 409]
  AUTH_MISSING: 'the request is not signed',
  AUTH_SIGNATURE_INVALID: 'the request signature does not match',
  AUTH_SIGNATURE_EXPIRED: 'the request was signed too long ago or too far in the future',
  AUTH_UNKNOWN_KEY: 'the access key is not known',
  AUTH_FORBIDDEN: 'the caller is not allowed to do this',
  API_BODY_TOO_LARGE: 'the request body is too large',
  API_BODY_INVALID: 'the request body is not valid JSON',
  LISTEN_FAILED: 'a listener could not bind its address',
  NOT_IMPLEMENTED: 'kiot does not implement this yet',
  STATE_RECORD_INVALID: 'a stored state record does not match its schema',
  STATE_CONFLICT: 'the state changed since it was read (compare-and-set failed)',
  STATE_UNAVAILABLE: 'no owner of the state answered in time',
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

/** A listener that could not bind, as one line naming the listener, address and the flag to change. */
export function listenFailed(listener: string, host: string, port: number, cause: unknown): PlatformError {
  const code = (cause as NodeJS.ErrnoException)?.code;
  const why = code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EACCES' ? 'permission denied' : code === 'EADDRNOTAVAIL' ? 'the address is not on this machine' : ((cause as Error)?.message ?? String(cause));
  return new PlatformError('LISTEN_FAILED', `${listener} listener ${host}:${port}: ${why} (choose another with --${listener === 'http' ? 'http' : listener}-port or --host; port 0 picks a free one)`, {
    cause,
    details: { listener, host, port },
  });
}
