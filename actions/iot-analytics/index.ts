export { createIotAnalyticsDefinition, iotAnalyticsAction, type IotAnalyticsConfig } from './iot-analytics.js';
