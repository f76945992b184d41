/**
 * The errors the Jobs service answers with, as AWS IoT names them: the control plane's
 * exception (API reference, each operation's "Errors") with its HTTP status, and the code the
 * MQTT jobs API puts in an error response (developer guide, "Jobs device MQTT API": ErrorCode).
 * They cross processes inside PlatformError details (core/state/router.ts keeps them).
 */
import { PlatformError } from '../core/index.js';

export const JOB_EXCEPTIONS = {
  InvalidRequestException: { status: 400, mqtt: 'InvalidRequest' },
  ResourceNotFoundException: { status: 404, mqtt: 'ResourceNotFound' },
  ResourceAlreadyExistsException: { status: 409, mqtt: 'InvalidRequest' },
  VersionConflictException: { status: 409, mqtt: 'VersionMismatch' },
  InvalidStateTransitionException: { status: 409, mqtt: 'InvalidStateTransition' },
  LimitExceededException: { status: 410, mqtt: 'InvalidRequest' },
} as const;

export type JobException = keyof typeof JOB_EXCEPTIONS;

/** A refused jobs request: the router and the API turn `details.awsErrorType` into AWS's error shape. */
export function jobError(type: JobException, message: string, extra: Record<string, unknown> = {}): PlatformError {
  const { status, mqtt } = JOB_EXCEPTIONS[type];
  return new PlatformError(type === 'ResourceNotFoundException' ? 'REGISTRY_NOT_FOUND' : 'INPUT_INVALID', message, {
    details: { awsErrorType: type, awsStatus: status, jobsErrorCode: mqtt, ...extra },
  });
}

/** The AWS exception a PlatformError carries, when it is one of the Jobs service's. */
export function jobExceptionOf(err: unknown): JobException | undefined {
  if (!(err instanceof PlatformError)) return undefined;
  const type = err.details['awsErrorType'];
  return typeof type === 'string' && Object.hasOwn(JOB_EXCEPTIONS, type) ? (type as JobException) : undefined;
}
