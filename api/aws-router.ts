/**
 * Turns AwsOperations into HTTP routes: matches the method and the REST path template
 * (`/things/{thingName}`, greedy `{topic+}`), reads the body up to a size limit, verifies the
 * SigV4 signature, parses JSON, calls the operation and writes its result as JSON, or the AWS
 * error shape for what it threw. A request that fails authentication never reaches an
 * operation, so it changes nothing.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PlatformError, type Logger } from '../core/index.js';
import { sendAwsError } from './aws-errors.js';
import type { AwsOperation, AwsRequest } from './operation.js';
import type { Route } from './server.js';
import type { ApiCaller } from './caller.js';
import type { SignedRequest } from './sigv4.js';

/** AWS IoT's control plane takes small JSON documents; 1 MiB leaves room for policies and CSRs. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface AwsRouterOptions {
  readonly operations: readonly AwsOperation[];
  readonly logger: Logger;
  /**
   * Verifies the signature of a request (throws an AUTH_* PlatformError) and says who signed it
   * and what they may do (`createRequestAuthenticator`).
   */
  readonly authenticate: (request: SignedRequest) => ApiCaller;
  readonly maxBodyBytes?: number;
  /** Throws (e.g. LOG_UNAVAILABLE) while the API cannot serve requests yet. */
  readonly checkReady?: () => void;
}

interface CompiledTemplate {
  readonly regex: RegExp;
  readonly labels: readonly string[];
  /** Sort key: templates with more literal text win over ones with labels that would also match. */
  readonly specificity: readonly [number, number, number];
}

/** Compiles `/a/{b}/c/{d+}` into an anchored RegExp over the raw (percent-encoded) path. */
export function compilePathTemplate(template: string): CompiledTemplate {
  if (!template.startsWith('/')) throw new PlatformError('CONFIG_INVALID', `operation path ${template} must start with /`);
  const labels: string[] = [];
  let greedy = 0;
  let literal = 0;
  const pattern = template
    .split('/')
    .map((segment) => {
      const label = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(segment);
      if (!label) {
        if (segment.includes('{')) throw new PlatformError('CONFIG_INVALID', `operation path ${template}: a label must be a whole segment`);
        literal += segment.length;
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }
      labels.push(label[1]!);
      if (label[2]) greedy += 1;
      return label[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { regex: new RegExp(`^${pattern}$`), labels, specificity: [greedy, labels.length, -literal] };
}

const compareSpecificity = (a: CompiledTemplate, b: CompiledTemplate): number => {
  for (let i = 0; i < 3; i++) {
    const d = a.specificity[i]! - b.specificity[i]!;
    if (d !== 0) return d;
  }
  return 0;
};

/**
 * One Route per operation, most specific paths first, for `createHttpServer({ routes })`.
 * @throws PlatformError CONFIG_INVALID when two operations share a method and path, or a path
 *   template is malformed.
 */
export function createAwsRoutes(options: AwsRouterOptions): Route[] {
  const logger = options.logger.child({ module: 'api.aws' });
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const seen = new Map<string, string>();
  const compiled = options.operations.map((op) => {
    const id = `${op.method} ${op.path}`;
    const other = seen.get(id);
    if (other) throw new PlatformError('CONFIG_INVALID', `operations ${other} and ${op.name} both serve ${id}`);
    seen.set(id, op.name);
    return { op, template: compilePathTemplate(op.path) };
  });
  compiled.sort((a, b) => compareSpecificity(a.template, b.template));
  return compiled.map(({ op, template }) => ({
    method: op.method,
    path: template.regex,
    handle: (req, res) => serve(op, template, req, res, { ...options, logger, maxBodyBytes }),
  }));
}

async function serve(op: AwsOperation, template: CompiledTemplate, req: IncomingMessage, res: ServerResponse, options: AwsRouterOptions & { maxBodyBytes: number }): Promise<void> {
  res.setHeader('x-amzn-RequestId', randomUUID());
  try {
    options.checkReady?.();
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const rawPath = queryStart < 0 ? url : url.slice(0, queryStart);
    const match = template.regex.exec(rawPath);
    const params: Record<string, string> = {};
    template.labels.forEach((label, i) => {
      params[label] = decodeLabel(match?.[i + 1] ?? '', label);
    });
    const rawBody = await readBody(req, options.maxBodyBytes);
    const caller = options.authenticate({ method: req.method ?? 'GET', url, headers: req.headers, body: rawBody });
    authorize(op, caller);
    const request: AwsRequest = {
      params,
      query: new URLSearchParams(queryStart < 0 ? '' : url.slice(queryStart + 1)),
      body: op.bodyFormat === 'raw' ? undefined : parseJson(rawBody),
      rawBody,
      headers: req.headers,
      accessKeyId: caller.accessKeyId,
      region: caller.region,
      caller,
      remoteAddress: `${req.socket.remoteAddress ?? 'unknown'}:${req.socket.remotePort ?? 0}`,
    };
    const result = await op.handle(request);
    const text = JSON.stringify(result ?? {});
    res.writeHead(op.successStatus ?? 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  } catch (err) {
    if (err instanceof PlatformError && err.code !== 'INTERNAL') options.logger.debug({ code: err.code, operation: op.name, message: err.message }, 'request refused');
    else options.logger.error({ err, operation: op.name }, 'operation failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof PlatformError && err.code === 'API_BODY_TOO_LARGE') res.setHeader('connection', 'close');
    sendAwsError(res, err);
  }
}

/** Refuses a caller the operation's `access` does not let in, before the body is even parsed. */
function authorize(op: AwsOperation, caller: ApiCaller): void {
  const access = op.access ?? 'policy';
  if (caller.admin || access === 'self') return;
  if (access === 'policy' && caller.allowsOperation(op.name)) return;
  // IAM's refusal as AWS's control plane sends it (403 AccessDeniedException).
  throw new PlatformError('AUTH_FORBIDDEN', `User: ${caller.accessKeyId} is not authorized to perform: iot:${op.name}${access === 'admin' ? ' (administrator keys only)' : ''}`, {
    details: { awsErrorType: 'AccessDeniedException', awsStatus: 403 },
  });
}

function decodeLabel(raw: string, label: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new PlatformError('INPUT_INVALID', `${label}: not a valid percent-encoded path segment`, { details: { field: label } });
  }
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = (): PlatformError => new PlatformError('API_BODY_TOO_LARGE', `Request body is larger than ${maxBytes} bytes`, { details: { maxBytes } });
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}

/**
 * Deepest nesting of objects and arrays a request body may have. AWS IoT's request shapes nest a
 * few levels (a TopicRulePayload's actions about 5); the bound keeps every recursive walk over
 * a parsed body (validators, copies, JSON.stringify) far from the stack limit.
 */
export const MAX_JSON_DEPTH = 64;

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  const text = body.toString('utf8');
  const depth = jsonDepthExceeds(text, MAX_JSON_DEPTH);
  if (depth) throw new PlatformError('API_BODY_INVALID', `Request body nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`, { details: { maxDepth: MAX_JSON_DEPTH } });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new PlatformError('API_BODY_INVALID', `Request body is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Whether JSON text opens more than `max` objects/arrays at once; one pass, no recursion, so a
 * hostile 50,000-deep body costs a loop and not the stack. Brackets inside strings do not count.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return false;
}
