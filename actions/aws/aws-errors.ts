/**
 * Classifies errors from the AWS SDK v3 clients without importing them: SDK service errors
 * carry `name` (the exception type), `$fault` ('client' | 'server') and `$metadata`;
 * transport failures (refused, reset, timed out) carry none of those.
 */
import { sinkUnavailable, type PlatformError } from '../../core/index.js';

export type AwsErrorKind =
  /** No HTTP response: the target is down, unreachable or stalled. */
  | 'unreachable'
  /** The service answered but asks to come back later (throttling, 5xx). */
  | 'busy'
  /** The request named something that does not exist (table, bucket). */
  | 'missing'
  /** The request itself is wrong (validation, item too large, bad key). */
  | 'invalid'
  /** Credentials, region or permissions: a setup problem, not this record's. */
  | 'denied'
  | 'aborted';

export interface AwsErrorClass {
  readonly kind: AwsErrorKind;
  readonly retriable: boolean;
  /** `ExceptionName: message`, for logs and the error action's failure message. */
  readonly message: string;
}

// Error types of DynamoDB and S3 (DynamoDB API reference "Common errors", S3 "Error responses") and
// of the other AWS-API targets (each service's API reference, "Errors").
const BUSY = new Set([
  'ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'Throttling',
  'InternalServerError', 'InternalError', 'ServiceUnavailable', 'SlowDown', 'LimitExceededException',
  'TransactionInProgressException', 'RequestTimeout', 'RequestTimeoutException',
  'ServiceUnavailableException', 'InternalFailure', 'InternalFailureException', 'InternalServerException', 'TooManyRequestsException',
]);
const MISSING = new Set([
  'ResourceNotFoundException', 'NoSuchBucket', 'TableNotFoundException', 'ResourceNotFound', 'NotFound', 'NotFoundException',
  'QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'StateMachineDoesNotExist',
]);
const DENIED = new Set([
  'AccessDeniedException', 'AccessDenied', 'UnrecognizedClientException', 'InvalidAccessKeyId',
  'SignatureDoesNotMatch', 'ExpiredTokenException', 'ExpiredToken', 'MissingAuthenticationToken',
  'InvalidSignatureException', 'IncompleteSignature', 'CredentialsProviderError', 'AllAccessDisabled',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

export function classifyAwsError(err: unknown): AwsErrorClass {
  const e = (err ?? {}) as { name?: string; message?: string; code?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  const name = e.name ?? 'Error';
  const message = `${name}: ${e.message ?? String(err)}`;
  const status = e.$metadata?.httpStatusCode;
  if (name === 'AbortError') return { kind: 'aborted', retriable: true, message };
  // The SDK's own words name nothing the user can set; kiot's flag and variable are what to change.
  if (/region is missing/i.test(e.message ?? '')) return { kind: 'denied', retriable: false, message: `${message} (set --aws-region or KIOT_AWS_REGION, or the SDK's AWS_REGION)` };
  if (DENIED.has(name)) return { kind: 'denied', retriable: false, message };
  if (MISSING.has(name)) return { kind: 'missing', retriable: false, message };
  if (BUSY.has(name) || (status !== undefined && (status >= 500 || status === 429))) return { kind: 'busy', retriable: true, message };
  if (status !== undefined || e.$fault === 'client') {
    return status === 403 ? { kind: 'denied', retriable: false, message } : { kind: 'invalid', retriable: false, message };
  }
  // No HTTP status at all: the request never got an answer (refused, reset, timed out).
  const detail = e.code !== undefined && NETWORK_CODES.has(e.code) && !message.includes(e.code) ? ` (${e.code})` : '';
  return { kind: 'unreachable', retriable: true, message: `${message}${detail}` };
}

/** The whole-batch rejection for a target that did not answer: retriable SINK_UNAVAILABLE. */
export function unavailable(target: string, err: unknown): PlatformError {
  return sinkUnavailable(target, classifyAwsError(err).message, err);
}
