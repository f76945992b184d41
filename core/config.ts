import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import type * as Yaml from 'yaml';
import { PlatformError, invalidConfig } from './errors.js';
import type { LogLevel } from './logger.js';
import { isValidTopicFilter } from './topic-filter.js';

/** The roles a process can run; `all` (the default) runs every one. Later issues fill them in. */
export const ROLES = ['api', 'gateway', 'bridge', 'rules', 'shadow', 'registry', 'jobs'] as const;
export type Role = (typeof ROLES)[number];

/** Defaults, from DESIGN.md's `kiot up` contract (the ports are AWS IoT's and MQTT's usual ones). */
export const DEFAULT_DATA_DIR = './data';
export const DEFAULT_RULES_DIR = './rules';
export const DEFAULT_HTTP_PORT = 8080;
export const DEFAULT_MQTT_PORT = 1883;
export const DEFAULT_MQTTS_PORT = 8883;
export const DEFAULT_WS_PORT = 8083;
/** AWS IoT's port for HTTPS publishes with a device client certificate. */
export const DEFAULT_HTTPS_PORT = 8443;
/** `auto`: TLS on the HTTP API when `host` is not a loopback address. */
export const DEFAULT_HTTP_TLS = 'auto';
export const DEFAULT_HOST = '127.0.0.1';
/** Rule action retries: 5 from 200 ms gives up after about 6 s of backoff (actions/runtime/retry.ts). */
export const DEFAULT_ACTION_RETRIES = 5;
export const DEFAULT_ACTION_RETRY_BACKOFF_MS = 200;
/**
 * MQTT per-connection quotas, AWS IoT Core's defaults ("AWS IoT Core message broker and protocol
 * limits and quotas"): 50 subscriptions per connection (adjustable in AWS), 100 publish requests
 * per second and 512 KiB/s of throughput per connection (not adjustable in AWS).
 */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION = 50;
/** AWS IoT's longest keep-alive (1200 s); a longer or absent one is lowered to it (MQTT 5: Server Keep Alive). */
export const DEFAULT_MAX_KEEP_ALIVE_SEC = 1200;
export const DEFAULT_MAX_PUBLISHES_PER_SECOND_PER_CONNECTION = 100;
export const DEFAULT_MAX_BYTES_PER_SECOND_PER_CONNECTION = 512 * 1024;
/** AWS IoT: 1 MQTT CONNECT a second per client id (not adjustable in AWS). */
export const DEFAULT_MAX_CONNECTS_PER_SECOND_PER_CLIENT_ID = 1;
/** AWS account id used in ARNs when none is configured (LocalStack and moto use the same placeholder). */
export const DEFAULT_ACCOUNT_ID = '000000000000';

/**
 * kiot's settings, grouped by the service that reads them: the shared ones at the top, then one
 * group per service, and each service takes its group (`createGateway(config.gateway, deps)`,
 * `createRulesService(config.rules, deps)`, `createBridge(config.bridge, deps)`) and sees no
 * other's. A group repeats the shared settings its service reads (the gateway's `host`, the rules'
 * `accountId`), copied from the one shared setting, so that a service's config is one object.
 *
 * Why the groups are declared here and not in each service's folder: one table (SETTINGS) and one
 * validation pass (loadConfig) fill all of them, so that a flag, a `KIOT_*` variable and a file
 * key stay one setting with one error message, and core imports no service (DESIGN.md's folder
 * table, test/import-graph.test.ts). A group, its rows (`group` in SETTINGS) and its validation
 * are read together in this file; a service only imports its group's type.
 */
export interface Config extends SharedConfig {
  readonly gateway: GatewayConfig;
  readonly rules: RulesConfig;
  readonly api: ApiConfig;
  /** Bridge from an external MQTT broker (ingest/bridge); undefined when no `bridge` URL is set. */
  readonly bridge: BridgeConfig | undefined;
}

/** Settings every role reads. */
export interface SharedConfig {
  readonly dataDir: string;
  /** The address every listener binds. */
  readonly host: string;
  /** Kafka bootstrap brokers; empty means the embedded log. */
  readonly kafkaBrokers: readonly string[];
  readonly roles: readonly Role[];
  /** Threads of this process: the main one, and `threads - 1` worker threads that run the rules role over its log. */
  readonly threads: number;
  readonly logLevel: LogLevel;
  /** The config file that was read, if any. */
  readonly configFile: string | undefined;
  /** AWS region of the HTTP API: the only region a request may be signed for, and the region in ARNs; undefined = any region is accepted and ARNs say `us-east-1`. */
  readonly region: string | undefined;
  /** AWS account id in ARNs and registry events (12 digits). */
  readonly accountId: string;
}

/** The MQTT gateway (ingest/gateway) and the device HTTPS publish listener. */
export interface GatewayConfig {
  /** Shared: the address the listeners bind. */
  readonly host: string;
  readonly mqttPort: number;
  readonly mqttsPort: number;
  readonly wsPort: number;
  /** Device HTTPS publish listener (mutual TLS, AWS IoT's 8443). */
  readonly httpsPort: number;
  /** PEM server certificate file of the MQTT TLS listener; the listener starts only when set. */
  readonly tlsCert: string | undefined;
  /** PEM private key file of `tlsCert`. */
  readonly tlsKey: string | undefined;
  /** PEM CA file for client certificates (mutual TLS); clients are asked for one when set. */
  readonly tlsCa: string | undefined;
  /** MQTT: topic filters one connection (session) may hold; more are refused in SUBACK. */
  readonly maxSubscriptionsPerConnection: number;
  /** MQTT: PUBLISH packets one connection may send per second; 0 = no limit. */
  readonly maxPublishesPerSecondPerConnection: number;
  /** MQTT: bytes of PUBLISH packets one connection may send per second; 0 = no limit. */
  readonly maxBytesPerSecondPerConnection: number;
  /** MQTT: authenticated CONNECTs one client id may make per second; 0 = no limit. */
  readonly maxConnectsPerSecondPerClientId: number;
  /** Longest MQTT keep-alive the gateway grants, seconds. */
  readonly maxKeepAliveSec: number;
  /** AWS IoT policy document (JSON file) that anonymous loopback MQTT clients are held to; undefined = they may do anything but take a device's client id. */
  readonly anonymousPolicy: string | undefined;
}

/** The rules service (rules/worker) and the actions it runs. */
export interface RulesConfig {
  readonly rulesDir: string;
  /** Shared: `accountid()` in rules and templates. */
  readonly accountId: string;
  /** Retries of a failed rule action before the error action gets the message. */
  readonly actionRetries: number;
  /** Backoff before the first retry of a rule action, doubled for each further one (capped at 5 s). */
  readonly actionRetryBackoffMs: number;
  /** Base URL of an AWS Lambda Invoke API for the lambda action and aws_lambda(); undefined = not connected. */
  readonly lambdaEndpoint: string | undefined;
  /** Sign Lambda Invoke calls with SigV4 for this region (AWS itself); undefined = unsigned (LocalStack). */
  readonly lambdaSigningRegion: string | undefined;
  /** AWS-API actions: overrides the AWS SDK's region (`AWS_REGION`, profile); undefined = the SDK's own. */
  readonly awsRegion: string | undefined;
  /** One endpoint for the AWS-API actions that have none of their own (kinesis, sqs, sns, ...); undefined = each SDK's own. */
  readonly awsEndpoint: string | undefined;
  /** DynamoDB endpoint for the dynamodb/dynamodbv2 actions and get_dynamodb; undefined = the SDK's own (`AWS_ENDPOINT_URL_DYNAMODB`, ...). */
  readonly dynamodbEndpoint: string | undefined;
  /** S3 endpoint for the s3 action; undefined = the SDK's own (`AWS_ENDPOINT_URL_S3`, ...). */
  readonly s3Endpoint: string | undefined;
  /** Path-style S3 addressing (`http://host/bucket/key`), which local S3 servers need. */
  readonly s3ForcePathStyle: boolean;
  /** When set, every elasticsearch/opensearch action sends here instead of its `endpoint` parameter. */
  readonly elasticsearchEndpoint: string | undefined;
}

/** The AWS-shaped HTTP API (api/) and the HTTP listener that serves it with `/health` and `/metrics`. */
export interface ApiConfig {
  /** Shared: where `credentials` is written. */
  readonly dataDir: string;
  /** Shared: the region requests are signed for, and ARNs name. */
  readonly region: string | undefined;
  /** Shared: the account id in ARNs. */
  readonly accountId: string;
  readonly httpPort: number;
  /** TLS on the HTTP API: `on`, `off`, or `auto` (on when `host` is not a loopback address). */
  readonly httpTls: 'auto' | 'on' | 'off';
  /** PEM server certificate (and key) of the HTTP API; undefined = issued by the kiot CA when TLS is on. */
  readonly httpTlsCert: string | undefined;
  readonly httpTlsKey: string | undefined;
  /** `/metrics` requires a SigV4 signature like the API (default: open, like `/health`). */
  readonly metricsAuth: boolean;
}

/** Which part of Config a setting fills: the shared settings or one service's group. */
export type SettingGroup = 'shared' | 'gateway' | 'rules' | 'api' | 'bridge';

/**
 * Every setting once: its config-file key, its `KIOT_*` variable, its flag, what it expects, and
 * how to read it. The CLI builds its options and help from this table, so the three stay in step.
 * `group` names the part of Config the setting fills (rows stay in the order `kiot up --help` lists them).
 */
export const SETTINGS = [
  { key: 'dataDir', group: 'shared', env: 'KIOT_DATA_DIR', flag: '--data-dir <dir>', help: 'directory for the embedded log and state', default: DEFAULT_DATA_DIR },
  { key: 'rulesDir', group: 'rules', env: 'KIOT_RULES_DIR', flag: '--rules-dir <dir>', help: 'directory of rule files (*.sql, *.rule.json)', default: DEFAULT_RULES_DIR },
  { key: 'httpPort', group: 'api', env: 'KIOT_HTTP_PORT', flag: '--http-port <port>', help: 'HTTP API, /health and /metrics (0 = any free port)', default: DEFAULT_HTTP_PORT },
  { key: 'mqttPort', group: 'gateway', env: 'KIOT_MQTT_PORT', flag: '--mqtt-port <port>', help: 'MQTT over TCP (0 = any free port)', default: DEFAULT_MQTT_PORT },
  { key: 'mqttsPort', group: 'gateway', env: 'KIOT_MQTTS_PORT', flag: '--mqtts-port <port>', help: 'MQTT over TLS (0 = any free port)', default: DEFAULT_MQTTS_PORT },
  { key: 'wsPort', group: 'gateway', env: 'KIOT_WS_PORT', flag: '--ws-port <port>', help: 'MQTT over WebSocket (0 = any free port)', default: DEFAULT_WS_PORT },
  { key: 'httpsPort', group: 'gateway', env: 'KIOT_HTTPS_PORT', flag: '--https-port <port>', help: 'device HTTPS publish with a client certificate, as AWS IoT\'s port 8443 (0 = any free port)', default: DEFAULT_HTTPS_PORT },
  { key: 'httpTls', group: 'api', env: 'KIOT_HTTP_TLS', flag: '--http-tls <mode>', help: 'TLS on the HTTP API: auto (on when --host is not loopback), on or off', default: DEFAULT_HTTP_TLS },
  { key: 'httpTlsCert', group: 'api', env: 'KIOT_HTTP_TLS_CERT', flag: '--http-tls-cert <file>', help: 'PEM server certificate of the HTTP API (default: issued by the kiot CA, whose certificate is <data-dir>/ca.pem)', default: undefined },
  { key: 'httpTlsKey', group: 'api', env: 'KIOT_HTTP_TLS_KEY', flag: '--http-tls-key <file>', help: 'PEM private key of --http-tls-cert', default: undefined },
  { key: 'metricsAuth', group: 'api', env: 'KIOT_METRICS_AUTH', flag: '--metrics-auth <bool>', help: 'require a SigV4 signature on /metrics, like the API (true or false)', default: false },
  { key: 'host', group: 'shared', env: 'KIOT_HOST', flag: '--host <address>', help: 'address every listener binds', default: DEFAULT_HOST },
  { key: 'kafka', group: 'shared', env: 'KIOT_KAFKA_BROKERS', flag: '--kafka <brokers>', help: 'run on Kafka: comma-separated host:port list (default: the embedded log)', default: undefined },
  { key: 'roles', group: 'shared', env: 'KIOT_ROLES', flag: '--roles <roles>', help: `comma-separated roles this process runs: all, ${ROLES.join(', ')}`, default: 'all' },
  { key: 'threads', group: 'shared', env: 'KIOT_THREADS', flag: '--threads <n>', help: 'threads this process uses: 1 runs everything on one; N > 1 runs the rules role on N - 1 worker threads over this thread\'s log', default: 1 },
  { key: 'logLevel', group: 'shared', env: 'KIOT_LOG_LEVEL', flag: '--log-level <level>', help: 'debug, info, warn, error or silent', default: 'info' },
  { key: 'region', group: 'shared', env: 'KIOT_REGION', flag: '--region <region>', help: 'AWS region of the HTTP API: requests must be signed for it, and ARNs name it (default: any region accepted, ARNs say us-east-1)', default: undefined },
  { key: 'accountId', group: 'shared', env: 'KIOT_ACCOUNT_ID', flag: '--account-id <id>', help: 'AWS account id (12 digits) in ARNs and registry events', default: DEFAULT_ACCOUNT_ID },
  { key: 'bridge', group: 'bridge', env: 'KIOT_BRIDGE_URL', flag: '--bridge <url>', help: 'bridge from an existing MQTT broker: mqtt://host:1883 or mqtts://host:8883 (runs with the bridge role)', default: undefined },
  { key: 'bridgeTopics', group: 'bridge', env: 'KIOT_BRIDGE_TOPICS', flag: '--bridge-topics <filters>', help: 'comma-separated topic filters the bridge subscribes to', default: '#' },
  { key: 'bridgeEgressTopics', group: 'bridge', env: 'KIOT_BRIDGE_EGRESS_TOPICS', flag: '--bridge-egress-topics <filters>', help: 'iot.egress topics the bridge publishes to the broker (none = no egress)', default: '#' },
  { key: 'bridgeClientId', group: 'bridge', env: 'KIOT_BRIDGE_CLIENT_ID', flag: '--bridge-client-id <id>', help: 'client id (and persistent session) of the bridge at the broker (default: kiot-bridge-<hostname>)', default: undefined },
  { key: 'bridgeClientIdFrom', group: 'bridge', env: 'KIOT_BRIDGE_CLIENT_ID_FROM', flag: '--bridge-client-id-from <source>', help: 'where bridged messages carry the device client id: property:<name> (MQTT 5 user property) or topic:<level> (1-based)', default: undefined },
  { key: 'bridgeShareGroup', group: 'bridge', env: 'KIOT_BRIDGE_SHARE_GROUP', flag: '--bridge-share-group <name>', help: 'shared subscription group, so bridge processes split the load (none = plain subscriptions)', default: 'kiot' },
  { key: 'bridgeMqttVersion', group: 'bridge', env: 'KIOT_BRIDGE_MQTT_VERSION', flag: '--bridge-mqtt-version <version>', help: 'MQTT version towards the broker: 5 or 3.1.1', default: '5' },
  { key: 'bridgeUsername', group: 'bridge', env: 'KIOT_BRIDGE_USERNAME', flag: '--bridge-username <name>', help: 'user name at the bridged broker', default: undefined },
  { key: 'bridgePassword', group: 'bridge', env: 'KIOT_BRIDGE_PASSWORD', flag: '--bridge-password <password>', help: 'password at the bridged broker (prefer the variable or config file)', default: undefined },
  { key: 'bridgeCa', group: 'bridge', env: 'KIOT_BRIDGE_CA', flag: '--bridge-ca <file>', help: 'PEM CA certificates that sign the broker\'s certificate (mqtts)', default: undefined },
  { key: 'bridgeCert', group: 'bridge', env: 'KIOT_BRIDGE_CERT', flag: '--bridge-cert <file>', help: 'PEM client certificate for mutual TLS (mqtts; with --bridge-key)', default: undefined },
  { key: 'bridgeKey', group: 'bridge', env: 'KIOT_BRIDGE_KEY', flag: '--bridge-key <file>', help: 'PEM private key of --bridge-cert', default: undefined },
  { key: 'awsRegion', group: 'rules', env: 'KIOT_AWS_REGION', flag: '--aws-region <region>', help: 'region for AWS-API actions (default: the AWS SDK\'s, e.g. AWS_REGION)', default: undefined },
  { key: 'awsEndpoint', group: 'rules', env: 'KIOT_AWS_ENDPOINT', flag: '--aws-endpoint <url>', help: 'one endpoint (LocalStack or compatible) for the kinesis, sqs, sns, firehose, step_functions, cloudwatch_alarm, cloudwatch_logs, iot_events, iot_analytics, timestream, location and iot_site_wise actions (default: each AWS SDK\'s, e.g. AWS_ENDPOINT_URL_KINESIS)', default: undefined },
  { key: 'dynamodbEndpoint', group: 'rules', env: 'KIOT_DYNAMODB_ENDPOINT', flag: '--dynamodb-endpoint <url>', help: 'DynamoDB endpoint for dynamodb actions and get_dynamodb (default: the AWS SDK\'s, e.g. AWS_ENDPOINT_URL_DYNAMODB)', default: undefined },
  { key: 's3Endpoint', group: 'rules', env: 'KIOT_S3_ENDPOINT', flag: '--s3-endpoint <url>', help: 'S3 endpoint for s3 actions, bulk registration tasks and jobs (presigned URLs, documentSource) (default: the AWS SDK\'s, e.g. AWS_ENDPOINT_URL_S3)', default: undefined },
  { key: 's3ForcePathStyle', group: 'rules', env: 'KIOT_S3_FORCE_PATH_STYLE', flag: '--s3-force-path-style <bool>', help: 'path-style S3 addressing, as local S3 servers need (true or false)', default: false },
  { key: 'tlsCert', group: 'gateway', env: 'KIOT_TLS_CERT', flag: '--tls-cert <file>', help: 'PEM server certificate for MQTT over TLS and device HTTPS (default: one issued by the kiot CA at each start)', default: undefined },
  { key: 'tlsKey', group: 'gateway', env: 'KIOT_TLS_KEY', flag: '--tls-key <file>', help: 'PEM private key of --tls-cert', default: undefined },
  { key: 'tlsCa', group: 'gateway', env: 'KIOT_TLS_CA', flag: '--tls-ca <file>', help: 'PEM CA certificates for device client certificates (mutual TLS)', default: undefined },
  { key: 'elasticsearchEndpoint', group: 'rules', env: 'KIOT_ELASTICSEARCH_ENDPOINT', flag: '--elasticsearch-endpoint <url>', help: 'send every elasticsearch/opensearch action here instead of its endpoint parameter', default: undefined },
  { key: 'lambdaEndpoint', group: 'rules', env: 'KIOT_LAMBDA_ENDPOINT', flag: '--lambda-endpoint <url>', help: 'AWS Lambda Invoke API for the lambda action and aws_lambda(), e.g. LocalStack (default: none)', default: undefined },
  { key: 'lambdaSigningRegion', group: 'rules', env: 'KIOT_LAMBDA_SIGNING_REGION', flag: '--lambda-signing-region <region>', help: 'sign Lambda Invoke calls with SigV4 for this region and the AWS SDK credentials chain (needed for AWS itself; default: unsigned)', default: undefined },
  { key: 'actionRetries', group: 'rules', env: 'KIOT_ACTION_RETRIES', flag: '--action-retries <n>', help: 'retries of a failed rule action before its error action is used', default: DEFAULT_ACTION_RETRIES },
  { key: 'actionRetryBackoffMs', group: 'rules', env: 'KIOT_ACTION_RETRY_BACKOFF_MS', flag: '--action-retry-backoff-ms <ms>', help: 'backoff before the first retry of a rule action, doubled per retry (max 5 s)', default: DEFAULT_ACTION_RETRY_BACKOFF_MS },
  { key: 'maxSubscriptionsPerConnection', group: 'gateway', env: 'KIOT_MAX_SUBSCRIPTIONS_PER_CONNECTION', flag: '--max-subscriptions-per-connection <n>', help: 'MQTT topic filters one connection may hold (AWS IoT: 50)', default: DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION },
  { key: 'maxPublishesPerSecondPerConnection', group: 'gateway', env: 'KIOT_MAX_PUBLISHES_PER_SECOND_PER_CONNECTION', flag: '--max-publishes-per-second-per-connection <n>', help: 'MQTT PUBLISH packets one connection may send per second, 0 = no limit (AWS IoT: 100)', default: DEFAULT_MAX_PUBLISHES_PER_SECOND_PER_CONNECTION },
  { key: 'maxKeepAliveSec', group: 'gateway', env: 'KIOT_MAX_KEEP_ALIVE_SEC', flag: '--max-keep-alive-sec <s>', help: 'longest MQTT keep-alive granted; MQTT 5 clients asking for more (or none) are told this one (AWS IoT: 1200)', default: DEFAULT_MAX_KEEP_ALIVE_SEC },
  { key: 'anonymousPolicy', group: 'gateway', env: 'KIOT_ANONYMOUS_POLICY', flag: '--anonymous-policy <file>', help: 'AWS IoT policy document (JSON) for anonymous clients of the loopback mqtt and ws listeners: iot:Connect, Publish, Subscribe, Receive (default: none, they may use any topic)', default: undefined },
  { key: 'maxBytesPerSecondPerConnection', group: 'gateway', env: 'KIOT_MAX_BYTES_PER_SECOND_PER_CONNECTION', flag: '--max-bytes-per-second-per-connection <n>', help: 'bytes of MQTT PUBLISH packets one connection may send per second, 0 = no limit (AWS IoT: 512 KiB)', default: DEFAULT_MAX_BYTES_PER_SECOND_PER_CONNECTION },
  { key: 'maxConnectsPerSecondPerClientId', group: 'gateway', env: 'KIOT_MAX_CONNECTS_PER_SECOND_PER_CLIENT_ID', flag: '--max-connects-per-second-per-client-id <n>', help: 'MQTT CONNECTs one client id may make per second once authenticated, 0 = no limit (AWS IoT: 1)', default: DEFAULT_MAX_CONNECTS_PER_SECOND_PER_CLIENT_ID },
] as const satisfies readonly { key: string; group: SettingGroup; env: string; flag: string; help: string; default: unknown }[];

export type SettingKey = (typeof SETTINGS)[number]['key'];
/** The variable that names a config file (also `--config`). */
export const CONFIG_FILE_ENV = 'KIOT_CONFIG';
/** Every `KIOT_*` variable kiot reads. */
export const KNOWN_ENV_VARS: readonly string[] = [...SETTINGS.map((s) => s.env), CONFIG_FILE_ENV];

export interface ConfigSources {
  /** Values from command-line flags, by setting key (commander's camelCase names). */
  readonly flags?: Partial<Record<SettingKey, unknown>>;
  /** The process environment (only `KIOT_*` variables are read). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A config file path (JSON or YAML); `--config` or `KIOT_CONFIG`. */
  readonly configFile?: string;
}

interface Raw {
  readonly value: unknown;
  /** Where the value came from, as the user would name it: `--http-port`, `KIOT_HTTP_PORT`, `kiot.yaml: httpPort`. */
  readonly source: string;
}

/**
 * Merges flags over `KIOT_*` variables over the config file over defaults, validates every
 * field once and returns a frozen Config (and frozen groups). Errors are CONFIG_INVALID naming the flag, variable
 * or file key and what was expected.
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? {};
  for (const name of Object.keys(env)) {
    if (name.startsWith('KIOT_') && !KNOWN_ENV_VARS.includes(name)) {
      throw new PlatformError('CONFIG_INVALID', `${name}: not a kiot setting (known: ${KNOWN_ENV_VARS.join(', ')})`, { details: { field: name } });
    }
  }
  const configFile = sources.configFile ?? env[CONFIG_FILE_ENV] ?? undefined;
  const file = configFile ? readConfigFile(configFile) : {};

  const pick = (key: SettingKey): Raw | undefined => {
    const setting = SETTINGS.find((s) => s.key === key)!;
    const flag = sources.flags?.[key];
    if (flag !== undefined) return { value: flag, source: setting.flag.split(' ')[0]! };
    const fromEnv = env[setting.env];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: setting.env };
    if (key in file) return { value: file[key], source: `${configFile}: ${key}` };
    return undefined;
  };

  const shared: SharedConfig = {
    dataDir: text(pick('dataDir'), DEFAULT_DATA_DIR),
    host: text(pick('host'), DEFAULT_HOST),
    kafkaBrokers: brokers(pick('kafka')),
    roles: roles(pick('roles')),
    threads: count(pick('threads'), 1, 1),
    logLevel: logLevel(pick('logLevel')),
    configFile,
    region: optionalText(pick('region')),
    accountId: accountId(pick('accountId')),
  };
  const config: Config = {
    ...shared,
    gateway: Object.freeze({
      host: shared.host,
      mqttPort: port(pick('mqttPort'), DEFAULT_MQTT_PORT),
      mqttsPort: port(pick('mqttsPort'), DEFAULT_MQTTS_PORT),
      wsPort: port(pick('wsPort'), DEFAULT_WS_PORT),
      httpsPort: port(pick('httpsPort'), DEFAULT_HTTPS_PORT),
      ...tlsFiles(pick),
      maxSubscriptionsPerConnection: count(pick('maxSubscriptionsPerConnection'), DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION, 1),
      maxPublishesPerSecondPerConnection: count(pick('maxPublishesPerSecondPerConnection'), DEFAULT_MAX_PUBLISHES_PER_SECOND_PER_CONNECTION, 0),
      maxBytesPerSecondPerConnection: count(pick('maxBytesPerSecondPerConnection'), DEFAULT_MAX_BYTES_PER_SECOND_PER_CONNECTION, 0),
      maxConnectsPerSecondPerClientId: count(pick('maxConnectsPerSecondPerClientId'), DEFAULT_MAX_CONNECTS_PER_SECOND_PER_CLIENT_ID, 0),
      maxKeepAliveSec: count(pick('maxKeepAliveSec'), DEFAULT_MAX_KEEP_ALIVE_SEC, 1),
      anonymousPolicy: optionalText(pick('anonymousPolicy')),
    }),
    rules: Object.freeze({
      rulesDir: text(pick('rulesDir'), DEFAULT_RULES_DIR),
      accountId: shared.accountId,
      actionRetries: count(pick('actionRetries'), DEFAULT_ACTION_RETRIES, 0),
      actionRetryBackoffMs: count(pick('actionRetryBackoffMs'), DEFAULT_ACTION_RETRY_BACKOFF_MS, 1),
      lambdaEndpoint: url(pick('lambdaEndpoint')),
      lambdaSigningRegion: optionalText(pick('lambdaSigningRegion')),
      awsRegion: optionalText(pick('awsRegion')),
      awsEndpoint: url(pick('awsEndpoint')),
      dynamodbEndpoint: url(pick('dynamodbEndpoint')),
      s3Endpoint: url(pick('s3Endpoint')),
      s3ForcePathStyle: bool(pick('s3ForcePathStyle'), false),
      elasticsearchEndpoint: url(pick('elasticsearchEndpoint')),
    }),
    api: Object.freeze({
      dataDir: shared.dataDir,
      region: shared.region,
      accountId: shared.accountId,
      httpPort: port(pick('httpPort'), DEFAULT_HTTP_PORT),
      ...httpTls(pick),
      metricsAuth: bool(pick('metricsAuth'), false),
    }),
    bridge: bridgeConfig(pick),
  };
  return Object.freeze(config);
}

/** The HTTP API's TLS: a mode, and a certificate with its key (both or neither; not with `off`). */
function httpTls(pick: (key: SettingKey) => Raw | undefined): Pick<ApiConfig, 'httpTls' | 'httpTlsCert' | 'httpTlsKey'> {
  const mode = pick('httpTls');
  const value = mode === undefined ? DEFAULT_HTTP_TLS : mode.value;
  if (value !== 'auto' && value !== 'on' && value !== 'off') throw invalidConfig(mode!.source, 'auto, on or off', mode!.value);
  const cert = pick('httpTlsCert');
  const key = pick('httpTlsKey');
  if ((cert === undefined) !== (key === undefined)) {
    const given = (cert ?? key)!;
    throw new PlatformError('CONFIG_INVALID', `${given.source}: --http-tls-cert and --http-tls-key go together`, { details: { field: given.source } });
  }
  if (cert && value === 'off') throw new PlatformError('CONFIG_INVALID', `${cert.source} needs TLS, but ${mode!.source} is off`, { details: { field: 'httpTls' } });
  return { httpTls: value, httpTlsCert: optionalText(cert), httpTlsKey: optionalText(key) };
}

/** The gateway's TLS files: a certificate needs its key, and a key or CA needs a certificate. */
function tlsFiles(pick: (key: SettingKey) => Raw | undefined): Pick<GatewayConfig, 'tlsCert' | 'tlsKey' | 'tlsCa'> {
  const cert = pick('tlsCert');
  const key = pick('tlsKey');
  const ca = pick('tlsCa');
  if (cert && !key) throw new PlatformError('CONFIG_INVALID', `${cert.source} needs a private key: set --tls-key (KIOT_TLS_KEY) as well`, { details: { field: 'tlsKey' } });
  if (!cert && (key || ca)) throw new PlatformError('CONFIG_INVALID', `${(key ?? ca)!.source} needs a server certificate: set --tls-cert (KIOT_TLS_CERT) as well`, { details: { field: 'tlsCert' } });
  return { tlsCert: optionalText(cert), tlsKey: optionalText(key), tlsCa: optionalText(ca) };
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PlatformError('CONFIG_INVALID', `${path}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  const yaml = ['.yaml', '.yml'].includes(extname(path));
  if (!yaml && extname(path) !== '.json') {
    throw new PlatformError('CONFIG_INVALID', `${path}: a config file is JSON (.json) or YAML (.yaml, .yml); its name says neither`, { details: { field: 'config' } });
  }
  let parsed: unknown;
  try {
    // yaml (CommonJS, 70 modules) is loaded only for a YAML config file (issue 12: memory at rest).
    parsed = yaml ? (createRequire(import.meta.url)('yaml') as typeof Yaml).parse(text) : JSON.parse(text);
  } catch (err) {
    const where = (err as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    const position = where ? `:${where.line}:${where.col}` : '';
    throw new PlatformError('CONFIG_INVALID', `${path}${position}: not valid ${yaml ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidConfig(path, 'an object of settings', parsed);
  const known = SETTINGS.map((s) => s.key) as readonly string[];
  for (const key of Object.keys(parsed)) {
    if (!known.includes(key)) throw new PlatformError('CONFIG_INVALID', `${path}: ${key}: not a kiot setting (known: ${known.join(', ')})`, { details: { field: key } });
  }
  return parsed as Record<string, unknown>;
}

function text(raw: Raw | undefined, fallback: string): string {
  if (raw === undefined) return fallback;
  if (typeof raw.value !== 'string' || raw.value.trim() === '') throw invalidConfig(raw.source, 'a non-empty string', raw.value);
  return raw.value;
}

function accountId(raw: Raw | undefined): string {
  if (raw === undefined) return DEFAULT_ACCOUNT_ID;
  const value = typeof raw.value === 'number' ? String(raw.value).padStart(12, '0') : raw.value;
  if (typeof value !== 'string' || !/^\d{12}$/.test(value.trim())) throw invalidConfig(raw.source, 'a 12-digit AWS account id', raw.value);
  return value.trim();
}

function optionalText(raw: Raw | undefined): string | undefined {
  return raw === undefined ? undefined : text(raw, '');
}

function url(raw: Raw | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const value = typeof raw.value === 'string' ? raw.value.trim() : raw.value;
  if (typeof value !== 'string' || !/^https?:\/\/[^\s/]+/.test(value)) throw invalidConfig(raw.source, 'an http:// or https:// URL', raw.value);
  return value;
}

function bool(raw: Raw | undefined, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  if (typeof raw.value === 'boolean') return raw.value;
  if (raw.value === 'true' || raw.value === '1') return true;
  if (raw.value === 'false' || raw.value === '0') return false;
  throw invalidConfig(raw.source, 'true or false', raw.value);
}

function port(raw: Raw | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = typeof raw.value === 'string' && /^\d+$/.test(raw.value.trim()) ? Number(raw.value) : raw.value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) throw invalidConfig(raw.source, 'a port number 0-65535 (0 = any free port)', raw.value);
  return n;
}

function list(raw: Raw): string[] {
  if (Array.isArray(raw.value) && raw.value.every((v) => typeof v === 'string')) return raw.value.map((v: string) => v.trim()).filter(Boolean);
  if (typeof raw.value === 'string') return raw.value.split(',').map((v) => v.trim()).filter(Boolean);
  throw invalidConfig(raw.source, 'a comma-separated list or a list of strings', raw.value);
}

function brokers(raw: Raw | undefined): string[] {
  if (raw === undefined) return [];
  const values = list(raw);
  for (const broker of values) {
    if (!/^[^\s:]+:\d{1,5}$/.test(broker)) throw invalidConfig(raw.source, 'host:port broker addresses, comma-separated', broker);
  }
  if (values.length === 0) throw invalidConfig(raw.source, 'at least one host:port broker', raw.value);
  return values;
}

function roles(raw: Raw | undefined): Role[] {
  if (raw === undefined) return [...ROLES];
  const values = list(raw);
  if (values.length === 0) throw invalidConfig(raw.source, `roles: all or some of ${ROLES.join(', ')}`, raw.value);
  if (values.includes('all')) return [...ROLES];
  for (const role of values) {
    if (!(ROLES as readonly string[]).includes(role)) throw invalidConfig(raw.source, `roles: all or some of ${ROLES.join(', ')}`, role);
  }
  return ROLES.filter((r) => values.includes(r));
}

function logLevel(raw: Raw | undefined): LogLevel {
  if (raw === undefined) return 'info';
  const levels = ['debug', 'info', 'warn', 'error', 'silent'];
  if (typeof raw.value !== 'string' || !levels.includes(raw.value)) throw invalidConfig(raw.source, levels.join(', '), raw.value);
  return raw.value as LogLevel;
}

/** Where the bridge finds a bridged message's device client id. */
export type BridgeClientIdSource = { readonly kind: 'property'; readonly name: string } | { readonly kind: 'topic'; readonly level: number };

/** Settings of the bridge from an external MQTT broker (`ingest/bridge`); see the README, "Bridge". */
export interface BridgeConfig {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` URL of the broker. */
  readonly url: string;
  /** Topic filters subscribed at the broker (without `$share/`). */
  readonly topics: readonly string[];
  /** Filters over iot.egress topics published to the broker; empty = no egress. */
  readonly egressTopics: readonly string[];
  /** Client id at the broker; undefined = `kiot-bridge-<hostname>`. */
  readonly clientId: string | undefined;
  /** Undefined: every bridged message carries the bridge's client id. */
  readonly clientIdFrom: BridgeClientIdSource | undefined;
  /** Shared subscription group; undefined = plain subscriptions. */
  readonly shareGroup: string | undefined;
  /** MQTT protocol level: 5, or 4 (MQTT 3.1.1). */
  readonly mqttVersion: 4 | 5;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** PEM file paths for TLS. */
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

const BRIDGE_KEYS = ['bridgeTopics', 'bridgeEgressTopics', 'bridgeClientId', 'bridgeClientIdFrom', 'bridgeShareGroup', 'bridgeMqttVersion', 'bridgeUsername', 'bridgePassword', 'bridgeCa', 'bridgeCert', 'bridgeKey'] as const;

function bridgeConfig(pick: (key: SettingKey) => Raw | undefined): BridgeConfig | undefined {
  const rawUrl = pick('bridge');
  if (rawUrl === undefined) {
    const stray = BRIDGE_KEYS.map(pick).find((r) => r !== undefined);
    if (stray) throw new PlatformError('CONFIG_INVALID', `${stray.source}: needs a bridge URL (--bridge, KIOT_BRIDGE_URL or bridge in the config file)`, { details: { field: stray.source } });
    return undefined;
  }
  let parsed: URL | undefined;
  try {
    parsed = typeof rawUrl.value === 'string' ? new URL(rawUrl.value.trim()) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || !['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(parsed.protocol) || parsed.hostname === '') {
    throw invalidConfig(rawUrl.source, 'an mqtt://, mqtts://, ws:// or wss:// URL with a host', rawUrl.value);
  }
  const tls = parsed.protocol === 'mqtts:' || parsed.protocol === 'wss:';
  const version = pick('bridgeMqttVersion');
  const versionText = version === undefined ? '5' : String(version.value).trim();
  if (!['5', '3.1.1'].includes(versionText)) throw invalidConfig(version!.source, '5 or 3.1.1', version!.value);
  const mqttVersion = versionText === '5' ? 5 : 4;

  const from = pick('bridgeClientIdFrom');
  let clientIdFrom: BridgeClientIdSource | undefined;
  if (from !== undefined) {
    const m = typeof from.value === 'string' ? /^(property|topic):(.+)$/.exec(from.value.trim()) : null;
    const level = m?.[1] === 'topic' && /^\d+$/.test(m[2]!) ? Number(m[2]) : 0;
    if (m?.[1] === 'property') clientIdFrom = { kind: 'property', name: m[2]! };
    else if (level >= 1) clientIdFrom = { kind: 'topic', level };
    else throw invalidConfig(from.source, 'property:<user property name> or topic:<level, 1 or more>', from.value);
    if (clientIdFrom.kind === 'property' && mqttVersion === 4) {
      throw new PlatformError('CONFIG_INVALID', `${from.source}: user properties need MQTT 5, but ${version!.source} is 3.1.1`, { details: { field: from.source } });
    }
  }

  const group = pick('bridgeShareGroup');
  const shareGroup = group === undefined ? 'kiot' : text(group, 'kiot').trim();
  if (/[/+#]/.test(shareGroup)) throw invalidConfig(group!.source, 'a share group name without /, + or #', group!.value);

  const files = { ca: pick('bridgeCa'), cert: pick('bridgeCert'), key: pick('bridgeKey') };
  for (const raw of Object.values(files)) {
    if (raw !== undefined && !tls) throw new PlatformError('CONFIG_INVALID', `${raw.source}: TLS files need an mqtts:// or wss:// URL, but ${rawUrl.source} is ${parsed.protocol}//`, { details: { field: raw.source } });
  }
  if ((files.cert === undefined) !== (files.key === undefined)) {
    const given = (files.cert ?? files.key)!;
    throw new PlatformError('CONFIG_INVALID', `${given.source}: --bridge-cert and --bridge-key go together`, { details: { field: given.source } });
  }
  const egress = pick('bridgeEgressTopics');
  return {
    url: parsed.href,
    topics: topicFilters(pick('bridgeTopics'), ['#']),
    egressTopics: egress !== undefined && egress.value === 'none' ? [] : topicFilters(egress, ['#']),
    clientId: optionalText(pick('bridgeClientId')),
    clientIdFrom,
    shareGroup: shareGroup === 'none' ? undefined : shareGroup,
    mqttVersion,
    username: optionalText(pick('bridgeUsername')),
    password: optionalText(pick('bridgePassword')),
    ca: optionalText(files.ca),
    cert: optionalText(files.cert),
    key: optionalText(files.key),
  };
}

/** MQTT topic filters: `+` and `#` only as whole levels, `#` only last (MQTT 5.0, 4.7.1). */
function topicFilters(raw: Raw | undefined, fallback: string[]): string[] {
  if (raw === undefined) return fallback;
  const values = list(raw);
  if (values.length === 0) throw invalidConfig(raw.source, 'at least one MQTT topic filter', raw.value);
  for (const filter of values) {
    if (!isValidTopicFilter(filter) || filter.startsWith('$share/')) throw invalidConfig(raw.source, 'MQTT topic filters (+ and # as whole levels, # last, no $share/)', filter);
  }
  return values;
}

/** A whole number of at least `min`. */
function count(raw: Raw | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = typeof raw.value === 'string' && /^\d+$/.test(raw.value.trim()) ? Number(raw.value) : raw.value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw invalidConfig(raw.source, `a whole number >= ${min}`, raw.value);
  return n;
}
