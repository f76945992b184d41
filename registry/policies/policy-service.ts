/**
 * AWS IoT policies (with their versions) and attachments: policy → target (AttachPolicy) and
 * thing ↔ principal (AttachThingPrincipal), over the security records of `iot.registry`.
 */
import { randomUUID } from 'node:crypto';
import { PlatformError } from '../../core/index.js';
import { paginate, type Page, type PageRequest } from '../principals/paging.js';
import { KEYS, type CertificateRecord, type PolicyRecord, type PolicyVersionRecord, type SecurityStore } from '../principals/store.js';
import { parsePolicyDocument, type ArnScope } from './engine.js';

/** AWS IoT: at most five versions of a policy (VersionsLimitExceededException beyond). */
export const MAX_POLICY_VERSIONS = 5;
/** AWS IoT policy names: `[\w+=,.@-]+`, 1 to 128 characters. */
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;
/** AWS IoT thing names: `[a-zA-Z0-9:_-]+`, 1 to 128 characters. */
const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;

/** What the policy service needs from the things registry (owned by another module). */
export interface ThingDirectory {
  /** Whether a thing of this name exists. */
  hasThing(name: string): boolean;
  /**
   * The groups whose policies a thing inherits: its (live) direct groups and all their
   * ancestors. Absent: thing group policies are not inherited.
   */
  thingGroupsOf?(thingName: string): readonly string[];
  /** A group's ancestors (parent first), or undefined when the group does not exist. */
  groupAncestors?(groupName: string): readonly string[] | undefined;
}

export interface PolicyServiceDeps {
  readonly store: SecurityStore;
  readonly scope: ArnScope;
  /** When absent, AttachThingPrincipal does not check that the thing exists. */
  readonly things?: ThingDirectory;
  readonly now?: () => number;
}

export type ThingPrincipalType = 'EXCLUSIVE_THING' | 'NON_EXCLUSIVE_THING';

export class PolicyService {
  readonly #store: SecurityStore;
  readonly #scope: ArnScope;
  readonly #things: ThingDirectory | undefined;
  readonly #now: () => number;

  constructor(deps: PolicyServiceDeps) {
    this.#store = deps.store;
    this.#scope = deps.scope;
    this.#things = deps.things;
    this.#now = deps.now ?? Date.now;
  }

  policyArn(name: string): string {
    return `arn:${this.#scope.partition ?? 'aws'}:iot:${this.#scope.region}:${this.#scope.accountId}:policy/${name}`;
  }

  /**
   * Canonical form of a principal: certificate ARNs are rewritten to this account and region
   * (kiot is one account), so that an ARN from any region names the same certificate.
   */
  canonicalPrincipal(principal: unknown, field = 'principal'): string {
    if (typeof principal !== 'string' || principal.length === 0) throw new PlatformError('REGISTRY_INVALID', `${field}: expected a principal ARN`);
    const cert = /^arn:[^:]+:iot:[^:]*:[^:]*:cert\/([0-9a-f]{64})$/.exec(principal);
    if (cert) return `arn:${this.#scope.partition ?? 'aws'}:iot:${this.#scope.region}:${this.#scope.accountId}:cert/${cert[1]}`;
    // Thing groups too: group policies are found by the canonical ARN of each of a thing's groups.
    const group = /^arn:[^:]+:iot:[^:]*:[^:]*:thinggroup\/([a-zA-Z0-9:_-]{1,128})$/.exec(principal);
    if (group) return this.thingGroupArn(group[1]!);
    return principal;
  }

  /** The canonical ARN of a thing group (the form group policy attachments are stored under). */
  thingGroupArn(name: string): string {
    return `arn:${this.#scope.partition ?? 'aws'}:iot:${this.#scope.region}:${this.#scope.accountId}:thinggroup/${name}`;
  }

  // --- policies --------------------------------------------------------------------------

  async createPolicy(name: unknown, document: unknown): Promise<{ policy: PolicyRecord; version: PolicyVersionRecord }> {
    const policyName = validPolicyName(name);
    const text = validDocument(document);
    if (this.#store.get<PolicyRecord>(KEYS.policy(policyName))) {
      throw new PlatformError('REGISTRY_ALREADY_EXISTS', `policy ${policyName} already exists`, {
        details: { resourceId: policyName, resourceArn: this.policyArn(policyName) },
      });
    }
    const now = this.#now();
    const version: PolicyVersionRecord = { id: '1', document: text, createdAt: now };
    const policy: PolicyRecord = { name: policyName, defaultVersionId: '1', nextVersionId: 2, versions: [version], createdAt: now, updatedAt: now, generationId: randomUUID() };
    await this.#store.put(KEYS.policy(policyName), policy);
    return { policy, version };
  }

  getPolicy(name: string): { policy: PolicyRecord; version: PolicyVersionRecord } {
    const policy = this.#policy(name);
    return { policy, version: this.#version(policy, policy.defaultVersionId) };
  }

  /** Policy names and default documents, for the authorizer. */
  findPolicyDocument(name: string): string | undefined {
    const policy = this.#store.get<PolicyRecord>(KEYS.policy(name));
    return policy?.versions.find((v) => v.id === policy.defaultVersionId)?.document;
  }

  /** DeletePolicy: refused while attached or while it has versions besides the default (AWS). */
  async deletePolicy(name: string): Promise<void> {
    const policy = this.#policy(name);
    const targets = this.#store.policyTargets.countOf(name);
    if (targets > 0) throw new PlatformError('REGISTRY_DELETE_CONFLICT', `policy ${name} is attached to ${targets} target(s); detach it first`);
    if (policy.versions.length > 1) {
      throw new PlatformError('REGISTRY_DELETE_CONFLICT', `policy ${name} has ${policy.versions.length - 1} non-default version(s); delete them first`);
    }
    await this.#store.delete(KEYS.policy(name));
  }

  listPolicies(request: PageRequest & { ascendingOrder?: boolean | undefined }): Page<PolicyRecord> {
    const all = this.#store.list<PolicyRecord>('policy/');
    const descending = request.ascendingOrder === false;
    if (descending) all.reverse();
    return paginate(all, request, (p) => p.name, descending);
  }

  async createPolicyVersion(name: string, document: unknown, setAsDefault: boolean): Promise<{ policy: PolicyRecord; version: PolicyVersionRecord }> {
    const policy = this.#policy(name);
    const text = validDocument(document);
    if (policy.versions.length >= MAX_POLICY_VERSIONS) {
      throw new PlatformError('REGISTRY_VERSIONS_LIMIT', `policy ${name} already has ${MAX_POLICY_VERSIONS} versions; delete one first`);
    }
    const now = this.#now();
    const version: PolicyVersionRecord = { id: String(policy.nextVersionId), document: text, createdAt: now };
    const next: PolicyRecord = {
      ...policy,
      versions: [...policy.versions, version],
      nextVersionId: policy.nextVersionId + 1,
      defaultVersionId: setAsDefault ? version.id : policy.defaultVersionId,
      updatedAt: now,
      generationId: randomUUID(),
    };
    await this.#store.put(KEYS.policy(name), next);
    return { policy: next, version };
  }

  getPolicyVersion(name: string, versionId: string): { policy: PolicyRecord; version: PolicyVersionRecord } {
    const policy = this.#policy(name);
    return { policy, version: this.#version(policy, versionId) };
  }

  listPolicyVersions(name: string): { policy: PolicyRecord; versions: readonly PolicyVersionRecord[] } {
    const policy = this.#policy(name);
    return { policy, versions: [...policy.versions].sort((a, b) => Number(b.id) - Number(a.id)) };
  }

  async setDefaultPolicyVersion(name: string, versionId: string): Promise<void> {
    const policy = this.#policy(name);
    this.#version(policy, versionId);
    if (policy.defaultVersionId === versionId) return;
    await this.#store.put(KEYS.policy(name), { ...policy, defaultVersionId: versionId, updatedAt: this.#now(), generationId: randomUUID() });
  }

  /** DeletePolicyVersion: the default version cannot be deleted (DeletePolicy does that). */
  async deletePolicyVersion(name: string, versionId: string): Promise<void> {
    const policy = this.#policy(name);
    this.#version(policy, versionId);
    if (policy.defaultVersionId === versionId) {
      throw new PlatformError('REGISTRY_DELETE_CONFLICT', `version ${versionId} is the default version of policy ${name}; set another default or delete the policy`);
    }
    await this.#store.put(KEYS.policy(name), { ...policy, versions: policy.versions.filter((v) => v.id !== versionId), updatedAt: this.#now(), generationId: randomUUID() });
  }

  // --- policy attachments ----------------------------------------------------------------

  /** AttachPolicy (and the older AttachPrincipalPolicy). Attaching twice is a no-op, as in AWS. */
  async attachPolicy(name: string, target: unknown): Promise<void> {
    this.#policy(name);
    const canonical = this.#existingTarget(target);
    if (this.#store.get(KEYS.policyTarget(name, canonical))) return;
    await this.#store.put(KEYS.policyTarget(name, canonical), {});
  }

  async detachPolicy(name: string, target: unknown): Promise<void> {
    this.#policy(name);
    const canonical = this.canonicalPrincipal(target, 'target');
    if (!this.#store.get(KEYS.policyTarget(name, canonical))) return;
    await this.#store.delete(KEYS.policyTarget(name, canonical));
  }

  /**
   * ListAttachedPolicies: policies attached to a target, by name. With `recursive` on a thing
   * group, also those of its ancestor groups, which its things inherit (AWS IoT, "Thing group
   * policies"); for other targets `recursive` changes nothing.
   */
  attachedPolicies(target: unknown, request: PageRequest, recursive = false): Page<string> {
    const canonical = this.canonicalPrincipal(target, 'target');
    const names = new Set(this.#store.policyTargets.by(canonical));
    const group = recursive ? /:thinggroup\/(.+)$/.exec(canonical)?.[1] : undefined;
    if (group !== undefined) {
      for (const ancestor of this.#things?.groupAncestors?.(group) ?? []) {
        for (const name of this.#store.policyTargets.by(this.thingGroupArn(ancestor))) names.add(name);
      }
    }
    return paginate([...names].sort(), request, (n) => n);
  }

  /**
   * The policies that decide for a certificate (or other principal): those attached to it and
   * those attached to every thing group, and ancestor group, of every thing it is attached to.
   * Sorted, without duplicates.
   */
  effectivePolicyNames(principal: string): string[] {
    const canonical = this.canonicalPrincipal(principal);
    const names = new Set(this.#store.policyTargets.by(canonical));
    const groupsOf = this.#things?.thingGroupsOf?.bind(this.#things);
    if (groupsOf) {
      const seen = new Set<string>();
      for (const thing of this.#store.thingPrincipals.by(canonical)) {
        for (const group of groupsOf(thing)) {
          if (seen.has(group)) continue;
          seen.add(group);
          for (const name of this.#store.policyTargets.by(this.thingGroupArn(group))) names.add(name);
        }
      }
    }
    return [...names].sort();
  }

  targetsForPolicy(name: string, request: PageRequest): Page<string> {
    this.#policy(name);
    return paginate([...this.#store.policyTargets.of(name)].sort(), request, (t) => t);
  }

  // --- thing principals -------------------------------------------------------------------

  /** AttachThingPrincipal. EXCLUSIVE_THING refuses a principal that is attached to another thing. */
  async attachThingPrincipal(thingName: unknown, principal: unknown, type: unknown = 'NON_EXCLUSIVE_THING'): Promise<void> {
    const thing = validThingName(thingName);
    if (this.#things && !this.#things.hasThing(thing)) throw new PlatformError('REGISTRY_NOT_FOUND', `thing ${thing} does not exist`, { details: { resourceId: thing } });
    if (type !== 'EXCLUSIVE_THING' && type !== 'NON_EXCLUSIVE_THING') {
      throw new PlatformError('REGISTRY_INVALID', `thingPrincipalType: expected EXCLUSIVE_THING or NON_EXCLUSIVE_THING, received ${String(type)}`);
    }
    const canonical = this.#existingTarget(principal);
    const others = this.#store.thingPrincipals.by(canonical).filter((t) => t !== thing);
    const exclusiveElsewhere = others.some((t) => this.#store.get<{ type: string }>(KEYS.thingPrincipal(t, canonical))?.type === 'EXCLUSIVE_THING');
    if ((type === 'EXCLUSIVE_THING' && others.length > 0) || exclusiveElsewhere) {
      throw new PlatformError('REGISTRY_INVALID', `principal is exclusively attached to, or already attached to, another thing (${others.join(', ')})`);
    }
    await this.#store.put(KEYS.thingPrincipal(thing, canonical), { type });
  }

  async detachThingPrincipal(thingName: unknown, principal: unknown): Promise<void> {
    const thing = validThingName(thingName);
    if (this.#things && !this.#things.hasThing(thing)) throw new PlatformError('REGISTRY_NOT_FOUND', `thing ${thing} does not exist`, { details: { resourceId: thing } });
    const canonical = this.canonicalPrincipal(principal);
    if (!this.#store.get(KEYS.thingPrincipal(thing, canonical))) return;
    await this.#store.delete(KEYS.thingPrincipal(thing, canonical));
  }

  thingPrincipals(thingName: unknown, request: PageRequest): Page<string> {
    const thing = validThingName(thingName);
    if (this.#things && !this.#things.hasThing(thing)) throw new PlatformError('REGISTRY_NOT_FOUND', `thing ${thing} does not exist`, { details: { resourceId: thing } });
    return paginate([...this.#store.thingPrincipals.of(thing)].sort(), request, (p) => p);
  }

  principalThings(principal: unknown, request: PageRequest): Page<string> {
    const canonical = this.canonicalPrincipal(principal);
    return paginate([...this.#store.thingPrincipals.by(canonical)].sort(), request, (t) => t);
  }

  /**
   * For the things service's DeleteThing (`beforeDeleteThing`): refuses while principals are
   * attached, so that no attachment outlives its thing.
   */
  assertThingHasNoPrincipals(thingName: string): void {
    const count = this.#store.thingPrincipals.countOf(thingName);
    if (count > 0) throw new PlatformError('REGISTRY_INVALID', `thing ${thingName} has ${count} attached principal(s); detach them first (DetachThingPrincipal)`);
  }

  /** Principals attached to a thing. */
  principalsOfThing(thingName: string): readonly string[] {
    return this.#store.thingPrincipals.of(thingName);
  }

  #existingTarget(target: unknown): string {
    const canonical = this.canonicalPrincipal(target, 'target');
    const cert = /:cert\/([0-9a-f]{64})$/.exec(canonical);
    if (cert && !this.#store.get<CertificateRecord>(KEYS.cert(cert[1]!))) {
      throw new PlatformError('REGISTRY_NOT_FOUND', `certificate ${cert[1]} does not exist`, { details: { resourceId: cert[1] } });
    }
    return canonical;
  }

  #policy(name: string): PolicyRecord {
    const policy = this.#store.get<PolicyRecord>(KEYS.policy(name));
    if (!policy) throw new PlatformError('REGISTRY_NOT_FOUND', `policy ${name} does not exist`, { details: { resourceId: name } });
    return policy;
  }

  #version(policy: PolicyRecord, versionId: string): PolicyVersionRecord {
    const version = policy.versions.find((v) => v.id === versionId);
    if (!version) throw new PlatformError('REGISTRY_NOT_FOUND', `policy ${policy.name} has no version ${versionId}`, { details: { resourceId: versionId } });
    return version;
  }
}

function validPolicyName(name: unknown): string {
  if (typeof name !== 'string' || !POLICY_NAME.test(name)) {
    throw new PlatformError('REGISTRY_INVALID', `policyName: expected 1-128 characters of [A-Za-z0-9_+=,.@-], received ${JSON.stringify(name)}`);
  }
  return name;
}

function validThingName(name: unknown): string {
  if (typeof name !== 'string' || !THING_NAME.test(name)) {
    throw new PlatformError('REGISTRY_INVALID', `thingName: expected 1-128 characters of [a-zA-Z0-9:_-], received ${JSON.stringify(name)}`);
  }
  return name;
}

/** Checks the document with the engine's parser (MalformedPolicyException) and keeps the caller's text. */
function validDocument(document: unknown): string {
  if (typeof document !== 'string' || document.length === 0) throw new PlatformError('REGISTRY_INVALID', 'policyDocument: expected a JSON policy document as a string');
  parsePolicyDocument(document);
  return document;
}
