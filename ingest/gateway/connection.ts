/**
 * One network connection speaking MQTT 3.1.1 or 5.0: framing and decoding (mqtt-packet), the
 * dispatch of each packet to its handler (`handlers/*`, one module per packet type, as aedes
 * has `lib/handlers`), outbound PUBLISH with flow control, and closing. The handlers work on
 * the connection's state below and on the gateway's session store, router and ingest writer
 * (`context.ts`). The rule that shapes it: a PUBLISH is acknowledged (PUBACK / PUBREC) only
 * after the writer made it durable on the log, and acknowledgements and local deliveries
 * happen in the order the client published.
 */
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import type { Authenticator, ClientContext, ConnectInfo } from '../auth.js';
import type { ClockTimer } from '../clock.js';
import { envelopeFromMqtt } from '../mqtt-envelope.js';
import type { GatewayContext } from './context.js';
import type { KeepAliveClient } from './keep-alive.js';
import { MQTT_MAX_PACKET_BYTES, pushFrames, variableHeaderOffset, type FrameError } from './framer.js';
import { handleAcked, handlePubrec } from './handlers/acks.js';
import { handleConnect } from './handlers/connect.js';
import { handleDisconnect } from './handlers/disconnect.js';
import { InboundQueue, handlePublish, handlePubrel } from './handlers/publish.js';
import { RC } from './handlers/reason-codes.js';
import { handleSubscribe } from './handlers/subscribe.js';
import { handleUnsubscribe } from './handlers/unsubscribe.js';
import { disconnectedEvent, type DisconnectReason, type LifecycleClient } from './lifecycle.js';
import { publishPacketFor, type OutMessage } from './message.js';
import { parseFrame } from './packet-parser.js';
import { decodePublish, encodeAck, encodePublish, isShortPuback } from './publish-codec.js';
import { TokenBucket } from './rate-limit.js';
import type { Session, SessionConnection, Will } from './session.js';

/** Where a connection came from. */
export interface ConnectionOrigin {
  readonly transport: ConnectInfo['transport'];
  readonly remoteAddress: string;
  readonly clientCertificate?: ConnectInfo['clientCertificate'];
  readonly serverName?: ConnectInfo['serverName'];
  readonly http?: ConnectInfo['http'];
}

/** A client that has not sent CONNECT by then is dropped (an idle socket costs a descriptor). */
const CONNECT_TIMEOUT_MS = 10_000;

/** Where a connection's stream listeners find it: one listener function per event serves every connection. */
const CONNECTION = Symbol('kiot.connection');
type ConnectionStream = Duplex & { [CONNECTION]?: Connection };
function onStreamData(this: ConnectionStream, chunk: Buffer): void {
  this[CONNECTION]?.onData(chunk);
}
function onStreamGone(this: ConnectionStream): void {
  this[CONNECTION]?.close('CONNECTION_LOST', true);
}

export type ConnectionState = 'new' | 'connecting' | 'connected' | 'closed';

/** mqtt-packet's options for generating packets, one per protocol version for every connection. */
const GENERATE_OPTIONS: Readonly<Record<3 | 4 | 5, { readonly protocolVersion: number }>> = {
  3: Object.freeze({ protocolVersion: 3 }),
  4: Object.freeze({ protocolVersion: 4 }),
  5: Object.freeze({ protocolVersion: 5 }),
};

/**
 * The connection's fields are its protocol state, shared with its packet handlers; nothing
 * else in the gateway reads them (gateway.ts uses `client`, `revoke` and `shutdown`).
 *
 * Most connections of a fleet sit idle for hours, so what an idle one holds is kept small
 * (issue 12): what only some use (the inbound queue, frames held during CONNECT, topic aliases,
 * rate buckets) is created at its first use; shared listeners, options and callbacks rather
 * than an object or closure each.
 */
export class Connection implements SessionConnection, KeepAliveClient {
  state: ConnectionState = 'new';
  version: 3 | 4 | 5 = 4;
  v5 = false;
  /** Bytes of a packet not yet whole (framer.ts). */
  #pendingBytes: Buffer | undefined;
  /** Frames that arrived while CONNECT was being handled, created at the first. */
  held: Buffer[] | undefined;
  session: Session | undefined;
  clientContext: ClientContext | undefined;
  /** What the lifecycle events of this connection carry besides the client's context (set on CONNACK). */
  sessionIdentifier = '';
  versionNumber = 0;
  will: Will | undefined;
  connectTimer: ClockTimer | undefined;
  /** Set by the keep-alive watch (keep-alive.ts) while it watches this connection. */
  keepAliveSec = 0;
  lastSeen: number;
  /** Topic aliases the client set (MQTT 5 §3.3.2.3.4), created at the first. */
  aliases: Map<number, string> | undefined;
  clientReceiveMaximum = 65_535;
  /** The client's Maximum Packet Size (MQTT 5 §3.1.2.11.4); by default the protocol's own (a small integer, unlike Infinity, needs no heap number per connection). */
  clientMaxPacketSize = MQTT_MAX_PACKET_BYTES;
  /** Topic aliases the client lets the gateway use towards it (its CONNECT's Topic Alias Maximum; MQTT 5 §3.1.2.11.5). */
  clientTopicAliasMaximum = 0;
  /** Topic → alias sent to this client so far; aliases live as long as the network connection (MQTT 5 §3.3.2.3.4). */
  #outboundAliases: Map<string, number> | undefined;
  /** Inbound QoS 1/2 publishes not yet acknowledged (v5 Receive Maximum). */
  inboundInflight = 0;
  /** Publishes waiting for the log; the socket is paused above the limit. */
  pendingAppends = 0;
  paused = false;
  #inbound: InboundQueue | undefined;
  /** AWS IoT: publish requests per second and throughput per connection; created at the first PUBLISH (a bucket starts full). */
  #publishRate: TokenBucket | undefined;
  #byteRate: TokenBucket | undefined;
  /** Size of the PUBLISH frame being parsed (mqtt-packet emits the packet within `parse`). */
  frameBytes = 0;
  #corked = false;
  #sawFirstByte = false;
  readonly #onClosed: (c: Connection) => void;

  constructor(
    readonly ctx: GatewayContext,
    readonly authenticator: Authenticator,
    readonly stream: Duplex,
    readonly origin: ConnectionOrigin,
    onClosed: (c: Connection) => void,
  ) {
    this.#onClosed = onClosed;
    this.lastSeen = ctx.clock.now();
    // Shared listeners rather than closures per connection (an idle connection's memory, issue 12).
    (stream as ConnectionStream)[CONNECTION] = this;
    stream.on('data', onStreamData);
    stream.on('error', onStreamGone);
    stream.on('close', onStreamGone);
    stream.on('end', onStreamGone);
    this.connectTimer = ctx.clock.after(CONNECT_TIMEOUT_MS, () => {
      if (this.state === 'new') this.close('CLIENT_ERROR', false);
    });
  }

  /**
   * Inbound publishes in publish order: delivered locally once the log has them, acknowledged
   * (MQTT §4.6, in that order too) once durable, queued copies for offline sessions included.
   * Created at the first publish.
   */
  get inbound(): InboundQueue {
    return (this.#inbound ??= new InboundQueue(this));
  }

  /** mqtt-packet's options for what this connection sends. */
  get genOpts(): { readonly protocolVersion: number } {
    return GENERATE_OPTIONS[this.version];
  }

  /** Who the lifecycle events of this connection name (once CONNECT was accepted). */
  get lifecycle(): LifecycleClient {
    const client = this.clientContext!;
    return {
      clientId: this.session!.clientId,
      sessionIdentifier: this.sessionIdentifier,
      principal: client.principal,
      ipAddress: this.origin.remoteAddress.replace(/:\d+$/, ''),
      versionNumber: this.versionNumber,
      thingName: client.thingName,
    };
  }

  /** Called by the PUBLISH handler: takes the PUBLISH being parsed (`frameBytes`) from the connection's quotas, or says which is spent. */
  withinRate(now: number): 'publish-rate' | 'throughput' | undefined {
    const limits = this.ctx.limits;
    if (!(this.#publishRate ??= new TokenBucket(limits.maxPublishesPerSecond, now)).take(1, now)) return 'publish-rate';
    if (!(this.#byteRate ??= new TokenBucket(limits.maxInboundBytesPerSecond, now)).take(this.frameBytes, now)) return 'throughput';
    return undefined;
  }

  /** The keep-alive watch's verdict: silent for one and a half times the keep-alive (keep-alive.ts). */
  keepAliveExpired(): void {
    this.close('MQTT_KEEP_ALIVE_TIMEOUT', true, RC.keepAliveTimeout);
  }

  /** Bytes from the network. */
  onData(chunk: Buffer): void {
    this.lastSeen = this.ctx.clock.now();
    // MQTT §3.1: the first packet must be CONNECT; refuse other protocols at their first byte.
    if (!this.#sawFirstByte && chunk.length > 0) {
      this.#sawFirstByte = true;
      if (chunk[0] !== 0x10) return this.close('CLIENT_ERROR', false);
    }
    this.#pendingBytes = pushFrames(this.#pendingBytes, chunk, this.ctx.limits.maxPacketSizeBytes, this);
  }

  /** The framer's verdict on a packet it could not cut out (framer.ts). */
  onFrameError(error: FrameError): void {
    if (error === 'too-large') this.close('CLIENT_ERROR', true, RC.packetTooLarge);
    else this.close('CLIENT_ERROR', true, RC.malformed);
  }

  get clientId(): string | undefined {
    return this.session?.clientId;
  }

  /** The authenticated client, once CONNECT was accepted. */
  get client(): ClientContext | undefined {
    return this.state === 'connected' ? this.clientContext : undefined;
  }

  // --- framing and dispatch -------------------------------------------------------------

  onFrame(frame: Buffer): boolean {
    if (this.state === 'closed') return false;
    const type = frame[0]! >> 4;
    if (this.state === 'new' && type !== 1) {
      this.close('CLIENT_ERROR', false); // MQTT §3.1: the first packet must be CONNECT
      return false;
    }
    if (this.state === 'connecting') {
      (this.held ??= []).push(frame);
      return true;
    }
    if (type === 3 && frame.length >= 4) {
      // mqtt-packet decodes topic names lossily; MQTT requires well-formed UTF-8 (§1.5.4).
      const at = variableHeaderOffset(frame);
      const length = frame.readUInt16BE(at);
      if (at + 2 + length <= frame.length && !isUtf8(frame.subarray(at + 2, at + 2 + length))) {
        this.close('CLIENT_ERROR', true, RC.malformed);
        return false;
      }
    }
    this.frameBytes = frame.length;
    const publish = type === 3 && this.state === 'connected' ? decodePublish(frame, this.v5) : undefined;
    if (publish) this.onPacket(publish);
    else if (this.state === 'connected' && isShortPuback(frame)) handleAcked(this, frame.readUInt16BE(2));
    else parseFrame(frame, this.version, this);
    return (this.state as ConnectionState) !== 'closed';
  }

  /** mqtt-packet could not decode one of this connection's frames (packet-parser.ts). */
  onMalformed(err: Error): void {
    this.ctx.logger.debug({ err: err.message, remote: this.origin.remoteAddress }, 'malformed packet');
    this.close('CLIENT_ERROR', true, RC.malformed);
  }

  /** A packet decoded from one of this connection's frames (here or by packet-parser.ts). */
  onPacket(packet: Packet): void {
    if (this.state === 'closed') return;
    switch (packet.cmd) {
      case 'connect':
        if (this.state !== 'new') return this.close('CLIENT_ERROR', true, RC.protocolError);
        this.state = 'connecting';
        void handleConnect(this, packet).catch((err) => {
          this.ctx.logger.error({ err }, 'connect failed');
          this.close('SERVER_ERROR', false, RC.unspecified);
        });
        return;
      case 'publish':
        return handlePublish(this, packet);
      case 'puback':
        return handleAcked(this, packet.messageId);
      case 'pubrec':
        return handlePubrec(this, packet.messageId);
      case 'pubcomp':
        return handleAcked(this, packet.messageId);
      case 'pubrel':
        return handlePubrel(this, packet.messageId);
      case 'subscribe':
        void handleSubscribe(this, packet).catch((err) => {
          this.ctx.logger.error({ err }, 'subscribe failed');
          this.close('SERVER_ERROR', true, RC.unspecified);
        });
        return;
      case 'unsubscribe':
        void handleUnsubscribe(this, packet).catch((err) => {
          this.ctx.logger.error({ err }, 'unsubscribe failed');
          this.close('SERVER_ERROR', true, RC.unspecified);
        });
        return;
      case 'pingreq':
        return this.send({ cmd: 'pingresp' });
      case 'disconnect':
        return handleDisconnect(this, packet);
      default:
        // AUTH (no enhanced authentication offered) and server-to-client packets.
        return this.close('CLIENT_ERROR', true, RC.protocolError);
    }
  }

  // --- authorization (for the handlers and outbound PUBLISH) ----------------------------------

  async authorized(check: () => boolean | Promise<boolean>): Promise<boolean> {
    try {
      return await check();
    } catch (err) {
      this.ctx.logger.warn({ err, clientId: this.clientId }, 'authorizer failed; denying');
      return false;
    }
  }

  #mayReceive(authorize: (client: ClientContext, topic: string) => boolean, topic: string): boolean {
    try {
      return authorize(this.clientContext!, topic);
    } catch (err) {
      this.ctx.logger.warn({ err, clientId: this.clientId }, 'authorizer failed; not delivering');
      return false;
    }
  }

  // --- envelopes of this connection (PUBLISH and will) ---------------------------------

  /** Who sent a message from this connection, as its envelope records it. */
  source(clientId: string, receivedAt: number) {
    const client = this.clientContext!;
    return { clientId, principal: client.principal, thingName: client.thingName, sourceAddress: this.origin.remoteAddress, receivedAt };
  }

  // --- outbound PUBLISH -----------------------------------------------------------------

  /** Called by the router for every message routed to this session. */
  deliver(message: OutMessage): void {
    if (this.state !== 'connected') {
      if (message.qos > 0) this.ctx.sessions.enqueue(this.session!, message);
      return;
    }
    const session = this.session!;
    if (message.qos === 0) {
      // A subscriber that does not read loses QoS 0 rather than growing our memory.
      if (this.stream.writableLength > this.ctx.limits.maxSocketBufferBytes) return;
      this.sendPublish(message, undefined, false);
      return;
    }
    if (session.queue.length > 0 || session.inflight.size >= this.clientReceiveMaximum) {
      this.ctx.sessions.enqueue(session, message); // flow control (MQTT 5 §4.9)
      return;
    }
    const id = session.nextPacketId();
    session.setInflight({ packetId: id, message, state: 'publish' });
    if (!this.sendPublish(message, id, false)) session.deleteInflight(id);
  }

  /** Returns false when the message was not sent (expired, over the client's maximum packet size, or not allowed by iot:Receive). */
  sendPublish(message: OutMessage, id: number | undefined, dup: boolean): boolean {
    const authorizeReceive = this.authenticator.authorizeReceive;
    if (authorizeReceive && !this.#mayReceive(authorizeReceive, message.topic)) return false;
    const packet = publishPacketFor(message, id, dup, this.v5, this.ctx.clock.now());
    if (!packet) return false;
    const alias = this.#aliasFor(packet);
    const bytes = encodePublish(packet, this.v5) ?? mqttPacket.generate(packet, this.genOpts);
    // MQTT 5 §3.1.2.11.4: a packet over the client's maximum is discarded as if delivered.
    if (bytes.length > this.clientMaxPacketSize) return false;
    // The client learns an alias from the first PUBLISH that carries it with the topic: record it only once sent.
    if (alias?.isNew) (this.#outboundAliases ??= new Map()).set(message.topic, alias.value);
    this.#write(bytes);
    return true;
  }

  /**
   * MQTT 5 §3.3.2.3.4: when the client allows topic aliases, the first PUBLISH of a topic
   * carries the topic and a new alias, later ones the alias and an empty topic, while aliases
   * are left. Changes `packet` in place; says which alias it used.
   */
  #aliasFor(packet: mqttPacket.IPublishPacket): { value: number; isNew: boolean } | undefined {
    if (!this.v5 || this.clientTopicAliasMaximum === 0) return undefined;
    const known = this.#outboundAliases?.get(packet.topic);
    if (known !== undefined) {
      packet.properties = { ...packet.properties, topicAlias: known };
      packet.topic = '';
      return { value: known, isNew: false };
    }
    const used = this.#outboundAliases?.size ?? 0;
    if (used >= this.clientTopicAliasMaximum) return undefined;
    const value = used + 1;
    packet.properties = { ...packet.properties, topicAlias: value };
    return { value, isNew: true };
  }

  drain(): void {
    const session = this.session!;
    while (session.queue.length > 0 && session.inflight.size < this.clientReceiveMaximum && this.state === 'connected') {
      const message = session.dequeue()!;
      if (message.qos === 0) {
        this.sendPublish(message, undefined, false);
        continue;
      }
      const id = session.nextPacketId();
      session.setInflight({ packetId: id, message, state: 'publish' });
      if (!this.sendPublish(message, id, false)) session.deleteInflight(id);
    }
  }

  // --- closing -----------------------------------------------------------------------------

  /** Another connection (here or on another gateway) took the session over. */
  takeOver(): void {
    if (this.state !== 'connected') return;
    const session = this.session!;
    session.connection = undefined;
    if (this.will) this.ctx.sessions.scheduleWill(session, this.willPublisher(this.will), this.willDelay());
    this.close('DUPLICATE_CLIENTID', false, RC.sessionTakenOver);
  }

  /**
   * Ends the connection because its rights are gone (certificate no longer ACTIVE), or, with
   * `expired`, because its authorizer's maximum connect time passed (AWS's
   * CUSTOMAUTH_TTL_EXPIRATION; MQTT 5 0xA0): no will.
   */
  revoke(expired = false): void {
    if (expired) this.close('CUSTOMAUTH_TTL_EXPIRATION', false, RC.maximumConnectTime);
    else this.close('AUTH_ERROR', false, RC.notAuthorized);
  }

  /** Ends the connection for a gateway shutdown: no will (the session is kept for the next start). */
  shutdown(): void {
    this.close('SERVER_INITIATED_DISCONNECT', false, RC.serverShuttingDown);
  }

  willDelay(): number {
    return this.v5 ? (this.will?.properties?.willDelayInterval ?? 0) : 0;
  }

  willPublisher(will: Will): () => void {
    const clientId = this.session!.clientId;
    return () => {
      const message = { topic: will.topic, payload: will.payload, qos: will.qos ?? 0, retain: will.retain === true, properties: will.properties };
      const envelope = envelopeFromMqtt(message, this.source(clientId, this.ctx.clock.now()));
      this.ctx.publishInternal(envelope).catch((err) => this.ctx.logger.warn({ err, clientId }, 'will message not published'));
    };
  }

  close(reason: DisconnectReason, sendWill: boolean, v5Code?: number): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.connectTimer?.cancel();
    this.ctx.keepAlive.unwatch(this);
    if (this.v5 && wasConnected && v5Code !== undefined && !this.stream.destroyed) {
      this.send({ cmd: 'disconnect', reasonCode: v5Code }, true);
    }
    if (!this.stream.destroyed) {
      this.stream.end();
      // A socket-level grace for the peer to read the last packets, not protocol time: a real timer.
      setTimeout(() => this.stream.destroy(), 1000).unref();
    }
    const session = this.session;
    if (wasConnected && session) {
      if (session.connection === this) {
        const will = sendWill && this.will ? this.willPublisher(this.will) : undefined;
        this.ctx.sessions.close(session, will, this.willDelay());
      }
      this.ctx.lifecycle(disconnectedEvent(this.lifecycle, reason, this.ctx.clock.now()), session.clientId);
    }
    this.#onClosed(this);
  }

  // --- writing ------------------------------------------------------------------------------

  send(packet: Packet, evenIfClosed = false): void {
    if (this.state === 'closed' && !evenIfClosed) return;
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.#write(mqttPacket.generate(packet, this.genOpts));
  }

  /** PUBACK or PUBREC with reason code Success and no properties (publish-codec.ts). */
  sendAck(cmd: 'puback' | 'pubrec', messageId: number): void {
    if (this.state === 'closed') return;
    this.#write(encodeAck(cmd, messageId));
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
