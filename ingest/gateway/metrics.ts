/**
 * The gateway's own counters, registered the way `ingest/auth-registry.ts` registers its own:
 * in a prom-client registry the gateway exposes, which `kiot up` includes in `/metrics`.
 */
import { Counter, Registry } from '../../core/index.js';

/** AWS IoT quotas the gateway enforces per connection (see `GatewayLimits`). */
export type LimitName =
  | 'client-id-length'
  | 'topic-length'
  | 'topic-depth'
  | 'subscriptions-per-connection'
  | 'subscriptions-per-subscribe'
  | 'publish-rate'
  | 'throughput'
  | 'connect-rate';

/** Why an anonymous CONNECT was refused a client id (one identity per client id). */
export type IdentityRefusal = 'live-connection' | 'stored-session' | 'registered-thing';

export interface GatewayMetrics {
  /** Include it in `/metrics`. */
  readonly registry: Registry;
  limitRefused(limit: LimitName): void;
  identityRefused(reason: IdentityRefusal): void;
  /** Counts so far (tests read them). */
  limitRefusals(limit: LimitName): number;
  identityRefusals(reason?: IdentityRefusal): number;
}

export function createGatewayMetrics(registry: Registry = new Registry()): GatewayMetrics {
  const limits = new Counter({
    name: 'kiot_gateway_limit_refusals_total',
    help: 'Packets the MQTT gateway refused because they exceeded an AWS IoT per-connection quota, by limit.',
    labelNames: ['limit'],
    registers: [registry],
  });
  const identity = new Counter({
    name: 'kiot_gateway_identity_refusals_total',
    help: 'Anonymous CONNECTs refused because an authenticated principal owns the client id, by reason.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const limitCounts = new Map<LimitName, number>();
  const identityCounts = new Map<IdentityRefusal, number>();
  return {
    registry,
    limitRefused(limit) {
      limits.inc({ limit });
      limitCounts.set(limit, (limitCounts.get(limit) ?? 0) + 1);
    },
    identityRefused(reason) {
      identity.inc({ reason });
      identityCounts.set(reason, (identityCounts.get(reason) ?? 0) + 1);
    },
    limitRefusals: (limit) => limitCounts.get(limit) ?? 0,
    identityRefusals: (reason) => (reason === undefined ? [...identityCounts.values()].reduce((a, b) => a + b, 0) : (identityCounts.get(reason) ?? 0)),
  };
}
