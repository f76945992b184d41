/** Shared settings and helpers for the AWS-API actions; no SDK is imported here. */
export * from './aws-settings.js';
export { classifyAwsError, unavailable, type AwsErrorClass, type AwsErrorKind } from './aws-errors.js';
export { batchElements, toJsonSafe, outputBytes } from './json.js';
export { lazySdkClient, type LazySdkClient, type SdkClient } from './sdk-client.js';
export { AwsBatchSink, AWS_REQUESTS_IN_FLIGHT, entryError, type AwsBatchWriter, type EntryError } from './batch-sink.js';
export { renderTimestamp, timestampParam, TIMESTAMP_UNITS, type TimestampUnit } from './timestamp.js';
export { awsAction, DEFAULT_AWS_BATCH_SIZE, type AwsActionKind, type AwsActionOptions, type AwsApi, type AwsRequest } from './aws-action.js';
