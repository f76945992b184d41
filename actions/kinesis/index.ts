export { createKinesisDefinition, kinesisAction, KINESIS_MAX_RECORDS, type KinesisConfig } from './kinesis.js';
