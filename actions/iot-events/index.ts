export { createIotEventsDefinition, iotEventsAction, type IotEventsConfig } from './iot-events.js';
