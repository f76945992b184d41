/**
 * Policy and attachment writes as registry commands. Their inputs are already validated and
 * canonical (`policy-service.ts` does that before `execute`); each run reads the store, checks
 * the rules that depend on its current state, and returns the writes. Because registry commands
 * run one at a time, two CreatePolicyVersion calls get different version ids, and an
 * attachment check and its write see the same state.
 */
import { PlatformError, type StateView } from '../../core/index.js';
import { registryCommand, type RegistryCommand } from '../commands.js';
import { KEYS, type PolicyRecord, type PolicyVersionRecord, type SecurityStore, type ThingPrincipalType } from '../principals/store.js';
import type { RegistryValue } from '../store.js';
import { KEY_PREFIX } from '../things/model.js';

/** AWS IoT: at most five versions of a policy (VersionsLimitExceededException beyond). */
export const MAX_POLICY_VERSIONS = 5;

/** The names the policy service executes its commands by. */
export const POLICY_COMMANDS = {
  create: 'policy.create',
  ensure: 'policy.ensure',
  delete: 'policy.delete',
  createVersion: 'policy.createVersion',
  setDefaultVersion: 'policy.setDefaultVersion',
  deleteVersion: 'policy.deleteVersion',
  attach: 'policy.attach',
  detach: 'policy.detach',
  attachThingPrincipal: 'thingPrincipal.attach',
  detachThingPrincipal: 'thingPrincipal.detach',
} as const;

export interface PolicyVersionChange {
  readonly policy: PolicyRecord;
  readonly version: PolicyVersionRecord;
}

export interface AttachThingPrincipalInput {
  readonly thingName: string;
  /** Canonical principal ARN. */
  readonly principal: string;
  readonly type: ThingPrincipalType;
  /**
   * The thing was in this store when the service checked it: it must still be when the
   * attachment is written (DeleteThing may have run in between). False when the thing directory
   * is not this store (tests with a directory of their own).
   */
  readonly thingStored: boolean;
}

const noChange = <R>(result: R) => ({ result, writes: [] });

export function policyCommands(security: SecurityStore): RegistryCommand<any, any>[] {
  return [
    registryCommand(POLICY_COMMANDS.create, (state, input: { name: string; document: string; arn: string }, ctx) => {
      if (state.has(KEYS.policy(input.name))) {
        throw new PlatformError('REGISTRY_ALREADY_EXISTS', `policy ${input.name} already exists`, { details: { resourceId: input.name, resourceArn: input.arn } });
      }
      const version: PolicyVersionRecord = { id: '1', document: input.document, createdAt: ctx.now };
      const policy: PolicyRecord = { name: input.name, defaultVersionId: '1', nextVersionId: 2, versions: [version], createdAt: ctx.now, updatedAt: ctx.now, generationId: ctx.newId() };
      return { result: { policy, version } satisfies PolicyVersionChange, writes: [{ key: KEYS.policy(input.name), value: policy }] };
    }),

    /**
     * CreatePolicy unless the policy exists with this document as its default version (then
     * nothing): for provisioning, where every device of a template shares one policy and many
     * devices are written in one registry.batch. Another document is REGISTRY_ALREADY_EXISTS.
     */
    registryCommand(POLICY_COMMANDS.ensure, (state, input: { name: string; document: string; arn: string }, ctx) => {
      const existing = state.get(KEYS.policy(input.name)) as PolicyRecord | undefined;
      if (existing) {
        const current = existing.versions.find((v) => v.id === existing.defaultVersionId);
        if (current && sameDocument(current.document, input.document)) return noChange({ policy: existing, version: current } satisfies PolicyVersionChange);
        throw new PlatformError('REGISTRY_ALREADY_EXISTS', `policy ${input.name} already exists with another document`, { details: { resourceId: input.name, resourceArn: input.arn } });
      }
      const version: PolicyVersionRecord = { id: '1', document: input.document, createdAt: ctx.now };
      const policy: PolicyRecord = { name: input.name, defaultVersionId: '1', nextVersionId: 2, versions: [version], createdAt: ctx.now, updatedAt: ctx.now, generationId: ctx.newId() };
      return { result: { policy, version } satisfies PolicyVersionChange, writes: [{ key: KEYS.policy(input.name), value: policy }] };
    }),

    // DeletePolicy: refused while attached or while it has versions besides the default (AWS).
    registryCommand(POLICY_COMMANDS.delete, (state, input: { name: string }) => {
      const policy = policyOf(state, input.name);
      const targets = security.policyTargets.countOf(input.name);
      if (targets > 0) throw new PlatformError('REGISTRY_DELETE_CONFLICT', `policy ${input.name} is attached to ${targets} target(s); detach it first`);
      if (policy.versions.length > 1) {
        throw new PlatformError('REGISTRY_DELETE_CONFLICT', `policy ${input.name} has ${policy.versions.length - 1} non-default version(s); delete them first`);
      }
      return { result: undefined, writes: [{ key: KEYS.policy(input.name), value: null }] };
    }),

    registryCommand(POLICY_COMMANDS.createVersion, (state, input: { name: string; document: string; setAsDefault: boolean }, ctx) => {
      const policy = policyOf(state, input.name);
      if (policy.versions.length >= MAX_POLICY_VERSIONS) {
        throw new PlatformError('REGISTRY_VERSIONS_LIMIT', `policy ${input.name} already has ${MAX_POLICY_VERSIONS} versions; delete one first`);
      }
      const version: PolicyVersionRecord = { id: String(policy.nextVersionId), document: input.document, createdAt: ctx.now };
      const next: PolicyRecord = {
        ...policy,
        versions: [...policy.versions, version],
        nextVersionId: policy.nextVersionId + 1,
        defaultVersionId: input.setAsDefault ? version.id : policy.defaultVersionId,
        updatedAt: ctx.now,
        generationId: ctx.newId(),
      };
      return { result: { policy: next, version } satisfies PolicyVersionChange, writes: [{ key: KEYS.policy(input.name), value: next }] };
    }),

    registryCommand(POLICY_COMMANDS.setDefaultVersion, (state, input: { name: string; versionId: string }, ctx) => {
      const policy = policyOf(state, input.name);
      versionOf(policy, input.versionId);
      if (policy.defaultVersionId === input.versionId) return noChange(undefined);
      return { result: undefined, writes: [{ key: KEYS.policy(input.name), value: { ...policy, defaultVersionId: input.versionId, updatedAt: ctx.now, generationId: ctx.newId() } }] };
    }),

    // DeletePolicyVersion: the default version cannot be deleted (DeletePolicy does that).
    registryCommand(POLICY_COMMANDS.deleteVersion, (state, input: { name: string; versionId: string }, ctx) => {
      const policy = policyOf(state, input.name);
      versionOf(policy, input.versionId);
      if (policy.defaultVersionId === input.versionId) {
        throw new PlatformError('REGISTRY_DELETE_CONFLICT', `version ${input.versionId} is the default version of policy ${input.name}; set another default or delete the policy`);
      }
      const next: PolicyRecord = { ...policy, versions: policy.versions.filter((v) => v.id !== input.versionId), updatedAt: ctx.now, generationId: ctx.newId() };
      return { result: undefined, writes: [{ key: KEYS.policy(input.name), value: next }] };
    }),

    // AttachPolicy (and the older AttachPrincipalPolicy). Attaching twice is a no-op, as in AWS.
    registryCommand(POLICY_COMMANDS.attach, (state, input: { name: string; target: string }) => {
      policyOf(state, input.name);
      assertTargetExists(state, input.target);
      const key = KEYS.policyTarget(input.name, input.target);
      if (state.has(key)) return noChange(undefined);
      return { result: undefined, writes: [{ key, value: {} }] };
    }),

    registryCommand(POLICY_COMMANDS.detach, (state, input: { name: string; target: string }) => {
      policyOf(state, input.name);
      const key = KEYS.policyTarget(input.name, input.target);
      if (!state.has(key)) return noChange(undefined);
      return { result: undefined, writes: [{ key, value: null }] };
    }),

    // AttachThingPrincipal. EXCLUSIVE_THING refuses a principal that is attached to another thing.
    registryCommand(POLICY_COMMANDS.attachThingPrincipal, (state, input: AttachThingPrincipalInput) => {
      const { thingName, principal, type } = input;
      if (input.thingStored && !state.has(KEY_PREFIX.thing + thingName)) throw thingNotFound(thingName);
      assertTargetExists(state, principal);
      const others = security.thingPrincipals.by(principal).filter((t) => t !== thingName);
      const exclusiveElsewhere = others.some((t) => (state.get(KEYS.thingPrincipal(t, principal)) as { type?: string } | undefined)?.type === 'EXCLUSIVE_THING');
      if ((type === 'EXCLUSIVE_THING' && others.length > 0) || exclusiveElsewhere) {
        throw new PlatformError('REGISTRY_INVALID', `principal is exclusively attached to, or already attached to, another thing (${others.join(', ')})`);
      }
      return { result: undefined, writes: [{ key: KEYS.thingPrincipal(thingName, principal), value: { type } }] };
    }),

    registryCommand(POLICY_COMMANDS.detachThingPrincipal, (state, input: { thingName: string; principal: string }) => {
      const key = KEYS.thingPrincipal(input.thingName, input.principal);
      if (!state.has(key)) return noChange(undefined);
      return { result: undefined, writes: [{ key, value: null }] };
    }),
  ];
}

/**
 * Refuses while principals are attached to the thing, so that no attachment outlives its
 * thing (AWS IoT: DeleteThing is InvalidRequestException then). DeleteThing runs it.
 */
export function assertThingHasNoPrincipals(security: SecurityStore, thingName: string): void {
  const count = security.thingPrincipals.countOf(thingName);
  if (count > 0) throw new PlatformError('REGISTRY_INVALID', `thing ${thingName} has ${count} attached principal(s); detach them first (DetachThingPrincipal)`);
}

/** The same policy document, whitespace and key order of the JSON text aside. */
function sameDocument(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return a === b;
  }
}

/** The policy, or REGISTRY_NOT_FOUND. */
export function policyOf(state: StateView<RegistryValue>, name: string): PolicyRecord {
  const policy = state.get(KEYS.policy(name)) as PolicyRecord | undefined;
  if (!policy) throw new PlatformError('REGISTRY_NOT_FOUND', `policy ${name} does not exist`, { details: { resourceId: name } });
  return policy;
}

/** A version of the policy, or REGISTRY_NOT_FOUND. */
export function versionOf(policy: PolicyRecord, versionId: string): PolicyVersionRecord {
  const version = policy.versions.find((v) => v.id === versionId);
  if (!version) throw new PlatformError('REGISTRY_NOT_FOUND', `policy ${policy.name} has no version ${versionId}`, { details: { resourceId: versionId } });
  return version;
}

export const thingNotFound = (thing: string): PlatformError => new PlatformError('REGISTRY_NOT_FOUND', `thing ${thing} does not exist`, { details: { resourceId: thing } });

/** A certificate target must be registered; other targets (thing groups, Cognito ids) are taken as given. */
function assertTargetExists(state: StateView<RegistryValue>, canonical: string): void {
  const cert = /:cert\/([0-9a-f]{64})$/.exec(canonical);
  if (cert && !state.has(KEYS.cert(cert[1]!))) {
    throw new PlatformError('REGISTRY_NOT_FOUND', `certificate ${cert[1]} does not exist`, { details: { resourceId: cert[1] } });
  }
}
