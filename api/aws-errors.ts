/**
 * PlatformError → AWS error response. AWS's REST-JSON services answer a failed call with the
 * exception's HTTP status, an `x-amzn-ErrorType` header naming the exception, and a JSON body
 * `{"message": "..."}` (plus the exception's own members, e.g. `resourceId`); the AWS SDKs
 * read the type from the header (falling back to the body's `__type`/`code`) and build the
 * modelled exception class (`ResourceNotFoundException` etc.) from it.
 */
import type { ServerResponse } from 'node:http';
import { PlatformError, type ErrorCode } from '../core/index.js';

export interface AwsErrorShape {
  /** The exception's shape name as the AWS API model spells it. */
  readonly type: string;
  readonly status: number;
}

const shape = (type: string, status: number): AwsErrorShape => ({ type, status });

/**
 * Error codes with an AWS meaning. Codes not listed become InternalFailureException (500).
 * Statuses are AWS IoT's (API reference, "Common errors" and each exception's page).
 */
export const AWS_ERRORS: Readonly<Partial<Record<ErrorCode, AwsErrorShape>>> = {
  INPUT_INVALID: shape('InvalidRequestException', 400),
  REGISTRY_INVALID: shape('InvalidRequestException', 400),
  RULES_FILE_INVALID: shape('InvalidRequestException', 400),
  // AWS IoT answers CreateTopicRule/ReplaceTopicRule with bad SQL with SqlParseException.
  RULES_SQL_SYNTAX: shape('SqlParseException', 400),
  RULES_SQL_SEMANTIC: shape('SqlParseException', 400),
  REGISTRY_NOT_FOUND: shape('ResourceNotFoundException', 404),
  REGISTRY_ALREADY_EXISTS: shape('ResourceAlreadyExistsException', 409),
  REGISTRY_VERSION_CONFLICT: shape('VersionConflictException', 409),
  REGISTRY_DELETE_CONFLICT: shape('DeleteConflictException', 409),
  REGISTRY_LIMIT: shape('LimitExceededException', 410),
  REGISTRY_VERSIONS_LIMIT: shape('VersionsLimitExceededException', 409),
  CERTIFICATE_STATE: shape('CertificateStateException', 406),
  CERTIFICATE_INVALID: shape('CertificateValidationException', 400),
  CERTIFICATE_REGISTRATION_CODE: shape('RegistrationCodeValidationException', 400),
  POLICY_MALFORMED: shape('MalformedPolicyException', 400),
  // Request authentication fails before the service is reached, so AWS answers these from
  // its front door with 403 and these type names (the SDKs treat InvalidSignatureException
  // as a clock-skew hint and retry once with a corrected clock).
  AUTH_MISSING: shape('MissingAuthenticationTokenException', 403),
  AUTH_SIGNATURE_INVALID: shape('InvalidSignatureException', 403),
  AUTH_SIGNATURE_EXPIRED: shape('InvalidSignatureException', 403),
  AUTH_UNKNOWN_KEY: shape('UnrecognizedClientException', 403),
  AUTH_FORBIDDEN: shape('UnauthorizedException', 401),
  API_BODY_TOO_LARGE: shape('RequestEntityTooLargeException', 413),
  API_BODY_INVALID: shape('SerializationException', 400),
  // Not an AWS exception: the SDKs surface it by this name with the message, which names the operation.
  NOT_IMPLEMENTED: shape('NotImplementedException', 501),
  LOG_UNAVAILABLE: shape('ServiceUnavailableException', 503),
  LOG_CLOSED: shape('ServiceUnavailableException', 503),
};

export const INTERNAL_FAILURE: AwsErrorShape = shape('InternalFailureException', 500);

/**
 * The AWS shape for an error. A PlatformError may name its own AWS exception with
 * `details.awsErrorType` (and `details.awsStatus`), for exceptions no code maps to.
 */
export function awsErrorShape(err: unknown): AwsErrorShape {
  if (!(err instanceof PlatformError)) return INTERNAL_FAILURE;
  const own = err.details['awsErrorType'];
  if (typeof own === 'string') {
    const status = err.details['awsStatus'];
    return shape(own, typeof status === 'number' ? status : (AWS_ERRORS[err.code]?.status ?? 400));
  }
  return AWS_ERRORS[err.code] ?? INTERNAL_FAILURE;
}

/** Members besides `message` that some AWS exceptions carry, copied from `details`. */
const EXTRA_MEMBERS = ['resourceId', 'resourceArn'] as const;

/** The JSON body AWS sends with an error. Internal failures never leak their message. */
export function awsErrorBody(err: unknown, errShape: AwsErrorShape = awsErrorShape(err)): Record<string, unknown> {
  if (errShape === INTERNAL_FAILURE || !(err instanceof PlatformError)) return { message: 'An unexpected error has occurred.' };
  const body: Record<string, unknown> = { message: err.message };
  for (const member of EXTRA_MEMBERS) {
    const value = err.details[member];
    if (typeof value === 'string') body[member] = value;
  }
  return body;
}

/** Writes `err` as AWS's error response. */
export function sendAwsError(res: ServerResponse, err: unknown): AwsErrorShape {
  const errShape = awsErrorShape(err);
  const text = JSON.stringify(awsErrorBody(err, errShape));
  res
    .writeHead(errShape.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'x-amzn-ErrorType': errShape.type,
    })
    .end(text);
  return errShape;
}
