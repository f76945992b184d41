/** The Device Shadow service: what other folders may import. */
export { createShadowService, SHADOW_GROUP, type ShadowService, type ShadowServiceDeps, type Shadows } from './service.js';
export type { ShadowCommandResult, ShadowSource } from './commands.js';
export { parseRequestTopic, shadowKey, topicPrefix, type ShadowId, type ShadowOperation } from './topics.js';
export { openShadowReader, type ShadowReader } from './view.js';
export { versionDocument, type HistoryEntry, type HistoryQuery } from './history.js';
