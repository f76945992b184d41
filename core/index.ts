/** The public surface of core/: other folders import only this file. */
export * from './errors.js';
export * from './logger.js';
export * from './config.js';
export * from './topics.js';
export * from './metrics.js';
export * from './log/log.js';
export { openLogTable } from './log/table.js';
export { EmbeddedLog, type EmbeddedLogOptions } from './log/embedded/embedded-log.js';
export { KafkaLog } from './log/kafka/kafka-log.js';
