/** The limits a gateway applies to each connection, and their defaults. */
import {
  DEFAULT_MAX_BYTES_PER_SECOND_PER_CONNECTION,
  DEFAULT_MAX_CONNECTS_PER_SECOND_PER_CLIENT_ID,
  DEFAULT_MAX_PUBLISHES_PER_SECOND_PER_CONNECTION,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
} from '../../core/index.js';

/** Limits a gateway applies; defaults in `DEFAULT_LIMITS`. */
export interface GatewayLimits {
  /** Largest MQTT packet accepted (and advertised in CONNACK, v5). */
  readonly maxPacketSizeBytes: number;
  /** QoS 1/2 publishes a client may have unacknowledged (v5 Receive Maximum). */
  readonly receiveMaximum: number;
  /** Topic aliases a client may use towards the gateway. */
  readonly topicAliasMaximum: number;
  /** Keep-alive the gateway enforces when a v5 client asks for none or a longer one. */
  readonly maxKeepAliveSec: number;
  /** Expiry of MQTT 3.1.1 persistent sessions (clean session 0), which carry no interval. */
  readonly persistentSessionExpirySec: number;
  /** Upper bound on the session expiry a v5 client may ask for. */
  readonly maxSessionExpirySec: number;
  /** Messages queued per session (offline or beyond the client's receive maximum); oldest dropped beyond. */
  readonly maxQueuedMessages: number;
  /** Publishes of one connection waiting for the log before the gateway stops reading its socket. */
  readonly maxPendingAppendsPerConnection: number;
  /** Bytes buffered for a slow subscriber beyond which QoS 0 messages to it are dropped. */
  readonly maxSocketBufferBytes: number;
  /** Longest client id (UTF-8 bytes); longer ones get CONNACK 0x85 / 3.1.1 return code 2. */
  readonly maxClientIdBytes: number;
  /** Longest topic name in a PUBLISH or will (UTF-8 bytes, uncounted prefixes aside: `countedTopic`). */
  readonly maxTopicBytes: number;
  /** Most forward slashes in a topic name or filter (uncounted prefixes aside: `countedTopic`). */
  readonly maxTopicSlashes: number;
  /** Topic filters one session may hold; SUBACK 0x97 (3.1.1: 0x80) for each one beyond. */
  readonly maxSubscriptionsPerConnection: number;
  /** Topic filters in one SUBSCRIBE; a larger SUBSCRIBE is refused whole (0x97 / 0x80 for each filter). */
  readonly maxFiltersPerSubscribe: number;
  /** PUBLISH packets a connection may send per second (burst of one second's worth); 0 = no limit. */
  readonly maxPublishesPerSecond: number;
  /** Bytes of PUBLISH packets a connection may send per second; 0 = no limit. */
  readonly maxInboundBytesPerSecond: number;
  /** Authenticated CONNECTs per client id per second; beyond, CONNACK 0x9F (3.1.1: 3); 0 = no limit. */
  readonly maxConnectsPerSecond: number;
}

/**
 * AWS IoT's quotas where it has one: 128 KiB payloads (plus headroom for topic and
 * properties), 1200 s maximum keep-alive, 1 h persistent-session expiry by default;
 * receive maximum 100 follows AWS's in-flight QoS 1 limit per connection. The per-connection
 * quotas of "AWS IoT Core message broker and protocol limits and quotas" (AWS General
 * Reference, AWS IoT Core endpoints and quotas): client id 128 bytes, topic 256 bytes, 7 forward
 * slashes in a topic or filter, 50 subscriptions per connection, 8 subscriptions per SUBSCRIBE,
 * 100 publish requests per second and 512 KiB/s throughput per connection (the AWS IoT Device
 * SDK's client-side validation uses the same numbers), 1 CONNECT a second per client id (counted
 * once the client is authenticated, so that nobody else can spend a device's).
 */
export const DEFAULT_LIMITS: GatewayLimits = {
  maxPacketSizeBytes: 128 * 1024 + 4096,
  receiveMaximum: 100,
  topicAliasMaximum: 64,
  maxKeepAliveSec: 1200,
  persistentSessionExpirySec: 3600,
  maxSessionExpirySec: 7 * 24 * 3600,
  maxQueuedMessages: 1000,
  maxPendingAppendsPerConnection: 256,
  maxSocketBufferBytes: 8 * 1024 * 1024,
  maxClientIdBytes: 128,
  maxTopicBytes: 256,
  maxTopicSlashes: 7,
  maxSubscriptionsPerConnection: DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
  maxFiltersPerSubscribe: 8,
  maxPublishesPerSecond: DEFAULT_MAX_PUBLISHES_PER_SECOND_PER_CONNECTION,
  maxInboundBytesPerSecond: DEFAULT_MAX_BYTES_PER_SECOND_PER_CONNECTION,
  maxConnectsPerSecond: DEFAULT_MAX_CONNECTS_PER_SECOND_PER_CLIENT_ID,
};
