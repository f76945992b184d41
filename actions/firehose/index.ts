export { createFirehoseDefinition, firehoseAction, type FirehoseConfig } from './firehose.js';
