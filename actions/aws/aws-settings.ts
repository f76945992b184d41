/**
 * Client settings for the AWS-API actions (dynamodb, dynamodbv2, s3, kinesis, sqs, ...) and get_dynamodb.
 *
 * The AWS SDK resolves region, endpoint and credentials itself, from `AWS_REGION`,
 * `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`, `AWS_PROFILE`, the credentials chain and
 * so on; kiot passes only what its own Config overrides, so an unset kiot key leaves the SDK's
 * conventions in force. This folder holds settings and helpers only: each SDK is imported in
 * its own action folder (`dynamodb-client/`, `s3/`, `elasticsearch/`).
 */
import type { RulesConfig } from '../../core/index.js';

/** Static credentials; in production the SDK's credentials chain supplies them instead. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** What a kiot-built AWS client takes; every field left undefined falls back to the SDK. */
export interface AwsClientSettings {
  readonly region?: string;
  /** Endpoint URL override (a local DynamoDB or S3 server). */
  readonly endpoint?: string;
  /** S3 only: path-style addressing (`http://host/bucket/key`), which local S3 servers need. */
  readonly forcePathStyle?: boolean;
  /** Static credentials (tests, embedded setups); undefined = the SDK's credentials chain. */
  readonly credentials?: AwsCredentials;
  /** Longest wait for a TCP connection. */
  readonly connectTimeoutMs?: number;
  /** Longest wait for a response once connected; a sink whose target stalls must not hang. */
  readonly requestTimeoutMs?: number;
  /** The SDK's own attempts per request; default 1, so that kiot's one retry policy is the only one. */
  readonly maxAttempts?: number;
}

/**
 * Defaults chosen so that a target that is down surfaces as SINK_UNAVAILABLE within seconds
 * and the action runtime's backoff takes over; the SDK's defaults wait indefinitely for a
 * response.
 */
export const DEFAULT_AWS_CONNECT_TIMEOUT_MS = 3_000;
export const DEFAULT_AWS_REQUEST_TIMEOUT_MS = 10_000;
/**
 * One attempt: the action runtime retries failed records with its one retry policy
 * (actions/runtime/retry.ts); SDK retries under it would multiply attempts and waits.
 */
export const DEFAULT_AWS_MAX_ATTEMPTS = 1;

/** Settings for Elasticsearch/OpenSearch clients. */
export interface ElasticsearchSettings {
  /** When set, replaces every action's `endpoint` parameter. */
  readonly endpoint?: string;
  readonly requestTimeoutMs?: number;
}

export interface AwsActionSettings {
  readonly dynamodb: AwsClientSettings;
  readonly s3: AwsClientSettings;
  readonly elasticsearch: ElasticsearchSettings;
  /**
   * Every other AWS-API action (kinesis, sqs, sns, firehose, step_functions, cloudwatch_alarm,
   * cloudwatch_logs, iot_events, iot_analytics, timestream, location, iot_site_wise): the region,
   * and one endpoint for all of them (LocalStack, or a compatible server) when set; unset, each
   * SDK resolves its own (`AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL`, ...).
   */
  readonly services?: AwsClientSettings;
}

/** The settings of kiot's Config the AWS-API actions read. */
export type AwsActionsConfig = Pick<RulesConfig, 'awsRegion' | 'awsEndpoint' | 'dynamodbEndpoint' | 's3Endpoint' | 's3ForcePathStyle' | 'elasticsearchEndpoint'>;

/** Derives the AWS-API action settings from kiot's Config (KIOT_AWS_REGION, KIOT_DYNAMODB_ENDPOINT, ...). */
export function awsSettingsFromConfig(config: AwsActionsConfig): AwsActionSettings {
  const region = config.awsRegion;
  return {
    dynamodb: { ...(region ? { region } : {}), ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {}) },
    s3: {
      ...(region ? { region } : {}),
      ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}),
      forcePathStyle: config.s3ForcePathStyle,
    },
    elasticsearch: config.elasticsearchEndpoint ? { endpoint: config.elasticsearchEndpoint } : {},
    services: { ...(region ? { region } : {}), ...(config.awsEndpoint ? { endpoint: config.awsEndpoint } : {}) },
  };
}

/**
 * The options object both AWS SDK v3 clients accept, without naming the SDK's types: only
 * fields kiot sets are present, so the SDK keeps resolving the rest.
 */
export function sdkClientOptions(settings: AwsClientSettings): Record<string, unknown> {
  return {
    ...(settings.region ? { region: settings.region } : {}),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    maxAttempts: settings.maxAttempts ?? DEFAULT_AWS_MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: settings.connectTimeoutMs ?? DEFAULT_AWS_CONNECT_TIMEOUT_MS,
      requestTimeout: settings.requestTimeoutMs ?? DEFAULT_AWS_REQUEST_TIMEOUT_MS,
      // Without this the SDK only logs a warning when requestTimeout passes and keeps waiting.
      throwOnRequestTimeout: true,
    },
  };
}
