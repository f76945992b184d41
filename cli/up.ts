import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { awsSettingsFromConfig, createS3Api, invokeLambda, type AwsClientSettings } from '../actions/index.js';
import { authorizerOperations } from '../api/routes/authorizers.js';
import { AccessKeyStore, TopicRuleStore, createApiService, createAwsRoutes, createRequestAuthenticator, openThingRegistry, type AwsOperation, type RequestAuthenticator } from '../api/index.js';
import { certificateOperations } from '../api/routes/certificates.js';
import { endpointOperations } from '../api/routes/endpoint.js';
import { policyOperations } from '../api/routes/policies.js';
import { retainedMessageOperations } from '../api/routes/retained.js';
import { jobOperations, thingGroupMembership } from '../api/routes/jobs.js';
import { eventConfigurationOperations } from '../api/routes/event-configurations.js';
import { provisioningOperations } from '../api/routes/provisioning.js';
import { shadowOperations } from '../api/routes/shadow.js';
import { notImplementedOperations } from '../api/routes/unimplemented.js';
import { createHttpServer, type Route } from '../api/server.js';
import {
  CORE_TOPICS,
  EmbeddedLog,
  KafkaLog,
  createLogger,
  createMetrics,
  type Config,
  type Log,
  type Logger,
  type Role,
  PlatformError,
} from '../core/index.js';
import {
  RetainedStore,
  anonymousAuthenticator,
  createAnonymousPolicyAuthenticator,
  readAnonymousPolicy,
  createBridge,
  createGateway,
  createHttpsPublishListener,
  createPublisher,
  createRegistryAuthenticator,
  httpCustomAuthenticate,
  isLoopbackHost,
  withCustomAuthentication,
  type Authenticator,
  type GatewayDeps,
} from '../ingest/index.js';
import { AUTHORIZER_TIMEOUT_MS, AuthorizerService, CustomAuthorizers, arnScopeOf, createSecurityService, thingsDirectory, type InvokeAuthorizerFunction, type SecurityServices } from '../registry/index.js';
import { mergeListings, type FileTopicRule } from '../rules/worker/index.js';
import { createShadowService, type Shadows } from '../shadow/index.js';
import { startRulesRole } from './rules-role.js';
import { boundYoungGeneration, holdYoungGeneration, releaseYoungGeneration } from './young-generation.js';
import { THREAD_ROLES, startServiceThreads } from './threads.js';
import { createJobsService, type Jobs } from '../jobs/index.js';
import { createJustInTimeRegistration, createOwnershipTokens, createProvisioningService, loadOwnershipSecret, type AutoRegistration, type ObjectStore } from '../provisioning/index.js';

export interface RunningPlatform {
  readonly log: Log;
  /** Bound ports by listener name (`http`, `mqtt`, `mqtts`, `ws`, `https`). */
  readonly listeners: ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

/**
 * The composition root of `kiot up`: builds the log and every service this process's roles
 * ask for, starts their listeners, and returns once all of them accept connections.
 * `announce` receives the `listening <name> <host>:<port>` lines and `ready` (and, when they are
 * first written, `credentials <path>` and `ca <path>`). `warn` receives one line per listener
 * that stays plaintext on a non-loopback address (default: stderr); each also goes to the log.
 */
export async function startPlatform(
  config: Config,
  announce: (line: string) => void,
  logger: Logger = createLogger(config.logLevel),
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<RunningPlatform> {
  const has = (role: Role): boolean => config.roles.includes(role);
  // Startup's objects live on: the young generation stays small until ready (young-generation.ts).
  holdYoungGeneration();
  const log: Log =
    config.kafkaBrokers.length > 0
      ? new KafkaLog({ brokers: [...config.kafkaBrokers], logger, clientId: 'kiot' })
      : await EmbeddedLog.open({ dataDir: config.dataDir, logger });
  // Stopped in reverse order of start: listeners first, the log last.
  const stops: (() => Promise<void>)[] = [async () => releaseYoungGeneration(), () => log.close()];
  const stop = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s();
      } catch (err) {
        logger.error({ err }, 'error while stopping');
      }
    }
  };
  try {
    for (const topic of CORE_TOPICS) await log.ensureTopic(topic);
    const metrics = createMetrics(log);
    const routes: Route[] = [];
    // Signed operations of roles other than the API's, served by the same router and check.
    const operations: AwsOperation[] = [];
    let fileRules: () => readonly FileTopicRule[] = () => [];
    let security: SecurityServices | undefined;
    // Known once the gateway listens (after the API starts); DescribeEndpoint reads it per request.
    let mqttsPort: number | undefined;
    const startupWarnings: string[] = [];
    let authenticate: RequestAuthenticator | undefined;
    let serverCertificate: Promise<IssuedServerCertificate> | undefined;
    const kiotServerCertificate = (sec: SecurityServices) => (serverCertificate ??= sec.certificates.issueServerCertificate(serverNames(config.host)));

    // Services start together where one does not need another: on Kafka the first join of each
    // consumer group waits the broker's group.initial.rebalance.delay.ms (3 s by default), and
    // fourteen joins one after another made a start take ~45 s. Each pushes its stop once it has
    // started, after what it depends on, so the reverse order still stops dependents first.
    const closing = async <T extends { close(): Promise<void> }>(opening: Promise<T>): Promise<T> => {
      const opened = await opening;
      stops.push(() => opened.close());
      return opened;
    };

    // A table that more than one service of this process uses is opened here, once, and passed
    // in deps (as a read-only view to a service that only reads it); a service opens in start(),
    // and closes in stop(), only what it alone uses. See core/state/README.md, step 4.
    const servesApi = has('api') || has('registry');
    const startShadow = async (): Promise<Shadows> => {
      // Beside the gateway, also with --threads: its devices' requests are answered as they are written.
      const shadowService = createShadowService({ log, logger });
      const shadows = await shadowService.start();
      stops.push(() => shadowService.stop());
      return shadows;
    };
    // The registry (things, certificates, policies) and the security services over it: one
    // registry store for things and security records, so every registry command is serialised.
    const startRegistry = async () => {
      const registry = await closing(openThingRegistry(config, { log, logger }));
      const securityService = createSecurityService(config, { log, logger, things: thingsDirectory(registry), registryStore: registry.store });
      stops.push(() => securityService.stop());
      const security = await securityService.start();
      // Provisioning writes through the registry's commands, so it runs where the registry does.
      const provisioningService = createProvisioningService(arnScopeOf(config), {
        log,
        logger,
        registry: registry.store,
        certificates: security.certificates,
        policies: security.policies,
        objects: s3ObjectStore(awsSettingsFromConfig(config.rules).s3, stops),
        // Fleet provisioning by claim: tokens signed with the data dir's secret; hooks through the same Lambda client as custom authorizers.
        fleet: { tokens: createOwnershipTokens({ secret: await loadOwnershipSecret(config.dataDir) }), invokeHook: lambdaInvoker(config, 'pre-provisioning hook') },
      });
      const provisioning = await provisioningService.start();
      stops.push(() => provisioningService.stop());
      // Custom authorizers live on the same registry store; their functions are invoked through the Lambda Invoke client.
      const authorizers = new AuthorizerService(registry.store, arnScopeOf(config));
      const customAuth = new CustomAuthorizers(authorizers, { invoke: lambdaInvoker(config, 'authorizer'), scope: arnScopeOf(config), logger });
      metrics.include(customAuth.metricsRegistry);
      // JITR / JITP: the gateway's listeners ask it about client certificates the registry does not know.
      const justInTime = createJustInTimeRegistration({
        targets: { registry: registry.store, certificates: security.certificates, policies: security.policies },
        templates: provisioning,
        logger,
      });
      return { registry, security, provisioning, authorizers, customAuth, justInTime };
    };
    const startJobs = async (): Promise<Jobs> => {
      // Presigned URLs in job documents and CreateJob's documentSource go to the s3 action's endpoint (--s3-endpoint).
      const s3 = createS3Api(awsSettingsFromConfig(config.rules).s3);
      stops.push(async () => s3.destroy());
      const readObject = async ({ bucket, key }: { bucket: string; key: string }) => {
        const { body } = await s3.getObjectStream({ bucket, key, start: 0 }, AbortSignal.timeout(30_000));
        const chunks: Uint8Array[] = [];
        for await (const chunk of body) chunks.push(chunk);
        return Buffer.concat(chunks);
      };
      const jobsService = createJobsService({ arns: arnScopeOf(config) }, { log, logger, presignGet: (input) => s3.presignGetObject(input), readObject });
      const jobs = await jobsService.start();
      stops.push(() => jobsService.stop());
      return jobs;
    };
    const [retained, topicRules, shadows, registered, jobs] = await settleAll([
      servesApi || has('gateway') ? closing(RetainedStore.open({ log, logger })) : undefined,
      servesApi ? closing(TopicRuleStore.open({ log, logger })) : undefined,
      has('shadow') ? startShadow() : undefined,
      servesApi ? startRegistry() : undefined,
      has('jobs') ? startJobs() : undefined,
      has('bridge') && config.bridge ? startService(createBridge(config.bridge, { log, logger }), stops) : undefined,
    ] as const);
    security = registered?.security;
    // CONTINUOUS jobs follow thing-group membership from this process's registry view.
    if (jobs && registered) {
      const unfollow = jobs.followMembership(thingGroupMembership(registered.registry));
      stops.push(async () => unfollow());
    }
    const customAuth = registered?.customAuth;
    const justInTime = registered?.justInTime;
    if (shadows) operations.push(...shadowOperations(shadows, arnScopeOf(config)));

    // With --threads N the roles of THREAD_ROLES run on N - 1 worker threads (cli/threads.ts).
    const threads = config.threads > 1 && THREAD_ROLES.some(has) ? await startServiceThreads(config, log, logger) : undefined;
    if (threads) {
      stops.push(() => threads.stop());
      metrics.includeRemote(() => threads.metrics());
    }

    if (has('rules')) {
      // get_thing_shadow reads this process's view of the shadow table (the shadow service's
      // when it runs here): no request to the shadow service. With threads, they run the rules;
      // this thread loads them to list and serve them.
      const rulesRole = await startRulesRole(config, { log, logger, consume: !threads, ...(shadows ? { shadows } : {}), ...(topicRules ? { rulesTable: topicRules.view } : {}) });
      stops.push(() => rulesRole.stop());
      const rules = rulesRole.service;
      fileRules = () => rules.fileRules();
      // A rules dir that cannot be read, or rule files that do not compile, are said at start, not only in the log.
      for (const problem of rules.list().problems) startupWarnings.push(`warning: ${problem}`);
      metrics.include(rules.metricsRegistry);
      // The listing counts what every thread's worker did.
      if (threads) operations.push(...rules.operations.map((op) => ({ ...op, handle: async () => mergeListings(await op.handle(), await threads.listings()) })));
      else operations.push(...rules.operations);
    }

    // The AWS-shaped API and the HTTP server, and beside them the gateway: neither waits for the other.
    const startHttp = async (): Promise<{ port: number; tls: boolean }> => {
      if (registered) {
        const { registry } = registered;
        const sec = registered.security;
        const apiService = createApiService(config.api, {
          log,
          logger,
          announce,
          registry,
          topicRules,
          retained,
          fileRules: () => fileRules(),
          operations: [
            ...certificateOperations(sec.certificates),
            ...policyOperations(sec.policies),
            ...authorizerOperations(registered.authorizers, registered.customAuth),
            ...retainedMessageOperations(retained!),
            ...endpointOperations(() => mqttsPort),
            ...notImplementedOperations(),
            // The control plane resolves CreateJob's targets from this process's registry.
            ...(jobs ? [...jobOperations(jobs, registry, arnScopeOf(config)), ...eventConfigurationOperations(jobs)] : []),
            ...provisioningOperations(registered.provisioning),
            ...operations,
          ],
        });
        stops.push(() => apiService.stop());
        const api = await apiService.start();
        routes.push(...api.routes);
        authenticate = api.authenticate;
        await writeCaFile(config.dataDir, sec.certificates.kiotCaCertificate().certificatePem, announce);
      } else if (operations.length > 0 || config.api.metricsAuth) {
        // No API in this process, but what it serves is still signed: same keys, same check.
        const accessKeys = await closing(AccessKeyStore.openView(log, { logger }));
        authenticate = createRequestAuthenticator({ accessKeys, region: config.region, scope: arnScopeOf(config) });
        routes.push(...createAwsRoutes({ operations, logger, authenticate }));
      }
      const httpTls = await httpTlsCredentials(config, security && (() => kiotServerCertificate(security!)));
      const http = createHttpServer({
        logger,
        metrics: () => metrics.render(),
        health: () => ({ status: 'ok', log: log.kind, roles: config.roles, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) }),
        routes,
        ...(config.api.metricsAuth && authenticate ? { authenticateMetrics: authenticate } : {}),
        ...(httpTls ? { tls: httpTls } : {}),
      });
      stops.push(() => http.close());
      return { port: await http.listen(config.host, config.api.httpPort), tls: httpTls !== undefined };
    };
    const startDevices = async (): Promise<Map<string, number>> => {
      const ports = new Map<string, number>();
      if (!has('gateway')) return ports;
      const loopbackAuthenticator = config.gateway.anonymousPolicy ? createAnonymousPolicyAuthenticator(readAnonymousPolicy(config.gateway.anonymousPolicy), arnScopeOf(config)) : undefined;
      const gateway = createGateway(config.gateway, {
        log,
        logger,
        retained,
        // On the embedded log one process owns the data dir, so its gateway id can stay the same
        // across restarts: its delivery consumer then resumes from its last commit instead of the
        // latest offset (nothing a crash caught on the way to an offline session is lost).
        // Gateways on Kafka keep random ids: two live gateways must never share one.
        ...(config.kafkaBrokers.length === 0 ? { gatewayId: EMBEDDED_GATEWAY_ID } : {}),
        // Shadow requests on the shadows this process owns are answered as they are written (one append).
        ...(shadows ? { takers: [shadows] } : {}),
        // Anonymous loopback clients held to a policy (beyond loopback the registry's authenticator below wins).
        ...(loopbackAuthenticator ? { authenticator: loopbackAuthenticator } : {}),
        ...(security && customAuth ? await deviceAuthentication(config, { security, customAuth, loopbackAuthenticator, justInTime }, metrics, logger, () => kiotServerCertificate(security!)) : {}),
      });
      metrics.include(gateway.metricsRegistry);
      stops.push(() => gateway.stop());
      for (const [name, port] of await gateway.start()) ports.set(name, port);
      mqttsPort = ports.get('mqtts');
      if (security) {
        // AWS IoT's HTTPS publish for devices: the mqtts listener's server certificate, the registry's policies.
        const devices = security.devices;
        const publisher = createPublisher({ log, logger, retained });
        stops.push(() => publisher.stop());
        const https = createHttpsPublishListener({
          publisher,
          logger,
          authenticate: async (certificate, remoteAddress) => {
            const first = devices.httpSession(certificate, remoteAddress);
            // A certificate the registry does not know: just-in-time registration decides first.
            const raw = typeof certificate === 'object' && 'raw' in certificate ? certificate.raw : undefined;
            if (first.ok || first.reason !== 'bad-credentials' || !raw || !justInTime) return first;
            await justInTime({ raw });
            return devices.httpSession(certificate, remoteAddress);
          },
          ...(customAuth ? { customAuthenticate: (request, useDefault) => httpCustomAuthenticate(customAuth, request, useDefault) } : {}),
          tls: config.gateway.tlsCert
            ? { cert: readPem(config.gateway.tlsCert, 'tlsCert'), key: readPem(config.gateway.tlsKey, 'tlsKey'), ca: config.gateway.tlsCa ? readPem(config.gateway.tlsCa, 'tlsCa') : undefined }
            : await kiotTls(kiotServerCertificate(security)),
        });
        stops.push(() => https.close());
        ports.set('https', await https.listen(config.host, config.gateway.httpsPort));
      }
      return ports;
    };
    const startedAt = Date.now();
    const [http, devicePorts] = await settleAll([startHttp(), startDevices()] as const);
    const listeners = new Map<string, number>([['http', http.port], ...devicePorts]);
    const httpTls = http.tls;
    for (const [name, port] of listeners) announce(`listening ${name} ${formatHost(config.host)}:${port}`);
    for (const line of [...startupWarnings, ...plaintextWarnings(config.host, listeners, httpTls)]) {
      logger.warn({ host: config.host }, line);
      warn(line);
    }
    // Ready: the young generation may grow again, to a bound (young-generation.ts).
    boundYoungGeneration();
    announce('ready');
    return { log, listeners, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * X.509 device authentication when the registry runs in this process (AWS IoT's device gateway):
 * the TLS listener asks for client certificates and holds devices to their policies. Without
 * `--tls-cert` the mqtts listener gets a server certificate issued by the kiot CA at each start
 * (for localhost, 127.0.0.1, ::1 and the bind host), so that devices made by `kiot device create`
 * connect with the CA file it wrote. On a loopback host the plain MQTT and WebSocket listeners
 * stay anonymous (like Mosquitto 2's local-only default); on any other host every listener uses
 * the registry, so a client without a certificate is refused everywhere. On every listener a
 * client that names a custom authorizer (or, lacking other credentials, meets a default one) is
 * decided by it.
 */
async function deviceAuthentication(
  config: Config,
  { security, customAuth, loopbackAuthenticator, justInTime }: { security: SecurityServices; customAuth: CustomAuthorizers; loopbackAuthenticator: Authenticator | undefined; justInTime: AutoRegistration | undefined },
  metrics: ReturnType<typeof createMetrics>,
  logger: Logger,
  serverCertificate: () => Promise<IssuedServerCertificate>,
): Promise<Partial<GatewayDeps>> {
  const authenticator = createRegistryAuthenticator(security, { logger, ...(justInTime ? { autoRegister: justInTime } : {}) });
  metrics.include(authenticator.metricsRegistry);
  let tlsCredentials: GatewayDeps['tlsCredentials'];
  if (!config.gateway.tlsCert) {
    const server = await serverCertificate();
    tlsCredentials = { cert: server.certificatePem, key: server.privateKeyPem, ca: server.caCertificatePem };
  }
  const custom = (base: Authenticator) => withCustomAuthentication(base, customAuth, { logger });
  return {
    tlsAuthenticator: custom(authenticator),
    // Anonymous loopback clients may not use the client id of a thing that has a certificate
    // attached, even while the device is offline (they could publish as it otherwise).
    isDeviceClientId: (clientId) => security.policies.principalsOfThing(clientId).length > 0,
    authenticator: custom(isLoopbackHost(config.host) ? (loopbackAuthenticator ?? anonymousAuthenticator) : authenticator),
    ...(tlsCredentials ? { tlsCredentials } : {}),
  };
}

/**
 * Custom authorizer functions and pre-provisioning hooks go to the Lambda Invoke endpoint the
 * rules use (`--lambda-endpoint`), each with AWS's 5 s limit; without one every custom-auth
 * attempt, and every device of a template with a hook, is refused (logged).
 */
function lambdaInvoker(config: Config, purpose: string): InvokeAuthorizerFunction {
  const endpoint = config.rules.lambdaEndpoint;
  if (!endpoint) {
    return async (functionArn) => {
      throw new PlatformError('CONFIG_INVALID', `no Lambda Invoke endpoint is configured (--lambda-endpoint, KIOT_LAMBDA_ENDPOINT) to call ${purpose} function ${functionArn}`);
    };
  }
  const target = { endpoint, signingRegion: config.rules.lambdaSigningRegion };
  return (functionArn, payload, signal) => invokeLambda(target, functionArn, payload, 'RequestResponse', signal, AUTHORIZER_TIMEOUT_MS);
}

/** The gateway id of `kiot up` on the embedded log (see `GatewayDeps.gatewayId`). */
const EMBEDDED_GATEWAY_ID = 'embedded';

const formatHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);

type IssuedServerCertificate = Awaited<ReturnType<SecurityServices['certificates']['issueServerCertificate']>>;

/** Names a kiot-CA server certificate covers: loopback, and the bind host unless it is a wildcard. */
function serverNames(host: string): string[] {
  const wildcard = host === '0.0.0.0' || host === '::';
  return [...new Set(['localhost', '127.0.0.1', '::1', ...(wildcard ? [] : [host])])];
}

async function kiotTls(issued: Promise<IssuedServerCertificate>): Promise<{ cert: string; key: string; ca: string }> {
  const server = await issued;
  return { cert: server.certificatePem, key: server.privateKeyPem, ca: server.caCertificatePem };
}

/**
 * The HTTP API's TLS, or undefined for plain HTTP. `auto` turns TLS on beyond loopback, where
 * CreateKeysAndCertificate would otherwise send private keys in cleartext. The certificate is
 * the user's (--http-tls-cert) or one the kiot CA issues, as for mqtts.
 * @throws PlatformError CONFIG_INVALID when TLS is on, no certificate is given and the registry
 *   (which holds the kiot CA) does not run in this process.
 */
async function httpTlsCredentials(config: Config, issue: (() => Promise<IssuedServerCertificate>) | undefined): Promise<{ cert: string | Buffer; key: string | Buffer } | undefined> {
  const on = config.api.httpTls === 'on' || (config.api.httpTls === 'auto' && !isLoopbackHost(config.host));
  if (!on) return undefined;
  if (config.api.httpTlsCert) return { cert: readPem(config.api.httpTlsCert, 'httpTlsCert'), key: readPem(config.api.httpTlsKey, 'httpTlsKey') };
  if (!issue) {
    throw new PlatformError(
      'CONFIG_INVALID',
      `httpTls: the HTTP listener on ${config.host} needs TLS (--http-tls ${config.api.httpTls}): pass --http-tls-cert and --http-tls-key, run the api or registry role in this process (the kiot CA issues one), or set --http-tls off`,
      { details: { field: 'httpTls' } },
    );
  }
  const server = await issue();
  return { cert: server.certificatePem, key: server.privateKeyPem };
}

function readPem(path: string | undefined, field: string): Buffer {
  try {
    return readFileSync(path ?? '');
  } catch (err) {
    throw new PlatformError('CONFIG_INVALID', `${field} ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err, details: { field } });
  }
}

/** Where `kiot up` writes the kiot CA certificate, for AWS_CA_BUNDLE and device configs. */
export const CA_FILE_NAME = 'ca.pem';

/** Writes `<dataDir>/ca.pem` when it is missing or differs, and announces `ca <path>` when it does. */
async function writeCaFile(dataDir: string, pem: string, announce: (line: string) => void): Promise<void> {
  const path = join(dataDir, CA_FILE_NAME);
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing === pem) return;
  await mkdir(dataDir, { recursive: true });
  await writeFile(path, pem);
  announce(`ca ${path}`);
}

/**
 * One line per listener that stays plaintext on a non-loopback address (DESIGN.md: "beyond
 * loopback every listener is TLS or warns"): mqtt, ws, and http when its TLS is off.
 */
export function plaintextWarnings(host: string, listeners: ReadonlyMap<string, number>, httpTls: boolean): string[] {
  if (isLoopbackHost(host)) return [];
  const hints: Readonly<Record<string, string>> = {
    http: 'API requests and answers (private keys from CreateKeysAndCertificate) can be read on the network; use --http-tls on',
    mqtt: 'MQTT traffic can be read on the network; devices should use mqtts',
    ws: 'MQTT over WebSocket traffic can be read on the network; devices should use mqtts',
  };
  const out: string[] = [];
  for (const [name, port] of listeners) {
    const hint = hints[name];
    if (hint === undefined || (name === 'http' && httpTls)) continue;
    out.push(`warning: the ${name} listener ${formatHost(host)}:${port} is plaintext on a non-loopback address: ${hint}`);
  }
  return out;
}

/**
 * Waits for every promise to settle, then gives their values in order, or throws the first
 * failure: a start that fails while others are still under way must not leave them running
 * past the `stop()` that follows.
 */
/**
 * Bulk registration tasks' inputs and reports on S3 (`--s3-endpoint`, `--aws-region`, or the AWS
 * SDK's own settings), through the s3 action's client (the one place that imports the S3 SDK).
 */
function s3ObjectStore(settings: AwsClientSettings, stops: (() => Promise<void>)[]): ObjectStore {
  const s3 = createS3Api(settings);
  stops.push(async () => s3.destroy());
  const endpoint = settings.endpoint?.replace(/\/+$/, '');
  return {
    read: (bucket, key, start) => s3.getObjectStream({ bucket, key, start }),
    write: (bucket, key, body, contentType) => s3.putObject({ bucket, key, body: Buffer.from(body), contentType }, AbortSignal.timeout(60_000)),
    link: (bucket, key) => (endpoint ? `${endpoint}/${bucket}/${key}` : `https://${bucket}.s3.amazonaws.com/${key}`),
  };
}

async function settleAll<T extends readonly unknown[]>(promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/** Starts a service that has no result and pushes its stop. */
async function startService(service: { start(): Promise<unknown>; stop(): Promise<void> }, stops: (() => Promise<void>)[]): Promise<void> {
  await service.start();
  stops.push(() => service.stop());
}
