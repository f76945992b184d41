export { createFirehoseDefinition, firehoseAction, batchElements, type FirehoseConfig } from './firehose.js';
