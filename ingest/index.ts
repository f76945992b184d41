/** The public surface of ingest/: the MQTT device gateway, its auth hook, HTTP publish, egress. */
export { createGateway, isLoopbackHost, WS_PATH, type Gateway, type GatewayConfig, type GatewayDeps, type GatewayListener } from './gateway/gateway.js';
export { DEFAULT_LIMITS, type GatewayLimits } from './gateway/broker.js';
export { GATEWAY_TOPICS, GATEWAY_TOPIC_SPECS } from './gateway/topics.js';
export { createPublishRoute, type PublishRoute, type PublishRouteDeps } from './gateway/http-publish.js';
export { createEgressConsumer, type EgressConsumer, type EgressOptions } from './egress/egress.js';
export { anonymousAuthenticator, type Authenticator, type AuthenticateResult, type ClientContext, type ConnectInfo } from './auth.js';
export { createBridge, BRIDGE_ORIGIN_PROPERTY, BRIDGE_EGRESS_GROUP, type Bridge, type BridgeDeps } from './bridge/index.js';
export { createRegistryAuthenticator, type RegistryAuthenticator, type RegistryAuthenticatorDeps, type DenialAction } from './auth-registry.js';
