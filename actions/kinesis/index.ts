export { createKinesisDefinition, kinesisAction, KINESIS_MAX_RECORDS, type KinesisConfig, type KinesisOptions } from './kinesis.js';
