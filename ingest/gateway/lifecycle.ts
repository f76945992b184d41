/**
 * AWS IoT lifecycle events (developer guide, "Lifecycle events"): JSON messages on
 * `$aws/events/presence/connected|disconnected/<clientId>` and
 * `$aws/events/subscriptions/subscribed|unsubscribed/<clientId>`.
 */

/** AWS's disconnect reasons that the gateway can produce. */
export type DisconnectReason =
  | 'AUTH_ERROR'
  | 'CLIENT_INITIATED_DISCONNECT'
  | 'CLIENT_ERROR'
  | 'CONNECTION_LOST'
  | 'CUSTOMAUTH_TTL_EXPIRATION'
  | 'DUPLICATE_CLIENTID'
  | 'MQTT_KEEP_ALIVE_TIMEOUT'
  | 'SERVER_ERROR'
  | 'SERVER_INITIATED_DISCONNECT'
  | 'THROTTLED';

export interface LifecycleClient {
  readonly clientId: string;
  readonly sessionIdentifier: string;
  readonly principal: string;
  readonly ipAddress: string;
  readonly versionNumber: number;
  readonly thingName?: string;
}

export interface LifecycleEvent {
  readonly topic: string;
  readonly payload: Record<string, unknown>;
}

/** AWS: clients whose id holds `#` or `+` get no lifecycle events (the id cannot be a topic level). */
export const hasLifecycleEvents = (clientId: string): boolean => !/[#+/]/.test(clientId) && clientId.length > 0;

export function connectedEvent(c: LifecycleClient, timestamp: number): LifecycleEvent {
  return {
    topic: `$aws/events/presence/connected/${c.clientId}`,
    payload: {
      clientId: c.clientId,
      ...(c.thingName === undefined ? {} : { thingName: c.thingName }),
      timestamp,
      eventType: 'connected',
      sessionIdentifier: c.sessionIdentifier,
      principalIdentifier: c.principal,
      ipAddress: c.ipAddress,
      versionNumber: c.versionNumber,
    },
  };
}

export function disconnectedEvent(c: LifecycleClient, reason: DisconnectReason, timestamp: number): LifecycleEvent {
  return {
    topic: `$aws/events/presence/disconnected/${c.clientId}`,
    payload: {
      clientId: c.clientId,
      ...(c.thingName === undefined ? {} : { thingName: c.thingName }),
      timestamp,
      eventType: 'disconnected',
      sessionIdentifier: c.sessionIdentifier,
      principalIdentifier: c.principal,
      clientInitiatedDisconnect: reason === 'CLIENT_INITIATED_DISCONNECT',
      disconnectReason: reason,
      versionNumber: c.versionNumber,
    },
  };
}

export function subscriptionEvent(c: LifecycleClient, kind: 'subscribed' | 'unsubscribed', topics: readonly string[], timestamp: number): LifecycleEvent {
  return {
    topic: `$aws/events/subscriptions/${kind}/${c.clientId}`,
    payload: {
      clientId: c.clientId,
      timestamp,
      eventType: kind,
      sessionIdentifier: c.sessionIdentifier,
      principalIdentifier: c.principal,
      topics: [...topics],
    },
  };
}
