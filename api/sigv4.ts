/**
 * AWS Signature Version 4 verification (AWS General Reference, "Create a signed AWS API
 * request"), for requests signed by the AWS SDKs and the AWS CLI against kiot-managed access
 * keys. Pure and synchronous: the caller passes the raw request target, headers, body bytes,
 * the time, and a lookup from access key id to secret.
 *
 * Both forms are accepted: the `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...` header, and presigned URLs (`X-Amz-Algorithm`, `X-Amz-Credential`, ... in the
 * query, as MQTT-over-WebSocket clients use).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { PlatformError } from '../core/index.js';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS rejects requests whose signing time is more than 15 minutes from its clock. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 15 * 60_000;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** Methods that carry a body: their payload must always be signed. */
const BODY_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);
const UNSIGNED_BODY = 'x-amz-content-sha256: UNSIGNED-PAYLOAD is not accepted for a request with a body; sign the payload (its SHA-256).';
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

/**
 * Signing names the IoT clients use: `iot` (control plane), `iotdata` (data plane SDK),
 * `iot-data`/`iotdevicegateway` (older SDKs, MQTT over WebSocket), `iot-jobs-data` (jobs).
 */
export const IOT_SIGNING_SERVICES: ReadonlySet<string> = new Set(['iot', 'iotdata', 'iot-data', 'iotdevicegateway', 'iot-jobs-data', 'iotjobsdata']);

export interface SignedRequest {
  readonly method: string;
  /** The request target as received: percent-encoded path, then `?query` if any. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The body bytes as received (empty for none). */
  readonly body: Buffer;
}

export interface SigV4VerifyOptions {
  /** The current time, ms since the epoch. */
  readonly now: number;
  /** The secret of an access key, or undefined when the key is unknown or disabled. */
  readonly secretFor: (accessKeyId: string) => string | undefined;
  /** When set, the only region a request may be signed for. */
  readonly region?: string | undefined;
  /** Signing names accepted in the credential scope. Default {@link IOT_SIGNING_SERVICES}. */
  readonly services?: ReadonlySet<string>;
  readonly maxClockSkewMs?: number;
}

/** Who signed a request, once the signature is verified. */
export interface SigV4Identity {
  readonly accessKeyId: string;
  readonly region: string;
  readonly service: string;
  /** The signing time, ms since the epoch. */
  readonly signedAt: number;
}

interface ParsedSignature {
  readonly accessKeyId: string;
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  readonly amzDate: string;
  readonly presigned: boolean;
  readonly expiresSec: number | undefined;
}

const MISSING_TOKEN = 'Missing Authentication Token';
const BAD_SIGNATURE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

const incomplete = (message: string): PlatformError =>
  new PlatformError('AUTH_SIGNATURE_INVALID', message, { details: { awsErrorType: 'IncompleteSignatureException', awsStatus: 403 } });
const mismatch = (message = BAD_SIGNATURE): PlatformError => new PlatformError('AUTH_SIGNATURE_INVALID', message);

/**
 * Verifies a SigV4-signed request and returns who signed it.
 *
 * @throws PlatformError AUTH_MISSING (no signature at all), AUTH_UNKNOWN_KEY, AUTH_SIGNATURE_EXPIRED
 *   (signing time outside the allowed skew, or a presigned URL past its expiry), or
 *   AUTH_SIGNATURE_INVALID (malformed, wrong scope, a signature that does not match, or an
 *   unsigned payload (`UNSIGNED-PAYLOAD`) on a request that has or may have a body).
 */
export function verifySigV4(request: SignedRequest, options: SigV4VerifyOptions): SigV4Identity {
  const queryStart = request.url.indexOf('?');
  const rawPath = queryStart < 0 ? request.url : request.url.slice(0, queryStart);
  const rawQuery = queryStart < 0 ? '' : request.url.slice(queryStart + 1);
  const query = parseQuery(rawQuery);
  const parsed = parseSignature(request.headers, query);

  const services = options.services ?? IOT_SIGNING_SERVICES;
  if (!services.has(parsed.service)) throw mismatch(`Credential should be scoped to correct service: '${[...services][0] ?? 'iot'}'. `);
  if (options.region !== undefined && parsed.region !== options.region) throw mismatch(`Credential should be scoped to a valid region, not '${parsed.region}'. `);

  const signedAt = parseAmzDate(parsed.amzDate);
  if (signedAt === undefined) throw incomplete(`Date must be in ISO-8601 'basic format'. Got '${parsed.amzDate}'.`);
  if (parsed.amzDate.slice(0, 8) !== parsed.scopeDate) {
    throw mismatch(`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.scopeDate}' != '${parsed.amzDate.slice(0, 8)}', from '${parsed.amzDate}'.`);
  }
  checkTime(parsed, signedAt, options.now, options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS);

  const secret = options.secretFor(parsed.accessKeyId);
  if (secret === undefined) throw new PlatformError('AUTH_UNKNOWN_KEY', 'The security token included in the request is invalid.', { details: { accessKeyId: parsed.accessKeyId } });

  const headerHash = headerValue(request.headers, 'x-amz-content-sha256');
  const bodyHash = createHash('sha256').update(request.body).digest('hex');
  // UNSIGNED-PAYLOAD leaves the body out of the signature, so anyone who sees a signed request
  // could swap its body within the skew window. AWS IoT's REST APIs sign the payload; only S3
  // takes UNSIGNED-PAYLOAD. kiot accepts it only on a request that cannot carry a body (the
  // presigned GET of MQTT over WebSocket), never on POST/PUT/PATCH or a non-empty body.
  const mayHaveBody = request.body.length > 0 || BODY_METHODS.has(request.method.toUpperCase());
  if (headerHash === UNSIGNED_PAYLOAD && mayHaveBody) throw mismatch(UNSIGNED_BODY);
  if (headerHash !== undefined && headerHash !== UNSIGNED_PAYLOAD && headerHash !== bodyHash) throw mismatch('The provided x-amz-content-sha256 header does not match what was computed.');
  // Presigned URLs sign the body hash, or (bodiless requests only) UNSIGNED-PAYLOAD;
  // header-signed requests sign the header's value when present, else the body hash.
  const payloadHashes = parsed.presigned ? (mayHaveBody ? [headerHash ?? bodyHash] : [headerHash ?? bodyHash, UNSIGNED_PAYLOAD, EMPTY_SHA256]) : [headerHash ?? bodyHash];

  const canonicalPath = canonicalUri(rawPath);
  const canonicalQueryText = canonicalQuery(query.filter(([k]) => k !== 'X-Amz-Signature'));
  const canonicalHeaderText = canonicalHeaders(request.headers, parsed.signedHeaders);
  const scope = `${parsed.scopeDate}/${parsed.region}/${parsed.service}/aws4_request`;
  const key = signingKey(secret, parsed.scopeDate, parsed.region, parsed.service);
  const given = Buffer.from(parsed.signature, 'hex');
  for (const payloadHash of new Set(payloadHashes)) {
    const canonical = [request.method.toUpperCase(), canonicalPath, canonicalQueryText, canonicalHeaderText, parsed.signedHeaders.join(';'), payloadHash].join('\n');
    const stringToSign = [SIGV4_ALGORITHM, parsed.amzDate, scope, sha256Hex(canonical)].join('\n');
    const expected = createHmac('sha256', key).update(stringToSign).digest();
    if (given.length === expected.length && timingSafeEqual(given, expected)) {
      return { accessKeyId: parsed.accessKeyId, region: parsed.region, service: parsed.service, signedAt };
    }
  }
  throw mismatch();
}

function checkTime(parsed: ParsedSignature, signedAt: number, now: number, maxSkewMs: number): void {
  const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
  const minutes = Math.round(maxSkewMs / 60_000);
  if (parsed.presigned) {
    const expiresMs = (parsed.expiresSec ?? 0) * 1000;
    if (signedAt > now + maxSkewMs) throw new PlatformError('AUTH_SIGNATURE_EXPIRED', `Signature not yet current: ${parsed.amzDate} is still later than ${stamp(now + maxSkewMs)} (${stamp(now)} + ${minutes} min.)`);
    if (signedAt + expiresMs < now) throw new PlatformError('AUTH_SIGNATURE_EXPIRED', `Signature expired: ${parsed.amzDate} is now earlier than ${stamp(now - expiresMs)} (${stamp(now)} - ${parsed.expiresSec ?? 0} sec.)`);
    return;
  }
  if (signedAt < now - maxSkewMs) throw new PlatformError('AUTH_SIGNATURE_EXPIRED', `Signature expired: ${parsed.amzDate} is now earlier than ${stamp(now - maxSkewMs)} (${stamp(now)} - ${minutes} min.)`);
  if (signedAt > now + maxSkewMs) throw new PlatformError('AUTH_SIGNATURE_EXPIRED', `Signature not yet current: ${parsed.amzDate} is still later than ${stamp(now + maxSkewMs)} (${stamp(now)} + ${minutes} min.)`);
}

function parseSignature(headers: IncomingHttpHeaders, query: readonly [string, string][]): ParsedSignature {
  const authorization = headerValue(headers, 'authorization');
  const fromQuery = (name: string): string | undefined => query.find(([k]) => k === name)?.[1];
  if (authorization !== undefined) {
    if (!authorization.startsWith(`${SIGV4_ALGORITHM} `)) {
      throw incomplete(`Authorization header requires the ${SIGV4_ALGORITHM} algorithm (found '${authorization.split(' ')[0]}').`);
    }
    const fields = new Map<string, string>();
    for (const part of authorization.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    for (const name of ['Credential', 'SignedHeaders', 'Signature']) {
      if (!fields.has(name)) throw incomplete(`Authorization header requires '${name}' parameter. Authorization=${authorization.split(',')[0]}`);
    }
    const amzDate = headerValue(headers, 'x-amz-date') ?? dateHeaderAsAmz(headerValue(headers, 'date'));
    if (amzDate === undefined) throw incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    return { ...credential(fields.get('Credential')!), signedHeaders: signedHeaderList(fields.get('SignedHeaders')!), signature: fields.get('Signature')!, amzDate, presigned: false, expiresSec: undefined };
  }
  const algorithm = fromQuery('X-Amz-Algorithm');
  if (algorithm === undefined) throw new PlatformError('AUTH_MISSING', MISSING_TOKEN);
  if (algorithm !== SIGV4_ALGORITHM) throw incomplete(`X-Amz-Algorithm only supports "${SIGV4_ALGORITHM}"`);
  const needed = ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Signature'] as const;
  for (const name of needed) if (fromQuery(name) === undefined) throw incomplete(`AWS query-string parameters must include '${name}'.`);
  const expires = fromQuery('X-Amz-Expires');
  return {
    ...credential(fromQuery('X-Amz-Credential')!),
    signedHeaders: signedHeaderList(fromQuery('X-Amz-SignedHeaders')!),
    signature: fromQuery('X-Amz-Signature')!,
    amzDate: fromQuery('X-Amz-Date')!,
    presigned: true,
    // AWS caps presigned URLs at 7 days; without X-Amz-Expires, the skew window applies.
    expiresSec: expires !== undefined && /^\d+$/.test(expires) ? Math.min(Number(expires), 7 * 24 * 3600) : 15 * 60,
  };
}

function credential(text: string): Pick<ParsedSignature, 'accessKeyId' | 'scopeDate' | 'region' | 'service'> {
  const parts = text.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!) || parts.some((p) => p === '')) {
    throw incomplete(`Credential should be of the form <key>/<date>/<region>/<service>/aws4_request; got '${text}'.`);
  }
  return { accessKeyId: parts[0]!, scopeDate: parts[1]!, region: parts[2]!, service: parts[3]! };
}

function signedHeaderList(text: string): string[] {
  const names = text.split(';').map((h) => h.trim().toLowerCase());
  // SigV4 requires the host header to be signed.
  if (!names.includes('host')) throw mismatch("'Host' must be a 'SignedHeader' in the AWS Authorization.");
  return names;
}

/** `YYYYMMDDTHHMMSSZ` → ms since the epoch. */
function parseAmzDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(ms) ? undefined : ms;
}

function dateHeaderAsAmz(date: string | undefined): string | undefined {
  if (date === undefined) return undefined;
  const ms = Date.parse(date);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : value;
}

/** Raw `a=1&b=%20x` → decoded pairs, in order. `+` stays a plus (SigV4 encodes spaces as %20). */
function parseQuery(raw: string): [string, string][] {
  if (raw === '') return [];
  const pairs: [string, string][] = [];
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    pairs.push([decode(key), decode(value)]);
  }
  return pairs;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw mismatch();
  }
}

/** RFC 3986 encoding as SigV4 wants it: everything but `A-Za-z0-9-_.~` is percent-encoded. */
export function uriEscape(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The canonical URI for every service but S3: the path as sent (already encoded once),
 * normalized (`.`/`..`/empty segments removed), then encoded again.
 */
export function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `${rawPath.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  return uriEscape(normalized).replace(/%2F/g, '/');
}

/** Pairs encoded, sorted by key then value, joined with `&`. */
export function canonicalQuery(pairs: readonly (readonly [string, string])[]): string {
  return pairs
    .map(([k, v]) => [uriEscape(k), uriEscape(v)] as const)
    .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function canonicalHeaders(headers: IncomingHttpHeaders, names: readonly string[]): string {
  return names.map((name) => `${name}:${(headerValue(headers, name) ?? '').replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').trim()}\n`).join('');
}

const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', `AWS4${secret}`).update(date).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}
