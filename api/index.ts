/**
 * The AWS-shaped HTTP API: AWS IoT's control plane REST operations, verified with SigV4
 * against kiot-managed access keys, as `Route`s for `createHttpServer`.
 *
 * ```ts
 * const service = createApiService(config, { log, logger, announce, operations: [...certificateOperations] });
 * const api = await service.start();
 * const http = createHttpServer({ logger, metrics, health, routes: api.routes });
 * // on shutdown: await http.close(); await service.stop();
 * ```
 */
import type { FileTopicRule } from '../rules/worker/index.js';
import type { ApiConfig, Log, Logger, SharedConfig } from '../core/index.js';
import { createPublisher, type RetainedStore } from '../ingest/index.js';
import { DEFAULT_ARN_REGION, ThingRegistry, arnScopeOf } from '../registry/index.js';
import { AccessKeyStore, ensureCredentialsFile, type CredentialsFileResult } from './access-keys.js';
import { createAwsRoutes } from './aws-router.js';
import { createRequestAuthenticator, type RequestAuthenticator } from './caller.js';
import type { AwsOperation } from './operation.js';
import { accessKeyOperations } from './routes/access-keys.js';
import { topicOperations } from './routes/topics.js';
import { publishOperations } from './routes/publish.js';
import { thingGroupOperations } from './routes/thing-groups.js';
import { thingTypeOperations } from './routes/thing-types.js';
import { thingOperations } from './routes/things.js';
import { topicRuleOperations } from './routes/topic-rules.js';
import type { Route } from './server.js';
import { TopicRuleStore } from './topic-rule-store.js';

export type { AwsOperation, AwsRequest } from './operation.js';
export { AWS_ERRORS, awsErrorShape, sendAwsError } from './aws-errors.js';
export { createAwsRoutes, compilePathTemplate, jsonDepthExceeds, DEFAULT_MAX_BODY_BYTES, MAX_JSON_DEPTH, type AwsRouterOptions } from './aws-router.js';
export { createRequestAuthenticator, type ApiCaller, type RequestAuthenticator, type RequestAuthenticatorOptions } from './caller.js';
export { verifySigV4, IOT_SIGNING_SERVICES, type SigV4Identity, type SignedRequest } from './sigv4.js';
export { AccessKeyStore, CREDENTIALS_FILE_NAME, parseCredentialsFile, formatCredentialsFile, type AccessKey, type AccessKeyView } from './access-keys.js';
export { TopicRuleStore, buildStoredRule, type StoredTopicRule, type TopicRulePayload } from './topic-rule-store.js';

export interface ApiDeps {
  readonly log: Log;
  readonly logger: Logger;
  /** Receives `credentials <path>` once, when the first access key is written to the data dir. */
  readonly announce?: (line: string) => void;
  /**
   * More AWS operations to serve with the same router, signature check and error mapping
   * (certificates, policies, data plane, jobs, the rules service's `/kiot/rules`). Method +
   * path must not repeat. Publish and kiot's access key operations are always served.
   */
  readonly operations?: readonly AwsOperation[];
  /** The rules from the rules dir when this process runs them, listed read-only beside the API's own. */
  readonly fileRules?: () => readonly FileTopicRule[];
  /** A registry shared with other services; when absent the API opens (and closes) its own. */
  readonly registry?: ThingRegistry;
  /** The process's `iot.rules` store (cli/ opens it once, for the rules service too); when absent the API opens (and closes) its own. */
  readonly topicRules?: TopicRuleStore;
  /** The process's `iot.retained` store, for Publish with `retain=true`; when absent the publisher opens (and closes) its own. */
  readonly retained?: RetainedStore;
  readonly clock?: () => number;
  /** Default 5 minutes, as AWS IoT. */
  readonly thingTypeDeleteDelayMs?: number;
  readonly maxBodyBytes?: number;
  /** Write `<dataDir>/credentials` on first start. Default true. */
  readonly writeCredentialsFile?: boolean;
}

export interface Api {
  /** Mount these on the HTTP server. */
  readonly routes: readonly Route[];
  readonly registry: ThingRegistry;
  readonly accessKeys: AccessKeyStore;
  readonly topicRules: TopicRuleStore;
  /** The signature check every route uses; for other signed routes (`/metrics` with `--metrics-auth`). */
  readonly authenticate: RequestAuthenticator;
  /** Where the credentials file is (undefined when writing it is turned off). */
  readonly credentials: CredentialsFileResult | undefined;
  /** The service's stop(). */
  stop(): Promise<void>;
}

export interface ApiService {
  /**
   * Opens the stores deps did not pass (each waits until it has caught up with its topic), makes
   * sure an access key exists and, on first start, writes it to `<dataDir>/credentials`, and
   * resolves with the routes. Safe to call twice.
   * @throws PlatformError CONFIG_INVALID when two operations serve the same method and path.
   */
  start(): Promise<Api>;
  /** Closes what start() opened (not the stores passed in deps). Safe to call twice and concurrently. */
  stop(): Promise<void>;
}

/** What the API service reads of its group of kiot's Config (`config.api`); the HTTP listener's settings are cli/'s. */
export type ApiServiceConfig = Pick<ApiConfig, 'dataDir' | 'region' | 'accountId'>;

/** Opens the registry with the config's region (ARNs) and account id. */
export function openThingRegistry(config: Pick<SharedConfig, 'region' | 'accountId'>, deps: { log: Log; logger: Logger; clock?: () => number; thingTypeDeleteDelayMs?: number }): Promise<ThingRegistry> {
  return ThingRegistry.open({
    log: deps.log,
    logger: deps.logger,
    region: config.region ?? DEFAULT_ARN_REGION,
    accountId: config.accountId,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.thingTypeDeleteDelayMs !== undefined ? { thingTypeDeleteDelayMs: deps.thingTypeDeleteDelayMs } : {}),
  });
}

export function createApiService(config: ApiServiceConfig, deps: ApiDeps): ApiService {
  const clock = deps.clock ?? Date.now;
  const opened: { close(): Promise<void> }[] = [];
  let starting: Promise<Api> | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await starting?.catch(() => undefined);
      for (const store of opened.splice(0).reverse()) await store.close();
    })());
  const open = async (): Promise<Api> => {
    const accessKeys = await AccessKeyStore.open(deps.log, { logger: deps.logger });
    opened.push(accessKeys);
    const registry = deps.registry ?? (await openThingRegistry(config, { ...deps, clock }));
    if (!deps.registry) opened.push(registry);
    const topicRules = deps.topicRules ?? (await TopicRuleStore.open({ log: deps.log, logger: deps.logger }));
    if (!deps.topicRules) opened.push(topicRules);
    const publisher = createPublisher({ log: deps.log, logger: deps.logger, ...(deps.retained ? { retained: deps.retained } : {}) });
    opened.push({ close: () => publisher.stop() });
    const credentials =
      deps.writeCredentialsFile === false
        ? undefined
        : await ensureCredentialsFile(accessKeys, config.dataDir, { logger: deps.logger, now: clock(), ...(deps.announce ? { announce: deps.announce } : {}) });
    const scope = arnScopeOf(config);
    const authenticate = createRequestAuthenticator({ accessKeys, region: config.region, scope, clock });
    const routes = createAwsRoutes({
      logger: deps.logger,
      operations: [
        ...thingOperations(registry),
        ...thingTypeOperations(registry),
        ...thingGroupOperations(registry),
        ...topicRuleOperations(topicRules, registry.arns, clock, deps.fileRules),
        ...publishOperations(publisher, scope),
        ...accessKeyOperations(accessKeys, clock),
        ...topicOperations(deps.log),
        ...(deps.operations ?? []),
      ],
      authenticate,
      ...(deps.maxBodyBytes !== undefined ? { maxBodyBytes: deps.maxBodyBytes } : {}),
    });
    return { routes, registry, accessKeys, topicRules, authenticate, credentials, stop };
  };
  return {
    start: () =>
      (starting ??= open().catch(async (err: unknown) => {
        for (const store of opened.splice(0).reverse()) await store.close();
        throw err;
      })),
    stop,
  };
}
