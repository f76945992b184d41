/**
 * Custom authentication at the gateway (AWS IoT developer guide, "Connecting to AWS IoT Core by
 * using custom authentication"): reads a device's custom-auth credentials from where AWS IoT
 * reads them, and hands them to the registry's `CustomAuthorizers` (signature, function,
 * answer, cache). Its policies are then enforced per packet by the same policy engine as
 * certificates.
 *
 * Where the credentials are:
 * - MQTT (TCP, TLS): the CONNECT username's query string,
 *   `name?x-amz-customauthorizer-name=A&x-amz-customauthorizer-signature=S&<tokenKeyName>=T`,
 *   and the password (passed to the function base64-encoded).
 * - MQTT over WebSocket: the same three as headers of the upgrade request or as parameters of
 *   its query string (`/mqtt?x-amz-customauthorizer-name=...`), or in the CONNECT username.
 * - HTTP publish: headers or query parameters of the POST.
 * A connection that names an authorizer (or sends a signature) uses custom authentication.
 * One that does not falls back to the listener's own authenticator (certificates, or anonymous
 * on loopback); when that finds no credentials at all and a default authorizer is set, the
 * default authorizer decides, as on AWS IoT's endpoint.
 *
 * A custom-authenticated connection needs `iot:Connect` on `client/<clientId>` from the
 * returned policies. It is closed after `disconnectAfterInSeconds` (lifecycle reason
 * CUSTOMAUTH_TTL_EXPIRATION, MQTT 5 reason 0xA0), and every `refreshAfterInSeconds` the
 * authorizer is asked again: a denial then disconnects it, an answer replaces its policies.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../core/index.js';
import type { CustomAuthProtocol, CustomAuthRequest, CustomAuthSession, CustomAuthorizers } from '../registry/index.js';
import { isAnonymous, type AuthenticateResult, type Authenticator, type ClientContext, type ConnectInfo } from './auth.js';

export const AUTHORIZER_NAME_PARAM = 'x-amz-customauthorizer-name';
export const SIGNATURE_PARAM = 'x-amz-customauthorizer-signature';

/** How often live custom-authenticated connections are checked for expiry and refresh. */
const DEFAULT_SWEEP_MS = 1_000;

export interface CustomAuthenticatorDeps {
  readonly logger?: Logger;
  /** Epoch milliseconds; tests pass one they can move. */
  readonly now?: () => number;
  readonly sweepMs?: number;
}

/** What a custom-authenticated connection carries as its `state`. */
interface CustomState {
  readonly custom: {
    session: CustomAuthSession;
    readonly request: CustomAuthRequest;
    readonly disconnectAt: number;
    refreshAt: number;
    refreshing: boolean;
    revoked: boolean;
  };
}

const customOf = (client: ClientContext): CustomState['custom'] | undefined => (client.state as Partial<CustomState> | undefined)?.custom;

/** Custom-auth parameters from a query string (`?a=b&c=d` or `a=b&c=d`); `+` stays `+` (base64 signatures). */
function queryParams(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (text.startsWith('?') ? text.slice(1) : text).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(name)) out.set(name, eq < 0 ? '' : decode(part.slice(eq + 1)));
  }
  return out;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Looks a parameter up in each source in turn (headers by lower-case name). */
function credentials(sources: { params: readonly Map<string, string>[]; headers?: Readonly<Record<string, string>> | undefined }) {
  const find = (name: string): string | undefined => {
    for (const params of sources.params) {
      const value = params.get(name);
      if (value !== undefined) return value;
    }
    return sources.headers?.[name.toLowerCase()];
  };
  const authorizerName = find(AUTHORIZER_NAME_PARAM);
  const tokenSignature = find(SIGNATURE_PARAM);
  return { authorizerName, tokenSignature, token: find, named: authorizerName !== undefined || tokenSignature !== undefined };
}

/**
 * Wraps a listener's authenticator with custom authentication. The wrapped one keeps deciding
 * for the connections it let in.
 */
export function withCustomAuthentication(base: Authenticator, custom: CustomAuthorizers, deps: CustomAuthenticatorDeps = {}): Authenticator {
  const logger = deps.logger?.child({ module: 'ingest.custom-auth' });
  const now = deps.now ?? Date.now;

  const authenticateCustom = async (info: ConnectInfo, found: ReturnType<typeof credentials>): Promise<AuthenticateResult> => {
    // kiot's WebSocket listener is plain HTTP: only the mqtts listener adds `tls`.
    const protocols: CustomAuthProtocol[] = [...(info.transport === 'mqtts' ? (['tls'] as const) : []), ...(info.http ? (['http'] as const) : []), 'mqtt'];
    const request: CustomAuthRequest = {
      authorizerName: found.authorizerName,
      tokenSignature: found.tokenSignature,
      token: found.token,
      protocols,
      ...(info.transport === 'mqtts' ? { tls: { serverName: info.serverName } } : {}),
      ...(info.http ? { http: info.http } : {}),
      mqtt: { username: info.username, password: info.password, clientId: info.clientId },
      connectionId: randomUUID(),
    };
    const result = await custom.authenticate(request);
    if (!result.ok) return { ok: false, reason: result.reason };
    // `anonymous` names clients nobody vouched for (see auth.ts); a function may not claim it.
    if (isAnonymous(result.answer.principalId)) {
      logger?.warn({ clientId: info.clientId, authorizer: result.authorizer.authorizerName }, 'custom authorizer answered the reserved principalId "anonymous"; refusing');
      return { ok: false, reason: 'not-authorized' };
    }
    const session = custom.session(result, { clientId: info.clientId, sourceIp: info.remoteAddress.replace(/:\d+$/, '') });
    if (!session.canConnect(info.clientId)) {
      logger?.info({ clientId: info.clientId, principalId: session.principalId, authorizer: session.authorizerName }, 'custom authorizer policies do not allow iot:Connect for this client id');
      return { ok: false, reason: 'not-authorized' };
    }
    const at = now();
    const state: CustomState = {
      custom: {
        session,
        request,
        disconnectAt: at + result.answer.disconnectAfterInSeconds * 1000,
        refreshAt: at + result.answer.refreshAfterInSeconds * 1000,
        refreshing: false,
        revoked: false,
      },
    };
    return { ok: true, principal: session.principalId, state };
  };

  const authenticator: Authenticator = {
    async authenticate(info) {
      const found = credentials({
        params: [queryParams(info.username?.includes('?') ? info.username.slice(info.username.indexOf('?')) : ''), queryParams(info.http?.queryString ?? '')],
        headers: info.http?.headers,
      });
      if (found.named) return authenticateCustom(info, found);
      const result = await base.authenticate(info);
      // No credentials the listener knows (no certificate): the default authorizer, when set, decides.
      if (!result.ok && result.reason === 'bad-credentials' && !info.clientCertificate && custom.hasDefault()) return authenticateCustom(info, found);
      return result;
    },
    authorizePublish: (client, topic) => {
      const state = customOf(client);
      if (state) return state.session.canPublish(topic);
      return base.authorizePublish ? base.authorizePublish(client, topic) : true;
    },
    authorizeSubscribe: (client, filter) => {
      const state = customOf(client);
      if (state) return state.session.canSubscribe(filter);
      return base.authorizeSubscribe ? base.authorizeSubscribe(client, filter) : true;
    },
    authorizeReceive: (client, topic) => {
      const state = customOf(client);
      if (state) return state.session.canReceive(topic);
      return base.authorizeReceive ? base.authorizeReceive(client, topic) : true;
    },
    ...(base.requestClientCertificate !== undefined ? { requestClientCertificate: base.requestClientCertificate } : {}),
    watch(disconnect) {
      const stopBase = base.watch?.((shouldDisconnect) => disconnect((client) => (customOf(client) ? false : shouldDisconnect(client))));
      const refresh = (client: ClientContext, state: CustomState['custom']) => {
        state.refreshing = true;
        custom
          .authenticate(state.request)
          .then((result) => {
            const session = result.ok ? custom.session(result, { clientId: client.clientId, sourceIp: client.remoteAddress.replace(/:\d+$/, '') }) : undefined;
            if (!result.ok || !session!.canConnect(client.clientId)) {
              logger?.info({ clientId: client.clientId, principal: client.principal }, 'custom authorizer no longer allows the connection; disconnecting');
              state.revoked = true;
              disconnect((c) => customOf(c) === state);
              return;
            }
            state.session = session!;
            state.refreshAt = now() + result.answer.refreshAfterInSeconds * 1000;
          })
          .catch((err: unknown) => logger?.warn({ err, clientId: client.clientId }, 'custom authorizer refresh failed'))
          .finally(() => (state.refreshing = false));
      };
      const timer = setInterval(() => {
        const at = now();
        disconnect((client) => {
          const state = customOf(client);
          if (!state) return false;
          if (state.revoked) return true;
          if (at >= state.disconnectAt) return 'expired';
          if (at >= state.refreshAt && !state.refreshing) refresh(client, state);
          return false;
        });
      }, deps.sweepMs ?? DEFAULT_SWEEP_MS);
      timer.unref();
      return () => {
        clearInterval(timer);
        stopBase?.();
      };
    },
  };
  return authenticator;
}

/** A device on the HTTPS listener authenticated by a custom authorizer: what it may do in one request. */
export interface HttpCustomSession {
  readonly principal: string;
  /** The thing the publisher acts as (a certificate's only thing; none for custom authentication). */
  readonly thingName?: string | undefined;
  canPublish(topic: string): boolean;
  canRetainPublish(topic: string): boolean;
}

export type HttpCustomResult = { readonly ok: true; readonly session: HttpCustomSession } | { readonly ok: false; readonly reason: 'bad-credentials' | 'not-authorized'; readonly detail: string };

/**
 * Custom authentication for HTTP publish: `undefined` when the request carries no custom-auth
 * credentials (and `useDefault` is false, or no default authorizer is set), so the caller uses
 * its certificate check.
 */
export function httpCustomAuthenticate(
  custom: CustomAuthorizers,
  request: { readonly headers: Readonly<Record<string, string | string[] | undefined>>; readonly queryString: string; readonly remoteAddress: string; readonly serverName?: string | undefined },
  useDefault: boolean,
): Promise<HttpCustomResult> | undefined {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  const found = credentials({ params: [queryParams(request.queryString)], headers });
  if (!found.named && !(useDefault && custom.hasDefault())) return undefined;
  return (async (): Promise<HttpCustomResult> => {
    const result = await custom.authenticate({
      authorizerName: found.authorizerName,
      tokenSignature: found.tokenSignature,
      token: found.token,
      protocols: ['tls', 'http'],
      tls: { serverName: request.serverName },
      http: { headers, queryString: request.queryString },
      connectionId: randomUUID(),
    });
    if (!result.ok) return { ok: false, reason: result.reason, detail: result.detail };
    const session = custom.session(result, { sourceIp: request.remoteAddress.replace(/:\d+$/, '') });
    return { ok: true, session: { principal: session.principalId, canPublish: session.canPublish, canRetainPublish: session.canRetainPublish } };
  })();
}
