/**
 * Just-in-time registration (JITR) and just-in-time provisioning (JITP), as the AWS IoT
 * developer guide describes them ("Register a client certificate when the client connects",
 * "Just-in-time provisioning"): the decision for a device certificate kiot does not know, made
 * when the device first connects. The gateway asks it (ingest/auth-registry.ts, the HTTPS
 * publish listener) and then authenticates the certificate as usual.
 *
 * - The certificate must be valid now and signed by a registered CA that is ACTIVE with
 *   autoRegistrationStatus ENABLE (CertificateService.prepareAutoRegistration); otherwise
 *   nothing is registered and the connection is refused as for any unknown certificate.
 * - JITR (the CA has no registrationConfig): the certificate is registered PENDING_ACTIVATION
 *   and `$aws/events/certificates/registered/<caCertificateId>` is published, in one registry
 *   command. The connection is refused (not ACTIVE); a rule or an operator activates it
 *   (UpdateCertificate) and the device's next connection succeeds.
 * - JITP (templateBody, or templateName of a JITP template): the template is applied, all or
 *   nothing (apply.ts), with `AWS::IoT::Certificate::<subject attribute>` and
 *   `AWS::IoT::Certificate::Id` as parameters; the certificate is registered in the same batch
 *   with the template's Status (the event goes with it). A template that fails (a parameter the
 *   certificate lacks, a conflict) registers nothing, is logged, and the connection is refused.
 *
 * One certificate's concurrent first connections share one attempt in this process; across
 * processes `certificate.autoRegister` refuses a second registration, and the loser reads the
 * winner's result.
 */
import { createHash } from 'node:crypto';
import { PlatformError, type Logger } from '../core/index.js';
import { CERTIFICATE_COMMANDS } from '../registry/index.js';
import { applyTemplate, type ProvisioningTargets } from './apply.js';
import type { TemplateRecord } from './model.js';
import { parseTemplate, type Template } from './template.js';

/** What happened to a certificate on its first connection. */
export type AutoRegistrationOutcome =
  /** Already registered (before, or by a concurrent connection): authenticate it as usual. */
  | { readonly kind: 'known'; readonly certificateId: string }
  /** JITR: registered PENDING_ACTIVATION, the registered event published. */
  | { readonly kind: 'registered'; readonly certificateId: string }
  /** JITP: the template applied (thing, policies, the certificate with the template's status). */
  | { readonly kind: 'provisioned'; readonly certificateId: string; readonly thingName?: string }
  /** Not eligible, or the template failed: nothing was registered. */
  | { readonly kind: 'refused'; readonly certificateId: string; readonly detail: string };

/** Called by the gateway for a client certificate the registry does not know. Never rejects. */
export type AutoRegistration = (certificate: { readonly raw: Buffer }) => Promise<AutoRegistrationOutcome>;

export interface JustInTimeDeps {
  readonly targets: ProvisioningTargets;
  /** Provisioning templates by name (`registrationConfig.templateName`). */
  readonly templates?: { template(name: string): TemplateRecord };
  readonly logger: Logger;
}

/** AWS's parameter names for the certificate's subject; kiot's attribute names where they differ. */
const PARAMETER_NAMES: Readonly<Record<string, string>> = { State: 'StateName' };

/** The template parameters JITP passes: every subject attribute the certificate has, and its id. */
export function certificateParameters(subject: Readonly<Record<string, string>>, certificateId: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(subject)) out[`AWS::IoT::Certificate::${PARAMETER_NAMES[name] ?? name}`] = value;
  out['AWS::IoT::Certificate::Id'] = certificateId;
  return out;
}

export function createJustInTimeRegistration(deps: JustInTimeDeps): AutoRegistration {
  const { targets } = deps;
  const logger = deps.logger.child({ module: 'provisioning.just-in-time' });
  const inFlight = new Map<string, Promise<AutoRegistrationOutcome>>();

  const templateOf = (config: Readonly<Record<string, unknown>> | undefined): { template: Template; name?: string } | undefined => {
    const body = config?.['templateBody'];
    if (typeof body === 'string') return { template: parseTemplate(body) };
    const name = config?.['templateName'];
    if (typeof name !== 'string') return undefined;
    if (!deps.templates) throw new PlatformError('REGISTRY_INVALID', `registrationConfig.templateName ${name}: provisioning templates are not available in this process`);
    const record = deps.templates.template(name);
    if (record.type !== 'JITP') throw new PlatformError('REGISTRY_INVALID', `registrationConfig.templateName ${name}: a ${record.type} template, not JITP`);
    if (!record.enabled) throw new PlatformError('REGISTRY_INVALID', `registrationConfig.templateName ${name}: the template is disabled`);
    const version = record.versions.find((v) => v.versionId === record.defaultVersionId)!;
    return { template: parseTemplate(version.templateBody), name };
  };

  const attempt = async (raw: Buffer, id: string): Promise<AutoRegistrationOutcome> => {
    const prepared = targets.certificates.prepareAutoRegistration(raw);
    if (!prepared.ok) return { kind: 'refused', certificateId: id, detail: prepared.detail };
    try {
      const jitp = templateOf(prepared.ca.registrationConfig);
      if (!jitp) {
        await targets.registry.execute(CERTIFICATE_COMMANDS.autoRegister, prepared.input);
        logger.debug({ certificateId: id, caCertificateId: prepared.ca.id }, 'registered a certificate on first connect (PENDING_ACTIVATION)');
        return { kind: 'registered', certificateId: id };
      }
      const result = await applyTemplate(targets, jitp.template, certificateParameters(prepared.subject, id), {
        autoRegister: prepared.input,
        ...(jitp.name !== undefined ? { templateName: jitp.name } : {}),
      });
      logger.debug({ certificateId: id, caCertificateId: prepared.ca.id, thingName: result.thingName }, 'provisioned a device on first connect');
      return { kind: 'provisioned', certificateId: id, ...(result.thingName !== undefined ? { thingName: result.thingName } : {}) };
    } catch (err) {
      // Another process registered it first: its result stands.
      if (targets.certificates.findCertificate(id)) return { kind: 'known', certificateId: id };
      const detail = err instanceof Error ? err.message : String(err);
      logger.warn({ certificateId: id, caCertificateId: prepared.ca.id, err: detail }, 'just-in-time registration failed; nothing was registered');
      return { kind: 'refused', certificateId: id, detail };
    }
  };

  return (certificate) => {
    const id = createHash('sha256').update(certificate.raw).digest('hex');
    if (targets.certificates.findCertificate(id)) return Promise.resolve({ kind: 'known', certificateId: id });
    let running = inFlight.get(id);
    if (!running) {
      running = attempt(certificate.raw, id).finally(() => inFlight.delete(id));
      inFlight.set(id, running);
    }
    return running;
  };
}
