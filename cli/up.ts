import { createHttpServer } from '../api/server.js';
import {
  CORE_TOPICS,
  EmbeddedLog,
  KafkaLog,
  createLogger,
  createMetrics,
  type Config,
  type Log,
  type Logger,
} from '../core/index.js';

export interface RunningPlatform {
  readonly log: Log;
  /** Bound ports by listener name (`http`, later `mqtt`, `mqtts`, `ws`). */
  readonly listeners: ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

/**
 * The composition root of `kiot up`: builds the log and every service this process's roles
 * ask for, starts their listeners, and returns once all of them accept connections.
 * `announce` receives the `listening <name> <host>:<port>` lines and `ready`.
 */
export async function startPlatform(config: Config, announce: (line: string) => void, logger: Logger = createLogger(config.logLevel)): Promise<RunningPlatform> {
  const log: Log =
    config.kafkaBrokers.length > 0
      ? new KafkaLog({ brokers: [...config.kafkaBrokers], logger, clientId: 'kiot' })
      : await EmbeddedLog.open({ dataDir: config.dataDir, logger });
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
    for (const topic of CORE_TOPICS) await log.ensureTopic(topic);
    const listeners = new Map<string, number>();
    const startedAt = Date.now();
    const metrics = createMetrics(log);
    const http = createHttpServer({
      logger,
      metrics: () => metrics.render(),
      health: () => ({ status: 'ok', log: log.kind, roles: config.roles, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) }),
    });
    stops.push(() => http.close());
    listeners.set('http', await http.listen(config.host, config.httpPort));
    // The MQTT listeners (mqtt, mqtts, ws) arrive with the gateway (ingest issue); only
    // listeners that are really up are announced.
    for (const [name, port] of listeners) announce(`listening ${name} ${formatHost(config.host)}:${port}`);
    announce('ready');
    return { log, listeners, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

const formatHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);
