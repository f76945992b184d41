/**
 * The security records of the `iot.registry` store (`../store.ts`): certificates, CA
 * certificates, policies and attachments, their zod schemas, and `SecurityStore`, the read view
 * over them with in-memory indexes. Writes go through the registry's commands only
 * (`../policies/commands.ts`, `../certificates/commands.ts`).
 *
 * Key layout (values are JSON in state frames; the thing registry's keys live beside these
 * under other prefixes, see `../things/model.ts`):
 *   kiot/ca                              the kiot CA: { certificatePem, privateKeyPem, id }
 *   kiot/registration-code               { code } for RegisterCACertificate
 *   cert/<certificateId>                 CertificateRecord
 *   ca/<certificateId>                   CaRecord (registered CA certificates)
 *   policy/<policyName>                  PolicyRecord (every version inside, at most 5)
 *   attach/policy/<policyName>/<target>  {} : the policy is attached to the target (a certificate ARN, ...)
 *   attach/thing/<thingName>/<principal> { type } : AttachThingPrincipal
 * Policy and thing names cannot hold `/`, so the first `/` after the prefix ends the name.
 * One record per policy keeps its versions consistent.
 */
import { z } from 'zod';
import type { StateChange, StateView } from '../../core/index.js';
import type { RegistryValue } from '../store.js';

export type CertificateStatus = 'ACTIVE' | 'INACTIVE' | 'REVOKED' | 'PENDING_TRANSFER' | 'REGISTER_INACTIVE' | 'PENDING_ACTIVATION';
export const CERTIFICATE_STATUSES: readonly CertificateStatus[] = ['ACTIVE', 'INACTIVE', 'REVOKED', 'PENDING_TRANSFER', 'REGISTER_INACTIVE', 'PENDING_ACTIVATION'];

/** What a device certificate and a CA certificate record both hold. */
interface CertificateFields {
  readonly id: string;
  readonly pem: string;
  readonly mode: 'DEFAULT' | 'SNI_ONLY';
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly generationId: string;
  readonly customerVersion: number;
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface CertificateRecord extends CertificateFields {
  readonly status: CertificateStatus;
  readonly caCertificateId?: string;
}

export interface CaRecord extends CertificateFields {
  readonly status: 'ACTIVE' | 'INACTIVE';
  readonly autoRegistrationStatus: 'ENABLE' | 'DISABLE';
  readonly registrationConfig?: Readonly<Record<string, unknown>>;
}

export interface PolicyVersionRecord {
  readonly id: string;
  readonly document: string;
  readonly createdAt: number;
}

export interface PolicyRecord {
  readonly name: string;
  readonly defaultVersionId: string;
  readonly nextVersionId: number;
  readonly versions: readonly PolicyVersionRecord[];
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly generationId: string;
}

export interface KiotCaRecord {
  readonly id: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

export const KEYS = {
  kiotCa: 'kiot/ca',
  registrationCode: 'kiot/registration-code',
  cert: (id: string) => `cert/${id}`,
  ca: (id: string) => `ca/${id}`,
  policy: (name: string) => `policy/${name}`,
  policyTarget: (policy: string, target: string) => `attach/policy/${policy}/${target}`,
  thingPrincipal: (thing: string, principal: string) => `attach/thing/${thing}/${principal}`,
} as const;

export interface RegistrationCodeRecord {
  readonly code: string;
}

export type ThingPrincipalType = 'EXCLUSIVE_THING' | 'NON_EXCLUSIVE_THING';

/** `attach/thing/<thing>/<principal>`. */
export interface ThingPrincipalRecord {
  readonly type: ThingPrincipalType;
}

/** `attach/policy/<policy>/<target>`: the key says it all. */
export type PolicyTargetRecord = Readonly<Record<string, never>>;

export type SecurityRecord = CertificateRecord | CaRecord | KiotCaRecord | RegistrationCodeRecord | PolicyRecord | PolicyTargetRecord | ThingPrincipalRecord;

const epochMs = z.number().int();
const generation = { createdAt: epochMs, updatedAt: epochMs, generationId: z.string().min(1), customerVersion: z.number().int().positive(), notBefore: z.number(), notAfter: z.number() };
const mode = z.enum(['DEFAULT', 'SNI_ONLY']);

export const certificateRecordSchema: z.ZodType<CertificateRecord> = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  pem: z.string().min(1),
  status: z.enum(CERTIFICATE_STATUSES as [CertificateStatus, ...CertificateStatus[]]),
  caCertificateId: z.string().optional(),
  mode,
  ...generation,
});

export const caRecordSchema: z.ZodType<CaRecord> = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  pem: z.string().min(1),
  status: z.enum(['ACTIVE', 'INACTIVE']),
  autoRegistrationStatus: z.enum(['ENABLE', 'DISABLE']),
  registrationConfig: z.record(z.string(), z.unknown()).optional(),
  mode,
  ...generation,
});

export const kiotCaRecordSchema: z.ZodType<KiotCaRecord> = z.object({ id: z.string().min(1), certificatePem: z.string().min(1), privateKeyPem: z.string().min(1) });

export const registrationCodeSchema: z.ZodType<RegistrationCodeRecord> = z.object({ code: z.string().min(1) });

export const policyRecordSchema: z.ZodType<PolicyRecord> = z.object({
  name: z.string().min(1),
  defaultVersionId: z.string().min(1),
  nextVersionId: z.number().int().positive(),
  versions: z.array(z.object({ id: z.string().min(1), document: z.string().min(1), createdAt: epochMs })).min(1),
  createdAt: epochMs,
  updatedAt: epochMs,
  generationId: z.string().min(1),
});

export const policyTargetSchema: z.ZodType<PolicyTargetRecord> = z.object({}) as z.ZodType<PolicyTargetRecord>;

export const thingPrincipalSchema: z.ZodType<ThingPrincipalRecord> = z.object({ type: z.enum(['EXCLUSIVE_THING', 'NON_EXCLUSIVE_THING']) });

/** The schema of each security key kind: entries ending in `/` are prefixes, the others whole keys. */
export const SECURITY_SCHEMAS: readonly (readonly [prefix: string, schema: z.ZodType<SecurityRecord>])[] = [
  [KEYS.kiotCa, kiotCaRecordSchema],
  [KEYS.registrationCode, registrationCodeSchema],
  ['cert/', certificateRecordSchema],
  ['ca/', caRecordSchema],
  ['policy/', policyRecordSchema],
  ['attach/policy/', policyTargetSchema],
  ['attach/thing/', thingPrincipalSchema],
];

const PREFIXES = ['kiot/', 'cert/', 'ca/', 'policy/', 'attach/'];
const isOurs = (key: string): boolean => PREFIXES.some((p) => key.startsWith(p));

/** Many-to-many index in both directions. */
class Relation {
  readonly #forward = new Map<string, Set<string>>();
  readonly #backward = new Map<string, Set<string>>();
  add(a: string, b: string): void {
    add(this.#forward, a, b);
    add(this.#backward, b, a);
  }
  remove(a: string, b: string): void {
    remove(this.#forward, a, b);
    remove(this.#backward, b, a);
  }
  of(a: string): readonly string[] {
    return [...(this.#forward.get(a) ?? [])];
  }
  by(b: string): readonly string[] {
    return [...(this.#backward.get(b) ?? [])];
  }
  countOf(a: string): number {
    return this.#forward.get(a)?.size ?? 0;
  }
  countBy(b: string): number {
    return this.#backward.get(b)?.size ?? 0;
  }
}

function add(map: Map<string, Set<string>>, k: string, v: string): void {
  let set = map.get(k);
  if (!set) map.set(k, (set = new Set()));
  set.add(v);
}
function remove(map: Map<string, Set<string>>, k: string, v: string): void {
  const set = map.get(k);
  if (!set) return;
  set.delete(v);
  if (set.size === 0) map.delete(k);
}

/**
 * The security records of the registry store, with indexes; reads only. Built once over the
 * store (`RegistryStore.open`) so that the commands and the services read the same indexes.
 */
export class SecurityStore {
  /** policy name → targets, and target → policy names. */
  readonly policyTargets = new Relation();
  /** thing name → principals, and principal → thing names. */
  readonly thingPrincipals = new Relation();
  readonly #view: StateView<RegistryValue>;
  readonly #listeners = new Set<(change: StateChange<RegistryValue>) => void>();
  readonly #unsubscribe: () => void;

  constructor(view: StateView<RegistryValue>) {
    this.#view = view;
    // Scan and subscribe in one tick, so that no change falls between them.
    for (const key of view.keys()) this.#index(key, true);
    this.#unsubscribe = view.onChange((change) => {
      this.#index(change.key, change.value !== undefined);
      if (isOurs(change.key)) for (const l of this.#listeners) l(change);
    });
  }

  get<T extends SecurityRecord>(key: string): T | undefined {
    return this.#view.get(key) as T | undefined;
  }

  /** Values of every key under a prefix, in key order. */
  list<T extends SecurityRecord>(prefix: string): T[] {
    const keys: string[] = [];
    for (const key of this.#view.keys()) if (key.startsWith(prefix)) keys.push(key);
    keys.sort();
    return keys.map((k) => this.get<T>(k)).filter((v): v is T => v !== undefined);
  }

  /** Calls `listener` for every change of a security key (after catch-up); returns an unsubscribe function. */
  onChange(listener: (change: StateChange<RegistryValue>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops following the store (the store itself is closed by its owner). */
  close(): void {
    this.#unsubscribe();
    this.#listeners.clear();
  }

  #index(key: string, present: boolean): void {
    const rel = key.startsWith('attach/policy/') ? this.policyTargets : key.startsWith('attach/thing/') ? this.thingPrincipals : undefined;
    if (!rel) return;
    const rest = key.slice(key.indexOf('/', 7) + 1);
    const slash = rest.indexOf('/');
    if (slash <= 0) return;
    const [a, b] = [rest.slice(0, slash), rest.slice(slash + 1)];
    if (present) rel.add(a, b);
    else rel.remove(a, b);
  }
}
