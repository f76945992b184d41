/**
 * The action kinds a rule may name and their parameters, in snake_case as rule files spell
 * them, with the AWS TopicRulePayload key each one comes from (AWS IoT API reference, `Action`
 * and the per-action types). `kiot rules check` validates against this list.
 *
 * TODO: replace with the action registry's definitions, whose config schemas carry the same
 * facts (#4).
 */

export interface ActionKind {
  /** As rule files write it: `dynamodbv2(...)`. */
  readonly type: string;
  /** The key of the AWS `Action` object (`dynamoDBv2`). */
  readonly awsKey: string;
  readonly params: readonly string[];
  readonly required: readonly string[];
}

const kind = (type: string, awsKey: string, params: string[], required: string[]): ActionKind => ({ type, awsKey, params, required });

export const ACTION_KINDS: readonly ActionKind[] = [
  kind('republish', 'republish', ['topic', 'qos', 'role_arn', 'headers'], ['topic']),
  kind('kafka', 'kafka', ['destination_arn', 'topic', 'key', 'partition', 'client_properties', 'headers'], ['topic']),
  kind(
    'dynamodb',
    'dynamoDB',
    ['table_name', 'role_arn', 'operation', 'hash_key_field', 'hash_key_value', 'hash_key_type', 'range_key_field', 'range_key_value', 'range_key_type', 'payload_field'],
    ['table_name', 'hash_key_field', 'hash_key_value'],
  ),
  // AWS nests the table under putItem; kiot flattens it (`put_item.table_name` -> `table_name`).
  kind('dynamodbv2', 'dynamoDBv2', ['table_name', 'role_arn'], ['table_name']),
  kind('s3', 's3', ['bucket_name', 'key', 'role_arn', 'canned_acl', 'headers'], ['bucket_name', 'key']),
  kind('elasticsearch', 'elasticsearch', ['endpoint', 'index', 'type', 'id', 'role_arn'], ['endpoint', 'index', 'id']),
  kind('opensearch', 'openSearch', ['endpoint', 'index', 'type', 'id', 'role_arn'], ['endpoint', 'index', 'id']),
  kind('http', 'http', ['url', 'confirmation_url', 'headers', 'auth', 'batch_config', 'enable_batching'], ['url']),
  kind('lambda', 'lambda', ['function_arn'], ['function_arn']),
  kind('cloudwatch_metric', 'cloudwatchMetric', ['metric_namespace', 'metric_name', 'metric_value', 'metric_unit', 'metric_timestamp', 'role_arn'], ['metric_namespace', 'metric_name', 'metric_value', 'metric_unit']),
  kind('cloudwatch_alarm', 'cloudwatchAlarm', ['alarm_name', 'state_reason', 'state_value', 'role_arn'], ['alarm_name', 'state_reason', 'state_value']),
  kind('cloudwatch_logs', 'cloudwatchLogs', ['log_group_name', 'role_arn', 'batch_mode'], ['log_group_name']),
  kind('sns', 'sns', ['target_arn', 'role_arn', 'message_format'], ['target_arn']),
  kind('sqs', 'sqs', ['queue_url', 'role_arn', 'use_base64'], ['queue_url']),
  kind('kinesis', 'kinesis', ['stream_name', 'partition_key', 'role_arn'], ['stream_name']),
  kind('firehose', 'firehose', ['delivery_stream_name', 'role_arn', 'separator', 'batch_mode'], ['delivery_stream_name']),
  kind('iot_events', 'iotEvents', ['input_name', 'message_id', 'batch_mode', 'role_arn'], ['input_name']),
  kind('iot_analytics', 'iotAnalytics', ['channel_name', 'channel_arn', 'batch_mode', 'role_arn'], []),
  kind('iot_site_wise', 'iotSiteWise', ['put_asset_property_value_entries', 'role_arn'], ['put_asset_property_value_entries']),
  kind('step_functions', 'stepFunctions', ['state_machine_name', 'execution_name_prefix', 'role_arn'], ['state_machine_name']),
  kind('timestream', 'timestream', ['database_name', 'table_name', 'dimensions', 'timestamp', 'role_arn'], ['database_name', 'table_name', 'dimensions']),
  kind('location', 'location', ['device_id', 'tracker_name', 'latitude', 'longitude', 'timestamp', 'role_arn'], ['device_id', 'tracker_name', 'latitude', 'longitude']),
];

const BY_TYPE = new Map(ACTION_KINDS.map((k) => [k.type, k]));
const BY_AWS_KEY = new Map(ACTION_KINDS.map((k) => [k.awsKey.toLowerCase(), k]));

/** The kind a rule file names (case-insensitive), or undefined. */
export const actionKind = (type: string): ActionKind | undefined => BY_TYPE.get(type.toLowerCase());

/** The kind an AWS `Action` key names (`dynamoDBv2`, `cloudwatchMetric`), or undefined. */
export const actionKindForAwsKey = (key: string): ActionKind | undefined => BY_AWS_KEY.get(key.toLowerCase());

/** `roleArn` -> `role_arn`, `putAssetPropertyValueEntries` -> `put_asset_property_value_entries`. */
export function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}
