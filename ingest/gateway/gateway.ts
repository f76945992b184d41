/**
 * The MQTT device gateway service: listeners for MQTT over TCP, TLS and WebSocket (`/mqtt`)
 * around one shared context (sessions, router, ingest writer: `context.ts`). `cli/up.ts`
 * creates it with the log and starts it.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { PlatformError, listen, type GatewayConfig as GatewayGroup, type Log, type Logger, type MessageTaker, type Registry } from '../../core/index.js';
import { anonymousAuthenticator, type Authenticator } from '../auth.js';
import { systemGatewayClock, type GatewayClock } from '../clock.js';
import { Connection, type ConnectionOrigin } from './connection.js';
import type { RetainedStore } from '../retained-store.js';
import { openGatewayContext, type GatewayContext } from './context.js';
import { DEFAULT_LIMITS, type GatewayLimits } from './limits.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';

export type GatewayListener = 'mqtt' | 'mqtts' | 'ws';

/**
 * The gateway's group of kiot's Config (`config.gateway`, core/config.ts): the limits may be left
 * out (DEFAULT_LIMITS), and the HTTPS publish port and the anonymous policy are for `cli/` to wire.
 */
export type GatewayConfig = Pick<GatewayGroup, 'host' | 'mqttPort' | 'mqttsPort' | 'wsPort' | 'tlsCert' | 'tlsKey' | 'tlsCa'> &
  Partial<Pick<GatewayGroup, 'maxSubscriptionsPerConnection' | 'maxPublishesPerSecondPerConnection' | 'maxBytesPerSecondPerConnection' | 'maxConnectsPerSecondPerClientId' | 'maxKeepAliveSec'>>;

export interface GatewayDeps {
  readonly log: Log;
  readonly logger: Logger;
  /** Required to bind a non-loopback address; without one every client is `anonymous`. */
  readonly authenticator?: Authenticator;
  /**
   * The TLS listener's authenticator, when it differs from `authenticator` (kiot up: X.509
   * devices on mqtts, anonymous loopback clients on mqtt and ws). Defaults to `authenticator`.
   */
  readonly tlsAuthenticator?: Authenticator;
  /**
   * Server certificate, key and client CA (PEM text) for the TLS listener when `tlsCert` is not
   * configured (kiot up: a certificate issued by the kiot CA). `tlsCert` wins when both are set.
   */
  readonly tlsCredentials?: { readonly cert: string; readonly key: string; readonly ca?: string };
  /**
   * Identifies this process among gateways on one log; a random id by default. Also names the
   * gateway's delivery consumer group: a gateway that restarts with the same id goes on from
   * its last commit, so messages for offline sessions that a crash caught are delivered again.
   * Two live gateways must never share one.
   */
  readonly gatewayId?: string;
  /** Overrides `DEFAULT_LIMITS` and the limits in the config. */
  readonly limits?: Partial<GatewayLimits>;
  /**
   * Client ids that belong to authenticated devices even while no session holds them (kiot up:
   * thing names with attached principals). An anonymous client is refused them (CONNACK 0x87 /
   * 3.1.1 return code 5), so that it cannot publish as a device that is offline.
   */
  readonly isDeviceClientId?: (clientId: string) => boolean;
  /** Time and timers (session expiry, will delay, keep-alive); the system clock by default. Tests pass a manual one. */
  readonly clock?: GatewayClock;
  /** The process's `iot.retained` store (cli/ opens it once); when absent the gateway opens its own in start() and closes it in stop(). */
  readonly retained?: RetainedStore;
  /** Services of this process that answer some messages as they are written (the ingest writer's `takers`: the shadow service). */
  readonly takers?: readonly MessageTaker[];
}

export interface Gateway {
  /** Loads sessions and retained messages, joins the delivery consumer, then listens; resolves with the bound ports (port 0 picks a free one). */
  start(): Promise<Map<GatewayListener, number>>;
  /** Closes listeners and connections (sessions are kept on the log), then writes the sessions and leaves the consumer group. Safe twice. */
  stop(): Promise<void>;
  /** Connected clients right now. */
  readonly connectionCount: number;
  /** `kiot_gateway_limit_refusals_total{limit}` and `kiot_gateway_identity_refusals_total{reason}`; include it in `/metrics`. */
  readonly metricsRegistry: Registry;
  /** The same counts, for tests. */
  readonly metrics: GatewayMetrics;
}

/** WebSocket path AWS IoT and mqtt.js use. */
export const WS_PATH = '/mqtt';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Whether `host` is a loopback address, the only kind the gateway binds without an authenticator. */
export const isLoopbackHost = (host: string): boolean => LOOPBACK.test(host);

/**
 * Builds the gateway.
 *
 * @throws PlatformError CONFIG_INVALID when `host` is not a loopback address and no
 *   authenticator is given: anonymous MQTT must not be reachable from the network.
 */
export function createGateway(config: GatewayConfig, deps: GatewayDeps): Gateway {
  if (!LOOPBACK.test(config.host) && !deps.authenticator) {
    throw new PlatformError(
      'CONFIG_INVALID',
      `host ${config.host}: the MQTT gateway allows anonymous clients until device authentication is configured, so it binds only a loopback address (127.0.0.1 or ::1)`,
      { details: { field: 'host' } },
    );
  }
  const logger = deps.logger.child({ module: 'ingest.gateway' });
  const authenticator = deps.authenticator ?? anonymousAuthenticator;
  const tlsAuthenticator = deps.tlsAuthenticator ?? authenticator;
  const unwatch: (() => void)[] = [];
  const metrics = createGatewayMetrics();
  const fromConfig: Partial<GatewayLimits> = {
    ...(config.maxSubscriptionsPerConnection !== undefined ? { maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection } : {}),
    ...(config.maxPublishesPerSecondPerConnection !== undefined ? { maxPublishesPerSecond: config.maxPublishesPerSecondPerConnection } : {}),
    ...(config.maxBytesPerSecondPerConnection !== undefined ? { maxInboundBytesPerSecond: config.maxBytesPerSecondPerConnection } : {}),
    ...(config.maxConnectsPerSecondPerClientId !== undefined ? { maxConnectsPerSecond: config.maxConnectsPerSecondPerClientId } : {}),
    ...(config.maxKeepAliveSec !== undefined ? { maxKeepAliveSec: config.maxKeepAliveSec } : {}),
  };
  const limits: GatewayLimits = { ...DEFAULT_LIMITS, ...fromConfig, ...deps.limits };
  const gatewayId = deps.gatewayId ?? randomUUID();
  let context: GatewayContext | undefined;
  const connections = new Set<Connection>();
  const servers: (TcpServer | HttpServer)[] = [];
  let wss: WebSocketServer | undefined;
  let stopping: Promise<void> | undefined;
  let accepting = true;
  /** One function for every connection rather than a closure each (an idle connection's memory, issue 12). */
  const forget = (c: Connection) => connections.delete(c);

  const accept = (stream: import('node:stream').Duplex, origin: ConnectionOrigin) => {
    if (!accepting || !context) {
      stream.destroy();
      return;
    }
    const auth = origin.transport === 'mqtts' ? tlsAuthenticator : authenticator;
    const connection = new Connection(context, auth, stream, origin, forget);
    connections.add(connection);
  };
  const addressOf = (socket: Socket) => `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;


  return {
    get connectionCount() {
      return connections.size;
    },
    metricsRegistry: metrics.registry,
    metrics,
    async start() {
      context = await openGatewayContext({
        log: deps.log,
        logger: deps.logger,
        gatewayId,
        limits,
        metrics,
        clock: deps.clock ?? systemGatewayClock,
        isDeviceClientId: deps.isDeviceClientId,
        ...(deps.retained ? { retained: deps.retained } : {}),
        ...(deps.takers ? { takers: deps.takers } : {}),
      });
      const ports = new Map<GatewayListener, number>();
      for (const auth of new Set([authenticator, tlsAuthenticator])) {
        const stopWatching = auth.watch?.((shouldDisconnect) => {
          for (const c of [...connections]) {
            const client = c.authenticator === auth ? c.client : undefined;
            if (!client) continue;
            let revoke: boolean | 'expired';
            try {
              revoke = shouldDisconnect(client);
            } catch (err) {
              logger.warn({ err, clientId: client.clientId }, 'authenticator failed while re-checking a connection; disconnecting it');
              revoke = true;
            }
            if (revoke === 'expired') {
              logger.info({ clientId: client.clientId, principal: client.principal }, 'disconnecting a client whose maximum connect time passed');
              c.revoke(true);
            } else if (revoke) {
              logger.info({ clientId: client.clientId, principal: client.principal }, 'disconnecting a client whose rights were withdrawn');
              c.revoke();
            }
          }
        });
        if (stopWatching) unwatch.push(stopWatching);
      }

      const tcp = createTcpServer((socket) => {
        socket.setNoDelay(true);
        accept(socket, { transport: 'mqtt', remoteAddress: addressOf(socket) });
      });
      servers.push(tcp);
      ports.set('mqtt', await listen(tcp, 'mqtt', config.host, config.mqttPort));

      const tlsFiles = config.tlsCert !== undefined && config.tlsCert !== '';
      if (tlsFiles || deps.tlsCredentials) {
        const readPem = (path: string | undefined, what: string) => {
          if (!path) return undefined;
          try {
            return readFileSync(path);
          } catch (err) {
            throw new PlatformError('CONFIG_INVALID', `${what} ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
          }
        };
        const ca = tlsFiles ? readPem(config.tlsCa, 'tlsCa') : deps.tlsCredentials?.ca;
        const tls = createTlsServer(
          {
            cert: tlsFiles ? readPem(config.tlsCert, 'tlsCert') : deps.tlsCredentials!.cert,
            key: tlsFiles ? readPem(config.tlsKey, 'tlsKey') : deps.tlsCredentials!.key,
            ca,
            // Mutual TLS: ask for a client certificate when a CA is configured or the
            // authenticator wants one, but let the authenticator decide who gets in (the
            // registry knows certificates by fingerprint, signed by any CA or none).
            requestCert: ca !== undefined || tlsAuthenticator.requestClientCertificate === true,
            rejectUnauthorized: false,
          },
          (socket: TLSSocket) => {
            socket.setNoDelay(true);
            const peer = socket.getPeerCertificate();
            const clientCertificate = peer && peer.raw ? { raw: peer.raw, fingerprint256: peer.fingerprint256, authorized: socket.authorized } : undefined;
            const serverName = typeof socket.servername === 'string' ? socket.servername : undefined;
            accept(socket, { transport: 'mqtts', remoteAddress: addressOf(socket), clientCertificate, ...(serverName ? { serverName } : {}) });
          },
        );
        tls.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));
        servers.push(tls);
        ports.set('mqtts', await listen(tls, 'mqtts', config.host, config.mqttsPort));
      }

      const http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end(`MQTT over WebSocket is served on ${WS_PATH}\n`);
      });
      wss = new WebSocketServer({
        server: http,
        path: WS_PATH,
        maxPayload: limits.maxPacketSizeBytes + 8,
        // MQTT over WebSocket names its subprotocol `mqtt` (MQTT 5 §6); 3.1 clients say `mqttv3.1`.
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      });
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => undefined); // reported as a close by the connection
        const url = req.url ?? '';
        const query = url.indexOf('?');
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        accept(stream, { transport: 'ws', remoteAddress: addressOf(req.socket), http: { headers, queryString: query < 0 ? '' : url.slice(query) } });
      });
      servers.push(http);
      ports.set('ws', await listen(http, 'ws', config.host, config.wsPort));
      return ports;
    },
    stop() {
      return (stopping ??= (async () => {
        accepting = false;
        for (const u of unwatch.splice(0)) u();
        const closed = servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())));
        for (const c of [...connections]) c.shutdown();
        for (const client of wss?.clients ?? []) client.terminate();
        wss?.close();
        for (const s of servers) if ('closeAllConnections' in s) s.closeAllConnections();
        await context?.stop();
        await Promise.all(closed);
      })());
    },
  };
}
