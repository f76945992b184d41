export { createMqttDefinition, mqttAction, MQTT_MAX_BATCH_SIZE, DEFAULT_MQTT_TIMEOUT_MS, type MqttConfig, type MqttSinkOptions } from './mqtt.js';
