export { createInfluxDbDefinition, influxdbAction, influxLine, INFLUXDB_MAX_BATCH_SIZE, INFLUXDB_PRECISIONS, DEFAULT_INFLUXDB_TIMEOUT_MS, type InfluxDbConfig, type InfluxDbOptions } from './influxdb.js';
export { encodePoint, fieldValue, type FieldValue, type Point } from './line-protocol.js';
