/** The bridge from an existing MQTT broker; see bridge.ts and the README, "Bridge". */
export { createBridge, BRIDGE_ORIGIN_PROPERTY, BRIDGE_EGRESS_GROUP, type Bridge, type BridgeDeps } from './bridge.js';
