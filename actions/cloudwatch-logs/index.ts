export { createCloudwatchLogsDefinition, cloudwatchLogsAction, type CloudwatchLogsConfig } from './cloudwatch-logs.js';
