export { createDynamoDbDefinition, dynamodbAction, DEFAULT_PAYLOAD_FIELD, type DynamoDbConfig } from './dynamodb-sink.js';
