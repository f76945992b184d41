export { createDynamoDbReader, DEFAULT_GET_DYNAMODB_TIMEOUT_MS, type DynamoDbReader, type DynamoDbReaderOptions } from './get-dynamodb.js';
