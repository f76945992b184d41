/**
 * The gateway's authentication and authorization hook. The registry issue implements it with
 * X.509 certificates and AWS IoT policy documents; until then the gateway runs without one
 * (anonymous clients, loopback only; see `createGateway`).
 */

/** What a client presented when it connected. */
export interface ConnectInfo {
  readonly clientId: string;
  readonly protocolVersion: 3 | 4 | 5;
  readonly username?: string;
  readonly password?: Buffer;
  /** `ip:port` of the peer. */
  readonly remoteAddress: string;
  readonly transport: 'mqtt' | 'mqtts' | 'ws';
  /** The TLS server name the client asked for (SNI), on the TLS listener. */
  readonly serverName?: string | undefined;
  /**
   * The HTTP request that opened a WebSocket connection: its headers (lower-case names) and query
   * string (`?a=b`, empty when none). Custom authorizers read their credentials from it.
   */
  readonly http?: { readonly headers: Readonly<Record<string, string>>; readonly queryString: string } | undefined;
  /** The TLS client certificate, when the client sent one (mutual TLS). */
  readonly clientCertificate?: {
    /** DER bytes of the certificate. */
    readonly raw: Buffer;
    /** SHA-256 fingerprint, `AB:CD:...` as Node prints it. */
    readonly fingerprint256: string;
    /** Whether it chains to the configured CA (`tlsCa`). */
    readonly authorized: boolean;
  };
}

/** A connected, authenticated client as the authorize calls see it. */
export interface ClientContext extends ConnectInfo {
  /** Certificate id or other principal the authenticator named; `anonymous` without one. */
  readonly principal: string;
  readonly thingName?: string;
  /** What the authenticator returned as `state` for this connection (e.g. the bound policies). */
  readonly state?: unknown;
}

export type AuthenticateResult =
  | { readonly ok: true; readonly principal: string; readonly thingName?: string; readonly state?: unknown }
  /** `bad-credentials` becomes CONNACK 0x86 (v5) / 4 (3.1.1); `not-authorized` 0x87 / 5. */
  | { readonly ok: false; readonly reason: 'bad-credentials' | 'not-authorized' };

/**
 * Decides who may connect, publish and subscribe. Calls are made on the hot path, so
 * `authorizePublish` may answer synchronously. A method that throws is treated as a denial
 * (and logged); none of them is retried by the gateway.
 */
export interface Authenticator {
  /** Called once per CONNECT, before the session is created or resumed. */
  authenticate(info: ConnectInfo): AuthenticateResult | Promise<AuthenticateResult>;
  /** `iot:Publish` for one topic name; absent means allowed. */
  authorizePublish?(client: ClientContext, topic: string): boolean | Promise<boolean>;
  /** `iot:Subscribe` for one topic filter (as sent, `$share/...` included); absent means allowed. */
  authorizeSubscribe?(client: ClientContext, filter: string): boolean | Promise<boolean>;
  /**
   * `iot:Receive` for one message about to be sent to the client (live, queued or retained);
   * absent means allowed. Synchronous: it runs for every delivery. A denied message is dropped
   * for this client (as AWS IoT does), the connection stays.
   */
  authorizeReceive?(client: ClientContext, topic: string): boolean;
  /** Whether the TLS listener asks clients for a certificate even without a configured `tlsCa`. */
  readonly requestClientCertificate?: boolean;
  /**
   * Lets the authenticator end live connections whose rights are gone (a certificate made
   * INACTIVE or REVOKED, `iot:Connect` no longer allowed) or whose time is up (a custom
   * authorizer's `disconnectAfterInSeconds`). The gateway calls it once when it starts, with a
   * function that disconnects every live connection of this authenticator for which
   * `shouldDisconnect` returns true (not authorized) or `'expired'` (maximum connect time); it
   * calls the returned function when it stops.
   */
  watch?(disconnect: (shouldDisconnect: (client: ClientContext) => boolean | 'expired') => void): () => void;
}

/** The principal of a client no authenticator vouched for. */
export const ANONYMOUS_PRINCIPAL = 'anonymous';

/**
 * Whether a principal is anonymous. Anonymous and authenticated clients (a certificate, a custom
 * authorizer: any other principal) never share a client id or a session; see `Connection`.
 */
export const isAnonymous = (principal: string | undefined): boolean => principal === undefined || principal === ANONYMOUS_PRINCIPAL;

/** Lets every client in as `anonymous`: what the gateway does when no authenticator is configured. */
export const anonymousAuthenticator: Authenticator = {
  authenticate: () => ({ ok: true, principal: ANONYMOUS_PRINCIPAL }),
};
