/**
 * The security part of the `iot.registry` compacted topic: certificates, CA certificates,
 * policies and attachments, read through one `Table` and indexed in memory.
 *
 * Key layout (values are JSON; the things engineer's keys live beside these, under other
 * prefixes, and are ignored here):
 *   kiot/ca                              the kiot CA: { certificatePem, privateKeyPem, id }
 *   kiot/registration-code               { code } for RegisterCACertificate
 *   cert/<certificateId>                 CertificateRecord
 *   ca/<certificateId>                   CaRecord (registered CA certificates)
 *   policy/<policyName>                  PolicyRecord (every version inside, at most 5)
 *   attach/policy/<policyName>/<target>  {} : the policy is attached to the target (a certificate ARN, ...)
 *   attach/thing/<thingName>/<principal> { type } : AttachThingPrincipal
 * Policy and thing names cannot hold `/`, so the first `/` after the prefix ends the name.
 * Writes are last-writer-wins per key; one record per policy keeps its versions consistent.
 */
import type { Log, Table, TableChange } from '../../core/index.js';
import { CORE_TOPICS, TOPICS } from '../../core/index.js';

export type CertificateStatus = 'ACTIVE' | 'INACTIVE' | 'REVOKED' | 'PENDING_TRANSFER' | 'REGISTER_INACTIVE' | 'PENDING_ACTIVATION';
export const CERTIFICATE_STATUSES: readonly CertificateStatus[] = ['ACTIVE', 'INACTIVE', 'REVOKED', 'PENDING_TRANSFER', 'REGISTER_INACTIVE', 'PENDING_ACTIVATION'];

export interface CertificateRecord {
  readonly id: string;
  readonly pem: string;
  readonly status: CertificateStatus;
  readonly caCertificateId?: string;
  readonly mode: 'DEFAULT' | 'SNI_ONLY';
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly generationId: string;
  readonly customerVersion: number;
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface CaRecord {
  readonly id: string;
  readonly pem: string;
  readonly status: 'ACTIVE' | 'INACTIVE';
  readonly autoRegistrationStatus: 'ENABLE' | 'DISABLE';
  readonly registrationConfig?: Readonly<Record<string, unknown>>;
  readonly mode: 'DEFAULT' | 'SNI_ONLY';
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly generationId: string;
  readonly customerVersion: number;
  readonly notBefore: number;
  readonly notAfter: number;
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

export type StoredValue = Record<string, unknown> | null;

/** The security records of `iot.registry`, with indexes. Obtain with `SecurityStore.open`. */
export class SecurityStore {
  /** policy name → targets, and target → policy names. */
  readonly policyTargets = new Relation();
  /** thing name → principals, and principal → thing names. */
  readonly thingPrincipals = new Relation();
  readonly #listeners = new Set<(change: TableChange<StoredValue>) => void>();
  readonly #unsubscribe: () => void;

  private constructor(readonly table: Table<StoredValue>) {
    for (const [key] of table.entries()) this.#index(key, true);
    this.#unsubscribe = table.onChange((change) => {
      this.#index(change.key, change.value !== undefined);
      for (const l of this.#listeners) l(change);
    });
  }

  /** Opens (and catches up) the table over `iot.registry`. */
  static async open(log: Log, topic: string = TOPICS.registry): Promise<SecurityStore> {
    // Same settings as the platform's own (one partition, compacted), whoever creates it first.
    await log.ensureTopic(CORE_TOPICS.find((t) => t.name === topic) ?? { name: topic, partitions: 1, compacted: true });
    const table = await log.openTable<StoredValue>(topic, {
      // Other services' keys are kept as null so that this view holds only what it reads.
      decode: (value, key) => (isOurs(key) ? (JSON.parse(value.toString('utf8')) as Record<string, unknown>) : null),
    });
    return new SecurityStore(table);
  }

  get<T>(key: string): T | undefined {
    const v = this.table.get(key);
    return v === null || v === undefined ? undefined : (v as T);
  }

  async put(key: string, value: object): Promise<void> {
    await this.table.set(key, JSON.stringify(value));
  }

  async delete(key: string): Promise<void> {
    await this.table.delete(key);
  }

  /** Values of every key under a prefix, in key order. */
  list<T>(prefix: string): T[] {
    const keys: string[] = [];
    for (const key of this.table.keys()) if (key.startsWith(prefix)) keys.push(key);
    keys.sort();
    return keys.map((k) => this.get<T>(k)).filter((v): v is T => v !== undefined);
  }

  /** Calls `listener` for every change of a security key (after catch-up). */
  onChange(listener: (change: TableChange<StoredValue>) => void): () => void {
    const wrapped = (change: TableChange<StoredValue>): void => {
      if (isOurs(change.key)) listener(change);
    };
    this.#listeners.add(wrapped);
    return () => this.#listeners.delete(wrapped);
  }

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
