import { expect, test } from 'vitest';
import { ACTION_DEFINITIONS } from '../index.js';
import { awsActionName, failedResourceOf } from './error-message.js';

const def = (type: string) => ACTION_DEFINITIONS.find((d) => d.type === type)!;

test("AWS's action names come from each kind's TopicRulePayload key", () => {
  expect(ACTION_DEFINITIONS.map((d) => [d.type, awsActionName(d)])).toEqual([
    ['republish', 'RepublishAction'],
    ['kafka', 'KafkaAction'],
    ['http', 'HttpAction'],
    ['lambda', 'LambdaAction'],
    ['cloudwatch_metric', 'CloudwatchMetricAction'],
    ['dynamodb', 'DynamoDBAction'],
    ['dynamodbv2', 'DynamoDBv2Action'],
    ['s3', 'S3Action'],
    ['elasticsearch', 'ElasticsearchAction'],
    ['opensearch', 'OpenSearchAction'],
    ['postgres', 'PostgresAction'],
    ['redis', 'RedisAction'],
    ['influxdb', 'InfluxdbAction'],
    ['mqtt', 'MqttAction'],
    ['kinesis', 'KinesisAction'],
    ['sqs', 'SqsAction'],
    ['firehose', 'FirehoseAction'],
    ['sns', 'SnsAction'],
    ['step_functions', 'StepFunctionsAction'],
    ['cloudwatch_alarm', 'CloudwatchAlarmAction'],
    ['cloudwatch_logs', 'CloudwatchLogsAction'],
    ['iot_events', 'IotEventsAction'],
    ['iot_analytics', 'IotAnalyticsAction'],
    ['timestream', 'TimestreamAction'],
    ['location', 'LocationAction'],
    ['iot_site_wise', 'IotSiteWiseAction'],
  ]);
});

test("the failed resource is the kind's resource parameter, after normalisation (put_item.table_name)", () => {
  const v2 = def('dynamodbv2');
  expect(failedResourceOf(v2, v2.config.parse({ put_item: { table_name: 'alerts' }, role_arn: 'arn:aws:iam::1:role/r' }))).toBe('alerts');
  expect(failedResourceOf(def('elasticsearch'), { endpoint: 'http://127.0.0.1:9200', index: 'ix', id: '1' })).toBe('ix');
  expect(failedResourceOf(def('republish'), { qos: 1 })).toBe('');
});
