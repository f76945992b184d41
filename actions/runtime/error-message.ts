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
import type { SinkDefinition } from '../../core/index.js';

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

/** AWS's action name from its TopicRulePayload key: `dynamoDBv2` -> `DynamoDBv2Action`. */
export function awsActionName(def: Pick<SinkDefinition<unknown>, 'awsKey'>): string {
  return `${def.awsKey.charAt(0).toUpperCase()}${def.awsKey.slice(1)}Action`;
}

/** What `failedResource` says for a record of `def` with these (rendered) parameters. */
export function failedResourceOf(def: Pick<SinkDefinition<unknown>, 'resourceParams'>, params: unknown): string {
  const p = (params ?? {}) as Readonly<Record<string, unknown>>;
  for (const key of def.resourceParams) {
    const v = p[key];
    if (typeof v === 'string') return v;
  }
  return '';
}

/** The failure name used when the rule's SQL itself failed for the message (e.g. aws_lambda). */
export const SQL_FAILURE_ACTION = 'RuleEvaluation';
