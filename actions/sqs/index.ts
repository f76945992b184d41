export { createSqsDefinition, sqsAction, SQS_MAX_ENTRIES, type SqsConfig, type SqsOptions } from './sqs.js';
