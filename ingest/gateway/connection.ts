/**
 * One network connection speaking MQTT 3.1.1 or 5.0: decodes packets (mqtt-packet), runs the
 * protocol's flows against the broker, and encodes replies. The rule that shapes it: a
 * PUBLISH is acknowledged (PUBACK / PUBREC) only after the broker has made it durable on the
 * log, and acknowledgements and local deliveries happen in the order the client published.
 */
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import type {
  IConnectPacket,
  IDisconnectPacket,
  IPublishPacket,
  ISubscribePacket,
  IUnsubscribePacket,
  Packet,
} from 'mqtt-packet';
import { createEnvelope, type Envelope } from '../../core/index.js';
import { isAnonymous, type Authenticator, type ClientContext, type ConnectInfo } from '../auth.js';
import { Broker } from './broker.js';
import { Framer, variableHeaderOffset } from './framer.js';
import { connectedEvent, disconnectedEvent, subscriptionEvent, type DisconnectReason, type LifecycleClient } from './lifecycle.js';
import { outMessageFrom, publishPacketFor, userPropertiesFromPacket, type OutMessage } from './message.js';
import type { IdentityRefusal, LimitName } from './metrics.js';
import { TokenBucket } from './rate-limit.js';
import { NEVER_EXPIRES, type Session, type SessionConnection, type Will } from './session.js';
import { isValidTopicFilter, isValidTopicName, parseSharedFilter, topicBytes, topicSlashes } from './topics.js';

/** Where a connection came from. */
export interface ConnectionOrigin {
  readonly transport: ConnectInfo['transport'];
  readonly remoteAddress: string;
  readonly clientCertificate?: ConnectInfo['clientCertificate'];
}

/** A client that has not sent CONNECT by then is dropped (an idle socket costs a descriptor). */
const CONNECT_TIMEOUT_MS = 10_000;

/** MQTT 5 reason codes the gateway sends (MQTT 5 §2.4). */
const RC = {
  success: 0x00,
  noSubscriptionExisted: 0x11,
  unspecified: 0x80,
  malformed: 0x81,
  protocolError: 0x82,
  clientIdInvalid: 0x85,
  badCredentials: 0x86,
  notAuthorized: 0x87,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetIdNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
  serverShuttingDown: 0x8b,
} as const;

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3). */
const V3_CONNACK = { identifierRejected: 2, badCredentials: 4, notAuthorized: 5 } as const;

type State = 'new' | 'connecting' | 'connected' | 'closed';

export class Connection implements SessionConnection {
  #state: State = 'new';
  #version: 3 | 4 | 5 = 4;
  #v5 = false;
  #genOpts: { protocolVersion: number } = { protocolVersion: 4 };
  readonly #parser = mqttPacket.parser();
  readonly #framer: Framer;
  #held: Buffer[] = [];
  #session: Session | undefined;
  #client: ClientContext | undefined;
  #lifecycle: LifecycleClient | undefined;
  #will: Will | undefined;
  #keepAliveTimer: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #lastSeen = Date.now();
  #aliases = new Map<number, string>();
  #clientReceiveMaximum = 65_535;
  #clientMaxPacketSize = Infinity;
  /** Inbound QoS 1/2 publishes not yet acknowledged (v5 Receive Maximum). */
  #inboundInflight = 0;
  /** Publishes waiting for the log; the socket is paused above the limit. */
  #pendingAppends = 0;
  #paused = false;
  /** Keeps local deliveries in publish order. */
  #chain: Promise<void> = Promise.resolve();
  /**
   * Keeps acknowledgements in publish order (MQTT §4.6), each sent once its message is durable,
   * queued copies for offline sessions included; deliveries do not wait for it.
   */
  #acks: Promise<void> = Promise.resolve();
  /** AWS IoT: publish requests per second and throughput per connection. */
  readonly #publishRate: TokenBucket;
  readonly #byteRate: TokenBucket;
  /** Size of the PUBLISH frame being parsed (mqtt-packet emits the packet within `parse`). */
  #frameBytes = 0;
  #corked = false;
  #sawFirstByte = false;
  readonly #onClosed: (c: Connection) => void;

  constructor(
    private readonly broker: Broker,
    readonly authenticator: Authenticator,
    private readonly stream: Duplex,
    private readonly origin: ConnectionOrigin,
    onClosed: (c: Connection) => void,
  ) {
    this.#onClosed = onClosed;
    this.#publishRate = new TokenBucket(broker.limits.maxPublishesPerSecond);
    this.#byteRate = new TokenBucket(broker.limits.maxInboundBytesPerSecond);
    this.#framer = new Framer(broker.limits.maxPacketSizeBytes, (frame) => this.#onFrame(frame), (error) => {
      if (error === 'too-large') this.#close('CLIENT_ERROR', true, RC.packetTooLarge);
      else this.#close('CLIENT_ERROR', true, RC.malformed);
    });
    this.#parser.on('packet', (packet: Packet) => this.#onPacket(packet));
    this.#parser.on('error', (err: Error) => {
      broker.logger.debug({ err: err.message, remote: origin.remoteAddress }, 'malformed packet');
      this.#close('CLIENT_ERROR', true, RC.malformed);
    });
    stream.on('data', (chunk: Buffer) => {
      this.#lastSeen = Date.now();
      // MQTT §3.1: the first packet must be CONNECT; refuse other protocols at their first byte.
      if (!this.#sawFirstByte && chunk.length > 0) {
        this.#sawFirstByte = true;
        if (chunk[0] !== 0x10) return this.#close('CLIENT_ERROR', false);
      }
      this.#framer.push(chunk);
    });
    stream.on('error', () => this.#close('CONNECTION_LOST', true));
    stream.on('close', () => this.#close('CONNECTION_LOST', true));
    stream.on('end', () => this.#close('CONNECTION_LOST', true));
    this.#connectTimer = setTimeout(() => {
      if (this.#state === 'new') this.#close('CLIENT_ERROR', false);
    }, CONNECT_TIMEOUT_MS);
    this.#connectTimer.unref();
  }

  get clientId(): string | undefined {
    return this.#session?.clientId;
  }

  /** The authenticated client, once CONNECT was accepted. */
  get client(): ClientContext | undefined {
    return this.#state === 'connected' ? this.#client : undefined;
  }

  // --- framing and dispatch -------------------------------------------------------------

  #onFrame(frame: Buffer): boolean {
    if (this.#state === 'closed') return false;
    const type = frame[0]! >> 4;
    if (this.#state === 'new' && type !== 1) {
      this.#close('CLIENT_ERROR', false); // MQTT §3.1: the first packet must be CONNECT
      return false;
    }
    if (this.#state === 'connecting') {
      this.#held.push(frame);
      return true;
    }
    if (type === 3 && frame.length >= 4) {
      // mqtt-packet decodes topic names lossily; MQTT requires well-formed UTF-8 (§1.5.4).
      const at = variableHeaderOffset(frame);
      const length = frame.readUInt16BE(at);
      if (at + 2 + length <= frame.length && !isUtf8(frame.subarray(at + 2, at + 2 + length))) {
        this.#close('CLIENT_ERROR', true, RC.malformed);
        return false;
      }
    }
    this.#frameBytes = frame.length;
    this.#parser.parse(frame);
    return (this.#state as State) !== 'closed';
  }

  #onPacket(packet: Packet): void {
    if (this.#state === 'closed') return;
    switch (packet.cmd) {
      case 'connect':
        if (this.#state !== 'new') return this.#close('CLIENT_ERROR', true, RC.protocolError);
        this.#state = 'connecting';
        void this.#onConnect(packet).catch((err) => {
          this.broker.logger.error({ err }, 'connect failed');
          this.#close('SERVER_ERROR', false, RC.unspecified);
        });
        return;
      case 'publish':
        return this.#onPublish(packet);
      case 'puback':
        return this.#onAcked(packet.messageId);
      case 'pubrec':
        return this.#onPubrec(packet.messageId);
      case 'pubcomp':
        return this.#onAcked(packet.messageId);
      case 'pubrel':
        return this.#onPubrel(packet.messageId);
      case 'subscribe':
        void this.#onSubscribe(packet).catch((err) => {
          this.broker.logger.error({ err }, 'subscribe failed');
          this.#close('SERVER_ERROR', true, RC.unspecified);
        });
        return;
      case 'unsubscribe':
        void this.#onUnsubscribe(packet).catch((err) => {
          this.broker.logger.error({ err }, 'unsubscribe failed');
          this.#close('SERVER_ERROR', true, RC.unspecified);
        });
        return;
      case 'pingreq':
        return this.#send({ cmd: 'pingresp' });
      case 'disconnect':
        return this.#onDisconnect(packet);
      default:
        // AUTH (no enhanced authentication offered) and server-to-client packets.
        return this.#close('CLIENT_ERROR', true, RC.protocolError);
    }
  }

  // --- CONNECT --------------------------------------------------------------------------

  async #onConnect(p: IConnectPacket): Promise<void> {
    clearTimeout(this.#connectTimer);
    const limits = this.broker.limits;
    this.#version = (p.protocolVersion ?? 4) as 3 | 4 | 5;
    this.#v5 = this.#version === 5;
    this.#genOpts = { protocolVersion: this.#version };
    const props = p.properties ?? {};
    const cleanStart = p.clean !== false;
    let clientId = p.clientId ?? '';
    let assigned: string | undefined;
    if (clientId === '') {
      // MQTT 3.1.1 §3.1.3.1: an empty id needs clean session; MQTT 5 assigns one always.
      if (!this.#v5 && !cleanStart) return this.#refuse(V3_CONNACK.identifierRejected, RC.clientIdInvalid, 'CLIENT_ERROR');
      clientId = assigned = `kiot-${randomUUID()}`;
    }
    if (clientId.includes('\uFFFD') || clientId.includes('\u0000')) {
      return this.#refuse(V3_CONNACK.identifierRejected, RC.clientIdInvalid, 'CLIENT_ERROR');
    }
    if (Buffer.byteLength(clientId) > limits.maxClientIdBytes) {
      this.broker.metrics.limitRefused('client-id-length');
      return this.#refuse(V3_CONNACK.identifierRejected, RC.clientIdInvalid, 'CLIENT_ERROR');
    }
    const willLimit = p.will ? this.#topicNameOverLimit(p.will.topic) : undefined;
    if (p.will && (!isValidTopicName(p.will.topic) || willLimit)) {
      if (willLimit) this.broker.metrics.limitRefused(willLimit);
      if (this.#v5) return this.#refuse(0, RC.topicNameInvalid, 'CLIENT_ERROR');
      return this.#close('CLIENT_ERROR', false);
    }
    const info: ConnectInfo = {
      clientId,
      protocolVersion: this.#version,
      username: p.username,
      password: p.password,
      remoteAddress: this.origin.remoteAddress,
      transport: this.origin.transport,
      clientCertificate: this.origin.clientCertificate,
    };
    let result;
    try {
      result = await this.authenticator.authenticate(info);
    } catch (err) {
      this.broker.logger.warn({ err, clientId }, 'authenticator failed; refusing the connection');
      result = { ok: false, reason: 'not-authorized' } as const;
    }
    if (this.#state !== 'connecting') return;
    if (!result.ok) {
      const bad = result.reason === 'bad-credentials';
      return this.#refuse(bad ? V3_CONNACK.badCredentials : V3_CONNACK.notAuthorized, bad ? RC.badCredentials : RC.notAuthorized, 'AUTH_ERROR');
    }
    this.#client = { ...info, principal: result.principal, thingName: result.thingName, state: result.state };
    if (p.will && this.authenticator.authorizePublish && !(await this.#authorized(() => this.authenticator.authorizePublish!(this.#client!, p.will!.topic)))) {
      return this.#refuse(V3_CONNACK.notAuthorized, RC.notAuthorized, 'AUTH_ERROR');
    }
    if (this.#state !== 'connecting') return;
    // One identity per client id: an anonymous client never takes over, resumes or publishes as a
    // client id an authenticated principal (certificate, custom authorizer) owns. Checked right
    // before the session is opened, with nothing awaited in between.
    if (isAnonymous(result.principal)) {
      const refusal = this.#ownedClientId(clientId);
      if (refusal) {
        this.broker.metrics.identityRefused(refusal);
        this.broker.logger.info({ clientId, remote: this.origin.remoteAddress, reason: refusal }, 'anonymous client refused a client id an authenticated principal owns');
        return this.#refuse(V3_CONNACK.notAuthorized, RC.notAuthorized, 'AUTH_ERROR');
      }
    }

    let keepAliveSec = p.keepalive ?? 0;
    let serverKeepAlive: number | undefined;
    if (this.#v5 && (keepAliveSec === 0 || keepAliveSec > limits.maxKeepAliveSec)) keepAliveSec = serverKeepAlive = limits.maxKeepAliveSec;
    let expirySec: number;
    let grantedExpiry: number | undefined;
    if (this.#v5) {
      const asked = props.sessionExpiryInterval ?? 0;
      expirySec = Math.min(asked, limits.maxSessionExpirySec);
      if (expirySec !== asked) grantedExpiry = expirySec;
    } else {
      expirySec = cleanStart ? 0 : limits.persistentSessionExpirySec;
    }

    const { session, present } = this.broker.openSession(clientId, cleanStart, result.principal);
    session.expiryIntervalSec = expirySec;
    session.connection = this;
    this.#session = session;
    this.#will = p.will;
    this.#clientReceiveMaximum = props.receiveMaximum ?? 65_535;
    this.#clientMaxPacketSize = props.maximumPacketSize ?? Infinity;
    this.#state = 'connected';
    this.#lifecycle = {
      clientId,
      sessionIdentifier: Broker.sessionIdentifier(),
      principal: result.principal,
      ipAddress: this.origin.remoteAddress.replace(/:\d+$/, ''),
      versionNumber: session.versionNumber,
      thingName: result.thingName,
    };

    if (this.#v5) {
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
      this.#send({ cmd: 'connack', reasonCode: RC.success, sessionPresent: present, properties } as Packet);
    } else {
      this.#send({ cmd: 'connack', returnCode: 0, sessionPresent: present });
    }
    this.broker.announceConnected(session).catch((err) => this.broker.logger.warn({ err, clientId }, 'could not record the connection'));
    this.broker.lifecycle(connectedEvent(this.#lifecycle, Date.now()), clientId);

    if (keepAliveSec > 0) {
      const limitMs = keepAliveSec * 1500; // MQTT §3.1.2.10: one and a half times the keep-alive
      this.#keepAliveTimer = setInterval(() => {
        if (Date.now() - this.#lastSeen > limitMs) this.#close('MQTT_KEEP_ALIVE_TIMEOUT', true, RC.keepAliveTimeout);
      }, Math.max(250, Math.min(keepAliveSec * 500, 30_000)));
      this.#keepAliveTimer.unref();
    }

    // Messages left in flight are sent again with DUP (MQTT 5 §4.4), then the queue.
    for (const f of session.inflight.values()) {
      if (f.state === 'pubrel') this.#send({ cmd: 'pubrel', messageId: f.packetId });
      else if (!this.#sendPublish(f.message, f.packetId, true)) session.inflight.delete(f.packetId);
    }
    this.#drain();
    const held = this.#held;
    this.#held = [];
    for (const frame of held) if (!this.#onFrame(frame)) break;
  }

  /** Why an anonymous client may not use this client id, if it may not. */
  #ownedClientId(clientId: string): IdentityRefusal | undefined {
    const owner = this.broker.authenticatedOwner(clientId);
    if (owner) return owner.connected ? 'live-connection' : 'stored-session';
    const reserved = this.broker.deps.isDeviceClientId;
    if (!reserved) return undefined;
    try {
      return reserved(clientId) ? 'registered-thing' : undefined;
    } catch (err) {
      this.broker.logger.warn({ err, clientId }, 'could not check whether a client id belongs to a device; refusing it to an anonymous client');
      return 'registered-thing';
    }
  }

  /** Which AWS IoT topic quota a topic name breaks, if any (`countedTopic` says what counts). */
  #topicNameOverLimit(topic: string): LimitName | undefined {
    const limits = this.broker.limits;
    if (topicSlashes(topic) > limits.maxTopicSlashes) return 'topic-depth';
    if (topicBytes(topic) > limits.maxTopicBytes) return 'topic-length';
    return undefined;
  }

  #refuse(v3Code: number, v5Code: number, reason: DisconnectReason): void {
    if (this.#v5) this.#send({ cmd: 'connack', reasonCode: v5Code, sessionPresent: false } as Packet);
    else if (v3Code !== 0) this.#send({ cmd: 'connack', returnCode: v3Code, sessionPresent: false });
    this.#close(reason, false);
  }

  async #authorized(check: () => boolean | Promise<boolean>): Promise<boolean> {
    try {
      return await check();
    } catch (err) {
      this.broker.logger.warn({ err, clientId: this.clientId }, 'authorizer failed; denying');
      return false;
    }
  }

  #mayReceive(authorize: (client: ClientContext, topic: string) => boolean, topic: string): boolean {
    try {
      return authorize(this.#client!, topic);
    } catch (err) {
      this.broker.logger.warn({ err, clientId: this.clientId }, 'authorizer failed; not delivering');
      return false;
    }
  }

  // --- inbound PUBLISH ------------------------------------------------------------------

  #onPublish(p: IPublishPacket): void {
    const session = this.#session!;
    let topic = p.topic;
    const props = p.properties;
    if (this.#v5 && props?.topicAlias !== undefined) {
      const alias = props.topicAlias;
      if (alias === 0 || alias > this.broker.limits.topicAliasMaximum) return this.#close('CLIENT_ERROR', true, RC.topicAliasInvalid);
      if (topic.length === 0) {
        const known = this.#aliases.get(alias);
        if (known === undefined) return this.#close('CLIENT_ERROR', true, RC.protocolError);
        topic = known;
      } else {
        this.#aliases.set(alias, topic);
      }
    }
    if (!isValidTopicName(topic)) return this.#close('CLIENT_ERROR', true, this.#v5 ? RC.topicNameInvalid : undefined);
    const qos = p.qos;
    const id = p.messageId;
    const overLimit = this.#topicNameOverLimit(topic);
    if (overLimit) {
      this.broker.metrics.limitRefused(overLimit);
      // A topic AWS IoT's quotas refuse: a v5 client is told (0x90), a 3.1.1 client, which has no
      // way to be told, is disconnected, as for any publish AWS IoT refuses.
      if (!this.#v5) return this.#close('CLIENT_ERROR', true);
      if (qos === 0) return;
      this.#inboundInflight++;
      return this.#ackInOrder(qos, id, RC.topicNameInvalid);
    }
    const throttled = !this.#publishRate.take(1) ? 'publish-rate' : !this.#byteRate.take(this.#frameBytes) ? 'throughput' : undefined;
    if (throttled) {
      this.broker.metrics.limitRefused(throttled);
      // AWS IoT throttles a connection over its publish rate or throughput: the message is
      // dropped, not acknowledged, and the connection stays (a 3.1.1 client sends it again when
      // it reconnects); a v5 client is told with 0x97 (quota exceeded) in PUBACK / PUBREC.
      if (!this.#v5 || qos === 0) return;
      this.#inboundInflight++;
      return this.#ackInOrder(qos, id, RC.quotaExceeded);
    }
    if (qos === 2 && id !== undefined && session.incomingQos2.has(id)) {
      // A resent QoS 2 PUBLISH that was stored already: acknowledge again, do not store twice.
      this.#acks = this.#acks.then(() => this.#send({ cmd: 'pubrec', messageId: id }));
      return;
    }
    if (qos > 0) {
      this.#inboundInflight++;
      if (this.#v5 && this.#inboundInflight > this.broker.limits.receiveMaximum) {
        return this.#close('THROTTLED', true, RC.receiveMaximumExceeded);
      }
    }
    const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
    if (this.#v5 && props?.payloadFormatIndicator === true && !isUtf8(payload)) {
      return this.#ackInOrder(qos, id, RC.payloadFormatInvalid);
    }
    const client = this.#client!;
    const envelope = createEnvelope({
      topic,
      payload,
      qos,
      retain: p.retain,
      clientId: session.clientId,
      principal: client.principal,
      thingName: client.thingName,
      sourceAddress: this.origin.remoteAddress,
      userProperties: userPropertiesFromPacket(props?.userProperties),
      contentType: props?.contentType,
      responseTopic: props?.responseTopic,
      correlationData: props?.correlationData,
      payloadFormatIndicator: props?.payloadFormatIndicator === undefined ? undefined : props.payloadFormatIndicator ? 1 : 0,
      messageExpiryIntervalSec: props?.messageExpiryInterval,
    });
    const authorize = this.authenticator.authorizePublish;
    // Settled at once (never rejects), so that a failure waiting its turn in the chain is not unhandled.
    const outcome: Promise<number | Error> = authorize
      ? this.#authorized(() => authorize(client, topic)).then((ok) => (ok ? this.#ingest(envelope) : RC.notAuthorized))
      : this.#ingest(envelope);
    this.#pendingAppends++;
    if (!this.#paused && this.#pendingAppends >= this.broker.limits.maxPendingAppendsPerConnection) {
      this.#paused = true;
      this.stream.pause(); // flow control by TCP: a flooding client waits, others keep their share
    }
    // Two chains: deliveries go out in publish order as soon as the log has the message; the
    // acknowledgement of each waits, in publish order too, until the message is also durable in
    // every offline session it was queued for (broker.deliver's promise). Messages of one turn
    // share one snapshot write, so acknowledgements are not serialised behind one write each.
    const step: Promise<() => void | Promise<void>> = this.#chain
      .then(() =>
        outcome.then((result) => {
          this.#pendingAppends--;
          if (this.#paused && this.#pendingAppends < this.broker.limits.maxPendingAppendsPerConnection / 2) {
            this.#paused = false;
            this.stream.resume();
          }
          if (result === RC.success) {
            const durable = this.broker.deliver(envelope, session.clientId);
            return () =>
              durable.then(
                () => this.#ackPublish(qos, id, RC.success),
                (err: unknown) => this.#notStored(err, qos, id, topic),
              );
          }
          if (result === RC.notAuthorized) {
            if (this.#v5) return () => this.#ackPublish(qos, id, RC.notAuthorized);
            return () => this.#close('AUTH_ERROR', true); // AWS IoT disconnects a 3.1.1 client that publishes where it may not
          }
          return () => this.#notStored(result, qos, id, topic);
        }),
      )
      .catch((err: unknown) => {
        this.broker.logger.error({ err, clientId: session.clientId, topic }, 'publish failed');
        return () => this.#close('SERVER_ERROR', true, RC.unspecified);
      });
    this.#chain = step.then(() => undefined);
    this.#acks = this.#acks
      .then(() => step)
      .then((finish) => finish())
      .catch((err: unknown) => this.broker.logger.error({ err, clientId: session.clientId }, 'acknowledgement failed'));
  }

  /**
   * The log (or an offline session's record) did not take a message: never acknowledge it. v5
   * clients get a failure reason code; 3.1.1 has none, so the connection is closed and the
   * client sends it again.
   */
  #notStored(err: unknown, qos: number, id: number | undefined, topic: string): void {
    this.broker.logger.warn({ err, clientId: this.clientId, topic }, 'publish not stored; not acknowledged');
    if (this.#v5 && qos > 0) return this.#ackPublish(qos, id, RC.unspecified);
    if (qos > 0) this.#close('SERVER_ERROR', true, RC.unspecified);
  }

  /** Acknowledges after every earlier publish of this connection was acknowledged (MQTT §4.6). */
  #ackInOrder(qos: number, id: number | undefined, code: number): void {
    this.#acks = this.#acks.then(() => this.#ackPublish(qos, id, code));
  }

  #ingest(envelope: Envelope): Promise<number | Error> {
    return this.broker.ingest(envelope).then(
      () => RC.success,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
  }

  #ackPublish(qos: number, id: number | undefined, code: number): void {
    if (qos === 0 || id === undefined || this.#state !== 'connected') return;
    const withCode = this.#v5 && code !== RC.success ? { reasonCode: code } : {};
    if (qos === 1) {
      this.#inboundInflight--;
      this.#send({ cmd: 'puback', messageId: id, ...withCode });
      return;
    }
    if (code < 0x80) this.#session!.incomingQos2.add(id);
    else this.#inboundInflight--;
    this.#send({ cmd: 'pubrec', messageId: id, ...withCode });
  }

  #onPubrel(id: number | undefined): void {
    if (id === undefined) return;
    const known = this.#session!.incomingQos2.delete(id);
    if (known) this.#inboundInflight--;
    this.#send({ cmd: 'pubcomp', messageId: id, ...(this.#v5 && !known ? { reasonCode: RC.packetIdNotFound } : {}) });
  }

  // --- outbound PUBLISH -----------------------------------------------------------------

  /** Called by the broker for every message routed to this session. */
  deliver(message: OutMessage): void {
    if (this.#state !== 'connected') {
      if (message.qos > 0) this.broker.enqueue(this.#session!, message);
      return;
    }
    const session = this.#session!;
    if (message.qos === 0) {
      // A subscriber that does not read loses QoS 0 rather than growing our memory.
      if (this.stream.writableLength > this.broker.limits.maxSocketBufferBytes) return;
      this.#sendPublish(message, undefined, false);
      return;
    }
    if (session.queue.length > 0 || session.inflight.size >= this.#clientReceiveMaximum) {
      this.broker.enqueue(session, message); // flow control (MQTT 5 §4.9)
      return;
    }
    const id = session.nextPacketId();
    session.inflight.set(id, { packetId: id, message, state: 'publish' });
    if (!this.#sendPublish(message, id, false)) session.inflight.delete(id);
  }

  /** Returns false when the message was not sent (expired, over the client's maximum packet size, or not allowed by iot:Receive). */
  #sendPublish(message: OutMessage, id: number | undefined, dup: boolean): boolean {
    const authorizeReceive = this.authenticator.authorizeReceive;
    if (authorizeReceive && !this.#mayReceive(authorizeReceive, message.topic)) return false;
    const packet = publishPacketFor(message, id, dup, this.#v5, Date.now());
    if (!packet) return false;
    const bytes = mqttPacket.generate(packet, this.#genOpts);
    // MQTT 5 §3.1.2.11.4: a packet over the client's maximum is discarded as if delivered.
    if (bytes.length > this.#clientMaxPacketSize) return false;
    this.#write(bytes);
    return true;
  }

  #drain(): void {
    const session = this.#session!;
    while (session.queue.length > 0 && session.inflight.size < this.#clientReceiveMaximum && this.#state === 'connected') {
      const message = session.queue.shift()!;
      if (message.qos === 0) {
        this.#sendPublish(message, undefined, false);
        continue;
      }
      const id = session.nextPacketId();
      session.inflight.set(id, { packetId: id, message, state: 'publish' });
      if (!this.#sendPublish(message, id, false)) session.inflight.delete(id);
    }
  }

  #onAcked(id: number | undefined): void {
    const session = this.#session;
    if (id === undefined || !session) return;
    session.inflight.delete(id);
    this.#drain();
  }

  #onPubrec(id: number | undefined): void {
    const session = this.#session;
    if (id === undefined || !session) return;
    const f = session.inflight.get(id);
    if (f) f.state = 'pubrel';
    this.#send({ cmd: 'pubrel', messageId: id, ...(this.#v5 && !f ? { reasonCode: RC.packetIdNotFound } : {}) });
  }

  // --- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------

  async #onSubscribe(p: ISubscribePacket): Promise<void> {
    const session = this.#session!;
    const limits = this.broker.limits;
    // MQTT 5 §3.8.3 / 3.1.1 §3.8.3-3: a SUBSCRIBE without a topic filter is a protocol error.
    if (p.subscriptions.length === 0) return this.#close('CLIENT_ERROR', true, RC.protocolError);
    const refused = this.#v5 ? RC.quotaExceeded : 0x80;
    if (p.subscriptions.length > limits.maxFiltersPerSubscribe) {
      // AWS IoT: at most 8 subscriptions per SUBSCRIBE; the request is refused whole.
      this.broker.metrics.limitRefused('subscriptions-per-subscribe');
      this.#send({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map(() => refused) });
      return;
    }
    const subscriptionId = this.#v5 ? p.properties?.subscriptionIdentifier : undefined;
    const codes: number[] = [];
    const granted: { filter: string; qos: 0 | 1 | 2; shared: boolean; rh: number; existed: boolean }[] = [];
    for (const s of p.subscriptions) {
      const filter = s.topic;
      const shared = parseSharedFilter(filter);
      const valid = shared !== null && !filter.includes('\uFFFD') && isValidTopicFilter(shared ? shared.filter : filter);
      if (!valid) {
        codes.push(this.#v5 ? RC.topicFilterInvalid : 0x80);
        continue;
      }
      if (topicSlashes(filter) > limits.maxTopicSlashes) {
        this.broker.metrics.limitRefused('topic-depth');
        codes.push(this.#v5 ? RC.topicFilterInvalid : 0x80);
        continue;
      }
      if (!session.subscriptions.has(filter) && session.subscriptions.size >= limits.maxSubscriptionsPerConnection) {
        // AWS IoT: subscriptions per connection (50 by default); a new filter beyond it is refused.
        this.broker.metrics.limitRefused('subscriptions-per-connection');
        codes.push(refused);
        continue;
      }
      // MQTT 5 §3.8.3.1: No Local on a shared subscription is a protocol error.
      if (shared && s.nl) return this.#close('CLIENT_ERROR', true, RC.protocolError);
      const authorize = this.authenticator.authorizeSubscribe;
      if (authorize && !(await this.#authorized(() => authorize(this.#client!, filter)))) {
        codes.push(this.#v5 ? RC.notAuthorized : 0x80);
        continue;
      }
      if (this.#state !== 'connected') return;
      const rh = (s.rh ?? 0) as 0 | 1 | 2;
      const existed = this.broker.addSubscription(session, filter, {
        qos: s.qos,
        noLocal: s.nl === true,
        retainAsPublished: s.rap === true,
        retainHandling: rh,
        subscriptionId,
      });
      codes.push(s.qos);
      granted.push({ filter, qos: s.qos, shared: shared !== undefined, rh, existed });
    }
    if (session.persistent && granted.length > 0) {
      // Durable before SUBACK, so that an acknowledged subscription survives a crash.
      await this.broker.saveSession(session).catch((err) => this.broker.logger.warn({ err, clientId: session.clientId }, 'subscription not persisted'));
    }
    if (this.#state !== 'connected') return;
    this.#send({ cmd: 'suback', messageId: p.messageId, granted: codes });
    for (const g of granted) {
      // Retained messages: not for shared subscriptions (§4.8.2); retain handling 1 = only when new.
      if (g.shared || g.rh === 2 || (g.rh === 1 && g.existed)) continue;
      for (const envelope of this.broker.retainedFor(g.filter)) {
        const qos = (envelope.qos < g.qos ? envelope.qos : g.qos) as 0 | 1 | 2;
        this.deliver(outMessageFrom(envelope, qos, true, subscriptionId === undefined ? [] : [subscriptionId]));
      }
    }
    if (granted.length > 0) this.broker.lifecycle(subscriptionEvent(this.#lifecycle!, 'subscribed', granted.map((g) => g.filter), Date.now()), session.clientId);
  }

  async #onUnsubscribe(p: IUnsubscribePacket): Promise<void> {
    const session = this.#session!;
    // MQTT 5 §3.10.3 / 3.1.1 §3.10.3-2: an UNSUBSCRIBE without a topic filter is a protocol error.
    if (p.unsubscriptions.length === 0) return this.#close('CLIENT_ERROR', true, RC.protocolError);
    const codes: number[] = [];
    const removed: string[] = [];
    for (const filter of p.unsubscriptions) {
      if (this.broker.removeSubscription(session, filter)) {
        codes.push(RC.success);
        removed.push(filter);
      } else codes.push(RC.noSubscriptionExisted);
    }
    if (session.persistent && removed.length > 0) {
      await this.broker.saveSession(session).catch((err) => this.broker.logger.warn({ err, clientId: session.clientId }, 'unsubscribe not persisted'));
    }
    if (this.#state !== 'connected') return;
    if (this.#v5) this.#send({ cmd: 'unsuback', messageId: p.messageId, granted: codes } as Packet);
    else this.#send({ cmd: 'unsuback', messageId: p.messageId } as Packet);
    if (removed.length > 0) this.broker.lifecycle(subscriptionEvent(this.#lifecycle!, 'unsubscribed', removed, Date.now()), session.clientId);
  }

  // --- DISCONNECT and closing -------------------------------------------------------------

  #onDisconnect(p: IDisconnectPacket): void {
    const session = this.#session!;
    const expiry = this.#v5 ? p.properties?.sessionExpiryInterval : undefined;
    if (expiry !== undefined) {
      // MQTT 5 §3.14.2.2.2: a session that was to end with the connection cannot be extended.
      if (session.expiryIntervalSec === 0 && expiry > 0) return this.#close('CLIENT_ERROR', true, RC.protocolError);
      session.expiryIntervalSec = expiry === NEVER_EXPIRES ? expiry : Math.min(expiry, this.broker.limits.maxSessionExpirySec);
    }
    // Reason 0x04 "disconnect with will message" keeps the will; a normal DISCONNECT drops it.
    this.#close('CLIENT_INITIATED_DISCONNECT', this.#v5 && p.reasonCode === 0x04);
  }

  /** Another connection (here or on another gateway) took the session over. */
  takeOver(): void {
    if (this.#state !== 'connected') return;
    const session = this.#session!;
    session.connection = undefined;
    if (this.#will) this.broker.scheduleWill(session, this.#willPublisher(this.#will), this.#willDelay());
    this.#close('DUPLICATE_CLIENTID', false, RC.sessionTakenOver);
  }

  /** Ends the connection because its rights are gone (certificate no longer ACTIVE): no will. */
  revoke(): void {
    this.#close('AUTH_ERROR', false, RC.notAuthorized);
  }

  /** Ends the connection for a gateway shutdown: no will (the session is kept for the next start). */
  shutdown(): void {
    this.#close('SERVER_INITIATED_DISCONNECT', false, RC.serverShuttingDown);
  }

  #willDelay(): number {
    return this.#v5 ? (this.#will?.properties?.willDelayInterval ?? 0) : 0;
  }

  #willPublisher(will: Will): () => void {
    const client = this.#client!;
    const clientId = this.#session!.clientId;
    return () => {
      const props = will.properties;
      const envelope = createEnvelope({
        topic: will.topic,
        payload: typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload,
        qos: will.qos ?? 0,
        retain: will.retain === true,
        clientId,
        principal: client.principal,
        thingName: client.thingName,
        sourceAddress: this.origin.remoteAddress,
        userProperties: userPropertiesFromPacket(props?.userProperties),
        contentType: props?.contentType,
        responseTopic: props?.responseTopic,
        correlationData: props?.correlationData,
        payloadFormatIndicator: props?.payloadFormatIndicator === undefined ? undefined : props.payloadFormatIndicator ? 1 : 0,
        messageExpiryIntervalSec: props?.messageExpiryInterval,
      });
      this.broker.publishInternal(envelope).catch((err) => this.broker.logger.warn({ err, clientId }, 'will message not published'));
    };
  }

  #close(reason: DisconnectReason, sendWill: boolean, v5Code?: number): void {
    if (this.#state === 'closed') return;
    const wasConnected = this.#state === 'connected';
    this.#state = 'closed';
    clearTimeout(this.#connectTimer);
    clearInterval(this.#keepAliveTimer);
    if (this.#v5 && wasConnected && v5Code !== undefined && !this.stream.destroyed) {
      this.#send({ cmd: 'disconnect', reasonCode: v5Code }, true);
    }
    if (!this.stream.destroyed) {
      this.stream.end();
      setTimeout(() => this.stream.destroy(), 1000).unref();
    }
    const session = this.#session;
    if (wasConnected && session) {
      if (session.connection === this) {
        const will = sendWill && this.#will ? this.#willPublisher(this.#will) : undefined;
        this.broker.closeSession(session, will, this.#willDelay());
      }
      this.broker.lifecycle(disconnectedEvent(this.#lifecycle!, reason, Date.now()), session.clientId);
    }
    this.#onClosed(this);
  }

  // --- writing ------------------------------------------------------------------------------

  #send(packet: Packet, evenIfClosed = false): void {
    if (this.#state === 'closed' && !evenIfClosed) return;
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.#write(mqttPacket.generate(packet, this.#genOpts));
  }

  /** Writes are corked until the end of the tick, so that a burst of acks leaves in one segment. */
  #write(bytes: Buffer): void {
    if (this.stream.destroyed || this.stream.writableEnded) return;
    if (!this.#corked) {
      this.#corked = true;
      this.stream.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.stream.uncork();
      });
    }
    this.stream.write(bytes);
  }
}
