/**
 * A local server that speaks the wire protocol of AWS services for which no emulator installs
 * here (SQS, SNS, Firehose, Step Functions, CloudWatch, CloudWatch Logs, IoT Events, IoT
 * Analytics, Timestream, Location, IoT SiteWise): one module, parameterised per service by an
 * {@link AwsServiceSpec}, and one server may host several services on one port, as LocalStack
 * does, told apart by the service in each request's SigV4 credential scope.
 *
 * What it checks, so that a test against it says something about AWS:
 * - every request is signed with SigV4 (AWS General Reference, "Signature Version 4") by the
 *   configured test credentials, for the service's signing name and the server's region; the
 *   signature is recomputed here from the request, independently of the SDK's signer;
 * - the request has the protocol's shape as the official `@aws-sdk` client sends it: awsJson
 *   (`POST /`, `X-Amz-Target: <prefix>.<Operation>`, `application/x-amz-json-1.x`), awsQuery
 *   (form body with `Action` and `Version`), restJson1 (method and path of the operation);
 *   an unknown operation and a missing required member are refused;
 * - answers and errors come back in the protocol's shape (awsJson `__type`, awsQuery
 *   `<ErrorResponse>`, restJson1 `x-amzn-ErrorType`), with AWS's exception names.
 *
 * Every accepted call is recorded (`calls`), so tests assert on what reached the service.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { serveLoopback } from './http-server.js';

export type AwsProtocol = 'json' | 'query' | 'rest-json';

/** An error the service answers with: AWS's exception name, message and HTTP status. */
export class AwsServiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** awsQuery's `<Type>`: Sender (the caller's fault) or Receiver. */
    readonly fault: 'Sender' | 'Receiver' = status >= 500 ? 'Receiver' : 'Sender',
    /** Members the error shape carries besides its message (Timestream's `RejectedRecords`). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface AwsOperation {
  /** Top-level members the API model marks required; a request without one is a ValidationException. */
  readonly required?: readonly string[];
  /** restJson1: `POST /path/{Label}`; path labels become input members. */
  readonly http?: string;
  /** The answer (the output shape), or throw an {@link AwsServiceError}. */
  handle(input: Record<string, any>): unknown;
}

export interface AwsServiceSpec {
  /** SigV4 signing name (`sqs`, `iotevents`, `geo`, `iotsitewise`, `timestream`). */
  readonly signingName: string;
  readonly protocol: AwsProtocol;
  /** awsJson: the `X-Amz-Target` prefix (`AmazonSQS`); awsQuery: the API `Version` (`2010-03-31`). */
  readonly target?: string;
  /** awsQuery: the XML namespace of answers. */
  readonly xmlns?: string;
  readonly operations: Readonly<Record<string, AwsOperation>>;
}

export interface AwsServiceCall {
  readonly service: string;
  readonly operation: string;
  readonly input: Record<string, any>;
}

export interface AwsServiceServer {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Accepted calls, in order of arrival. */
  readonly calls: AwsServiceCall[];
  /** Requests refused before reaching an operation (bad signature, unknown target), as one line each. */
  readonly refused: string[];
  close(): Promise<void>;
}

export const AWS_TEST_CREDENTIALS = { accessKeyId: 'AKIDKIOTTEST', secretAccessKey: 'kiot-test-secret' } as const;
export const AWS_TEST_REGION = 'us-east-1';

export async function startAwsServices(specs: readonly AwsServiceSpec[], options: { region?: string } = {}): Promise<AwsServiceServer> {
  const region = options.region ?? AWS_TEST_REGION;
  const credentials = AWS_TEST_CREDENTIALS;
  const calls: AwsServiceCall[] = [];
  const refused: string[] = [];
  const bySigningName = new Map(specs.map((s) => [s.signingName, s]));

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let spec: AwsServiceSpec | undefined;
      try {
        const service = verifySignature(req, body, credentials, region);
        spec = bySigningName.get(service);
        if (!spec) throw new AwsServiceError('UnrecognizedClientException', `no service ${service} here (serving ${[...bySigningName.keys()].join(', ')})`, 400);
        const { operation, input } = readRequest(spec, req, body);
        const op = spec.operations[operation]!;
        for (const member of op.required ?? []) {
          if (input[member] === undefined) throw new AwsServiceError('ValidationException', `1 validation error detected: Value null at '${member.charAt(0).toLowerCase()}${member.slice(1)}' failed to satisfy constraint: Member must not be null`);
        }
        calls.push({ service, operation, input });
        answer(spec, operation, res, op.handle(input) ?? {});
      } catch (err) {
        const e = err instanceof AwsServiceError ? err : new AwsServiceError('InternalFailure', (err as Error).message, 500);
        if (!(err instanceof AwsServiceError) || ['InvalidSignatureException', 'UnrecognizedClientException', 'UnknownOperationException', 'SerializationException'].includes(e.code)) {
          refused.push(`${e.code}: ${e.message}`);
        }
        fail(spec, res, e);
      }
    });
  });
  const served = await serveLoopback(server);
  return { endpoint: served.url, region, credentials, calls, refused, close: served.close };
}

// --- SigV4 -------------------------------------------------------------------------------------

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
/** RFC 3986 encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
const escape = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Checks the request's SigV4 signature; returns the service it was signed for. */
function verifySignature(req: IncomingMessage, body: Buffer, credentials: { accessKeyId: string; secretAccessKey: string }, region: string): string {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) throw new AwsServiceError('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
  const [, keyId, date, signedRegion, service, signedHeaders, signature] = m as unknown as string[];
  if (keyId !== credentials.accessKeyId) throw new AwsServiceError('UnrecognizedClientException', 'The security token included in the request is invalid.', 403);
  if (signedRegion !== region) throw new AwsServiceError('InvalidSignatureException', `Credential should be scoped to a valid region, not '${signedRegion}'. `, 403);
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(date!)) throw new AwsServiceError('InvalidSignatureException', 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP', 403);
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname.split('/').map((seg) => escape(decodeURIComponent(seg))).join('/');
  const query = [...url.searchParams].map(([k, v]) => `${escape(k)}=${escape(v)}`).sort().join('&');
  const names = signedHeaders!.split(';');
  if (!names.includes('host')) throw new AwsServiceError('InvalidSignatureException', "'Host' must be a signed header", 403);
  const headers = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const payloadHash = typeof req.headers['x-amz-content-sha256'] === 'string' ? req.headers['x-amz-content-sha256'] : sha256(body);
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== sha256(body)) throw new AwsServiceError('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.', 403);
  const canonical = [req.method, path, query, headers, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${signedRegion}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, date!), signedRegion!), service!), 'aws4_request');
  if (createHmac('sha256', key).update(toSign).digest('hex') !== signature) {
    throw new AwsServiceError('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.', 403);
  }
  return service!;
}

// --- requests ----------------------------------------------------------------------------------

function readRequest(spec: AwsServiceSpec, req: IncomingMessage, body: Buffer): { operation: string; input: Record<string, any> } {
  const unknown = (what: string) => new AwsServiceError('UnknownOperationException', `${what} is not an operation of ${spec.signingName} here`, 400);
  const contentType = String(req.headers['content-type'] ?? '');
  if (spec.protocol === 'json') {
    const target = String(req.headers['x-amz-target'] ?? '');
    const [prefix, operation] = target.split('.');
    if (req.method !== 'POST' || (req.url ?? '/') !== '/') throw unknown(`${req.method} ${req.url}`);
    if (prefix !== spec.target || !operation || !spec.operations[operation]) throw unknown(`X-Amz-Target ${target}`);
    if (!/^application\/x-amz-json-1\.[01]$/.test(contentType)) throw new AwsServiceError('SerializationException', `Content-Type ${contentType} is not application/x-amz-json-1.x`);
    return { operation, input: parseJson(body) };
  }
  if (spec.protocol === 'query') {
    if (req.method !== 'POST' || !contentType.startsWith('application/x-www-form-urlencoded')) throw new AwsServiceError('SerializationException', `expected a form POST, got ${req.method} ${contentType}`);
    const form = new URLSearchParams(body.toString('utf8'));
    const operation = form.get('Action') ?? '';
    if (form.get('Version') !== spec.target) throw new AwsServiceError('InvalidParameterValue', `Version ${form.get('Version')} is not ${spec.target}`);
    if (!spec.operations[operation]) throw unknown(`Action ${operation}`);
    form.delete('Action');
    form.delete('Version');
    return { operation, input: unflattenQuery(form) };
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  for (const [operation, op] of Object.entries(spec.operations)) {
    const [method, template] = (op.http ?? '').split(' ');
    if (method !== req.method || !template) continue;
    const labels = matchPath(template, url.pathname);
    if (!labels) continue;
    if (body.length > 0 && !contentType.startsWith('application/json')) throw new AwsServiceError('SerializationException', `Content-Type ${contentType} is not application/json`);
    return { operation, input: { ...(body.length > 0 ? parseJson(body) : {}), ...labels } };
  }
  throw unknown(`${req.method} ${url.pathname}`);
}

function parseJson(body: Buffer): Record<string, any> {
  try {
    const v = JSON.parse(body.toString('utf8') || '{}');
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch (err) {
    throw new AwsServiceError('SerializationException', `body is not a JSON object: ${(err as Error).message}`);
  }
}

function matchPath(template: string, path: string): Record<string, string> | undefined {
  const t = template.split('/');
  const p = path.split('/');
  if (t.length !== p.length) return undefined;
  const labels: Record<string, string> = {};
  for (let i = 0; i < t.length; i++) {
    const label = /^\{(\w+)\}$/.exec(t[i]!);
    if (label) labels[label[1]!] = decodeURIComponent(p[i]!);
    else if (t[i] !== p[i]) return undefined;
  }
  return labels;
}

/** awsQuery's flattened members (`Entries.member.1.Id`, `Attributes.entry.1.key`) as nested values. */
function unflattenQuery(form: URLSearchParams): Record<string, any> {
  const root: Record<string, any> = {};
  for (const [key, value] of form) {
    const parts = key.split('.');
    let node: any = root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const last = i === parts.length - 1;
      if ((part === 'member' || part === 'entry') && /^\d+$/.test(parts[i + 1] ?? '')) continue;
      if (/^\d+$/.test(part)) {
        const index = Number(part) - 1;
        if (last) node[index] = value;
        else node = node[index] ??= {};
        continue;
      }
      const listNext = (parts[i + 1] === 'member' || parts[i + 1] === 'entry') && /^\d+$/.test(parts[i + 2] ?? '');
      if (last) node[part] = value;
      else node = node[part] ??= listNext ? [] : {};
    }
  }
  return root;
}

// --- answers -----------------------------------------------------------------------------------

function answer(spec: AwsServiceSpec, operation: string, res: ServerResponse, output: unknown): void {
  const requestId = randomUUID();
  if (spec.protocol === 'query') {
    const xml = `<${operation}Response xmlns="${spec.xmlns ?? ''}"><${operation}Result>${toXml(output)}</${operation}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${operation}Response>`;
    res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }).end(xml);
    return;
  }
  const contentType = spec.protocol === 'json' ? 'application/x-amz-json-1.1' : 'application/json';
  res.writeHead(200, { 'content-type': contentType, 'x-amzn-requestid': requestId }).end(JSON.stringify(output));
}

function fail(spec: AwsServiceSpec | undefined, res: ServerResponse, e: AwsServiceError): void {
  const requestId = randomUUID();
  if (spec?.protocol === 'query') {
    const xml = `<ErrorResponse xmlns="${spec.xmlns ?? ''}"><Error><Type>${e.fault}</Type><Code>${e.code}</Code><Message>${xmlEscape(e.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
    res.writeHead(e.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }).end(xml);
    return;
  }
  if (spec?.protocol === 'rest-json') {
    res.writeHead(e.status, { 'content-type': 'application/json', 'x-amzn-errortype': e.code, 'x-amzn-requestid': requestId }).end(JSON.stringify({ message: e.message, ...e.extra }));
    return;
  }
  res.writeHead(e.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId }).end(JSON.stringify({ __type: e.code, message: e.message, ...e.extra }));
}

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An output object as awsQuery XML: lists as `<member>` elements. */
function toXml(value: unknown): string {
  if (Array.isArray(value)) return value.map((v) => `<member>${toXml(v)}</member>`).join('');
  if (value !== null && typeof value === 'object') return Object.entries(value).map(([k, v]) => `<${k}>${toXml(v)}</${k}>`).join('');
  return value === undefined || value === null ? '' : xmlEscape(String(value));
}
