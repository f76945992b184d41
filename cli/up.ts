import { awsSettingsFromConfig, createDynamoDbReader } from '../actions/index.js';
import { createApi, openThingRegistry } from '../api/index.js';
import { certificateOperations } from '../api/routes/certificates.js';
import { policyOperations } from '../api/routes/policies.js';
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
} from '../core/index.js';
import { GATEWAY_TOPIC_SPECS, createBridge, createGateway, createPublishRoute, createRegistryAuthenticator, isLoopbackHost, type GatewayDeps } from '../ingest/index.js';
import { createSecurityService, thingsDirectory, type SecurityServices } from '../registry/index.js';
import { createRulesService } from '../rules/worker/index.js';

export interface RunningPlatform {
  readonly log: Log;
  /** Bound ports by listener name (`http`, `mqtt`, `mqtts`, `ws`). */
  readonly listeners: ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

/**
 * The composition root of `kiot up`: builds the log and every service this process's roles
 * ask for, starts their listeners, and returns once all of them accept connections.
 * `announce` receives the `listening <name> <host>:<port>` lines and `ready` (and, on first
 * start, `credentials <path>`).
 */
export async function startPlatform(config: Config, announce: (line: string) => void, logger: Logger = createLogger(config.logLevel)): Promise<RunningPlatform> {
  const has = (role: Role): boolean => config.roles.includes(role);
  const log: Log =
    config.kafkaBrokers.length > 0
      ? new KafkaLog({ brokers: [...config.kafkaBrokers], logger, clientId: 'kiot' })
      : await EmbeddedLog.open({ dataDir: config.dataDir, logger });
  // Stopped in reverse order of start: listeners first, the log last.
  const stops: (() => Promise<void>)[] = [() => log.close()];
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
    for (const topic of [...CORE_TOPICS, ...GATEWAY_TOPIC_SPECS]) await log.ensureTopic(topic);
    const metrics = createMetrics(log);
    const routes: Route[] = [];
    let security: SecurityServices | undefined;

    if (has('api') || has('registry')) {
      // The registry (things, certificates, policies) and the AWS-shaped API that serves it.
      const registry = await openThingRegistry(config, {
        log,
        logger,
        beforeDeleteThing: (thing) => security?.policies.assertThingHasNoPrincipals(thing.thingName),
      });
      stops.push(() => registry.close());
      const securityService = createSecurityService(config, { log, logger, things: thingsDirectory(registry) });
      security = await securityService.start();
      stops.push(() => securityService.stop());
      const api = await createApi(config, {
        log,
        logger,
        announce,
        registry,
        operations: [...certificateOperations(security.certificates), ...policyOperations(security.policies)],
      });
      stops.push(() => api.stop());
      routes.push(...api.routes, createPublishRoute({ log, logger }));
    }
    if (has('rules')) {
      const dynamoReader = createDynamoDbReader({ settings: awsSettingsFromConfig(config).dynamodb });
      stops.push(() => dynamoReader.close());
      const rules = createRulesService(config, { log, logger, sqlServices: { getDynamoDb: dynamoReader.getDynamoDb } });
      await rules.start();
      stops.push(() => rules.stop());
      routes.push(...rules.routes);
      metrics.include(rules.metricsRegistry);
    }
    if (has('bridge') && config.bridge) {
      const bridge = createBridge(config.bridge, { log, logger });
      await bridge.start();
      stops.push(() => bridge.stop());
    }

    const listeners = new Map<string, number>();
    const startedAt = Date.now();
    const http = createHttpServer({
      logger,
      metrics: () => metrics.render(),
      health: () => ({ status: 'ok', log: log.kind, roles: config.roles, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) }),
      routes,
    });
    stops.push(() => http.close());
    listeners.set('http', await http.listen(config.host, config.httpPort));

    if (has('gateway')) {
      const gateway = createGateway(config, { log, logger, ...(security ? await deviceAuthentication(config, security, metrics, logger) : {}) });
      stops.push(() => gateway.stop());
      for (const [name, port] of await gateway.start()) listeners.set(name, port);
    }
    for (const [name, port] of listeners) announce(`listening ${name} ${formatHost(config.host)}:${port}`);
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
 * the registry, so a client without a certificate is refused everywhere.
 */
async function deviceAuthentication(config: Config, security: SecurityServices, metrics: ReturnType<typeof createMetrics>, logger: Logger): Promise<Partial<GatewayDeps>> {
  const authenticator = createRegistryAuthenticator(security, { logger });
  metrics.include(authenticator.metricsRegistry);
  let tlsCredentials: GatewayDeps['tlsCredentials'];
  if (!config.tlsCert) {
    const wildcard = config.host === '0.0.0.0' || config.host === '::';
    const names = [...new Set(['localhost', '127.0.0.1', '::1', ...(wildcard ? [] : [config.host])])];
    const server = await security.certificates.issueServerCertificate(names);
    tlsCredentials = { cert: server.certificatePem, key: server.privateKeyPem, ca: server.caCertificatePem };
  }
  return {
    tlsAuthenticator: authenticator,
    ...(isLoopbackHost(config.host) ? {} : { authenticator }),
    ...(tlsCredentials ? { tlsCredentials } : {}),
  };
}

const formatHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);
