/**
 * The device HTTPS listener (`https`, AWS IoT's port 8443): devices publish with
 * `POST /topics/{topic}?qos=&retain=` over mutual TLS, authenticated by their X.509 client
 * certificate and held to the policies attached to it, as AWS IoT's HTTPS publish does
 * (developer guide, "HTTPS"): `iot:Publish` on `topic/<name>`, plus `iot:RetainPublish` for
 * `retain=true`; there is no connection, so no `iot:Connect`. It serves nothing else but
 * `GET /health`: the control plane and SigV4-signed publishes are the HTTP API's.
 *
 * The TLS handshake asks for a client certificate but does not verify its chain: the registry
 * knows certificates by fingerprint, signed by any CA or none (as the mqtts listener does).
 *
 * Devices without a certificate publish with a custom authorizer (`customAuthenticate`): its
 * name, token and signature in headers or query parameters (`../custom-auth.ts`), or the default
 * authorizer when the request has no certificate.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { PlatformError, listen, type Logger } from '../../core/index.js';
import type { CertificateRef, HttpDeviceResult } from '../../registry/index.js';
import type { HttpCustomResult } from '../custom-auth.js';
import { MAX_HTTP_PAYLOAD_BYTES, publishForbidden, type Publisher } from './http-publish.js';

/** AWS IoT's HTTPS port for devices with client certificates. */
export const DEFAULT_HTTPS_PORT = 8443;

export interface HttpsPublishDeps {
  readonly publisher: Publisher;
  readonly logger: Logger;
  /**
   * The registry's decision for a client certificate (`SecurityServices.devices.httpSession`;
   * `kiot up` lets just-in-time registration see an unknown certificate first).
   */
  readonly authenticate: (certificate: CertificateRef | undefined, remoteAddress: string) => HttpDeviceResult | Promise<HttpDeviceResult>;
  /**
   * Custom authentication for a request (`httpCustomAuthenticate` bound to the registry's
   * authorizers): undefined when the request carries no custom-auth credentials and
   * `useDefault` is false or no default authorizer is set.
   */
  readonly customAuthenticate?: (
    request: { readonly headers: IncomingMessage['headers']; readonly queryString: string; readonly remoteAddress: string; readonly serverName?: string | undefined },
    useDefault: boolean,
  ) => Promise<HttpCustomResult> | undefined;
  /** Server certificate and key (PEM); `ca` is offered to clients as the acceptable issuers. */
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer; readonly ca?: string | Buffer | undefined };
}

export interface HttpsPublishListener {
  /** Listens and resolves with the bound port (port 0 picks a free one). */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting and closes open connections. Safe twice. */
  close(): Promise<void>;
}

const TOPIC_PATH = /^\/topics\/(.+)$/;

export function createHttpsPublishListener(deps: HttpsPublishDeps): HttpsPublishListener {
  const logger = deps.logger.child({ module: 'ingest.https-publish' });
  const server: Server = createServer({ cert: deps.tls.cert, key: deps.tls.key, ca: deps.tls.ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    serve(req, res).catch((err: unknown) => {
      logger.error({ err }, 'request failed');
      if (!res.headersSent) sendError(res, 500, 'InternalFailureException', 'An unexpected error has occurred.');
      else res.destroy();
    });
  });
  server.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart < 0 ? url : url.slice(0, queryStart);
    if (path === '/health') {
      if (req.method !== 'GET') return sendError(res, 405, 'MethodNotAllowedException', `method ${req.method} is not allowed on ${path}`);
      return sendJson(res, 200, { status: 'ok' });
    }
    const match = TOPIC_PATH.exec(path);
    if (!match) return sendError(res, 404, 'ResourceNotFoundException', `no route for ${req.method} ${path}`);
    if (req.method !== 'POST') return sendError(res, 405, 'MethodNotAllowedException', `method ${req.method} is not allowed on ${path}`);

    const socket = req.socket as TLSSocket;
    const remoteAddress = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;
    const peer = socket.getPeerCertificate();
    const certificate = peer && peer.raw ? { raw: peer.raw } : undefined;
    const custom = deps.customAuthenticate?.(
      { headers: req.headers, queryString: queryStart < 0 ? '' : url.slice(queryStart), remoteAddress, serverName: typeof socket.servername === 'string' ? socket.servername : undefined },
      certificate === undefined,
    );
    const decision = custom ? await custom : fromCertificate(await deps.authenticate(certificate, remoteAddress));
    if (!decision.ok) {
      req.resume();
      logger.debug({ remoteAddress, reason: decision.reason, detail: decision.detail }, 'publish refused');
      // No or an unknown certificate, or custom-auth credentials that do not verify: not
      // authenticated (401). A certificate not ACTIVE, or an authorizer that denied: forbidden (403).
      // What the authorizer function said stays in the log.
      if (decision.reason === 'bad-credentials') {
        return sendError(res, 401, 'UnauthorizedException', custom ? `custom authentication failed: ${decision.detail}` : `a registered client certificate is required: ${decision.detail}`);
      }
      return sendError(res, 403, 'ForbiddenException', custom ? 'the custom authorizer did not allow the request' : decision.detail);
    }
    let topic: string;
    try {
      topic = decodeURIComponent(match[1]!);
    } catch {
      req.resume();
      return sendError(res, 400, 'InvalidRequestException', 'topic: not a valid percent-encoded string');
    }
    const payload = await readBody(req, MAX_HTTP_PAYLOAD_BYTES);
    if (payload === undefined) {
      res.setHeader('connection', 'close');
      return sendError(res, 413, 'RequestEntityTooLargeException', `payload: larger than ${MAX_HTTP_PAYLOAD_BYTES} bytes`);
    }
    const { session } = decision;
    try {
      await deps.publisher.publish({
        topic,
        query: new URLSearchParams(queryStart < 0 ? '' : url.slice(queryStart + 1)),
        headers: req.headers,
        payload,
        sourceAddress: remoteAddress,
        principal: session.principal,
        ...(session.thingName !== undefined ? { thingName: session.thingName } : {}),
        authorize: (name, retain) => {
          if (!session.canPublish(name)) throw publishForbidden('iot:Publish', name);
          if (retain && !session.canRetainPublish(name)) throw publishForbidden('iot:RetainPublish', name);
        },
      });
    } catch (err) {
      if (!(err instanceof PlatformError) || typeof err.details['awsErrorType'] !== 'string') throw err;
      if (err.code === 'AUTH_FORBIDDEN') logger.debug({ remoteAddress, principal: session.principal, message: err.message }, 'publish refused');
      return sendError(res, Number(err.details['awsStatus'] ?? 400), err.details['awsErrorType'], err.message);
    }
    sendJson(res, 200, { message: 'OK', traceId: randomUUID() }); // AWS IoT's HTTPS publish answer
  }

  let closing: Promise<void> | undefined;
  return {
    listen: (host, port) => listen(server, 'https', host, port),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** A certificate decision in the terms custom authentication also gives. */
function fromCertificate(result: HttpDeviceResult): HttpCustomResult {
  if (!result.ok) return result;
  const { session } = result;
  return {
    ok: true,
    session: { principal: session.principal.certificateId, thingName: session.thingName, canPublish: (t) => session.canPublish(t), canRetainPublish: (t) => session.canRetainPublish(t) },
  };
}

/** The body, or undefined once it passes `limit` (the rest is discarded). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** AWS's error shape: the status, `x-amzn-ErrorType`, and `{"message": ...}`. */
function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  const text = JSON.stringify({ message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-amzn-ErrorType': type }).end(text);
}
