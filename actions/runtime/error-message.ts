/**
 * The message a rule's error action receives (AWS IoT developer guide, rule-error-handling):
 * one per rule and message, listing every action of the rule that failed for that message.
 *
 * ```json
 * { "ruleName": "TestAction", "topic": "testme/action",
 *   "cloudwatchTraceId": "7e146a2c-...", "clientId": "iotconsole-...",
 *   "base64OriginalPayload": "ewog...",
 *   "failures": [{ "failedAction": "S3Action", "failedResource": "bucket", "errorMessage": "..." }] }
 * ```
 */

export interface ActionFailure {
  /** AWS's name of the action: `RepublishAction`, `S3Action`, `DynamoDBv2Action`, ... */
  readonly failedAction: string;
  /** The target the action wrote to: topic, table, bucket, URL, function. */
  readonly failedResource: string;
  readonly errorMessage: string;
}

export interface ErrorActionMessage {
  readonly ruleName: string;
  readonly topic: string;
  /** kiot: the message's trace id (AWS: the id of the error in CloudWatch logs). */
  readonly cloudwatchTraceId: string;
  readonly clientId: string;
  readonly base64OriginalPayload: string;
  readonly failures: readonly ActionFailure[];
}

const AWS_ACTION_NAMES: Readonly<Record<string, string>> = {
  dynamodb: 'DynamoDBAction',
  dynamodbv2: 'DynamoDBv2Action',
  s3: 'S3Action',
  elasticsearch: 'ElasticsearchAction',
  opensearch: 'OpenSearchAction',
  http: 'HttpAction',
  cloudwatch_metric: 'CloudwatchMetricAction',
};

/** `republish` -> `RepublishAction`, `cloudwatch_metric` -> `CloudwatchMetricAction`. */
export function awsActionName(type: string): string {
  return AWS_ACTION_NAMES[type] ?? `${type.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')}Action`;
}

/** The parameters that name an action's target, in the order they are looked for. */
const RESOURCE_PARAMS = ['topic', 'url', 'function_arn', 'table_name', 'bucket_name', 'index', 'metric_name', 'endpoint', 'stream_name', 'queue_url'];

/** What `failedResource` says for an action with these (rendered) parameters. */
export function failedResourceOf(params: Readonly<Record<string, unknown>>): string {
  for (const key of RESOURCE_PARAMS) {
    const v = params[key];
    if (typeof v === 'string') return v;
  }
  // AWS nests some targets one level down (dynamoDBv2's putItem.tableName).
  for (const nested of Object.values(params)) {
    if (nested !== null && typeof nested === 'object' && !Array.isArray(nested)) {
      const found = failedResourceOf(nested as Record<string, unknown>);
      if (found) return found;
    }
  }
  return '';
}

/** The failure name used when the rule's SQL itself failed for the message (e.g. aws_lambda). */
export const SQL_FAILURE_ACTION = 'RuleEvaluation';
