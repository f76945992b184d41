/** Provisioning templates, RegisterThing and bulk registration tasks: what other folders may import. */
export { createProvisioningService, validTemplateName, type Provisioning, type ProvisioningConfig, type ProvisioningService, type ProvisioningServiceDeps } from './service.js';
export { applyTemplate, type ApplyOptions, type PreProvisioningHook, type ProvisioningTargets, type ProvisionResult } from './apply.js';
export { parseTemplate, planTemplate, templateError, MAX_TEMPLATE_BODY_BYTES, type Template, type ProvisioningPlan } from './template.js';
export { PROVISIONING_LIMITS, TASK_STATUSES, TEMPLATE_TYPES, type TaskRecord, type TaskStatus, type TemplateRecord, type TemplateType, type TemplateVersionRecord, type PreProvisioningHookConfig } from './model.js';
export { reportKey, jsonLines, type ObjectStore, type ReportType } from './tasks.js';
export { createJustInTimeRegistration, certificateParameters, type AutoRegistration, type AutoRegistrationOutcome, type JustInTimeDeps } from './just-in-time.js';
export { createOwnershipTokens, loadOwnershipSecret, OWNERSHIP_TOKEN_TTL_MS, type OwnershipTokens } from './ownership-token.js';
export { parseFleetTopic, decodePayload as decodeFleetPayload, encodePayload as encodeFleetPayload, HOOK_TIMEOUT_MS, type FleetFormat, type InvokeHookFunction } from './fleet.js';
export { claimPolicyDocument, CLAIM_CERTIFICATE_TTL_MS, PROVISIONING_GROUP } from './service.js';
