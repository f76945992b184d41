/**
 * The gateway's `Authenticator` backed by the registry: devices authenticate with an X.509
 * client certificate (matched by SHA-256 fingerprint) and are held to the AWS IoT policies
 * attached to it, as AWS IoT's device gateway does:
 *
 * - CONNECT: the certificate must be registered and ACTIVE and `iot:Connect` must allow
 *   `client/<clientId>` (no certificate or an unknown one: bad credentials; INACTIVE, REVOKED or
 *   a client id the policies refuse: not authorized). Taking a connected client id over goes
 *   through the same check, so only a client allowed to connect with that id can do it.
 * - PUBLISH, SUBSCRIBE, delivery: `iot:Publish`, `iot:Subscribe` (the filter as sent, wildcards
 *   literal), `iot:Receive`. What a denial does is the gateway's (AWS's behaviour: a 3.1.1 client
 *   is disconnected on a denied publish, a v5 client gets reason code 0x87; a denied
 *   subscription gets 0x80/0x87 in SUBACK; a denied delivery is dropped).
 * - Changes: when a certificate, an attachment or a policy changes, live connections are
 *   re-checked: a certificate no longer ACTIVE, or a client id no longer allowed, disconnects
 *   (0x87 for v5); otherwise the connection carries on with the new policies.
 *
 * - Auto-registration (JITR / JITP): a certificate the registry does not know is handed to
 *   `deps.autoRegister` (provisioning's just-in-time decision, wired by `kiot up`), then
 *   authenticated again: registered PENDING_ACTIVATION (JITR) it is refused as not authorized;
 *   provisioned ACTIVE (JITP) it connects; refused, it is bad credentials as before.
 *
 * Registry lives below ingest: this file imports the registry, never the reverse.
 */
import { Counter, Registry, type Logger } from '../core/index.js';
import type { DeviceSession, SecurityServices } from '../registry/index.js';
import type { AuthenticateResult, Authenticator, ClientContext, ConnectInfo } from './auth.js';

/** How long changes are gathered before live connections are re-checked. */
const RECHECK_DELAY_MS = 100;

/** What a connection keeps: its decisions, replaced when policies change. */
interface DeviceState {
  session: DeviceSession;
}

export type DenialAction = 'connect' | 'publish' | 'subscribe' | 'receive' | 'revoke';

export interface RegistryAuthenticator extends Authenticator {
  /** `kiot_gateway_auth_denials_total{action,reason}`; include it in `/metrics`. */
  readonly metricsRegistry: Registry;
  /** Denials counted so far for one action (tests and the benchmark read it). */
  denials(action: DenialAction): number;
}

export interface RegistryAuthenticatorDeps {
  readonly logger?: Logger;
  /** A registry to register the counter in; a new one by default. */
  readonly metricsRegistry?: Registry;
  /**
   * Called for a client certificate the registry does not know, before the connection is
   * decided (just-in-time registration and provisioning). Must not reject.
   */
  readonly autoRegister?: (certificate: { readonly raw: Buffer }) => Promise<unknown>;
}

/** Builds the authenticator from the registry's security services (`createSecurityService().start()`). */
export function createRegistryAuthenticator(security: Pick<SecurityServices, 'devices' | 'principals'>, deps: RegistryAuthenticatorDeps = {}): RegistryAuthenticator {
  const logger = deps.logger?.child({ module: 'ingest.auth-registry' });
  const metricsRegistry = deps.metricsRegistry ?? new Registry();
  const counter = new Counter({
    name: 'kiot_gateway_auth_denials_total',
    help: 'Connections, publishes, subscriptions and deliveries the gateway refused by certificate and policy (revoke: live connections ended by a certificate or policy change).',
    labelNames: ['action', 'reason'],
    registers: [metricsRegistry],
  });
  const counts = new Map<DenialAction, number>();
  const deny = (action: DenialAction, reason: string): false => {
    counter.inc({ action, reason });
    counts.set(action, (counts.get(action) ?? 0) + 1);
    return false;
  };
  const stateOf = (client: ClientContext): DeviceState => {
    const state = client.state as DeviceState | undefined;
    // Only connections this authenticator let in reach the authorize calls.
    if (!state?.session) throw new Error('client was not authenticated by the registry authenticator');
    return state;
  };
  const connect = (info: Pick<ConnectInfo, 'clientId' | 'remoteAddress' | 'clientCertificate'>) =>
    security.devices.connect(info.clientCertificate ? { fingerprint256: info.clientCertificate.fingerprint256 } : undefined, info.clientId, info.remoteAddress);
  const decide = (info: ConnectInfo, result: ReturnType<typeof connect>): AuthenticateResult => {
    if (!result.ok) {
      deny('connect', result.reason);
      logger?.info({ clientId: info.clientId, remote: info.remoteAddress, detail: result.detail }, 'connection refused');
      return { ok: false, reason: result.reason };
    }
    const state: DeviceState = { session: result.session };
    return {
      ok: true,
      principal: result.session.principal.certificateId,
      ...(result.session.thingName !== undefined ? { thingName: result.session.thingName } : {}),
      state,
    };
  };

  return {
    metricsRegistry,
    requestClientCertificate: true,
    denials: (action) => counts.get(action) ?? 0,

    authenticate(info): AuthenticateResult | Promise<AuthenticateResult> {
      const first = connect(info);
      // bad-credentials with a certificate: one the registry does not know.
      const certificate = info.clientCertificate;
      if (!first.ok && first.reason === 'bad-credentials' && certificate && deps.autoRegister) {
        return deps.autoRegister({ raw: certificate.raw }).then(() => decide(info, connect(info)));
      }
      return decide(info, first);
    },

    authorizePublish: (client, topic) => stateOf(client).session.canPublish(topic) || deny('publish', 'policy'),
    authorizeSubscribe: (client, filter) => stateOf(client).session.canSubscribe(filter) || deny('subscribe', 'policy'),
    authorizeReceive: (client, topic) => stateOf(client).session.canReceive(topic) || deny('receive', 'policy'),

    watch(disconnect) {
      // Changes come one record at a time (a policy update, a batch of attachments): coalesce them,
      // so that a burst costs one pass over live connections, within a fraction of a second.
      const pending = new Set<string>();
      let everyone = false;
      let timer: NodeJS.Timeout | undefined;
      const flush = () => {
        timer = undefined;
        const all = everyone;
        const ids = new Set(pending);
        everyone = false;
        pending.clear();
        disconnect((client) => {
          const state = client.state as DeviceState | undefined;
          if (!state?.session) return false;
          if (!all && !ids.has(state.session.principal.certificateId)) return false;
          const again = connect(client);
          if (!again.ok) {
            deny('revoke', again.reason);
            logger?.info({ clientId: client.clientId, detail: again.detail }, 'disconnecting: certificate or policy no longer allows the connection');
            return true;
          }
          state.session = again.session; // carry on with the policies as they are now
          return false;
        });
      };
      const unsubscribe = security.principals.onChange((change) => {
        if (change.certificateId === undefined) everyone = true;
        else pending.add(change.certificateId);
        if (!timer) {
          timer = setTimeout(flush, RECHECK_DELAY_MS);
          timer.unref();
        }
      });
      return () => {
        unsubscribe();
        clearTimeout(timer);
      };
    },
  };
}
