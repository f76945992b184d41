export { createCloudwatchAlarmDefinition, cloudwatchAlarmAction, ALARM_STATES, type CloudwatchAlarmConfig } from './cloudwatch-alarm.js';
