/**
 * Custom authentication (AWS IoT developer guide, "Custom authentication and authorization"):
 * finds the authorizer a device named (or the default one), verifies the token signature with
 * the authorizer's public keys when signing is enabled, invokes the authorizer function with
 * AWS's request shape, validates its answer (`answer.ts`), caches it, and hands back the
 * compiled policies, which the same policy engine as certificates enforces.
 *
 * - Signing enabled: the token (`tokenKeyName`) and `x-amz-customauthorizer-signature` (base64
 *   RSA-SHA256 of the token) are required; a missing or wrong signature is refused before the
 *   function runs. Signing disabled: the function is invoked with `signatureVerified: false`.
 * - The function has 5 seconds (AWS IoT's limit); a timeout, an error (`X-Amz-Function-Error`,
 *   a non-2xx status, an unreachable endpoint) or a malformed answer means deny, counted in
 *   `kiot_custom_auth_total{outcome}` and logged.
 * - Cache: an authenticated answer is kept for its `refreshAfterInSeconds`, keyed by the
 *   authorizer and the credentials (token, signature, MQTT username and password), as AWS keys
 *   it; a change of the authorizer (UpdateAuthorizer) makes older answers unusable. HTTP
 *   publishes use the cache only when the authorizer has `enableCachingForHttp` (AWS). Denials
 *   and failures are never cached. Connects with the same credentials while a call is under way
 *   wait for that call instead of making their own.
 */
import { createHash, createPublicKey, randomUUID, verify, type KeyObject } from 'node:crypto';
import { Counter, PlatformError, Registry, type Logger } from '../../core/index.js';
import { iotArn, type ArnScope, type BoundAuthorizer, type CompiledPolicies } from '../policies/engine.js';
import { parseAuthorizerAnswer, type AuthorizerAnswer } from './answer.js';
import type { AuthorizerService } from './authorizer-service.js';
import type { AuthorizerRecord } from './model.js';

/** AWS IoT waits at most 5 seconds for an authorizer function. */
export const AUTHORIZER_TIMEOUT_MS = 5_000;
/** Answers kept at most; the oldest goes first. */
const DEFAULT_CACHE_ENTRIES = 50_000;

/** The Lambda Invoke call (RequestResponse), as `actions/lambda/lambda-client.ts` makes it. */
export type InvokeAuthorizerFunction = (functionArn: string, payload: Buffer, signal: AbortSignal) => Promise<{ readonly status: number; readonly body: Buffer; readonly functionError?: string | undefined }>;

export type CustomAuthProtocol = 'tls' | 'http' | 'mqtt';

/** What a device presented, in the terms of the function's event. */
export interface CustomAuthRequest {
  /** The authorizer named (`x-amz-customauthorizer-name`); undefined: the default authorizer. */
  readonly authorizerName?: string | undefined;
  /** The value of the authorizer's `tokenKeyName` parameter, when present. Callers pass a lookup because the key name is the authorizer's. */
  readonly token?: (tokenKeyName: string) => string | undefined;
  readonly tokenSignature?: string | undefined;
  readonly protocols: readonly CustomAuthProtocol[];
  readonly tls?: { readonly serverName?: string | undefined } | undefined;
  readonly http?: { readonly headers: Readonly<Record<string, string>>; readonly queryString: string } | undefined;
  readonly mqtt?: { readonly username?: string | undefined; readonly password?: Buffer | undefined; readonly clientId?: string | undefined } | undefined;
  /** Names the connection in the event (`connectionMetadata.id`) and in logs. */
  readonly connectionId: string;
}

/** TestInvokeAuthorizer's input: the token itself, and the contexts that were sent. */
export interface TestInvokeRequest {
  readonly token?: string | undefined;
  readonly tokenSignature?: string | undefined;
  readonly tls?: CustomAuthRequest['tls'];
  readonly http?: CustomAuthRequest['http'];
  readonly mqtt?: CustomAuthRequest['mqtt'];
}

export type CustomAuthOutcome = 'allow' | 'cached' | 'deny' | 'timeout' | 'error' | 'malformed' | 'signature' | 'unknown-authorizer' | 'inactive';

export type CustomAuthResult =
  | {
      readonly ok: true;
      readonly authorizer: AuthorizerRecord;
      readonly answer: AuthorizerAnswer;
      readonly policies: CompiledPolicies;
      readonly cached: boolean;
    }
  | {
      readonly ok: false;
      /** `bad-credentials`: no such authorizer, or an unsigned / wrongly signed token; `not-authorized`: the function denied or failed. */
      readonly reason: 'bad-credentials' | 'not-authorized';
      readonly outcome: CustomAuthOutcome;
      readonly detail: string;
    };

export interface CustomAuthorizersDeps {
  readonly invoke: InvokeAuthorizerFunction;
  readonly scope: ArnScope;
  readonly logger?: Logger;
  /** Epoch milliseconds (cache expiry). */
  readonly now?: () => number;
  readonly metricsRegistry?: Registry;
  readonly timeoutMs?: number;
  readonly cacheEntries?: number;
}

interface CacheEntry {
  readonly generationId: string;
  readonly expiresAt: number;
  readonly answer: AuthorizerAnswer;
  readonly policies: CompiledPolicies;
}

/** The decisions for one custom-authenticated connection or request. */
export interface CustomAuthSession {
  readonly principalId: string;
  readonly authorizerName: string;
  canConnect(clientId: string): boolean;
  canPublish(topic: string): boolean;
  canSubscribe(filter: string): boolean;
  canReceive(topic: string): boolean;
  canRetainPublish(topic: string): boolean;
}

export class CustomAuthorizers {
  /** `kiot_custom_auth_total{outcome}`; include it in `/metrics`. */
  readonly metricsRegistry: Registry;
  readonly #authorizers: AuthorizerService;
  readonly #deps: CustomAuthorizersDeps;
  readonly #logger: Logger | undefined;
  readonly #now: () => number;
  readonly #counter: Counter;
  readonly #counts = new Map<CustomAuthOutcome, number>();
  readonly #cache = new Map<string, CacheEntry>();
  /** Invocations under way per cache key: connects with the same credentials at once share one call. */
  readonly #pending = new Map<string, Promise<InvokeOutcome>>();
  readonly #keys = new Map<string, { readonly generationId: string; readonly keys: readonly KeyObject[] }>();

  constructor(authorizers: AuthorizerService, deps: CustomAuthorizersDeps) {
    this.#authorizers = authorizers;
    this.#deps = deps;
    this.#logger = deps.logger?.child({ module: 'registry.custom-auth' });
    this.#now = deps.now ?? Date.now;
    this.metricsRegistry = deps.metricsRegistry ?? new Registry();
    this.#counter = new Counter({
      name: 'kiot_custom_auth_total',
      help: 'Custom authorizer decisions by outcome (allow, cached, deny, timeout, error, malformed, signature, unknown-authorizer, inactive).',
      labelNames: ['outcome'],
      registers: [this.metricsRegistry],
    });
  }

  /** How many decisions had this outcome (tests and the benchmark read it). */
  count(outcome: CustomAuthOutcome): number {
    return this.#counts.get(outcome) ?? 0;
  }

  /** Whether a default authorizer is set (devices that name none use it). */
  hasDefault(): boolean {
    return this.#authorizers.defaultAuthorizerName() !== undefined;
  }

  /**
   * Authenticates one connection (MQTT, WebSocket) or request (HTTP publish). Never throws:
   * every failure is a refusal with its outcome counted and logged.
   */
  async authenticate(request: CustomAuthRequest): Promise<CustomAuthResult> {
    const name = request.authorizerName ?? this.#authorizers.defaultAuthorizerName();
    const authorizer = name === undefined ? undefined : this.#authorizers.authorizer(name);
    if (!authorizer) return this.#refuse('bad-credentials', 'unknown-authorizer', name === undefined ? 'no authorizer named and no default authorizer set' : `authorizer ${name} does not exist`, request);
    if (authorizer.status !== 'ACTIVE') return this.#refuse('bad-credentials', 'inactive', `authorizer ${authorizer.authorizerName} is INACTIVE`, request);
    const token = authorizer.tokenKeyName ? request.token?.(authorizer.tokenKeyName) : undefined;
    const signing = !authorizer.signingDisabled;
    if (signing && (token === undefined || !request.tokenSignature)) {
      return this.#refuse('bad-credentials', 'signature', `authorizer ${authorizer.authorizerName} requires a signed token (${authorizer.tokenKeyName} and x-amz-customauthorizer-signature)`, request);
    }
    const httpOnly = !request.protocols.includes('mqtt');
    const cacheable = !httpOnly || authorizer.enableCachingForHttp;
    const key = cacheable ? cacheKey(authorizer.authorizerName, token, request) : undefined;
    if (key !== undefined) {
      // A hit was stored after this very token and signature verified under this generation of
      // the authorizer (its keys change only with a new generation): no need to verify again.
      const hit = this.#cache.get(key);
      if (hit && hit.generationId === authorizer.generationId && hit.expiresAt > this.#now()) {
        this.#count('cached');
        return { ok: true, authorizer, answer: hit.answer, policies: hit.policies, cached: true };
      }
      if (hit) this.#cache.delete(key);
    }
    if (signing && !this.#verify(authorizer, token!, request.tokenSignature!)) {
      return this.#refuse('bad-credentials', 'signature', `the token signature does not verify with authorizer ${authorizer.authorizerName}'s public keys`, request);
    }
    const signatureVerified = signing;
    let outcome: InvokeOutcome;
    const pending = key === undefined ? undefined : this.#pending.get(key);
    if (pending) {
      outcome = await pending;
      if (outcome.ok && outcome.answer.isAuthenticated && outcome.policies) {
        this.#count('cached');
        return { ok: true, authorizer, answer: outcome.answer, policies: outcome.policies, cached: true };
      }
    } else {
      const invoking = this.#invoke(authorizer, event(request, token, signatureVerified));
      if (key !== undefined) {
        this.#pending.set(key, invoking);
        void invoking.finally(() => this.#pending.delete(key));
      }
      outcome = await invoking;
    }
    if (!outcome.ok) return this.#refuse('not-authorized', outcome.outcome, outcome.detail, request);
    const { answer, policies } = outcome;
    if (!answer.isAuthenticated || !policies) return this.#refuse('not-authorized', 'deny', `authorizer ${authorizer.authorizerName} answered isAuthenticated: false`, request);
    if (key !== undefined) {
      this.#cache.set(key, { generationId: authorizer.generationId, expiresAt: this.#now() + answer.refreshAfterInSeconds * 1000, answer, policies });
      if (this.#cache.size > (this.#deps.cacheEntries ?? DEFAULT_CACHE_ENTRIES)) this.#cache.delete(this.#cache.keys().next().value!);
    }
    this.#count('allow');
    return { ok: true, authorizer, answer, policies, cached: false };
  }

  /**
   * TestInvokeAuthorizer: the function's answer for these credentials, without the cache.
   * @throws PlatformError REGISTRY_NOT_FOUND (no such authorizer), REGISTRY_INVALID with
   *   InvalidRequestException (signature) or InvalidResponseException (the function failed, timed
   *   out or answered something malformed).
   */
  async testInvoke(name: string, request: TestInvokeRequest): Promise<AuthorizerAnswer> {
    const authorizer = this.#authorizers.describeAuthorizer(name);
    let signatureVerified = false;
    if (!authorizer.signingDisabled) {
      if (request.token === undefined || !request.tokenSignature) {
        throw new PlatformError('REGISTRY_INVALID', `authorizer ${name} has signing enabled: token and tokenSignature are required`, { details: { field: 'tokenSignature' } });
      }
      if (!this.#verify(authorizer, request.token, request.tokenSignature)) {
        throw new PlatformError('REGISTRY_INVALID', `tokenSignature: does not verify with authorizer ${name}'s public keys`, { details: { field: 'tokenSignature', awsErrorType: 'InvalidRequestException', awsStatus: 400 } });
      }
      signatureVerified = true;
    }
    const protocols: CustomAuthProtocol[] = [];
    if (request.tls) protocols.push('tls');
    if (request.http) protocols.push('http');
    if (request.mqtt) protocols.push('mqtt');
    const { token, ...contexts } = request;
    const outcome = await this.#invoke(authorizer, event({ ...contexts, protocols, connectionId: `test-${randomUUID()}` }, token, signatureVerified));
    if (!outcome.ok) throw new PlatformError('REGISTRY_INVALID', outcome.detail, { details: { awsErrorType: 'InvalidResponseException', awsStatus: 400 } });
    return outcome.answer;
  }

  /** Binds compiled policies to one connection: the per-packet decisions. */
  session(result: Extract<CustomAuthResult, { ok: true }>, context: { readonly clientId?: string | undefined; readonly sourceIp?: string | undefined }): CustomAuthSession {
    const bound: BoundAuthorizer = result.policies.bind({
      ...(context.clientId !== undefined ? { clientId: context.clientId } : {}),
      ...(context.sourceIp !== undefined ? { sourceIp: context.sourceIp } : {}),
    });
    const scope = this.#deps.scope;
    const topic = iotArn(scope, 'topic', '');
    const filter = iotArn(scope, 'topicfilter', '');
    return {
      principalId: result.answer.principalId,
      authorizerName: result.authorizer.authorizerName,
      canConnect: (clientId) => bound('iot:Connect', iotArn(scope, 'client', clientId)),
      canPublish: (name) => bound('iot:Publish', topic + name),
      canSubscribe: (f) => bound('iot:Subscribe', filter + f),
      canReceive: (name) => bound('iot:Receive', topic + name),
      canRetainPublish: (name) => bound('iot:RetainPublish', topic + name),
    };
  }

  async #invoke(authorizer: AuthorizerRecord, payload: unknown): Promise<InvokeOutcome> {
    const timeoutMs = this.#deps.timeoutMs ?? AUTHORIZER_TIMEOUT_MS;
    const controller = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
        reject(new Error('timed out'));
      }, timeoutMs);
    });
    const fn = authorizer.authorizerFunctionArn;
    let res;
    try {
      res = await Promise.race([this.#deps.invoke(fn, Buffer.from(JSON.stringify(payload)), controller.signal), deadline]);
    } catch (err) {
      if (timedOut) return { ok: false, outcome: 'timeout', detail: `authorizer ${authorizer.authorizerName}: function ${fn} did not answer within ${timeoutMs} ms` };
      return { ok: false, outcome: 'error', detail: `authorizer ${authorizer.authorizerName}: function ${fn} could not be invoked: ${(err as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
    if (res.functionError || res.status < 200 || res.status >= 300) {
      return { ok: false, outcome: 'error', detail: `authorizer ${authorizer.authorizerName}: function ${fn} failed (${res.functionError ? `function error ${res.functionError}` : `HTTP ${res.status}`})` };
    }
    try {
      return { ok: true, ...parseAuthorizerAnswer(res.body) };
    } catch (err) {
      return { ok: false, outcome: 'malformed', detail: `authorizer ${authorizer.authorizerName}: function ${fn} answered malformed: ${(err as Error).message}` };
    }
  }

  #verify(authorizer: AuthorizerRecord, token: string, signature: string): boolean {
    let entry = this.#keys.get(authorizer.authorizerName);
    if (!entry || entry.generationId !== authorizer.generationId) {
      // Keys were checked on CreateAuthorizer/UpdateAuthorizer; one that still does not load (a record written by other means) verifies nothing.
      const keys: KeyObject[] = [];
      for (const pem of Object.values(authorizer.tokenSigningPublicKeys ?? {})) {
        try {
          keys.push(createPublicKey(pem));
        } catch (err) {
          this.#logger?.warn({ authorizer: authorizer.authorizerName, err: (err as Error).message }, 'a token signing public key does not load');
        }
      }
      entry = { generationId: authorizer.generationId, keys };
      this.#keys.set(authorizer.authorizerName, entry);
    }
    // Devices URL-encode the base64 signature (the AWS SDKs do); decoding twice is harmless for base64.
    const bytes = Buffer.from(safeDecode(signature), 'base64');
    if (bytes.length === 0) return false;
    return entry.keys.some((key) => {
      try {
        return verify('sha256', Buffer.from(token, 'utf8'), key, bytes);
      } catch {
        return false; // a signature of the wrong size for the key
      }
    });
  }

  #count(outcome: CustomAuthOutcome): void {
    this.#counter.inc({ outcome });
    this.#counts.set(outcome, (this.#counts.get(outcome) ?? 0) + 1);
  }

  #refuse(reason: 'bad-credentials' | 'not-authorized', outcome: CustomAuthOutcome, detail: string, request: CustomAuthRequest): CustomAuthResult {
    this.#count(outcome);
    const failed = outcome === 'timeout' || outcome === 'error' || outcome === 'malformed';
    const fields = { connectionId: request.connectionId, outcome, detail };
    if (failed) this.#logger?.warn(fields, 'custom authorizer failed; refusing');
    else this.#logger?.info(fields, 'custom authentication refused');
    return { ok: false, reason, outcome, detail };
  }
}

type InvokeOutcome = { ok: true; answer: AuthorizerAnswer; policies: CompiledPolicies | undefined } | { ok: false; outcome: 'timeout' | 'error' | 'malformed'; detail: string };

/** AWS's event for the function (developer guide, "Defining your Lambda function"); fields that do not apply are left out. */
function event(request: Omit<CustomAuthRequest, 'token'>, token: string | undefined, signatureVerified: boolean): Record<string, unknown> {
  const protocolData: Record<string, unknown> = {};
  if (request.tls) protocolData['tls'] = request.tls.serverName !== undefined ? { serverName: request.tls.serverName } : {};
  if (request.http) protocolData['http'] = { headers: request.http.headers, queryString: request.http.queryString };
  if (request.mqtt) {
    const { username, password, clientId } = request.mqtt;
    protocolData['mqtt'] = {
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password: password.toString('base64') } : {}),
      ...(clientId !== undefined ? { clientId } : {}),
    };
  }
  return {
    ...(token !== undefined ? { token } : {}),
    signatureVerified,
    protocols: request.protocols,
    protocolData,
    connectionMetadata: { id: request.connectionId },
  };
}

function cacheKey(authorizerName: string, token: string | undefined, request: CustomAuthRequest): string {
  const hash = createHash('sha256');
  for (const part of [authorizerName, token, request.tokenSignature, request.mqtt?.username]) hash.update(`${part === undefined ? '-' : `+${part.length}:${part}`}`);
  hash.update(request.mqtt?.password ?? Buffer.alloc(0));
  return hash.digest('base64');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
