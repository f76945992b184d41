/**
 * Fleet provisioning by claim over MQTT (AWS IoT developer guide, "Provisioning devices that
 * don't have device certificates using fleet provisioning" and "Device provisioning MQTT API"):
 *
 *   $aws/certificates/create/<json|cbor>                               CreateKeysAndCertificate
 *   $aws/certificates/create-from-csr/<json|cbor>                      CreateCertificateFromCsr
 *   $aws/provisioning-templates/<templateName>/provision/<json|cbor>   RegisterThing
 *
 * each answered on `<request topic>/accepted` or `/rejected`, in the request's format, to the
 * connection that asked (the gateway delivers these topics to the requesting client id only,
 * ingest/gateway/router.ts). A rejection is AWS's `{ statusCode, errorCode, errorMessage }`.
 *
 * Certificates are made PENDING_ACTIVATION with an ownership token (ownership-token.ts);
 * RegisterThing checks the token, runs the template's pre-provisioning hook through the Lambda
 * Invoke client, and applies the template with `applyTemplate` (all or nothing), which spends
 * the token and sets the certificate's status as the template says in the same registry write.
 */
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import { PlatformError, type Logger } from '../core/index.js';
import { CERTIFICATE_COMMANDS, REGISTRY_BATCH_COMMAND, type BatchResult, type CertificateService, type PreparedCertificate, type RegistryStore } from '../registry/index.js';
import type { ApplyOptions, PreProvisioningHook, ProvisionResult } from './apply.js';
import type { TemplateRecord } from './model.js';
import type { OwnershipTokens } from './ownership-token.js';

export type FleetFormat = 'json' | 'cbor';

export type FleetRequest =
  | { readonly op: 'create-keys' | 'create-from-csr'; readonly format: FleetFormat; readonly topic: string }
  | { readonly op: 'register'; readonly format: FleetFormat; readonly topic: string; readonly templateName: string };

const CREATE = /^\$aws\/certificates\/(create|create-from-csr)\/(json|cbor)$/;
const PROVISION = /^\$aws\/provisioning-templates\/([^/]+)\/provision\/(json|cbor)$/;

/** The request a topic carries, or undefined when it is not a fleet provisioning request topic. */
export function parseFleetTopic(topic: string): FleetRequest | undefined {
  const c = CREATE.exec(topic);
  if (c) return { op: c[1] === 'create' ? 'create-keys' : 'create-from-csr', format: c[2] as FleetFormat, topic };
  const p = PROVISION.exec(topic);
  if (p) return { op: 'register', format: p[2] as FleetFormat, topic, templateName: p[1]! };
  return undefined;
}

/** The parameter a fleet provisioning template names the device's certificate by (kiot sets it; AWS's templates declare it). */
export const CERTIFICATE_ID_PARAMETER = 'AWS::IoT::Certificate::Id';

/** How long the pre-provisioning hook may take (AWS: the function must answer within 5 seconds). */
export const HOOK_TIMEOUT_MS = 5_000;

/** The Lambda Invoke client's shape (actions/lambda/lambda-client.ts `invokeLambda`, as custom authorizers use it). */
export type InvokeHookFunction = (functionArn: string, payload: Buffer, signal: AbortSignal) => Promise<{ readonly status: number; readonly body: Buffer; readonly functionError?: string | undefined }>;

/** A refusal as the device sees it (the `/rejected` payload). */
export class FleetRejection extends Error {
  constructor(
    readonly statusCode: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
    this.name = 'FleetRejection';
  }
}

const invalidPayload = (message: string) => new FleetRejection(400, 'InvalidPayload', message);
const badToken = (message: string) => new FleetRejection(400, 'InvalidCertificateOwnershipToken', message);
const accessDenied = (message: string) => new FleetRejection(403, 'AccessDenied', message);

export interface FleetDeps {
  readonly certificates: CertificateService;
  /** Where new certificates are written, as one-step `registry.batch` groups (the service coalesces concurrent batches). */
  readonly registry: Pick<RegistryStore, 'execute'>;
  readonly tokens: OwnershipTokens;
  /** Calls the pre-provisioning hook's function; without one a template with a hook refuses every device. */
  readonly invokeHook?: InvokeHookFunction;
  readonly template: (name: string) => TemplateRecord;
  readonly templateArn: (name: string) => string;
  readonly provision: (templateBody: string, parameters: Readonly<Record<string, unknown>>, options: ApplyOptions) => Promise<ProvisionResult>;
  readonly logger: Logger;
  readonly hookTimeoutMs?: number;
}

/** Who asked: the requesting connection's client id and principal (a claim certificate's id). */
export interface FleetCaller {
  readonly clientId: string;
  readonly principal?: string | undefined;
}

export interface FleetAnswer {
  readonly topic: string;
  readonly payload: Buffer;
  readonly accepted: boolean;
}

export function decodePayload(format: FleetFormat, payload: Buffer): Record<string, unknown> {
  if (payload.length === 0) return {};
  let value: unknown;
  try {
    value = format === 'json' ? JSON.parse(payload.toString('utf8')) : cborDecode(payload);
  } catch (err) {
    throw invalidPayload(`the payload is not valid ${format.toUpperCase()} (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) throw invalidPayload(`the payload must be a ${format.toUpperCase()} object`);
  return value as Record<string, unknown>;
}

export function encodePayload(format: FleetFormat, body: object): Buffer {
  return format === 'json' ? Buffer.from(JSON.stringify(body)) : Buffer.from(cborEncode(body));
}

const optionalString = (body: Record<string, unknown>, field: string): string | undefined => {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidPayload(`${field}: expected a string`);
  return v;
};

/** RegisterThing's `parameters`: a map of names to strings (AWS: keys up to 2048, values up to 4096 characters). */
function parametersOf(body: Record<string, unknown>): Record<string, string> {
  const raw = body['parameters'];
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) throw invalidPayload('parameters: expected an object of names to strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw invalidPayload(`parameters.${k}: expected a string`);
    if (k.length > 2048 || v.length > 4096) throw invalidPayload(`parameters.${k}: keys are at most 2048 characters, values at most 4096`);
    out[k] = v;
  }
  return out;
}

/** Answers fleet provisioning requests; one instance per provisioning service. */
export function createFleetProvisioning(deps: FleetDeps) {
  const logger = deps.logger.child({ module: 'provisioning.fleet' });

  /** The hook of a template, in AWS's request and answer shapes; a failure, timeout or malformed answer denies (AWS: ACCESS_DENIED). */
  const hookFor = (template: TemplateRecord, certificateId: string, certificatePem: string, caller: FleetCaller): PreProvisioningHook | undefined => {
    const config = template.preProvisioningHook;
    if (!config) return undefined;
    return async ({ parameters }) => {
      if (!deps.invokeHook) throw accessDenied('the pre-provisioning hook cannot be called: no Lambda Invoke endpoint is configured');
      const event = {
        // The claim certificate, when the device connected with one (not a custom authorizer's principal).
        ...(caller.principal !== undefined && deps.certificates.findCertificate(caller.principal) ? { claimCertificateId: caller.principal } : {}),
        certificateId,
        certificatePem,
        templateArn: deps.templateArn(template.templateName),
        clientId: caller.clientId,
        // AWS: the parameters of the RegisterThing request; the certificate id kiot adds is the event's own field.
        parameters: Object.fromEntries(Object.entries(parameters).filter(([name]) => name !== CERTIFICATE_ID_PARAMETER)),
      };
      const signal = AbortSignal.timeout(deps.hookTimeoutMs ?? HOOK_TIMEOUT_MS);
      let answer: unknown;
      try {
        const res = await deps.invokeHook(config.targetArn, Buffer.from(JSON.stringify(event)), signal);
        if (res.status < 200 || res.status >= 300 || res.functionError) throw new Error(res.functionError ? `function error (${res.functionError})` : `HTTP ${res.status}`);
        answer = JSON.parse(res.body.toString('utf8'));
      } catch (err) {
        logger.warn({ err, functionArn: config.targetArn, templateName: template.templateName }, 'pre-provisioning hook failed; provisioning denied');
        throw accessDenied(`the pre-provisioning hook failed: ${signal.aborted ? `no answer within ${(deps.hookTimeoutMs ?? HOOK_TIMEOUT_MS) / 1000} s` : (err as Error).message}`);
      }
      const a = answer as { allowProvisioning?: unknown; parameterOverrides?: unknown } | null;
      const overrides = a?.parameterOverrides;
      const validOverrides = overrides === undefined || overrides === null || (typeof overrides === 'object' && !Array.isArray(overrides) && Object.values(overrides).every((v) => typeof v === 'string'));
      if (typeof a !== 'object' || a === null || typeof a.allowProvisioning !== 'boolean' || !validOverrides) throw accessDenied('the pre-provisioning hook answered malformed (expected allowProvisioning: boolean, parameterOverrides: names to strings)');
      if (!a.allowProvisioning) throw accessDenied('the pre-provisioning hook denied provisioning');
      return { allowProvisioning: true, ...(overrides ? { parameterOverrides: overrides as Record<string, string> } : {}) };
    };
  };

  /** A new certificate, PENDING_ACTIVATION until RegisterThing (AWS), written as a batch group so that concurrent devices share registry writes. */
  const store = async (prepared: PreparedCertificate) => {
    const out = await deps.registry.execute<BatchResult>(REGISTRY_BATCH_COMMAND, { groups: [{ steps: [{ command: CERTIFICATE_COMMANDS.register, input: prepared }] }] });
    const group = out.groups[0]!;
    if (!group.ok) throw new PlatformError(group.error.code, group.error.message, { details: group.error.details });
  };

  const createKeys = async () => {
    const { record, arn, keyPair } = await deps.certificates.prepareKeysAndCertificate('PENDING_ACTIVATION');
    await store({ record, arn });
    return { certificateId: record.id, certificatePem: record.pem, privateKey: keyPair.PrivateKey, certificateOwnershipToken: deps.tokens.issue(record.id) };
  };

  const createFromCsr = async (body: Record<string, unknown>) => {
    const csr = optionalString(body, 'certificateSigningRequest');
    if (csr === undefined || csr === '') throw invalidPayload('certificateSigningRequest: required');
    let prepared: PreparedCertificate;
    try {
      prepared = await deps.certificates.prepareFromCsr(csr, 'PENDING_ACTIVATION');
    } catch (err) {
      if (err instanceof PlatformError && !err.retriable) throw invalidPayload(`certificateSigningRequest: ${err.message}`);
      throw err;
    }
    await store(prepared);
    return { certificateId: prepared.record.id, certificatePem: prepared.record.pem, certificateOwnershipToken: deps.tokens.issue(prepared.record.id) };
  };

  const register = async (templateName: string, body: Record<string, unknown>, caller: FleetCaller) => {
    const token = deps.tokens.verify(body['certificateOwnershipToken']);
    if (!token.ok) {
      const why = { missing: 'Certificate ownership token cannot be empty.', malformed: 'Certificate ownership token is malformed.', forged: 'Certificate ownership token is not valid.', expired: 'Certificate ownership token has expired.' }[token.reason];
      throw badToken(why);
    }
    const parameters = parametersOf(body);
    let template: TemplateRecord;
    try {
      template = deps.template(templateName);
    } catch (err) {
      if (err instanceof PlatformError && err.code === 'REGISTRY_NOT_FOUND') throw new FleetRejection(404, 'ResourceNotFound', `provisioning template ${templateName} does not exist`);
      throw new FleetRejection(400, 'InvalidPayload', (err as Error).message);
    }
    if (template.type !== 'FLEET_PROVISIONING') throw new FleetRejection(400, 'InvalidTemplate', `provisioning template ${templateName} is ${template.type}, not FLEET_PROVISIONING`);
    if (!template.enabled) throw new FleetRejection(400, 'InvalidTemplate', `provisioning template ${templateName} is not enabled`);
    const certificate = deps.certificates.findCertificate(token.certificateId);
    if (!certificate) throw badToken('the certificate of this ownership token no longer exists');
    const body_ = template.versions.find((v) => v.versionId === template.defaultVersionId)!.templateBody;
    const hook = hookFor(template, certificate.id, certificate.pem, caller);
    let result: ProvisionResult;
    try {
      result = await deps.provision(body_, { ...parameters, [CERTIFICATE_ID_PARAMETER]: certificate.id }, {
        templateName,
        claimedCertificateId: certificate.id,
        // The token is spent by the very write that provisions the device (registry/batch.ts `once`).
        once: { id: `fleet-${token.tokenId}`, seq: 0, keepFrom: 0 },
        ...(hook ? { hook } : {}),
      });
    } catch (err) {
      if (err instanceof FleetRejection) throw err;
      if (err instanceof PlatformError && !err.retriable) {
        const status = err.code === 'REGISTRY_NOT_FOUND' ? 404 : err.code === 'REGISTRY_ALREADY_EXISTS' ? 409 : 400;
        throw new FleetRejection(status, status === 404 ? 'ResourceNotFound' : status === 409 ? 'ResourceConflict' : 'InvalidParameters', err.message);
      }
      throw err;
    }
    if (result.replayed) throw badToken('Certificate ownership token has already been used.');
    return { deviceConfiguration: result.deviceConfiguration, ...(result.thingName !== undefined ? { thingName: result.thingName } : {}) };
  };

  return {
    /**
     * Answers one request. Never throws: a refusal, or an unexpected failure (500
     * InternalError, logged), is the `/rejected` answer.
     */
    async answer(request: FleetRequest, payload: Buffer, caller: FleetCaller): Promise<FleetAnswer> {
      let body: object;
      try {
        const input = decodePayload(request.format, payload);
        if (request.op === 'register') body = await register(request.templateName, input, caller);
        else body = request.op === 'create-keys' ? await createKeys() : await createFromCsr(input);
      } catch (err) {
        const rejection = err instanceof FleetRejection ? err : new FleetRejection(500, 'InternalError', 'An internal error occurred.');
        if (!(err instanceof FleetRejection)) logger.error({ err, topic: request.topic, clientId: caller.clientId }, 'fleet provisioning request failed');
        return { topic: `${request.topic}/rejected`, accepted: false, payload: encodePayload(request.format, { statusCode: rejection.statusCode, errorCode: rejection.errorCode, errorMessage: rejection.message }) };
      }
      return { topic: `${request.topic}/accepted`, accepted: true, payload: encodePayload(request.format, body) };
    },
  };
}

export type FleetProvisioning = ReturnType<typeof createFleetProvisioning>;
