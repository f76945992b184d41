/**
 * CONNECT (MQTT 5 §3.1, 3.1.1 §3.1): validates the client id and will, authenticates, holds
 * one identity per client id, opens or resumes the session, and answers CONNACK (§3.2).
 * Packets that arrive while the authenticator runs are held and replayed afterwards.
 */
import { randomUUID } from 'node:crypto';
import type { IConnectPacket, Packet } from 'mqtt-packet';
import { isValidTopicName } from '../../../core/index.js';
import { isAnonymous, type ConnectInfo } from '../../auth.js';
import { topicQuotaBroken } from '../../topics.js';
import type { Connection } from '../connection.js';
import { MQTT_MAX_PACKET_BYTES } from '../framer.js';
import { connectedEvent, type DisconnectReason } from '../lifecycle.js';
import type { IdentityRefusal } from '../metrics.js';
import { SessionStore } from '../session-store.js';
import { RC, V3_CONNACK } from './reason-codes.js';

/** CONNECT: refuses (CONNACK with a reason) or opens the session and answers CONNACK; never throws for bad input. */
export async function handleConnect(c: Connection, p: IConnectPacket): Promise<void> {
  c.connectTimer?.cancel();
  c.connectTimer = undefined; // a cancelled timer still holds its Timeout and closures
  const limits = c.ctx.limits;
  c.version = (p.protocolVersion ?? 4) as 3 | 4 | 5;
  c.v5 = c.version === 5;
  const props = p.properties ?? {};
  const cleanStart = p.clean !== false;
  let clientId = p.clientId ?? '';
  let assigned: string | undefined;
  if (clientId === '') {
    // MQTT 3.1.1 §3.1.3.1: an empty id needs clean session; MQTT 5 assigns one always.
    if (!c.v5 && !cleanStart) return refuse(c, V3_CONNACK.identifierRejected, RC.clientIdInvalid, 'CLIENT_ERROR');
    clientId = assigned = `kiot-${randomUUID()}`;
  }
  if (clientId.includes('\uFFFD') || clientId.includes('\u0000')) {
    return refuse(c, V3_CONNACK.identifierRejected, RC.clientIdInvalid, 'CLIENT_ERROR');
  }
  if (Buffer.byteLength(clientId) > limits.maxClientIdBytes) {
    c.ctx.metrics.limitRefused('client-id-length');
    return refuse(c, V3_CONNACK.identifierRejected, RC.clientIdInvalid, 'CLIENT_ERROR');
  }
  const willLimit = p.will ? topicQuotaBroken(p.will.topic, c.ctx.limits) : undefined;
  if (p.will && (!isValidTopicName(p.will.topic) || willLimit)) {
    if (willLimit) c.ctx.metrics.limitRefused(willLimit);
    if (c.v5) return refuse(c, 0, RC.topicNameInvalid, 'CLIENT_ERROR');
    return c.close('CLIENT_ERROR', false);
  }
  const info: ConnectInfo = {
    clientId,
    protocolVersion: c.version,
    username: p.username,
    password: p.password,
    remoteAddress: c.origin.remoteAddress,
    transport: c.origin.transport,
    clientCertificate: c.origin.clientCertificate,
    ...(c.origin.serverName !== undefined ? { serverName: c.origin.serverName } : {}),
    ...(c.origin.http !== undefined ? { http: c.origin.http } : {}),
  };
  let result;
  try {
    result = await c.authenticator.authenticate(info);
  } catch (err) {
    c.ctx.logger.warn({ err, clientId }, 'authenticator failed; refusing the connection');
    result = { ok: false, reason: 'not-authorized' } as const;
  }
  if (c.state !== 'connecting') return;
  if (!result.ok) {
    const bad = result.reason === 'bad-credentials';
    return refuse(c, bad ? V3_CONNACK.badCredentials : V3_CONNACK.notAuthorized, bad ? RC.badCredentials : RC.notAuthorized, 'AUTH_ERROR');
  }
  // Every field named, in one order: a spread of `info` gave each connection's context its own
  // hidden class (about 400 bytes per idle connection, issue 12).
  c.clientContext = {
    clientId,
    protocolVersion: info.protocolVersion,
    username: info.username,
    password: info.password,
    remoteAddress: info.remoteAddress,
    transport: info.transport,
    clientCertificate: info.clientCertificate,
    serverName: info.serverName,
    http: info.http,
    principal: result.principal,
    thingName: result.thingName,
    state: result.state,
  };
  if (p.will && c.authenticator.authorizePublish && !(await c.authorized(() => c.authenticator.authorizePublish!(c.clientContext!, p.will!.topic)))) {
    return refuse(c, V3_CONNACK.notAuthorized, RC.notAuthorized, 'AUTH_ERROR');
  }
  if (c.state !== 'connecting') return;
  // One identity per client id: an anonymous client never takes over, resumes or publishes as a
  // client id an authenticated principal (certificate, custom authorizer) owns. Checked right
  // before the session is opened, with nothing awaited in between.
  if (isAnonymous(result.principal)) {
    const refusal = ownedClientId(c, clientId);
    if (refusal) {
      c.ctx.metrics.identityRefused(refusal);
      c.ctx.logger.info({ clientId, remote: c.origin.remoteAddress, reason: refusal }, 'anonymous client refused a client id an authenticated principal owns');
      return refuse(c, V3_CONNACK.notAuthorized, RC.notAuthorized, 'AUTH_ERROR');
    }
  }
  // AWS IoT: 1 CONNECT a second per client id. Counted after authentication, so a client that
  // may not use the client id cannot spend its owner's.
  if (!c.ctx.connectRate.take(clientId, c.ctx.clock.now())) {
    c.ctx.metrics.limitRefused('connect-rate');
    return refuse(c, V3_CONNACK.serverUnavailable, RC.connectionRateExceeded, 'THROTTLED');
  }

  let keepAliveSec = p.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  if (c.v5 && (keepAliveSec === 0 || keepAliveSec > limits.maxKeepAliveSec)) keepAliveSec = serverKeepAlive = limits.maxKeepAliveSec;
  let expirySec: number;
  let grantedExpiry: number | undefined;
  if (c.v5) {
    const asked = props.sessionExpiryInterval ?? 0;
    expirySec = Math.min(asked, limits.maxSessionExpirySec);
    if (expirySec !== asked) grantedExpiry = expirySec;
  } else {
    expirySec = cleanStart ? 0 : limits.persistentSessionExpirySec;
  }

  const { session, present } = c.ctx.sessions.open(clientId, cleanStart, result.principal);
  session.expiryIntervalSec = expirySec;
  session.connection = c;
  c.session = session;
  c.will = p.will;
  c.clientReceiveMaximum = props.receiveMaximum ?? 65_535;
  c.clientMaxPacketSize = props.maximumPacketSize ?? MQTT_MAX_PACKET_BYTES;
  c.clientTopicAliasMaximum = props.topicAliasMaximum ?? 0;
  c.state = 'connected';
  c.sessionIdentifier = SessionStore.sessionIdentifier();
  c.versionNumber = session.versionNumber;

  if (c.v5) {
    const properties: Record<string, unknown> = {
      receiveMaximum: limits.receiveMaximum,
      maximumPacketSize: limits.maxPacketSizeBytes,
      topicAliasMaximum: limits.topicAliasMaximum,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    };
    if (assigned) properties.assignedClientIdentifier = assigned;
    if (serverKeepAlive !== undefined) properties.serverKeepAlive = serverKeepAlive;
    if (grantedExpiry !== undefined) properties.sessionExpiryInterval = grantedExpiry;
    if (props.requestResponseInformation) properties.responseInformation = `response/${clientId}/`;
    c.send({ cmd: 'connack', reasonCode: RC.success, sessionPresent: present, properties } as Packet);
  } else {
    c.send({ cmd: 'connack', returnCode: 0, sessionPresent: present });
  }
  c.ctx.sessions.announceConnected(session).catch((err) => c.ctx.logger.warn({ err, clientId }, 'could not record the connection'));
  c.ctx.lifecycle(connectedEvent(c.lifecycle, c.ctx.clock.now()), clientId);

  // MQTT §3.1.2.10: disconnected after one and a half times the keep-alive in silence (keep-alive.ts).
  if (keepAliveSec > 0) c.ctx.keepAlive.watch(c, keepAliveSec);

  // Messages left in flight are sent again with DUP (MQTT 5 §4.4), then the queue.
  for (const f of session.inflight.values()) {
    if (f.state === 'pubrel') c.send({ cmd: 'pubrel', messageId: f.packetId });
    else if (!c.sendPublish(f.message, f.packetId, true)) session.deleteInflight(f.packetId);
  }
  c.drain();
  const held = c.held;
  c.held = undefined;
  for (const frame of held ?? []) if (!c.onFrame(frame)) break;
}

/** Why an anonymous client may not use this client id, if it may not. */
function ownedClientId(c: Connection, clientId: string): IdentityRefusal | undefined {
  const owner = c.ctx.sessions.authenticatedOwner(clientId);
  if (owner) return owner.connected ? 'live-connection' : 'stored-session';
  const reserved = c.ctx.isDeviceClientId;
  if (!reserved) return undefined;
  try {
    return reserved(clientId) ? 'registered-thing' : undefined;
  } catch (err) {
    c.ctx.logger.warn({ err, clientId }, 'could not check whether a client id belongs to a device; refusing it to an anonymous client');
    return 'registered-thing';
  }
}

function refuse(c: Connection, v3Code: number, v5Code: number, reason: DisconnectReason): void {
  if (c.v5) c.send({ cmd: 'connack', reasonCode: v5Code, sessionPresent: false } as Packet);
  else if (v3Code !== 0) c.send({ cmd: 'connack', returnCode: v3Code, sessionPresent: false });
  c.close(reason, false);
}
