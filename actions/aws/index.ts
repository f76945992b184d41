/** Shared settings and helpers for the AWS-API actions; no SDK is imported here. */
export * from './aws-settings.js';
export { classifyAwsError, unavailable, type AwsErrorClass, type AwsErrorKind } from './aws-errors.js';
export { toJsonSafe, outputBytes } from './json.js';
