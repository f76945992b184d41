/**
 * actions/: the catalogue of action kinds and the runtime they share. An action kind is one
 * definition in its own folder (name, AWS TopicRulePayload key, parameter schema, resource
 * parameters, sink constructor); adding one is a folder plus one line in ACTION_DEFINITIONS.
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
import { postgresAction } from './postgres/index.js';
import { redisAction } from './redis/index.js';
import { influxdbAction } from './influxdb/index.js';
import { mqttAction } from './mqtt/index.js';
import { kinesisAction } from './kinesis/index.js';
import { sqsAction } from './sqs/index.js';
import { firehoseAction } from './firehose/index.js';
import { snsAction } from './sns/index.js';
import { stepFunctionsAction } from './step-functions/index.js';
import { cloudwatchAlarmAction } from './cloudwatch-alarm/index.js';
import { cloudwatchLogsAction } from './cloudwatch-logs/index.js';
import { iotEventsAction } from './iot-events/index.js';
import { iotAnalyticsAction } from './iot-analytics/index.js';
import { timestreamAction } from './timestream/index.js';
import { locationAction } from './location/index.js';
import { iotSiteWiseAction } from './iot-site-wise/index.js';
import type { ActionDeps } from './runtime/deps.js';

/** Every action kind kiot runs, in the order `kiot rules check` lists them. One entry per line. */
export const ACTION_DEFINITIONS: readonly SinkDefinition<any, ActionDeps>[] = [
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
  postgresAction,
  redisAction,
  influxdbAction,
  mqttAction,
  kinesisAction,
  sqsAction,
  firehoseAction,
  snsAction,
  stepFunctionsAction,
  cloudwatchAlarmAction,
  cloudwatchLogsAction,
  iotEventsAction,
  iotAnalyticsAction,
  timestreamAction,
  locationAction,
  iotSiteWiseAction,
];

/**
 * AWS IoT rule actions whose AWS service has been retired, by their rule-file name and
 * TopicRulePayload key: `kiot rules check` and the API refuse rules naming them with `retired`,
 * one line that names the retired feature. (AWS IoT Events and AWS IoT Analytics have ended too,
 * but their actions still run, against any endpoint that serves their API: see actions/aws/README.md.)
 */
export const RETIRED_AWS_ACTIONS: readonly { readonly type: string; readonly awsKey: string; readonly retired: string }[] = [
  {
    type: 'salesforce',
    awsKey: 'salesforce',
    retired: 'the salesforce action wrote to Salesforce IoT Input Streams, and Salesforce has retired Salesforce IoT (IoT Explorer); no target is left to send to',
  },
  {
    type: 'machinelearning_predict',
    awsKey: 'machineLearningPredict',
    retired: 'machinelearning_predict called Amazon Machine Learning, which AWS has retired (use a lambda or http action to call a model you host)',
  },
];

/** A registry over {@link ACTION_DEFINITIONS} (or the definitions given, for tests). */
export const createActionRegistry = (definitions: readonly SinkDefinition<any, ActionDeps>[] = ACTION_DEFINITIONS): SinkRegistry => new SinkRegistry(definitions);

export { SinkRegistry } from './registry.js';
export * from './runtime/index.js';
export { KafkaProducers, type LogFactory } from './kafka/producers.js';
export { LogAppendSink, DEFAULT_APPEND_TIMEOUT_MS, type LogAppendTarget } from './log-append/log-append-sink.js';
export { MetricStore } from './cloudwatch-metric/metric-store.js';
export { CLOUDWATCH_UNITS } from './cloudwatch-metric/cloudwatch-metric.js';
export { republishTopic } from './republish/republish.js';
export { createLambdaSqlService, invokeLambda, invokeUrl, type LambdaTarget } from './lambda/lambda-client.js';
export { createDynamoDbReader, type DynamoDbReader, type DynamoDbReaderOptions } from './dynamodb-reader/index.js';
export { awsSettingsFromConfig, type AwsActionSettings, type AwsActionsConfig, type AwsClientSettings } from './aws/index.js';
export { signRequest, type AwsCredentials, type OutgoingRequest, type SignOptions } from './http/sigv4.js';
export { createS3Api, type S3Api } from './s3/index.js';
