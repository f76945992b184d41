/**
 * Applying a template for one device, all or nothing: the one function RegisterThing, bulk
 * registration tasks, and (next) fleet provisioning by claim and just-in-time provisioning call.
 *
 *   parameters → pre-provisioning hook (may deny, or override parameters) → plan (template.ts)
 *   → certificate signed / checked, existing resources compared with OverrideSettings
 *   → one `registry.batch` (registry/batch.ts): thing, groups, certificate, policies and the
 *     attachments are written to `iot.registry` in one append, or, if any step fails, not at all.
 *
 * Nothing is written before the batch, so a failure at any point (a bad parameter, a CSR that
 * does not parse, a thing group that does not exist, a crash) leaves nothing behind.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { PlatformError } from '../core/index.js';
import {
  CERTIFICATE_COMMANDS,
  POLICY_COMMANDS,
  REGISTRY_BATCH_COMMAND,
  KEY_PREFIX,
  SECURITY_KEYS,
  THING_COMMANDS,
  parsePolicyDocument,
  type AttachThingPrincipalInput,
  type AutoRegisterInput,
  type BatchInput,
  type BatchOnce,
  type BatchResult,
  type BatchStep,
  type CertificateRecord,
  type CertificateService,
  type PolicyRecord,
  type PolicyService,
  type RegistryStore,
  type ThingRecord,
} from '../registry/index.js';
import { planTemplate, type OverrideAction, type PlannedCertificate, type PlannedPolicy, type PlannedThing, type Template } from './template.js';

/** What applying a template writes to and reads from: the registry store and its services. */
export interface ProvisioningTargets {
  readonly registry: RegistryStore;
  readonly certificates: CertificateService;
  readonly policies: PolicyService;
}

/**
 * The pre-provisioning hook (AWS IoT developer guide, "Pre-provisioning hooks"): called with the
 * parameters before anything is planned; answers whether to go on and may override parameters.
 * Fleet provisioning calls a Lambda through it; RegisterThing and bulk tasks call none (as AWS).
 */
export type PreProvisioningHook = (request: { readonly templateName?: string; readonly parameters: Readonly<Record<string, string>> }) => Promise<{
  readonly allowProvisioning: boolean;
  readonly parameterOverrides?: Readonly<Record<string, string>>;
}>;

export interface ApplyOptions {
  readonly templateName?: string;
  readonly hook?: PreProvisioningHook;
  /** Makes the apply idempotent under this id and sequence number (bulk tasks; registry/batch.ts). */
  readonly once?: Omit<BatchOnce, 'memo'>;
  /**
   * Just-in-time provisioning: the certificate the device presented, not yet registered. It is
   * registered in the same batch (`certificate.autoRegister`, which publishes the registered
   * event): with the template's Status when the template's certificate is this one (by
   * CertificateId or CertificatePem), else as it is (PENDING_ACTIVATION).
   */
  readonly autoRegister?: AutoRegisterInput;
  /**
   * Fleet provisioning: the certificate the device made over MQTT. The template must provision
   * it (CertificateId), and its status becomes the template's whatever OverrideSettings say
   * (AWS: "the certificate status changes to ACTIVE or INACTIVE as described in the template").
   */
  readonly claimedCertificateId?: string;
}

export interface ProvisionResult {
  /** The certificate's PEM when the template names a certificate. */
  readonly certificatePem?: string;
  readonly certificateId?: string;
  readonly thingName?: string;
  /** ARN of each provisioned resource, by its logical id in the template. */
  readonly resourceArns: Readonly<Record<string, string>>;
  /** The parameters after defaults and the hook's overrides. */
  readonly parameters: Readonly<Record<string, string>>;
  /** The template's `DeviceConfiguration`, evaluated. */
  readonly deviceConfiguration: Readonly<Record<string, string>>;
  /** True when `once` found this sequence number already applied (nothing was written this time). */
  readonly replayed: boolean;
}

/** What a `once` batch remembers for a replay: enough to rebuild the result, and small (no parameters: a CSR is long). */
interface Memo {
  readonly certificateId?: string;
  readonly thingName?: string;
  readonly resourceArns: Readonly<Record<string, string>>;
}

/** A resource exists and differs, and its OverrideSettings say FAIL: ResourceAlreadyExistsException (409). */
const conflict = (message: string): PlatformError => new PlatformError('REGISTRY_ALREADY_EXISTS', message, { details: { awsErrorType: 'ResourceAlreadyExistsException', awsStatus: 409 } });

/**
 * Applies a checked template with a device's parameters, all or nothing.
 * @throws PlatformError REGISTRY_INVALID (parameters, a value that did not evaluate, the hook
 *   said no), REGISTRY_NOT_FOUND (a named certificate, policy, thing type or group is missing),
 *   REGISTRY_ALREADY_EXISTS (OverrideSettings FAIL, or a policy name taken by another document),
 *   CERTIFICATE_INVALID (a CSR or certificate that does not parse or verify). Nothing is written
 *   when it throws. Safe to retry with the same `once`.
 */
export async function applyTemplate(targets: ProvisioningTargets, template: Template, parameters: Readonly<Record<string, unknown>>, options: ApplyOptions = {}): Promise<ProvisionResult> {
  const [outcome] = await applyPrepared(targets, [await prepareApply(targets, template, parameters, options)]);
  if (outcome instanceof PlatformError) throw outcome;
  return outcome!;
}

/**
 * Applies many devices in one registry command (bulk tasks): each device all or nothing, each
 * one's failure its own. Resolves with a result or the PlatformError of each, in order.
 */
export async function applyMany(targets: ProvisioningTargets, template: Template, devices: readonly { readonly parameters: Readonly<Record<string, unknown>>; readonly options?: ApplyOptions }[]): Promise<(ProvisionResult | PlatformError)[]> {
  const prepared = await Promise.all(devices.map((d) => prepareApply(targets, template, d.parameters, d.options ?? {}).catch((err: unknown) => err)));
  const ready = prepared.filter((p): p is Prepared => !(p instanceof Error));
  const applied = ready.length > 0 ? await applyPrepared(targets, ready) : [];
  let next = 0;
  return prepared.map((p) => {
    if (p instanceof PlatformError) return p;
    if (p instanceof Error) throw p;
    return applied[next++]!;
  });
}

/** One device's writes, checked and ready: the steps of its registry.batch group and what to answer. */
interface Prepared {
  readonly steps: readonly BatchStep[];
  readonly memo: Memo;
  readonly parameters: Readonly<Record<string, string>>;
  readonly deviceConfiguration: Readonly<Record<string, string>>;
  readonly certificatePem?: string;
  readonly once?: Omit<BatchOnce, 'memo'>;
}

/** Everything before the write: the hook, the plan, signing, and comparing with what exists. */
async function prepareApply(targets: ProvisioningTargets, template: Template, parameters: Readonly<Record<string, unknown>>, options: ApplyOptions): Promise<Prepared> {
  let given = parameters;
  if (options.hook) {
    const asked = Object.fromEntries(Object.entries(parameters).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => [k, String(v)]));
    const answer = await options.hook({ ...(options.templateName !== undefined ? { templateName: options.templateName } : {}), parameters: asked });
    if (!answer.allowProvisioning) throw new PlatformError('REGISTRY_INVALID', 'the pre-provisioning hook denied provisioning (allowProvisioning: false)', { details: { awsErrorType: 'InvalidRequestException' } });
    given = { ...parameters, ...(answer.parameterOverrides ?? {}) };
  }
  const plan = planTemplate(template, given);
  const steps: BatchStep[] = [];
  const resourceArns: Record<string, string> = {};
  const state = targets.registry.state;

  const thingName = plan.thing?.thingName;
  if (plan.thing) {
    steps.push(...thingSteps(state.get(KEY_PREFIX.thing + plan.thing.thingName) as ThingRecord | undefined, plan.thing));
    resourceArns[plan.thing.logicalId] = targets.registry.arns.thing(plan.thing.thingName);
  }

  let certificate: { id: string; arn: string; pem: string } | undefined;
  const claimed = options.claimedCertificateId;
  if (claimed !== undefined && (plan.certificate?.source !== 'id' || plan.certificate.certificateId !== claimed)) {
    throw new PlatformError('REGISTRY_INVALID', 'the template does not provision the device\'s certificate (an AWS::IoT::Certificate with CertificateId {"Ref": "AWS::IoT::Certificate::Id"})', { details: { awsErrorType: 'InvalidRequestException' } });
  }
  if (plan.certificate) {
    certificate = await certificateSteps(targets, plan.certificate, steps, options.autoRegister, claimed);
    resourceArns[plan.certificate.logicalId] = certificate.arn;
  }
  if (options.autoRegister && !steps.some((s) => s.command === CERTIFICATE_COMMANDS.autoRegister)) {
    steps.unshift({ command: CERTIFICATE_COMMANDS.autoRegister, input: options.autoRegister });
  }

  for (const policy of plan.policies) {
    const name = policyStep(targets, policy, steps);
    resourceArns[policy.logicalId] = targets.policies.policyArn(name);
    if (certificate) steps.push({ command: POLICY_COMMANDS.attach, input: { name, target: certificate.arn } });
  }

  if (certificate && thingName !== undefined) {
    const input: AttachThingPrincipalInput = { thingName, principal: certificate.arn, type: 'NON_EXCLUSIVE_THING', thingStored: true };
    steps.push({ command: POLICY_COMMANDS.attachThingPrincipal, input });
  }

  const memo: Memo = { ...(certificate ? { certificateId: certificate.id } : {}), ...(thingName !== undefined ? { thingName } : {}), resourceArns };
  return { steps, memo, parameters: plan.parameters, deviceConfiguration: plan.deviceConfiguration, ...(certificate ? { certificatePem: certificate.pem } : {}), ...(options.once ? { once: options.once } : {}) };
}

/** Writes prepared devices in one registry.batch, one group each. */
async function applyPrepared(targets: ProvisioningTargets, prepared: readonly Prepared[]): Promise<(ProvisionResult | PlatformError)[]> {
  const batch: BatchInput = { groups: prepared.map((p) => ({ steps: p.steps, ...(p.once ? { once: { ...p.once, memo: p.memo } } : {}) })) };
  const outcome = await targets.registry.execute<BatchResult>(REGISTRY_BATCH_COMMAND, batch);
  return outcome.groups.map((group, i) => {
    const p = prepared[i]!;
    if (!group.ok) return new PlatformError(group.error.code, group.error.message, { details: group.error.details });
    if (group.replayed) {
      const was = (group.memo ?? p.memo) as Memo;
      const pem = was.certificateId !== undefined ? targets.certificates.findCertificate(was.certificateId)?.pem : undefined;
      return { ...was, parameters: p.parameters, deviceConfiguration: p.deviceConfiguration, ...(pem !== undefined ? { certificatePem: pem } : {}), replayed: true };
    }
    return { ...p.memo, parameters: p.parameters, deviceConfiguration: p.deviceConfiguration, ...(p.certificatePem !== undefined ? { certificatePem: p.certificatePem } : {}), replayed: false };
  });
}

const sameRecord = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
};

/** Existing-resource handling (developer guide, "Resources section", OverrideSettings); unset means DO_NOTHING. */
const overrideOf = (overrides: Readonly<Record<string, OverrideAction>>, property: string): OverrideAction => overrides[property] ?? 'DO_NOTHING';

function thingSteps(existing: ThingRecord | undefined, thing: PlannedThing): BatchStep[] {
  const { thingName } = thing;
  if (!existing) {
    const create: BatchStep = {
      command: THING_COMMANDS.createThing,
      input: { thingName, ...(thing.thingTypeName !== undefined ? { thingTypeName: thing.thingTypeName } : {}), ...(thing.attributes ? { attributes: thing.attributes } : {}) },
    };
    return [create, ...(thing.thingGroups ?? []).map((g) => ({ command: THING_COMMANDS.addThingToThingGroup, input: { thingName, thingGroupName: g } }))];
  }
  const steps: BatchStep[] = [];
  const update: { attributePayload?: { attributes: Record<string, string>; merge: boolean }; thingTypeName?: string } = {};
  if (thing.attributes && !sameRecord(existing.attributes, thing.attributes)) {
    const action = overrideOf(thing.overrides, 'AttributePayload');
    if (action === 'FAIL') throw conflict(`thing ${thingName} exists with other attributes (OverrideSettings AttributePayload: FAIL)`);
    if (action === 'MERGE') update.attributePayload = { attributes: { ...thing.attributes }, merge: true };
    if (action === 'REPLACE') update.attributePayload = { attributes: { ...thing.attributes }, merge: false };
  }
  if (thing.thingTypeName !== undefined && thing.thingTypeName !== existing.thingTypeName) {
    const action = overrideOf(thing.overrides, 'ThingTypeName');
    if (action === 'FAIL') throw conflict(`thing ${thingName} exists with another thing type (OverrideSettings ThingTypeName: FAIL)`);
    if (action === 'REPLACE') update.thingTypeName = thing.thingTypeName;
  }
  if (update.attributePayload || update.thingTypeName !== undefined) steps.push({ command: THING_COMMANDS.updateThing, input: { thingName, ...update } });
  if (thing.thingGroups) {
    const current = existing.groups.map((m) => m.groupName);
    const wanted = thing.thingGroups;
    const missing = wanted.filter((g) => !current.includes(g));
    const extra = current.filter((g) => !wanted.includes(g));
    const action = overrideOf(thing.overrides, 'ThingGroups');
    if ((missing.length > 0 || extra.length > 0) && action === 'FAIL') throw conflict(`thing ${thingName} exists in other thing groups (OverrideSettings ThingGroups: FAIL)`);
    if (action === 'REPLACE') for (const g of extra) steps.push({ command: THING_COMMANDS.removeThingFromThingGroup, input: { thingName, thingGroupName: g } });
    if (action === 'REPLACE' || action === 'MERGE') for (const g of missing) steps.push({ command: THING_COMMANDS.addThingToThingGroup, input: { thingName, thingGroupName: g } });
  }
  return steps;
}

async function certificateSteps(targets: ProvisioningTargets, planned: PlannedCertificate, steps: BatchStep[], autoRegister?: AutoRegisterInput, claimed?: string): Promise<{ id: string; arn: string; pem: string }> {
  const { certificates } = targets;
  const pending = autoRegister?.record;
  const samePem = planned.source === 'pem' && pending !== undefined && certificateIdOfPem(planned.certificatePem) === pending.id;
  if (autoRegister && pending && ((planned.source === 'id' && planned.certificateId === pending.id) || samePem) && !certificates.findCertificate(pending.id)) {
    const input: AutoRegisterInput = { ...autoRegister, record: { ...pending, status: planned.status } };
    steps.push({ command: CERTIFICATE_COMMANDS.autoRegister, input });
    return { id: pending.id, arn: autoRegister.arn, pem: pending.pem };
  }
  let existing: CertificateRecord | undefined;
  if (planned.source === 'csr') {
    const { record, arn } = await certificates.prepareFromCsr(planned.csr, planned.status);
    steps.push({ command: CERTIFICATE_COMMANDS.register, input: { record, arn } });
    return { id: record.id, arn, pem: record.pem };
  }
  if (planned.source === 'id') {
    existing = certificates.findCertificate(planned.certificateId);
    if (!existing) throw new PlatformError('REGISTRY_NOT_FOUND', `certificate ${planned.certificateId} does not exist (CertificateId)`, { details: { resourceId: planned.certificateId } });
  } else {
    const prepared = certificates.prepareRegistration({ certificatePem: planned.certificatePem, ...(planned.caCertificatePem !== undefined ? { caCertificatePem: planned.caCertificatePem } : {}), status: planned.status });
    existing = certificates.findCertificate(prepared.record.id);
    if (!existing) {
      steps.push({ command: CERTIFICATE_COMMANDS.register, input: prepared });
      return { id: prepared.record.id, arn: prepared.arn, pem: prepared.record.pem };
    }
  }
  const arn = certificates.certificateArn(existing.id);
  if (existing.status !== planned.status) {
    const action = existing.id === claimed ? 'REPLACE' : overrideOf(planned.overrides, 'Status');
    if (action === 'FAIL') throw conflict(`certificate ${existing.id} is ${existing.status}, not ${planned.status} (OverrideSettings Status: FAIL)`);
    if (action === 'REPLACE') steps.push({ command: CERTIFICATE_COMMANDS.update, input: { id: existing.id, status: planned.status } });
  }
  return { id: existing.id, arn, pem: existing.pem };
}

/** The id of a PEM certificate, or undefined when it does not parse (the planned step then reports it). */
function certificateIdOfPem(pem: string): string | undefined {
  try {
    return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
  } catch {
    return undefined;
  }
}

/** AWS IoT policy names: `[\w+=,.@-]+`, 1 to 128 characters. */
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;

/**
 * The policy's name, after adding the step that creates it when needed. A PolicyDocument with no
 * PolicyName is named by the SHA-256 of the document (so every device of a template shares one
 * policy); an existing policy of that name is reused when its default version is the same
 * document, and is a conflict otherwise.
 */
function policyStep(targets: ProvisioningTargets, planned: PlannedPolicy, steps: BatchStep[]): string {
  const name = planned.policyName ?? createHash('sha256').update(planned.policyDocument ?? '').digest('hex');
  if (!POLICY_NAME.test(name)) throw new PlatformError('REGISTRY_INVALID', `Resources.${planned.logicalId}.Properties.PolicyName: expected 1-128 characters of [A-Za-z0-9_+=,.@-], received ${JSON.stringify(name)}`);
  const existing = targets.registry.state.get(SECURITY_KEYS.policy(name)) as PolicyRecord | undefined;
  if (planned.policyDocument === undefined) {
    if (!existing) throw new PlatformError('REGISTRY_NOT_FOUND', `policy ${name} does not exist (Resources.${planned.logicalId}.Properties.PolicyName)`, { details: { resourceId: name } });
    return name;
  }
  parsePolicyDocument(planned.policyDocument);
  if (existing) {
    const current = existing.versions.find((v) => v.id === existing.defaultVersionId)?.document;
    if (current !== undefined && sameJson(current, planned.policyDocument)) return name;
    throw conflict(`policy ${name} already exists with another document (Resources.${planned.logicalId})`);
  }
  // policy.ensure, not policy.create: other devices of the same registry.batch may make it first.
  if (!steps.some((s) => s.command === POLICY_COMMANDS.ensure && (s.input as { name: string }).name === name)) {
    steps.push({ command: POLICY_COMMANDS.ensure, input: { name, document: planned.policyDocument, arn: targets.policies.policyArn(name) } });
  }
  return name;
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return a === b;
  }
}
