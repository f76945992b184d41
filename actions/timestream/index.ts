export { createTimestreamDefinition, timestreamAction, type TimestreamConfig } from './timestream.js';
