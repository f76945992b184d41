/**
 * The factory the composition root calls: takes the registry store (or opens one), makes the
 * kiot CA on first start, and hands out the certificate, policy and principal services.
 */
import type { Log, Logger, SharedConfig } from '../../core/index.js';
import { DEFAULT_ARN_REGION, type ThingGroupRecord, type ThingRecord, type ThingRegistryChange } from '../things/index.js';
import { CertificateService } from '../certificates/certificate-service.js';
import type { ArnScope } from '../policies/engine.js';
import { PolicyService, type ThingDirectory } from '../policies/policy-service.js';
import { DeviceAuthorizer } from './device-auth.js';
import { RegistryStore } from '../store.js';
import { PrincipalDirectory, type ThingLookup } from './principals.js';
import type { SecurityStore } from './store.js';

/** The ARN scope of a config: its region (or the things registry's default) and account id. */
export const arnScopeOf = (config: Pick<SharedConfig, 'region' | 'accountId'>): ArnScope => ({
  partition: 'aws',
  region: config.region ?? DEFAULT_ARN_REGION,
  accountId: config.accountId,
});

/**
 * What `thingsDirectory` reads from the things registry. `ThingRegistry` has all of it; without
 * the group methods thing group policies are not inherited, without `onChange` live sessions
 * are not re-checked when group membership changes.
 */
export interface ThingsSource {
  thing(name: string): ThingRecord | undefined;
  thingGroup?(name: string): ThingGroupRecord | undefined;
  groupsOf?(thing: ThingRecord): ThingGroupRecord[];
  ancestors?(group: ThingGroupRecord): ThingGroupRecord[];
  onChange?(listener: (change: ThingRegistryChange) => void): () => void;
}

/** Adapts the things registry to what policies and principals need. */
export function thingsDirectory(registry: ThingsSource): ThingDirectory & ThingLookup {
  const { groupsOf, ancestors, thingGroup, onChange } = registry;
  return {
    hasThing: (name) => registry.thing(name) !== undefined,
    ...(groupsOf && ancestors
      ? {
          thingGroupsOf: (thingName: string) => {
            const thing = registry.thing(thingName);
            if (!thing) return [];
            const out = new Set<string>();
            for (const group of groupsOf.call(registry, thing)) {
              out.add(group.thingGroupName);
              for (const a of ancestors.call(registry, group)) out.add(a.thingGroupName);
            }
            return [...out];
          },
        }
      : {}),
    ...(thingGroup && ancestors
      ? {
          groupAncestors: (groupName: string) => {
            const group = thingGroup.call(registry, groupName);
            return group ? ancestors.call(registry, group).map((g) => g.thingGroupName).reverse() : undefined;
          },
        }
      : {}),
    ...(onChange ? { onChange: (listener: (change: ThingRegistryChange) => void) => onChange.call(registry, listener) } : {}),
    describeThing: (name) => {
      const thing = registry.thing(name);
      if (!thing) return undefined;
      return { attributes: thing.attributes, ...(thing.thingTypeName !== undefined ? { thingTypeName: thing.thingTypeName } : {}) };
    },
  };
}

export interface SecurityServiceDeps {
  readonly log: Log;
  readonly logger: Logger;
  /** The things registry: existence checks (AttachThingPrincipal) and thing variables (policies). */
  readonly things?: ThingDirectory & ThingLookup;
  /** Epoch milliseconds for certificate checks and records (and for commands, in a store opened here). */
  readonly now?: () => number;
  /**
   * The registry store shared with the thing registry (`ThingRegistry.store`), so that one
   * store holds every registry record and runs every registry command. Without it the service
   * opens a store of its own and closes it on stop (tests).
   */
  readonly registryStore?: RegistryStore;
}

export interface SecurityServices {
  readonly certificates: CertificateService;
  readonly policies: PolicyService;
  readonly principals: PrincipalDirectory;
  /** Connect/publish/subscribe/receive decisions for the gateway. */
  readonly devices: DeviceAuthorizer;
  /** The security records of the registry store, read-only. */
  readonly store: SecurityStore;
}

export interface SecurityService {
  /** Opens the registry store unless one was given (catching up), creates the kiot CA if there is none. Safe to call twice. */
  start(): Promise<SecurityServices>;
  /** Stops the services, and closes the registry store if it opened it. Safe to call twice and concurrently. */
  stop(): Promise<void>;
}

/** The registry has no settings of its own: it reads the shared region and account id (ARNs). */
export function createSecurityService(config: Pick<SharedConfig, 'region' | 'accountId'>, deps: SecurityServiceDeps): SecurityService {
  const scope = arnScopeOf(config);
  let started: Promise<SecurityServices> | undefined;
  let stopping: Promise<void> | undefined;
  let ownStore: RegistryStore | undefined;
  return {
    start() {
      started ??= (async () => {
        const registry =
          deps.registryStore ??
          (ownStore = await RegistryStore.open({ log: deps.log, logger: deps.logger, region: scope.region, accountId: scope.accountId, ...(deps.now ? { clock: deps.now } : {}) }));
        const certificates = new CertificateService({ registry, scope, logger: deps.logger, ...(deps.now ? { now: deps.now } : {}) });
        const policies = new PolicyService({ registry, scope, ...(deps.things ? { things: deps.things } : {}) });
        const principals = new PrincipalDirectory({ store: registry.security, certificates, policies, things: deps.things });
        try {
          await certificates.ensureKiotCa();
        } catch (err) {
          principals.close();
          await ownStore?.close();
          throw err;
        }
        return { certificates, policies, principals, devices: new DeviceAuthorizer(principals, scope), store: registry.security };
      })();
      return started;
    },
    stop() {
      stopping ??= (async () => {
        if (!started) return;
        const services = await started.catch(() => undefined);
        services?.principals.close();
        await ownStore?.close();
      })();
      return stopping;
    },
  };
}
