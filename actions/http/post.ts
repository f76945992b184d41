/**
 * One HTTP(S) POST with a deadline, for the actions that call a web endpoint (http, lambda).
 *
 * node:http rather than fetch: fetch's request stops following the abort signal it was given
 * once GC collects its Request object (nodejs/node#55428), so under memory pressure a request to
 * a target that accepts the connection and never answers outlived its timeout and held its
 * batch. Here the deadline is a timer that destroys the socket, covering the answer's body too.
 */
import { request as plainRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface PostAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * Resolves with any HTTP answer (the caller judges its status); rejects when the endpoint cannot
 * be reached, `signal` aborts, or no whole answer arrived within `timeoutMs`.
 */
export function post(url: string, headers: Readonly<Record<string, string>>, body: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<PostAnswer> {
  return httpRequest('POST', url, headers, body, timeoutMs, signal);
}

export interface RequestOptions {
  /**
   * Accept header values with control characters (Node's `insecureHTTPParser`): InfluxDB 1.x
   * copies the line it refused, bytes and all, into its `X-Influxdb-Error` header.
   */
  readonly lenientHeaders?: boolean;
}

/** {@link post} with another method (a GET health check sends an empty body). */
export function httpRequest(method: string, url: string, headers: Readonly<Record<string, string>>, body: Buffer, timeoutMs: number, signal?: AbortSignal, options: RequestOptions = {}): Promise<PostAnswer> {
  return new Promise<PostAnswer>((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : plainRequest;
    const sent: Record<string, string> = { 'content-length': String(body.length) };
    for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() !== 'content-length') sent[name] = value;
    const req = send(target, { method, headers: sent, signal, ...(options.lenientHeaders ? { insecureHTTPParser: true } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', fail);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(err);
    }
    req.on('error', fail);
    req.end(body);
  });
}
