/**
 * The registry's public surface: other folders import only this file. One export line per
 * part, so that parts can be added by appending a line.
 */
export * from './things/index.js';
export * from './principals/index.js';
export * from './authorizers/index.js';
export { RegistryStore, type RegistryStoreOptions, type RegistryValue } from './store.js';
