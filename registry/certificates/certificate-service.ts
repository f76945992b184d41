/**
 * Certificates and CA certificates, as AWS IoT's certificate operations define them, over the
 * security records of the registry store (see `../principals/store.ts` for the key layout).
 * Keys are generated, certificates signed and parsed here; the finished records are written by
 * the registry commands of `commands.ts`, which check what depends on the store's state.
 *
 * The kiot CA (what `CreateKeysAndCertificate` and `CreateCertificateFromCsr` sign with) is made
 * on first start and kept on the log (`kiot/ca`), private key included: every process that
 * serves the API, embedded or on Kafka, must sign with the same CA, and whoever can write the
 * log can already register any certificate as ACTIVE, so the key there widens nothing. Protect
 * the log (the data dir, or the Kafka ACLs) as you would the key.
 */
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { PlatformError, type Logger } from '../../core/index.js';
import { paginate, type Page, type PageRequest } from '../principals/paging.js';
import {
  CERTIFICATE_STATUSES,
  KEYS,
  type CaRecord,
  type CertificateRecord,
  type CertificateStatus,
  type KiotCaRecord,
  type SecurityStore,
} from '../principals/store.js';
import type { ArnScope } from '../policies/engine.js';
import type { RegistryStore } from '../store.js';
import { CERTIFICATE_COMMANDS, caCertificateOf, certificateOf, type AutoRegisterInput, type CaChanges } from './commands.js';
import {
  certificateId,
  certificateToPem,
  createCa,
  generateRsaKeyPair,
  isCaCertificate,
  issueCertificate,
  parseCertificatePem,
  parseCsr,
  subjectAttributes,
  subjectCommonName,
} from './x509.js';

/** The CA's subject common name. */
export const KIOT_CA_NAME = 'kiot CA';

export interface CertificateServiceDeps {
  /** The registry store: reads from its security view, writes through its commands. */
  readonly registry: RegistryStore;
  readonly scope: ArnScope;
  readonly logger: Logger;
  /** Epoch milliseconds; tests pass their own. */
  readonly now?: () => number;
}

export interface IssuedCertificate {
  readonly certificateArn: string;
  readonly certificateId: string;
  readonly certificatePem: string;
}

/** A certificate record ready for `CERTIFICATE_COMMANDS.register` (`{ record, arn }` is its input). */
export interface PreparedCertificate {
  readonly record: CertificateRecord;
  readonly arn: string;
}

export interface CertificateListOptions extends PageRequest {
  readonly ascendingOrder?: boolean | undefined;
  /** Only certificates signed by this registered CA (ListCertificatesByCA). */
  readonly caCertificateId?: string | undefined;
}

const ISSUABLE_STATUS: readonly CertificateStatus[] = ['ACTIVE', 'INACTIVE', 'REVOKED', 'REGISTER_INACTIVE'];

export class CertificateService {
  readonly #registry: RegistryStore;
  readonly #store: SecurityStore;
  readonly #scope: ArnScope;
  readonly #logger: Logger;
  readonly #now: () => number;
  #creatingCa: Promise<KiotCaRecord> | undefined;

  constructor(deps: CertificateServiceDeps) {
    this.#registry = deps.registry;
    this.#store = deps.registry.security;
    this.#scope = deps.scope;
    this.#logger = deps.logger.child({ module: 'registry.certificates' });
    this.#now = deps.now ?? Date.now;
  }

  /** The account that owns every certificate (DescribeCertificate's `ownedBy`). */
  get accountId(): string {
    return this.#scope.accountId;
  }

  certificateArn(id: string): string {
    return `arn:${this.#scope.partition ?? 'aws'}:iot:${this.#scope.region}:${this.#scope.accountId}:cert/${id}`;
  }

  caCertificateArn(id: string): string {
    return `arn:${this.#scope.partition ?? 'aws'}:iot:${this.#scope.region}:${this.#scope.accountId}:cacert/${id}`;
  }

  /** Creates the kiot CA unless the log already holds one; safe to call again and concurrently. */
  ensureKiotCa(): Promise<KiotCaRecord> {
    const existing = this.#store.get<KiotCaRecord>(KEYS.kiotCa);
    if (existing) return Promise.resolve(existing);
    this.#creatingCa ??= (async () => {
      const ca = await createCa(KIOT_CA_NAME, new Date(this.#now()));
      const id = certificateId(parseCertificatePem(ca.certificatePem, 'kiot CA').raw);
      const stored = await this.#registry.execute<KiotCaRecord>(CERTIFICATE_COMMANDS.ensureKiotCa, { record: { id, ...ca } });
      if (stored.id === id) this.#logger.info({ certificateId: id }, 'created the kiot CA');
      return stored;
    })().finally(() => {
      this.#creatingCa = undefined;
    });
    return this.#creatingCa;
  }

  /** The kiot CA certificate (PEM) and its id; devices trust it, and the gateway's server certificate chains to it. */
  kiotCaCertificate(): { certificatePem: string; certificateId: string } {
    const ca = this.#kiotCa();
    return { certificatePem: ca.certificatePem, certificateId: ca.id };
  }

  /**
   * CreateKeysAndCertificate: an RSA 2048 key pair and a certificate from the kiot CA.
   * `status` (fleet provisioning: PENDING_ACTIVATION) wins over `setAsActive`; `notAfter`
   * shortens the certificate's validity (CreateProvisioningClaim).
   */
  async createKeysAndCertificate(options: { setAsActive?: boolean | undefined; status?: CertificateStatus; notAfter?: Date }): Promise<IssuedCertificate & { keyPair: { PublicKey: string; PrivateKey: string } }> {
    const { record, arn, keyPair } = await this.prepareKeysAndCertificate(options.status ?? (options.setAsActive ? 'ACTIVE' : 'INACTIVE'), options.notAfter);
    await this.#registry.execute(CERTIFICATE_COMMANDS.register, { record, arn });
    return { certificateArn: arn, certificateId: record.id, certificatePem: record.pem, keyPair };
  }

  /**
   * A key pair and a certificate from the kiot CA, and the record `CERTIFICATE_COMMANDS.register`
   * would store, without storing it (fleet provisioning stores many in one registry.batch).
   */
  async prepareKeysAndCertificate(status: CertificateStatus, notAfter?: Date): Promise<PreparedCertificate & { keyPair: { PublicKey: string; PrivateKey: string } }> {
    const keys = await generateRsaKeyPair();
    const pem = await issueCertificate(this.#kiotCa(), { publicKey: keys.publicKeyPem, ...(notAfter ? { notBefore: new Date(this.#now() - 60_000), notAfter } : {}) });
    return { ...this.#record(pem, status, undefined, 'DEFAULT'), keyPair: { PublicKey: keys.publicKeyPem, PrivateKey: keys.privateKeyPem } };
  }

  /** CreateCertificateFromCsr: the CSR's key and subject, signed by the kiot CA. `status` wins over `setAsActive`. */
  async createCertificateFromCsr(options: { certificateSigningRequest: unknown; setAsActive?: boolean | undefined; status?: CertificateStatus }): Promise<IssuedCertificate> {
    const prepared = await this.prepareFromCsr(options.certificateSigningRequest, options.status ?? (options.setAsActive ? 'ACTIVE' : 'INACTIVE'));
    await this.#registry.execute(CERTIFICATE_COMMANDS.register, { record: prepared.record, arn: prepared.arn });
    return { certificateArn: prepared.arn, certificateId: prepared.record.id, certificatePem: prepared.record.pem };
  }

  /**
   * Signs a CSR with the kiot CA and returns the record `CERTIFICATE_COMMANDS.register` would
   * store, without storing it (provisioning stores it in one batch with the thing and policies).
   * @throws PlatformError REGISTRY_INVALID / CERTIFICATE_INVALID for a missing or malformed CSR.
   */
  async prepareFromCsr(certificateSigningRequest: unknown, status: CertificateStatus): Promise<PreparedCertificate> {
    if (typeof certificateSigningRequest !== 'string' || certificateSigningRequest.length === 0) {
      throw new PlatformError('REGISTRY_INVALID', 'certificateSigningRequest: expected a PEM CSR');
    }
    const csr = await parseCsr(certificateSigningRequest);
    const pem = await issueCertificate(this.#kiotCa(), { publicKey: csr.publicKey, subject: csr.subject });
    return this.#record(pem, status, undefined, 'DEFAULT');
  }

  /**
   * RegisterCertificate's checks (validity, a registered ACTIVE CA that signed it) and the record
   * it would store, without storing it.
   */
  prepareRegistration(input: { certificatePem: unknown; caCertificatePem?: unknown; status: CertificateStatus }): PreparedCertificate {
    const cert = parseCertificatePem(input.certificatePem, 'certificatePem');
    this.#assertInValidity(cert, 'certificatePem');
    let ca: CaRecord | undefined;
    if (input.caCertificatePem !== undefined) {
      const given = parseCertificatePem(input.caCertificatePem, 'caCertificatePem');
      ca = this.#store.get<CaRecord>(KEYS.ca(certificateId(given.raw)));
      if (!ca) throw new PlatformError('CERTIFICATE_INVALID', 'caCertificatePem: that CA certificate is not registered (RegisterCACertificate)');
      if (!cert.verify(given.publicKey)) throw new PlatformError('CERTIFICATE_INVALID', 'certificatePem: not signed by caCertificatePem');
    } else {
      ca = this.#findIssuer(cert);
      if (!ca) throw new PlatformError('CERTIFICATE_INVALID', 'certificatePem: not signed by any registered CA certificate');
    }
    if (ca.status !== 'ACTIVE') throw new PlatformError('CERTIFICATE_STATE', `the CA certificate ${ca.id} is ${ca.status}, not ACTIVE`);
    return this.#record(certificateToPem(cert), input.status, ca.id, 'DEFAULT');
  }

  /**
   * Whether a certificate kiot does not know may register itself on connect (JITR / JITP): it
   * must be within its validity and signed by a registered CA that is ACTIVE with
   * auto-registration ENABLE. Answers the `certificate.autoRegister` input (status
   * PENDING_ACTIVATION) and the CA, or why not. Never throws: the gateway calls it.
   */
  prepareAutoRegistration(der: Buffer): { ok: true; input: AutoRegisterInput; ca: CaRecord; subject: Readonly<Record<string, string>> } | { ok: false; detail: string } {
    let cert: X509Certificate;
    let subject: Record<string, string>;
    try {
      cert = new X509Certificate(der);
      this.#assertInValidity(cert, 'certificate');
      subject = subjectAttributes(cert.raw);
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
    const ca = this.#findIssuer(cert);
    if (!ca) return { ok: false, detail: 'not signed by any registered CA certificate' };
    if (ca.status !== 'ACTIVE') return { ok: false, detail: `its CA certificate ${ca.id} is ${ca.status}` };
    if (ca.autoRegistrationStatus !== 'ENABLE') return { ok: false, detail: `its CA certificate ${ca.id} does not allow auto-registration` };
    const { record, arn } = this.#record(certificateToPem(cert), 'PENDING_ACTIVATION', ca.id, ca.mode);
    return { ok: true, input: { record, arn, caCertificateId: ca.id, accountId: this.#scope.accountId }, ca, subject };
  }

  /** A certificate for the gateway's TLS listener, signed by the kiot CA (not registered as a device). */
  async issueServerCertificate(names: readonly string[]): Promise<{ certificatePem: string; privateKeyPem: string; caCertificatePem: string }> {
    const keys = await generateRsaKeyPair();
    const ca = this.#kiotCa();
    const certificatePem = await issueCertificate(ca, { publicKey: keys.publicKeyPem, subject: `CN=${names[0] ?? 'kiot'}`, serverNames: names });
    return { certificatePem, privateKeyPem: keys.privateKeyPem, caCertificatePem: ca.certificatePem };
  }

  /** GetRegistrationCode: one code per account, made on first use. */
  async getRegistrationCode(): Promise<string> {
    const existing = this.#store.get<{ code: string }>(KEYS.registrationCode);
    if (existing) return existing.code;
    return this.#registry.execute<string>(CERTIFICATE_COMMANDS.ensureRegistrationCode, { code: randomBytes(32).toString('hex') });
  }

  /**
   * RegisterCACertificate. Unless `certificateMode` is SNI_ONLY, the verification certificate
   * must be signed by the CA's key and carry the registration code as its common name.
   */
  async registerCaCertificate(input: {
    caCertificate: unknown;
    verificationCertificate?: unknown;
    setAsActive?: boolean | undefined;
    allowAutoRegistration?: boolean | undefined;
    registrationConfig?: Record<string, unknown> | undefined;
    certificateMode?: string | undefined;
  }): Promise<{ certificateArn: string; certificateId: string }> {
    const mode = input.certificateMode ?? 'DEFAULT';
    if (mode !== 'DEFAULT' && mode !== 'SNI_ONLY') throw new PlatformError('REGISTRY_INVALID', `certificateMode: expected DEFAULT or SNI_ONLY, received ${mode}`);
    const ca = parseCertificatePem(input.caCertificate, 'caCertificate');
    if (!isCaCertificate(ca)) throw new PlatformError('CERTIFICATE_INVALID', 'caCertificate: basicConstraints does not mark it as a CA');
    this.#assertInValidity(ca, 'caCertificate');
    if (mode === 'DEFAULT') {
      if (input.verificationCertificate === undefined) throw new PlatformError('REGISTRY_INVALID', 'verificationCertificate: required unless certificateMode is SNI_ONLY');
      const verification = parseCertificatePem(input.verificationCertificate, 'verificationCertificate');
      if (!verification.verify(ca.publicKey)) {
        throw new PlatformError('CERTIFICATE_INVALID', 'verificationCertificate: not signed by the CA certificate\'s private key');
      }
      const code = await this.getRegistrationCode();
      if (subjectCommonName(verification) !== code) {
        throw new PlatformError('CERTIFICATE_REGISTRATION_CODE', 'verificationCertificate: its common name is not the registration code (GetRegistrationCode)');
      }
    }
    const registrationConfig = checkRegistrationConfig(input.registrationConfig);
    const id = certificateId(ca.raw);
    const arn = this.caCertificateArn(id);
    const now = this.#now();
    const record: CaRecord = {
      id,
      pem: certificateToPem(ca),
      status: input.setAsActive ? 'ACTIVE' : 'INACTIVE',
      autoRegistrationStatus: input.allowAutoRegistration ? 'ENABLE' : 'DISABLE',
      ...(registrationConfig ? { registrationConfig } : {}),
      mode,
      createdAt: now,
      updatedAt: now,
      generationId: randomUUID(),
      customerVersion: 1,
      notBefore: Date.parse(ca.validFrom),
      notAfter: Date.parse(ca.validTo),
    };
    await this.#registry.execute(CERTIFICATE_COMMANDS.registerCa, { record, arn });
    return { certificateArn: arn, certificateId: id };
  }

  /** RegisterCertificate: a device certificate signed by a registered, ACTIVE CA. */
  async registerCertificate(input: {
    certificatePem: unknown;
    caCertificatePem?: unknown;
    setAsActive?: boolean | undefined;
    status?: string | undefined;
  }): Promise<IssuedCertificate> {
    const status = this.#registrationStatus(input.status, input.setAsActive);
    const { record, arn } = this.prepareRegistration({ certificatePem: input.certificatePem, caCertificatePem: input.caCertificatePem, status });
    await this.#registry.execute(CERTIFICATE_COMMANDS.register, { record, arn });
    return { certificateArn: arn, certificateId: record.id, certificatePem: record.pem };
  }

  /** RegisterCertificateWithoutCA: any certificate, registered as SNI_ONLY with no CA. */
  async registerCertificateWithoutCa(input: { certificatePem: unknown; status?: string | undefined }): Promise<IssuedCertificate> {
    const cert = parseCertificatePem(input.certificatePem, 'certificatePem');
    this.#assertInValidity(cert, 'certificatePem');
    return this.#store_(certificateToPem(cert), this.#registrationStatus(input.status, false), undefined, 'SNI_ONLY');
  }

  /** DescribeCertificate. Throws REGISTRY_NOT_FOUND. */
  describeCertificate(id: string): CertificateRecord {
    return certificateOf(this.#registry.state, id);
  }

  /** The record, or undefined (for the gateway's lookups, which must not throw). */
  findCertificate(id: string): CertificateRecord | undefined {
    return this.#store.get<CertificateRecord>(KEYS.cert(id));
  }

  describeCaCertificate(id: string): CaRecord {
    return caCertificateOf(this.#registry.state, id);
  }

  /** UpdateCertificate. REVOKED is final; PENDING_* are AWS-internal and refused. */
  async updateCertificate(id: string, newStatus: unknown): Promise<void> {
    this.describeCertificate(id); // not found comes before a bad status, as in AWS
    if (typeof newStatus !== 'string' || !CERTIFICATE_STATUSES.includes(newStatus as CertificateStatus)) {
      throw new PlatformError('REGISTRY_INVALID', `newStatus: expected one of ${CERTIFICATE_STATUSES.join(', ')}, received ${String(newStatus)}`);
    }
    if (newStatus === 'PENDING_TRANSFER' || newStatus === 'PENDING_ACTIVATION') {
      throw new PlatformError('REGISTRY_INVALID', `newStatus: ${newStatus} is set by the service, not by callers`);
    }
    await this.#registry.execute(CERTIFICATE_COMMANDS.update, { id, status: newStatus as CertificateStatus });
  }

  async updateCaCertificate(
    id: string,
    input: { newStatus?: string | undefined; newAutoRegistrationStatus?: string | undefined; registrationConfig?: Record<string, unknown> | undefined; removeAutoRegistration?: boolean | undefined },
  ): Promise<void> {
    this.describeCaCertificate(id);
    let changes: CaChanges = {};
    if (input.newStatus !== undefined) {
      if (input.newStatus !== 'ACTIVE' && input.newStatus !== 'INACTIVE') throw new PlatformError('REGISTRY_INVALID', `newStatus: expected ACTIVE or INACTIVE, received ${input.newStatus}`);
      changes = { ...changes, status: input.newStatus };
    }
    if (input.newAutoRegistrationStatus !== undefined) {
      if (input.newAutoRegistrationStatus !== 'ENABLE' && input.newAutoRegistrationStatus !== 'DISABLE') {
        throw new PlatformError('REGISTRY_INVALID', `newAutoRegistrationStatus: expected ENABLE or DISABLE, received ${input.newAutoRegistrationStatus}`);
      }
      changes = { ...changes, autoRegistrationStatus: input.newAutoRegistrationStatus };
    }
    const registrationConfig = checkRegistrationConfig(input.registrationConfig);
    if (registrationConfig) changes = { ...changes, registrationConfig };
    if (input.removeAutoRegistration) changes = { ...changes, removeAutoRegistration: true };
    await this.#registry.execute(CERTIFICATE_COMMANDS.updateCa, { id, changes });
  }

  /**
   * DeleteCertificate. Refused while ACTIVE (CERTIFICATE_STATE), while attached to a thing
   * (REGISTRY_DELETE_CONFLICT), and while policies are attached unless `forceDelete`, which
   * detaches them first (AWS's behaviour).
   */
  async deleteCertificate(id: string, options: { forceDelete?: boolean | undefined } = {}): Promise<void> {
    await this.#registry.execute(CERTIFICATE_COMMANDS.delete, { id, arn: this.certificateArn(id), forceDelete: options.forceDelete === true });
  }

  /** DeleteCACertificate: refused while ACTIVE, as AWS does. */
  async deleteCaCertificate(id: string): Promise<void> {
    await this.#registry.execute(CERTIFICATE_COMMANDS.deleteCa, { id });
  }

  /** ListCertificates / ListCertificatesByCA, ordered by creation date (descending unless ascendingOrder). */
  listCertificates(options: CertificateListOptions): Page<CertificateRecord> {
    let all = this.#store.list<CertificateRecord>('cert/');
    if (options.caCertificateId !== undefined) all = all.filter((c) => c.caCertificateId === options.caCertificateId);
    return pageByCreation(all, options);
  }

  listCaCertificates(options: CertificateListOptions): Page<CaRecord> {
    return pageByCreation(this.#store.list<CaRecord>('ca/'), options);
  }

  #kiotCa(): KiotCaRecord {
    const ca = this.#store.get<KiotCaRecord>(KEYS.kiotCa);
    if (!ca) throw new PlatformError('INTERNAL', 'the kiot CA is not created yet (start the registry service first)');
    return ca;
  }

  #findIssuer(cert: X509Certificate): CaRecord | undefined {
    for (const ca of this.#store.list<CaRecord>('ca/')) {
      const caCert = parseCertificatePem(ca.pem, 'ca');
      if (cert.checkIssued(caCert) && cert.verify(caCert.publicKey)) return ca;
    }
    return undefined;
  }

  #registrationStatus(status: string | undefined, setAsActive: boolean | undefined): CertificateStatus {
    if (status === undefined) return setAsActive ? 'ACTIVE' : 'INACTIVE';
    if (!ISSUABLE_STATUS.includes(status as CertificateStatus)) {
      throw new PlatformError('REGISTRY_INVALID', `status: expected one of ${ISSUABLE_STATUS.join(', ')}, received ${status}`);
    }
    return status as CertificateStatus;
  }

  #assertInValidity(cert: X509Certificate, field: string): void {
    const now = this.#now();
    if (Date.parse(cert.validTo) < now) throw new PlatformError('CERTIFICATE_INVALID', `${field}: the certificate expired on ${cert.validTo}`);
    if (Date.parse(cert.validFrom) > now) throw new PlatformError('CERTIFICATE_INVALID', `${field}: the certificate is not valid before ${cert.validFrom}`);
  }

  async #store_(pem: string, status: CertificateStatus, caCertificateId: string | undefined, mode: 'DEFAULT' | 'SNI_ONLY'): Promise<IssuedCertificate> {
    const { record, arn } = this.#record(pem, status, caCertificateId, mode);
    await this.#registry.execute(CERTIFICATE_COMMANDS.register, { record, arn });
    return { certificateArn: arn, certificateId: record.id, certificatePem: pem };
  }

  #record(pem: string, status: CertificateStatus, caCertificateId: string | undefined, mode: 'DEFAULT' | 'SNI_ONLY'): PreparedCertificate {
    const cert = parseCertificatePem(pem, 'certificatePem');
    const id = certificateId(cert.raw);
    const arn = this.certificateArn(id);
    const now = this.#now();
    const record: CertificateRecord = {
      id,
      pem,
      status,
      ...(caCertificateId ? { caCertificateId } : {}),
      mode,
      createdAt: now,
      updatedAt: now,
      generationId: randomUUID(),
      customerVersion: 1,
      notBefore: Date.parse(cert.validFrom),
      notAfter: Date.parse(cert.validTo),
    };
    return { record, arn };
  }
}

/**
 * AWS's RegistrationConfig (RegisterCACertificate, UpdateCACertificate): `templateBody` with
 * `roleArn`, or `templateName` (a JITP provisioning template). The body is checked as a template
 * by the API route (provisioning owns the template language); here only the shape.
 * An empty object means none.
 */
function checkRegistrationConfig(config: Readonly<Record<string, unknown>> | undefined): Readonly<Record<string, string>> | undefined {
  if (config === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined || value === null) continue;
    if (key !== 'templateBody' && key !== 'roleArn' && key !== 'templateName') {
      throw new PlatformError('REGISTRY_INVALID', `registrationConfig.${key}: unknown field (expected templateBody, roleArn, templateName)`);
    }
    if (typeof value !== 'string' || value.length === 0) throw new PlatformError('REGISTRY_INVALID', `registrationConfig.${key}: expected a non-empty string`);
    out[key] = value;
  }
  if (out['templateBody'] !== undefined && out['templateName'] !== undefined) {
    throw new PlatformError('REGISTRY_INVALID', 'registrationConfig: give templateBody (with roleArn) or templateName, not both');
  }
  if (out['templateBody'] !== undefined && out['roleArn'] === undefined) throw new PlatformError('REGISTRY_INVALID', 'registrationConfig.roleArn: required with templateBody');
  return Object.keys(out).length > 0 ? out : undefined;
}

function pageByCreation<T extends { id: string; createdAt: number }>(items: T[], options: CertificateListOptions): Page<T> {
  const ascending = options.ascendingOrder === true;
  // Zero-padded time then id, so that string order is creation order and ties are stable.
  const key = (item: T): string => `${String(item.createdAt).padStart(15, '0')}:${item.id}`;
  items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  if (!ascending) items.reverse();
  return paginate(items, options, key, !ascending);
}
