/** The state-service base: stores over compacted topics (see store.ts). */
export { decodeFrame, encodeFrame, jsonCodec, type JsonCodecOptions, type StateCodec, type StateFrame } from './codec.js';
export { DEFAULT_REQUEST_TIMEOUT_MS, StateStore, type Change, type CommandContext, type CommandDefinition, type StateChange, type StateStoreOptions, type StateView, type StateWrite } from './store.js';
export { STATE_REPLIES_TOPIC } from './router.js';
export { askUntilAnswered, type AskAgainOptions } from './retry.js';
