/**
 * A local Lambda Invoke API for tests: `POST /2015-03-31/functions/{name}/invocations` runs
 * the test's handler for that function name with the JSON event and answers what it returns,
 * as Lambda does (200 with the result; a handler that throws answers 200 with
 * `X-Amz-Function-Error: Unhandled`). Handlers may be async (a slow function), or return
 * `rawLambdaAnswer(text)` to send bytes that are not JSON. Every call is recorded.
 */
import { createServer } from 'node:http';
import { serveLoopback } from './http-server.js';

export type LambdaHandler = (event: unknown, functionName: string) => unknown;

const RAW = Symbol('raw lambda answer');
/** An answer sent as it is (e.g. malformed JSON). */
export const rawLambdaAnswer = (text: string): unknown => ({ [RAW]: text });

export interface LambdaServer {
  /** Base URL for the Invoke client (`LambdaTarget.endpoint`). */
  readonly endpoint: string;
  /** Events received, oldest first, with the function name from the path. */
  readonly calls: { readonly functionName: string; readonly event: unknown }[];
  /** Sets (or replaces) the handler of a function name or ARN. */
  handle(functionName: string, handler: LambdaHandler): void;
  close(): Promise<void>;
}

const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

export async function startLambdaServer(): Promise<LambdaServer> {
  const handlers = new Map<string, LambdaHandler>();
  const calls: { functionName: string; event: unknown }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const match = PATH.exec((req.url ?? '').split('?')[0]!);
        if (req.method !== 'POST' || !match) return void res.writeHead(404).end();
        const functionName = decodeURIComponent(match[1]!);
        const handler = handlers.get(functionName);
        if (!handler) {
          const text = JSON.stringify({ Type: 'User', message: `Function not found: ${functionName}` });
          return void res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'ResourceNotFoundException' }).end(text);
        }
        let event: unknown;
        try {
          event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return void res.writeHead(400).end();
        }
        calls.push({ functionName, event });
        try {
          const result = await handler(event, functionName);
          const text = typeof result === 'object' && result !== null && RAW in result ? String((result as Record<symbol, unknown>)[RAW]) : JSON.stringify(result ?? null);
          if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end(text);
        } catch (err) {
          const text = JSON.stringify({ errorMessage: (err as Error).message, errorType: 'Error' });
          if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' }).end(text);
        }
      })();
    });
  });
  const served = await serveLoopback(server);
  return {
    endpoint: served.url,
    calls,
    handle: (name, handler) => void handlers.set(name, handler),
    close: () => served.close(),
  };
}
