/**
 * DynamoDB access shared by the dynamodb and dynamodbv2 actions and get_dynamodb; the only
 * folder that imports the DynamoDB SDK.
 */
export { createDynamoDbApi, probeDynamoDb, type DynamoDbApi, type AttributeValue, type Item, type WriteRequest } from './dynamodb-client.js';
export { toItem, toAttribute, fromItem, fromAttribute, type DocValue } from './attribute-values.js';
export {
  writeToDynamoDb,
  canonical,
  DYNAMODB_BATCH_LIMIT,
  type WriteOp,
  type DynamoDbSinkOptions,
} from './batch-writer.js';
export { createDynamoDbSink } from './sink.js';
