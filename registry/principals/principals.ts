/**
 * What the gateway asks at connect time: who is this certificate, and what may it do.
 * `authenticateCertificate` looks a certificate up by fingerprint, id or DER and returns its
 * status, things, policies and the compiled authorizer; `connectionContext` turns that plus a
 * client id into the engine's `AuthContext` (thing resolution as AWS documents it).
 *
 * Compiled authorizers are cached per *set of policy names*, not per principal, so 100,000
 * certificates sharing one policy share one compiled copy. The cache drops entries when a
 * policy changes; attachments are read from the in-memory index on every call.
 */
import { PlatformError } from '../../core/index.js';
import type { CertificateService } from '../certificates/certificate-service.js';
import { certificateFields, certificateId, fingerprintToId, type CertificateFields } from '../certificates/x509.js';
import { compilePolicies, type AuthContext, type CompiledPolicies } from '../policies/engine.js';
import type { PolicyService } from '../policies/policy-service.js';
import type { ThingRecord, ThingRegistryChange } from '../things/index.js';
import { KEYS, type CertificateRecord, type CertificateStatus, type SecurityStore } from './store.js';

/** What the thing registry tells policy variables about a thing. */
export interface ThingInfo {
  readonly thingTypeName?: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

/** Thing lookups for `iot:Connection.Thing.*`; synchronous (the things service keeps a table in memory). */
export interface ThingLookup {
  describeThing(name: string): ThingInfo | undefined;
  /**
   * Changes of things and thing groups (any process). Without it, a session keeps the group
   * policies it had until its certificate changes otherwise; decisions made afresh (connect)
   * always read the current groups.
   */
  onChange?(listener: (change: ThingRegistryChange) => void): () => void;
}

export interface PrincipalInfo {
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly status: CertificateStatus;
  /** Only ACTIVE certificates may connect. */
  readonly active: boolean;
  readonly caCertificateId: string | undefined;
  /** Things the certificate is attached to (AttachThingPrincipal). */
  readonly things: readonly string[];
  /**
   * The certificate's effective policies: those attached to it (AttachPolicy) and those attached
   * to the thing groups (and their ancestors) of the things it is attached to.
   */
  readonly policyNames: readonly string[];
  /** The compiled policies; bind it with `connectionContext(...)`. */
  readonly authorizer: CompiledPolicies;
  /** Subject, issuer and other fields for `iot:Certificate.*`. */
  readonly fields: CertificateFields;
}

/** A fingerprint as Node prints it (`AB:CD:...`), a certificate id (hex), or the DER bytes. */
export type CertificateRef = string | Buffer | { readonly fingerprint256: string } | { readonly raw: Buffer };

export interface PrincipalChange {
  /** The certificate whose status, attachments or policies changed (undefined when unknown: re-check all). */
  readonly certificateId: string | undefined;
  /** `group`: a thing of the certificate changed groups, or the group hierarchy changed. */
  readonly reason: 'certificate' | 'policy' | 'attachment' | 'group';
}

/** Fields parsed from a certificate are kept for this many certificates. */
const FIELDS_CACHE_LIMIT = 10_000;

export class PrincipalDirectory {
  readonly #store: SecurityStore;
  readonly #certificates: CertificateService;
  readonly #policies: PolicyService;
  readonly #things: ThingLookup | undefined;
  readonly #compiled = new Map<string, { names: readonly string[]; compiled: CompiledPolicies }>();
  readonly #fields = new Map<string, CertificateFields>();
  readonly #listeners = new Set<(change: PrincipalChange) => void>();
  readonly #unsubscribe: () => void;
  readonly #unsubscribeThings: () => void;

  constructor(deps: { store: SecurityStore; certificates: CertificateService; policies: PolicyService; things?: ThingLookup | undefined }) {
    this.#store = deps.store;
    this.#certificates = deps.certificates;
    this.#policies = deps.policies;
    this.#things = deps.things;
    this.#unsubscribe = this.#store.onChange(({ key }) => this.#changed(key));
    this.#unsubscribeThings = this.#things?.onChange?.((change) => this.#thingsChanged(change)) ?? (() => undefined);
  }

  /**
   * Looks a certificate up. Returns undefined for a certificate kiot does not know; the caller
   * must still check `active`. Never throws for unknown input shapes other than bad DER.
   */
  authenticateCertificate(ref: CertificateRef): PrincipalInfo | undefined {
    const id = refToId(ref);
    const record = this.#store.get<CertificateRecord>(KEYS.cert(id));
    if (!record) return undefined;
    const arn = this.#certificates.certificateArn(id);
    // Computed on every call from in-memory indexes, so membership and group policy changes
    // apply to the next decision; compiled authorizers are cached per resulting set of names.
    const policyNames = this.#policies.effectivePolicyNames(arn);
    return {
      certificateId: id,
      certificateArn: arn,
      status: record.status,
      // A certificate past its notAfter no longer connects (CreateProvisioningClaim's last a few minutes).
      active: record.status === 'ACTIVE' && !(record.notAfter > 0 && record.notAfter < Date.now()),
      caCertificateId: record.caCertificateId,
      things: [...this.#store.thingPrincipals.by(arn)].sort(),
      policyNames,
      authorizer: this.authorizerFor(policyNames),
      fields: this.#fieldsOf(record),
    };
  }

  /** The compiled decision function for a set of policies (cached; a missing policy counts as empty). */
  authorizerFor(policyNames: readonly string[]): CompiledPolicies {
    const key = policyNames.join('\n');
    const cached = this.#compiled.get(key);
    if (cached) return cached.compiled;
    const documents: string[] = [];
    for (const name of policyNames) {
      const doc = this.#policies.findPolicyDocument(name);
      if (doc !== undefined) documents.push(doc);
    }
    const compiled = compilePolicies(documents);
    this.#compiled.set(key, { names: policyNames, compiled });
    return compiled;
  }

  /**
   * The engine context for a connection. The thing is the attached thing named like the client
   * id (AWS: "the client ID must match the thing name"), else the only attached thing; with
   * neither, thing variables are unresolved. `IsAttached` says whether the client id names an
   * attached thing.
   */
  connectionContext(principal: PrincipalInfo, clientId: string, sourceIp?: string): AuthContext {
    const attached = principal.things.includes(clientId);
    const thingName = attached ? clientId : principal.things.length === 1 ? principal.things[0] : undefined;
    const info = thingName !== undefined ? this.#things?.describeThing(thingName) : undefined;
    return {
      clientId,
      ...(sourceIp !== undefined ? { sourceIp: stripPort(sourceIp) } : {}),
      ...(thingName !== undefined
        ? { thing: { name: thingName, ...(info?.thingTypeName ? { typeName: info.thingTypeName } : {}), ...(info?.attributes ? { attributes: info.attributes } : {}) } }
        : {}),
      isAttached: attached,
      certificate: { id: principal.certificateId, fields: principal.fields },
    };
  }

  /**
   * Calls `listener` when a certificate's status, attachments, or one of its policies changes,
   * so that the gateway can disconnect or re-bind live sessions. Returns an unsubscribe function.
   */
  onChange(listener: (change: PrincipalChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#unsubscribe();
    this.#unsubscribeThings();
    this.#listeners.clear();
  }

  #fieldsOf(record: CertificateRecord): CertificateFields {
    let fields = this.#fields.get(record.id);
    if (!fields) {
      const der = Buffer.from(record.pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64');
      fields = certificateFields(der);
      if (this.#fields.size >= FIELDS_CACHE_LIMIT) this.#fields.clear();
      this.#fields.set(record.id, fields);
    }
    return fields;
  }

  #changed(key: string): void {
    let change: PrincipalChange | undefined;
    if (key.startsWith('cert/')) {
      const id = key.slice(5);
      this.#fields.delete(id);
      change = { certificateId: id, reason: 'certificate' };
    } else if (key.startsWith('policy/')) {
      const name = key.slice(7);
      for (const [k, entry] of this.#compiled) if (entry.names.includes(name)) this.#compiled.delete(k);
      change = { certificateId: undefined, reason: 'policy' };
    } else if (key.startsWith('attach/')) {
      const cert = /:cert\/([0-9a-f]{64})$/.exec(key);
      change = { certificateId: cert?.[1], reason: 'attachment' };
    }
    if (change) for (const l of this.#listeners) l(change);
  }

  /**
   * A thing's group memberships changed: its certificates' inherited policies may have. A group
   * created, deleted or re-parented may change any thing's inherited policies (rare): re-check all.
   * Group policy attachments are `attach/` keys, handled by `#changed`.
   */
  #thingsChanged(change: ThingRegistryChange): void {
    const emit = (c: PrincipalChange): void => {
      for (const l of this.#listeners) l(c);
    };
    if (change.kind === 'thing') {
      if (groupNames(change.previous) === groupNames(change.value)) return;
      for (const principal of this.#store.thingPrincipals.of(change.name)) {
        const cert = /:cert\/([0-9a-f]{64})$/.exec(principal);
        if (cert) emit({ certificateId: cert[1], reason: 'group' });
      }
    } else if (change.previous === undefined || change.value === undefined || change.previous.parentGroupName !== change.value.parentGroupName) {
      emit({ certificateId: undefined, reason: 'group' });
    }
  }
}

const groupNames = (thing: ThingRecord | undefined): string => (thing ? thing.groups.map((m) => m.groupName).sort().join('\n') : '');

function refToId(ref: CertificateRef): string {
  if (Buffer.isBuffer(ref)) return certificateId(ref);
  if (typeof ref === 'string') {
    const id = fingerprintToId(ref);
    if (!/^[0-9a-f]{64}$/.test(id)) throw new PlatformError('INPUT_INVALID', 'certificate: expected a SHA-256 fingerprint or certificate id');
    return id;
  }
  if ('raw' in ref) return certificateId(ref.raw);
  return refToId(ref.fingerprint256);
}

/** `1.2.3.4:5678` or `[::1]:5678` → the address alone. */
function stripPort(address: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (v6) return v6[1]!;
  const v4 = /^(\d+\.\d+\.\d+\.\d+)(?::\d+)?$/.exec(address);
  return v4 ? v4[1]! : address;
}
