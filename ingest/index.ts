/** The public surface of ingest/: the MQTT device gateway, its auth hook, HTTP publish, the ingest writer, egress. */
export { createGateway, isLoopbackHost, WS_PATH, type Gateway, type GatewayConfig, type GatewayDeps, type GatewayListener } from './gateway/gateway.js';
export { DEFAULT_LIMITS, type GatewayLimits } from './gateway/limits.js';
export { type GatewayMetrics, type IdentityRefusal, type LimitName } from './gateway/metrics.js';
export { GATEWAY_TOPICS } from './topics.js';
export { type GatewayClock } from './clock.js';
export { createPublisher, publishForbidden, MAX_HTTP_PAYLOAD_BYTES, type Publisher, type PublisherDeps, type PublishRequest } from './gateway/http-publish.js';
export { createHttpsPublishListener, DEFAULT_HTTPS_PORT, type HttpsPublishDeps, type HttpsPublishListener } from './gateway/https-publish.js';
export { ANONYMOUS_PRINCIPAL, anonymousAuthenticator, isAnonymous, type Authenticator, type AuthenticateResult, type ClientContext, type ConnectInfo } from './auth.js';
export { createBridge, BRIDGE_ORIGIN_PROPERTY, BRIDGE_EGRESS_GROUP, type Bridge, type BridgeDeps } from './bridge/index.js';
export { createAnonymousPolicyAuthenticator, readAnonymousPolicy } from './anonymous-policy.js';
export { createRegistryAuthenticator, type RegistryAuthenticator, type RegistryAuthenticatorDeps, type DenialAction } from './auth-registry.js';
export { RetainedStore } from './retained-store.js';
export { withCustomAuthentication, httpCustomAuthenticate, AUTHORIZER_NAME_PARAM, SIGNATURE_PARAM, type CustomAuthenticatorDeps, type HttpCustomResult, type HttpCustomSession } from './custom-auth.js';
