/** The public surface of core/: other folders import only this file. */
export * from './errors.js';
export * from './backoff.js';
export * from './logger.js';
export * from './config.js';
export * from './topics.js';
export * from './metrics.js';
export * from './log/log.js';
export { EmbeddedLog, type EmbeddedLogOptions } from './log/embedded/embedded-log.js';
export { KafkaLog } from './log/kafka/kafka-log.js';
export * from './envelope.js';
export { listen } from './listen.js';
export { readRange, type ReadRangeOptions } from './log/read-range.js';
export { createEnvelopeConsumer, type EnvelopeConsumer, type EnvelopeConsumerOptions } from './envelope-consumer.js';
export { ENVELOPE_SCHEMA_V1 } from './envelope-schemas/v1.js';
export * from './sink.js';
export * from './topic-filter.js';
export * from './state/index.js';
