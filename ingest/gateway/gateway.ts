/**
 * The MQTT device gateway service: listeners for MQTT over TCP, TLS and WebSocket (`/mqtt`)
 * around one broker. `cli/up.ts` creates it with the log and starts it.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { PlatformError, type Config, type Envelope, type Log, type Logger } from '../../core/index.js';
import { anonymousAuthenticator, type Authenticator } from '../auth.js';
import { Broker, DEFAULT_LIMITS, type GatewayLimits } from './broker.js';
import { Connection, type ConnectionOrigin } from './connection.js';

export type GatewayListener = 'mqtt' | 'mqtts' | 'ws';

export type GatewayConfig = Pick<Config, 'host' | 'mqttPort' | 'mqttsPort' | 'wsPort' | 'tlsCert' | 'tlsKey' | 'tlsCa'>;

export interface GatewayDeps {
  readonly log: Log;
  readonly logger: Logger;
  /** Required to bind a non-loopback address; without one every client is `anonymous`. */
  readonly authenticator?: Authenticator;
  /** Identifies this process among gateways on one log; a random id by default. */
  readonly gatewayId?: string;
  readonly limits?: Partial<GatewayLimits>;
  /** Replaces the append to `iot.ingress` (benchmark baseline only). */
  readonly appendIngress?: (envelope: Envelope) => Promise<void>;
}

export interface Gateway {
  /** Starts the broker and the listeners; resolves with the bound ports (port 0 picks a free one). */
  start(): Promise<Map<GatewayListener, number>>;
  /** Closes listeners and connections (sessions are kept on the log), then the broker. Safe twice. */
  stop(): Promise<void>;
  /** Connected clients right now. */
  readonly connectionCount: number;
}

/** WebSocket path AWS IoT and mqtt.js use. */
export const WS_PATH = '/mqtt';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

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
  const broker = new Broker({
    log: deps.log,
    logger: deps.logger,
    gatewayId: deps.gatewayId ?? randomUUID(),
    limits: { ...DEFAULT_LIMITS, ...deps.limits },
    appendIngress: deps.appendIngress,
  });
  const connections = new Set<Connection>();
  const servers: (TcpServer | HttpServer)[] = [];
  let wss: WebSocketServer | undefined;
  let stopping: Promise<void> | undefined;
  let accepting = true;

  const accept = (stream: import('node:stream').Duplex, origin: ConnectionOrigin) => {
    if (!accepting) {
      stream.destroy();
      return;
    }
    const connection = new Connection(broker, authenticator, stream, origin, (c) => connections.delete(c));
    connections.add(connection);
  };
  const addressOf = (socket: Socket) => `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;

  const listen = (server: TcpServer | HttpServer, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, config.host, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });

  return {
    get connectionCount() {
      return connections.size;
    },
    async start() {
      await broker.start();
      const ports = new Map<GatewayListener, number>();

      const tcp = createTcpServer((socket) => {
        socket.setNoDelay(true);
        accept(socket, { transport: 'mqtt', remoteAddress: addressOf(socket) });
      });
      servers.push(tcp);
      ports.set('mqtt', await listen(tcp, config.mqttPort));

      if (config.tlsCert) {
        const readPem = (path: string | undefined, what: string) => {
          if (!path) return undefined;
          try {
            return readFileSync(path);
          } catch (err) {
            throw new PlatformError('CONFIG_INVALID', `${what} ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
          }
        };
        const ca = readPem(config.tlsCa, 'tlsCa');
        const tls = createTlsServer(
          {
            cert: readPem(config.tlsCert, 'tlsCert'),
            key: readPem(config.tlsKey, 'tlsKey'),
            ca,
            // Mutual TLS: ask for a client certificate when a CA is configured, but let the
            // authenticator decide (the registry issue checks certificates against things).
            requestCert: ca !== undefined,
            rejectUnauthorized: false,
          },
          (socket: TLSSocket) => {
            socket.setNoDelay(true);
            const peer = socket.getPeerCertificate();
            const clientCertificate = peer && peer.raw ? { raw: peer.raw, fingerprint256: peer.fingerprint256, authorized: socket.authorized } : undefined;
            accept(socket, { transport: 'mqtts', remoteAddress: addressOf(socket), clientCertificate });
          },
        );
        tls.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));
        servers.push(tls);
        ports.set('mqtts', await listen(tls, config.mqttsPort));
      }

      const http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end(`MQTT over WebSocket is served on ${WS_PATH}\n`);
      });
      wss = new WebSocketServer({
        server: http,
        path: WS_PATH,
        maxPayload: broker.limits.maxPacketSizeBytes + 8,
        // MQTT over WebSocket names its subprotocol `mqtt` (MQTT 5 §6); 3.1 clients say `mqttv3.1`.
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      });
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => undefined); // reported as a close by the connection
        accept(stream, { transport: 'ws', remoteAddress: addressOf(req.socket) });
      });
      servers.push(http);
      ports.set('ws', await listen(http, config.wsPort));
      return ports;
    },
    stop() {
      return (stopping ??= (async () => {
        accepting = false;
        const closed = servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())));
        for (const c of [...connections]) c.shutdown();
        for (const client of wss?.clients ?? []) client.terminate();
        wss?.close();
        for (const s of servers) if ('closeAllConnections' in s) s.closeAllConnections();
        await broker.stop();
        await Promise.all(closed);
      })());
    },
  };
}
