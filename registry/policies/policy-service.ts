/**
 * AWS IoT policies (with their versions) and attachments: policy → target (AttachPolicy) and
 * thing ↔ principal (AttachThingPrincipal), over the security records of the registry store.
 * Reads come from the store's indexes; every write is a registry command (`commands.ts`), run
 * one at a time with every other registry command.
 */
import { PlatformError } from '../../core/index.js';
import { paginate, type Page, type PageRequest } from '../principals/paging.js';
import { KEYS, type PolicyRecord, type PolicyVersionRecord, type SecurityStore, type ThingPrincipalType } from '../principals/store.js';
import type { RegistryStore } from '../store.js';
import { KEY_PREFIX } from '../things/model.js';
import { POLICY_COMMANDS, assertThingHasNoPrincipals, policyOf, thingNotFound, versionOf, type AttachThingPrincipalInput, type PolicyVersionChange } from './commands.js';
import { parsePolicyDocument, type ArnScope } from './engine.js';

export { MAX_POLICY_VERSIONS } from './commands.js';
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
  /** The registry store: reads from its security view, writes through its commands. */
  readonly registry: RegistryStore;
  readonly scope: ArnScope;
  /** When absent, AttachThingPrincipal does not check that the thing exists. */
  readonly things?: ThingDirectory;
}

export class PolicyService {
  readonly #registry: RegistryStore;
  readonly #store: SecurityStore;
  readonly #scope: ArnScope;
  readonly #things: ThingDirectory | undefined;

  constructor(deps: PolicyServiceDeps) {
    this.#registry = deps.registry;
    this.#store = deps.registry.security;
    this.#scope = deps.scope;
    this.#things = deps.things;
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

  /** CreatePolicy. @throws PlatformError REGISTRY_ALREADY_EXISTS, POLICY_MALFORMED, REGISTRY_INVALID. */
  async createPolicy(name: unknown, document: unknown): Promise<PolicyVersionChange> {
    const policyName = validPolicyName(name);
    const text = validDocument(document);
    return this.#registry.execute(POLICY_COMMANDS.create, { name: policyName, document: text, arn: this.policyArn(policyName) });
  }

  getPolicy(name: string): PolicyVersionChange {
    const policy = this.#policy(name);
    return { policy, version: versionOf(policy, policy.defaultVersionId) };
  }

  /** Policy names and default documents, for the authorizer. */
  findPolicyDocument(name: string): string | undefined {
    const policy = this.#store.get<PolicyRecord>(KEYS.policy(name));
    return policy?.versions.find((v) => v.id === policy.defaultVersionId)?.document;
  }

  /** DeletePolicy: refused while attached or while it has versions besides the default (AWS). */
  async deletePolicy(name: string): Promise<void> {
    await this.#registry.execute(POLICY_COMMANDS.delete, { name });
  }

  listPolicies(request: PageRequest & { ascendingOrder?: boolean | undefined }): Page<PolicyRecord> {
    const all = this.#store.list<PolicyRecord>('policy/');
    const descending = request.ascendingOrder === false;
    if (descending) all.reverse();
    return paginate(all, request, (p) => p.name, descending);
  }

  /**
   * CreatePolicyVersion: the next version id of the policy, never one issued before, even to a
   * concurrent call. @throws PlatformError REGISTRY_VERSIONS_LIMIT at five versions.
   */
  async createPolicyVersion(name: string, document: unknown, setAsDefault: boolean): Promise<PolicyVersionChange> {
    const text = validDocument(document);
    return this.#registry.execute(POLICY_COMMANDS.createVersion, { name, document: text, setAsDefault });
  }

  getPolicyVersion(name: string, versionId: string): PolicyVersionChange {
    const policy = this.#policy(name);
    return { policy, version: versionOf(policy, versionId) };
  }

  listPolicyVersions(name: string): { policy: PolicyRecord; versions: readonly PolicyVersionRecord[] } {
    const policy = this.#policy(name);
    return { policy, versions: [...policy.versions].sort((a, b) => Number(b.id) - Number(a.id)) };
  }

  async setDefaultPolicyVersion(name: string, versionId: string): Promise<void> {
    await this.#registry.execute(POLICY_COMMANDS.setDefaultVersion, { name, versionId });
  }

  /** DeletePolicyVersion: the default version cannot be deleted (DeletePolicy does that). */
  async deletePolicyVersion(name: string, versionId: string): Promise<void> {
    await this.#registry.execute(POLICY_COMMANDS.deleteVersion, { name, versionId });
  }

  // --- policy attachments ----------------------------------------------------------------

  /** AttachPolicy (and the older AttachPrincipalPolicy). Attaching twice is a no-op, as in AWS. */
  async attachPolicy(name: string, target: unknown): Promise<void> {
    await this.#registry.execute(POLICY_COMMANDS.attach, { name, target: this.canonicalPrincipal(target, 'target') });
  }

  async detachPolicy(name: string, target: unknown): Promise<void> {
    await this.#registry.execute(POLICY_COMMANDS.detach, { name, target: this.canonicalPrincipal(target, 'target') });
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
    this.#assertThing(thing);
    if (type !== 'EXCLUSIVE_THING' && type !== 'NON_EXCLUSIVE_THING') {
      throw new PlatformError('REGISTRY_INVALID', `thingPrincipalType: expected EXCLUSIVE_THING or NON_EXCLUSIVE_THING, received ${String(type)}`);
    }
    const input: AttachThingPrincipalInput = {
      thingName: thing,
      principal: this.canonicalPrincipal(principal, 'target'),
      type: type satisfies ThingPrincipalType,
      thingStored: this.#things !== undefined && this.#registry.state.has(KEY_PREFIX.thing + thing),
    };
    await this.#registry.execute(POLICY_COMMANDS.attachThingPrincipal, input);
  }

  async detachThingPrincipal(thingName: unknown, principal: unknown): Promise<void> {
    const thing = validThingName(thingName);
    this.#assertThing(thing);
    await this.#registry.execute(POLICY_COMMANDS.detachThingPrincipal, { thingName: thing, principal: this.canonicalPrincipal(principal) });
  }

  thingPrincipals(thingName: unknown, request: PageRequest): Page<string> {
    const thing = validThingName(thingName);
    this.#assertThing(thing);
    return paginate([...this.#store.thingPrincipals.of(thing)].sort(), request, (p) => p);
  }

  principalThings(principal: unknown, request: PageRequest): Page<string> {
    const canonical = this.canonicalPrincipal(principal);
    return paginate([...this.#store.thingPrincipals.by(canonical)].sort(), request, (t) => t);
  }

  /**
   * Throws REGISTRY_INVALID while principals are attached to the thing. DeleteThing checks the
   * same inside its command (`commands.ts`), so no attachment outlives its thing.
   */
  assertThingHasNoPrincipals(thingName: string): void {
    assertThingHasNoPrincipals(this.#store, thingName);
  }

  /** Principals attached to a thing. */
  principalsOfThing(thingName: string): readonly string[] {
    return this.#store.thingPrincipals.of(thingName);
  }

  #assertThing(thing: string): void {
    if (this.#things && !this.#things.hasThing(thing)) throw thingNotFound(thing);
  }

  #policy(name: string): PolicyRecord {
    return policyOf(this.#registry.state, name);
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
