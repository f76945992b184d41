import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { listen, type Logger } from '../core/index.js';
import { sendAwsError } from './aws-errors.js';
import type { SignedRequest } from './sigv4.js';

/** One HTTP route; later issues add the AWS-shaped API routes through this. */
export interface Route {
  readonly method: string;
  /** Matched against the path without the query string; named groups become `params`. */
  readonly path: RegExp;
  handle(req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void> | void;
}

export interface HttpServerDeps {
  readonly logger: Logger;
  /** Prometheus text for `GET /metrics`. */
  readonly metrics: () => Promise<string>;
  /** Body of `GET /health`; always served without auth. */
  readonly health: () => Record<string, unknown>;
  readonly routes?: readonly Route[];
  /**
   * When set, `GET /metrics` must pass this check (SigV4, `--metrics-auth`); it throws an AUTH_*
   * PlatformError, answered with AWS's error shape. Unset: `/metrics` is open, like `/health`.
   */
  readonly authenticateMetrics?: (request: SignedRequest) => unknown;
  /** Serve HTTPS with this certificate and key (PEM) instead of plain HTTP. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
}

export interface HttpServer {
  /** Listens and resolves with the bound port (port 0 picks a free one). */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting, ends idle keep-alive connections, waits for requests in flight. Safe twice. */
  close(): Promise<void>;
}

export function createHttpServer(deps: HttpServerDeps): HttpServer {
  const logger = deps.logger.child({ module: 'api.http' });
  const routes: Route[] = [
    { method: 'GET', path: /^\/health$/, handle: (_req, res) => sendJson(res, 200, deps.health()) },
    {
      method: 'GET',
      path: /^\/metrics$/,
      handle: async (req, res) => {
        if (deps.authenticateMetrics) {
          try {
            deps.authenticateMetrics({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.alloc(0) });
          } catch (err) {
            req.resume();
            sendAwsError(res, err);
            return;
          }
        }
        const body = await deps.metrics();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
      },
    },
    ...(deps.routes ?? []),
  ];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]!;
    const matching = routes.filter((r) => r.path.test(path));
    const route = matching.find((r) => r.method === req.method);
    if (!route) {
      if (matching.length > 0) sendJson(res, 405, { message: `method ${req.method} is not allowed on ${path}` });
      else sendJson(res, 404, { message: `no route for ${req.method} ${path}` });
      return;
    }
    const params = { ...(route.path.exec(path)?.groups ?? {}) };
    Promise.resolve()
      .then(() => route.handle(req, res, params))
      .catch((err: unknown) => {
        logger.error({ err, path }, 'request failed');
        if (!res.headersSent) sendJson(res, 500, { message: 'internal error' });
        else res.destroy();
      });
  };
  const server: Server = deps.tls ? createTlsServer({ cert: deps.tls.cert, key: deps.tls.key }, handler) : createServer(handler);
  let closing: Promise<void> | undefined;
  return {
    listen: (host, port) => listen(server, 'http', host, port),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeIdleConnections();
      })),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}
