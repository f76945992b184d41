/**
 * actions/: the catalogue of action kinds and the runtime they share. Adding a kind is one
 * folder plus one line in ACTION_DEFINITIONS (no import side effects).
 */
import type { SinkDefinition } from '../core/index.js';
import { cloudwatchMetricAction } from './cloudwatch-metric/cloudwatch-metric.js';
import { httpAction } from './http/http.js';
import { kafkaAction } from './kafka/kafka.js';
import { lambdaAction } from './lambda/lambda.js';
import { SinkRegistry } from './registry.js';
import { republishAction } from './republish/republish.js';
import { dynamodbAction } from './dynamodb/index.js';
import { dynamodbv2Action } from './dynamodbv2/index.js';
import { s3Action } from './s3/index.js';
import { elasticsearchAction, opensearchAction } from './elasticsearch/index.js';

/** Every action kind kiot runs, in the order `kiot rules check` lists them. One entry per line. */
export const ACTION_DEFINITIONS: readonly SinkDefinition<any>[] = [
  republishAction,
  kafkaAction,
  httpAction,
  lambdaAction,
  cloudwatchMetricAction,
  dynamodbAction,
  dynamodbv2Action,
  s3Action,
  elasticsearchAction,
  opensearchAction,
];

/** A registry over {@link ACTION_DEFINITIONS} (or the definitions given, for tests). */
export const createActionRegistry = (definitions: readonly SinkDefinition<any>[] = ACTION_DEFINITIONS): SinkRegistry => new SinkRegistry(definitions);

export { SinkRegistry } from './registry.js';
export * from './runtime/index.js';
export { KafkaProducers, type LogFactory } from './kafka/producers.js';
export { MetricStore } from './cloudwatch-metric/metric-store.js';
export { CLOUDWATCH_UNITS } from './cloudwatch-metric/cloudwatch-metric.js';
export { republishTopic } from './republish/republish.js';
export { createLambdaSqlService, invokeLambda, invokeUrl } from './lambda/lambda-client.js';
export { createDynamoDbReader, type DynamoDbReader, type DynamoDbReaderOptions } from './dynamodb-reader/index.js';
export { awsSettingsFromConfig, type AwsActionSettings, type AwsClientSettings } from './aws/index.js';
export { signRequest, type AwsCredentials, type OutgoingRequest, type SignOptions } from './http/sigv4.js';
