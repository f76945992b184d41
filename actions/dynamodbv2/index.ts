export { createDynamoDbV2Definition, dynamodbv2Action, type DynamoDbV2Config } from './dynamodbv2-sink.js';
