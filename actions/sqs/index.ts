export { createSqsDefinition, sqsAction, SQS_MAX_ENTRIES, type SqsConfig } from './sqs.js';
