/**
 * Certificate writes as registry commands. Key generation, signing and parsing are async or
 * slow, so `certificate-service.ts` does them before `execute` and passes the finished record;
 * the commands only check what depends on the store's current state (already registered, CA
 * still ACTIVE, still attached) and return the writes.
 */
import { PlatformError, TOPICS, createEnvelope, envelopeRecord, type CommandContext, type StateView } from '../../core/index.js';
import { registryCommand, type RegistryCommand } from '../commands.js';
import { KEYS, type CaRecord, type CertificateRecord, type CertificateStatus, type KiotCaRecord, type RegistrationCodeRecord, type SecurityStore } from '../principals/store.js';
import type { RegistryValue } from '../store.js';

/** The names the certificate service executes its commands by. */
export const CERTIFICATE_COMMANDS = {
  ensureKiotCa: 'certificate.ensureKiotCa',
  ensureRegistrationCode: 'certificate.ensureRegistrationCode',
  register: 'certificate.register',
  autoRegister: 'certificate.autoRegister',
  registerCa: 'certificate.registerCa',
  update: 'certificate.update',
  updateCa: 'certificate.updateCa',
  delete: 'certificate.delete',
  deleteCa: 'certificate.deleteCa',
} as const;

/** UpdateCACertificate's changes, validated. */
export interface CaChanges {
  readonly status?: CaRecord['status'];
  readonly autoRegistrationStatus?: CaRecord['autoRegistrationStatus'];
  readonly registrationConfig?: Readonly<Record<string, unknown>>;
  readonly removeAutoRegistration?: boolean;
}

export function certificateCommands(security: SecurityStore): RegistryCommand<any, any>[] {
  return [
    // Two processes starting on an empty topic both make a CA; the first one stored wins for both.
    registryCommand(CERTIFICATE_COMMANDS.ensureKiotCa, (state, input: { record: KiotCaRecord }) => {
      const existing = state.get(KEYS.kiotCa) as KiotCaRecord | undefined;
      if (existing) return { result: existing, writes: [] };
      return { result: input.record, writes: [{ key: KEYS.kiotCa, value: input.record }] };
    }),

    registryCommand(CERTIFICATE_COMMANDS.ensureRegistrationCode, (state, input: { code: string }) => {
      const existing = state.get(KEYS.registrationCode) as RegistrationCodeRecord | undefined;
      if (existing) return { result: existing.code, writes: [] };
      return { result: input.code, writes: [{ key: KEYS.registrationCode, value: { code: input.code } }] };
    }),

    registryCommand(CERTIFICATE_COMMANDS.register, (state, input: { record: CertificateRecord; arn: string }) => {
      const { record } = input;
      if (state.has(KEYS.cert(record.id))) {
        throw new PlatformError('REGISTRY_ALREADY_EXISTS', `certificate ${record.id} is already registered`, { details: { resourceId: record.id, resourceArn: input.arn } });
      }
      if (record.caCertificateId !== undefined) {
        // The service found the CA ACTIVE; it must still be, and still be registered.
        const ca = state.get(KEYS.ca(record.caCertificateId)) as CaRecord | undefined;
        if (!ca) throw new PlatformError('CERTIFICATE_INVALID', `the CA certificate ${record.caCertificateId} is not registered (RegisterCACertificate)`);
        if (ca.status !== 'ACTIVE') throw new PlatformError('CERTIFICATE_STATE', `the CA certificate ${ca.id} is ${ca.status}, not ACTIVE`);
      }
      return { result: undefined, writes: [{ key: KEYS.cert(record.id), value: record }] };
    }),

    /**
     * Just-in-time registration (JITR, and the certificate step of JITP): the certificate a device
     * presented, signed by a registered CA that is ACTIVE with auto-registration ENABLE, is stored
     * and `$aws/events/certificates/registered/<caCertificateId>` goes to `iot.ingress` in the
     * same change. REGISTRY_ALREADY_EXISTS when another connection registered it first, so a
     * certificate is registered, and announced, once.
     */
    registryCommand(CERTIFICATE_COMMANDS.autoRegister, (state, input: AutoRegisterInput, ctx) => {
      const { record } = input;
      if (state.has(KEYS.cert(record.id))) {
        throw new PlatformError('REGISTRY_ALREADY_EXISTS', `certificate ${record.id} is already registered`, { details: { resourceId: record.id, resourceArn: input.arn } });
      }
      const ca = state.get(KEYS.ca(input.caCertificateId)) as CaRecord | undefined;
      if (!ca) throw new PlatformError('CERTIFICATE_INVALID', `the CA certificate ${input.caCertificateId} is not registered (RegisterCACertificate)`);
      if (ca.status !== 'ACTIVE') throw new PlatformError('CERTIFICATE_STATE', `the CA certificate ${ca.id} is ${ca.status}, not ACTIVE`);
      if (ca.autoRegistrationStatus !== 'ENABLE') throw new PlatformError('CERTIFICATE_STATE', `the CA certificate ${ca.id} does not allow auto-registration`);
      const stored: CertificateRecord = { ...record, caCertificateId: ca.id };
      return {
        result: undefined,
        writes: [{ key: KEYS.cert(record.id), value: stored }],
        appends: [{ topic: TOPICS.ingress, records: [registeredEvent(stored, input.accountId, ctx)] }],
      };
    }),

    registryCommand(CERTIFICATE_COMMANDS.registerCa, (state, input: { record: CaRecord; arn: string }) => {
      const { record } = input;
      if (state.has(KEYS.ca(record.id))) {
        throw new PlatformError('REGISTRY_ALREADY_EXISTS', `CA certificate ${record.id} is already registered`, { details: { resourceId: record.id, resourceArn: input.arn } });
      }
      return { result: undefined, writes: [{ key: KEYS.ca(record.id), value: record }] };
    }),

    // UpdateCertificate. REVOKED is final (the service refuses PENDING_* before it gets here).
    registryCommand(CERTIFICATE_COMMANDS.update, (state, input: { id: string; status: CertificateStatus }, ctx) => {
      const record = certificateOf(state, input.id);
      if (record.status === 'REVOKED' && input.status !== 'REVOKED') {
        throw new PlatformError('CERTIFICATE_STATE', `certificate ${input.id} is REVOKED; a revoked certificate cannot change status`);
      }
      if (record.status === input.status) return { result: undefined, writes: [] };
      return { result: undefined, writes: [{ key: KEYS.cert(input.id), value: touch({ ...record, status: input.status }, ctx) }] };
    }),

    registryCommand(CERTIFICATE_COMMANDS.updateCa, (state, input: { id: string; changes: CaChanges }, ctx) => {
      const { changes } = input;
      let next: CaRecord = caCertificateOf(state, input.id);
      if (changes.status !== undefined) next = { ...next, status: changes.status };
      if (changes.autoRegistrationStatus !== undefined) next = { ...next, autoRegistrationStatus: changes.autoRegistrationStatus };
      if (changes.registrationConfig) next = { ...next, registrationConfig: changes.registrationConfig };
      if (changes.removeAutoRegistration) {
        const { registrationConfig: _removed, ...rest } = next;
        next = rest;
      }
      return { result: undefined, writes: [{ key: KEYS.ca(input.id), value: touch(next, ctx) }] };
    }),

    /**
     * DeleteCertificate. Refused while ACTIVE (CERTIFICATE_STATE), while attached to a thing
     * (REGISTRY_DELETE_CONFLICT), and while policies are attached unless `forceDelete`, which
     * detaches them in the same change (AWS's behaviour).
     */
    registryCommand(CERTIFICATE_COMMANDS.delete, (state, input: { id: string; arn: string; forceDelete: boolean }) => {
      const { id, arn } = input;
      const record = certificateOf(state, id);
      if (record.status === 'ACTIVE') throw new PlatformError('CERTIFICATE_STATE', `certificate ${id} is ACTIVE; deactivate it before deleting it`);
      const things = security.thingPrincipals.by(arn);
      if (things.length > 0) {
        throw new PlatformError('REGISTRY_DELETE_CONFLICT', `certificate ${id} is attached to ${things.length} thing(s) (${things.slice(0, 3).join(', ')}); detach it first`);
      }
      const policies = security.policyTargets.by(arn);
      if (policies.length > 0 && !input.forceDelete) {
        throw new PlatformError('REGISTRY_DELETE_CONFLICT', `certificate ${id} has ${policies.length} attached polic${policies.length === 1 ? 'y' : 'ies'}; detach them or pass forceDelete`);
      }
      return { result: undefined, writes: [...policies.map((policy) => ({ key: KEYS.policyTarget(policy, arn), value: null })), { key: KEYS.cert(id), value: null }] };
    }),

    // DeleteCACertificate: refused while ACTIVE, as AWS does.
    registryCommand(CERTIFICATE_COMMANDS.deleteCa, (state, input: { id: string }) => {
      const record = caCertificateOf(state, input.id);
      if (record.status === 'ACTIVE') throw new PlatformError('CERTIFICATE_STATE', `CA certificate ${input.id} is ACTIVE; deactivate it before deleting it`);
      return { result: undefined, writes: [{ key: KEYS.ca(input.id), value: null }] };
    }),
  ];
}

/** `certificate.autoRegister`'s input: the record to store (its status is the caller's: PENDING_ACTIVATION for JITR, the template's for JITP). */
export interface AutoRegisterInput {
  readonly record: CertificateRecord;
  readonly arn: string;
  readonly caCertificateId: string;
  readonly accountId: string;
}

/**
 * AWS IoT developer guide, "Just-in-time registration of client certificates": the message on
 * `$aws/events/certificates/registered/<caCertificateId>`, keyed by the certificate id, as a
 * device message would arrive, so that rules can match it. Timestamps are epoch milliseconds.
 */
function registeredEvent(record: CertificateRecord, accountId: string, ctx: CommandContext) {
  const payload = {
    certificateId: record.id,
    caCertificateId: record.caCertificateId,
    timestamp: ctx.now,
    certificateStatus: record.status,
    awsAccountId: accountId,
    certificateRegistrationTimestamp: record.createdAt,
  };
  const envelope = createEnvelope({
    topic: `$aws/events/certificates/registered/${record.caCertificateId}`,
    payload: Buffer.from(JSON.stringify(payload)),
    qos: 1,
    receivedAt: ctx.now,
    messageId: ctx.newId(),
    traceId: ctx.newId(),
  });
  return envelopeRecord(envelope, record.id);
}

/** The certificate, or REGISTRY_NOT_FOUND. */
export function certificateOf(state: StateView<RegistryValue>, id: string): CertificateRecord {
  const record = state.get(KEYS.cert(id)) as CertificateRecord | undefined;
  if (!record) throw notFound('certificate', id);
  return record;
}

/** The registered CA certificate, or REGISTRY_NOT_FOUND. */
export function caCertificateOf(state: StateView<RegistryValue>, id: string): CaRecord {
  const record = state.get(KEYS.ca(id)) as CaRecord | undefined;
  if (!record) throw notFound('CA certificate', id);
  return record;
}

/** AWS IoT: every change of a certificate's description bumps its generation and customer version. */
function touch<T extends { updatedAt: number; generationId: string; customerVersion: number }>(record: T, ctx: CommandContext): T {
  return { ...record, updatedAt: ctx.now, generationId: ctx.newId(), customerVersion: record.customerVersion + 1 };
}

const notFound = (what: string, id: string): PlatformError =>
  new PlatformError('REGISTRY_NOT_FOUND', `${what} ${id} does not exist`, { details: { resourceId: id } });
