/**
 * The registry's public surface: other folders import only this file. One export line per
 * part, so that parts can be added by appending a line.
 */
export * from './things/index.js';
export * from './principals/index.js';
export * from './authorizers/index.js';
export { RegistryStore, type RegistryStoreOptions, type RegistryValue } from './store.js';
export { REGISTRY_BATCH_COMMAND, FORGET_ONCE_COMMAND, type BatchGroup, type BatchGroupResult, type BatchInput, type BatchOnce, type BatchResult, type BatchStep } from './batch.js';
export { THING_COMMANDS } from './things/commands.js';
export { POLICY_COMMANDS, type AttachThingPrincipalInput } from './policies/commands.js';
export { CERTIFICATE_COMMANDS, type AutoRegisterInput } from './certificates/commands.js';
