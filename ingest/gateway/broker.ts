/**
 * The gateway's message broker: sessions, the subscription index, retained messages, and the
 * path of a message from a device to the log and on to subscribers. Connections (one per
 * socket, `connection.ts`) call into it; it knows nothing of sockets.
 *
 * Where state lives:
 * - every published message is appended to `iot.ingress` before it is acknowledged or
 *   delivered; other gateways on the same log receive it through their egress consumer;
 * - sessions in `iot.sessions` (compacted, key = client id), retained messages in
 *   `iot.retained` (compacted, key = topic). Every gateway follows both tables, so a client
 *   may reconnect to any gateway and find its session.
 */
import { randomUUID } from 'node:crypto';
import {
  createEnvelope,
  decodeEnvelope,
  encodeEnvelope,
  envelopeHeaders,
  envelopeKey,
  TOPICS,
  type AppendRecord,
  type Envelope,
  type Log,
  type Logger,
  type Table,
  type TableChange,
} from '../../core/index.js';
import { createEgressConsumer, ORIGIN_HEADER, type EgressConsumer } from '../egress/egress.js';
import { hasLifecycleEvents, type LifecycleEvent } from './lifecycle.js';
import { outMessageFrom, type OutMessage } from './message.js';
import { decodeSessionRecord, encodeSessionRecord, NEVER_EXPIRES, Session, type SessionRecord, type SubscriptionOptions } from './session.js';
import { SubscriptionIndex, type IndexedSubscription } from './subscription-index.js';
import { GATEWAY_TOPIC_SPECS, GATEWAY_TOPICS, parseSharedFilter, topicMatches } from './topics.js';

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
}

/**
 * AWS IoT's quotas where it has one: 128 KiB payloads (plus headroom for topic and
 * properties), 1200 s maximum keep-alive, 1 h persistent-session expiry by default;
 * receive maximum 100 follows AWS's in-flight QoS 1 limit per connection.
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
};

export interface BrokerDeps {
  readonly log: Log;
  readonly logger: Logger;
  readonly gatewayId: string;
  readonly limits: GatewayLimits;
}

/** How long offline-queue changes are gathered before the session record is rewritten. */
const SNAPSHOT_DEBOUNCE_MS = 50;

export class Broker {
  readonly sessions = new Map<string, Session>();
  readonly index = new SubscriptionIndex();
  readonly logger: Logger;
  #retained: Table<Envelope> | undefined;
  #sessionTable: Table<SessionRecord> | undefined;
  #consumer: EgressConsumer | undefined;
  #unwatch: (() => void) | undefined;
  #shareCursor = new Map<string, number>();
  #snapshotTimers = new Map<string, NodeJS.Timeout>();
  #batch: { record: AppendRecord; resolve: () => void; reject: (err: unknown) => void }[] = [];
  #stopped = false;

  constructor(readonly deps: BrokerDeps) {
    this.logger = deps.logger.child({ module: 'ingest.gateway' });
  }

  get limits(): GatewayLimits {
    return this.deps.limits;
  }

  /** Ensures topics, loads sessions and retained messages, joins the delivery consumer. */
  async start(): Promise<void> {
    const { log } = this.deps;
    await log.ensureTopic({ name: TOPICS.ingress, partitions: 4 });
    await log.ensureTopic({ name: TOPICS.egress, partitions: 4 });
    for (const spec of GATEWAY_TOPIC_SPECS) await log.ensureTopic(spec);
    this.#retained = await log.openTable<Envelope>(GATEWAY_TOPICS.retained, { decode: (v) => decodeEnvelope(v) });
    this.#sessionTable = await log.openTable<SessionRecord>(GATEWAY_TOPICS.sessions, { decode: decodeSessionRecord });
    const now = Date.now();
    for (const [clientId, record] of this.#sessionTable.entries()) {
      if (!record.persistent) continue;
      if (Session.expired(record, now)) {
        void this.#sessionTable.delete(clientId).catch((err) => this.logger.warn({ err, clientId }, 'could not delete an expired session'));
        continue;
      }
      // A session another live gateway holds is adopted too: this gateway queues for it while
      // it is offline, and drops it when its owner announces a connection.
      this.#adopt(Session.fromRecord(record), record.connected);
    }
    this.#unwatch = this.#sessionTable.onChange((change) => this.#onSessionChange(change));
    this.#consumer = createEgressConsumer({
      log,
      logger: this.deps.logger,
      groupId: `kiot-gateway-${this.deps.gatewayId}`,
      topics: [TOPICS.ingress, TOPICS.egress],
      skipOrigin: this.deps.gatewayId,
      deliver: (envelope) => this.deliver(envelope, undefined),
    });
    await this.#consumer.start();
  }

  /** Writes every persistent session's state and leaves the consumer group. Connections are closed by the caller first. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unwatch?.();
    for (const timer of this.#snapshotTimers.values()) clearTimeout(timer);
    this.#snapshotTimers.clear();
    const writes: Promise<void>[] = [];
    for (const session of this.sessions.values()) {
      clearTimeout(session.expiryTimer);
      clearTimeout(session.willTimer);
      if (session.persistent) writes.push(this.#writeSession(session, false));
    }
    await Promise.allSettled(writes);
    await this.#consumer?.stop();
  }

  get retained(): Table<Envelope> {
    if (!this.#retained) throw new Error('broker not started');
    return this.#retained;
  }

  storedSession(clientId: string): SessionRecord | undefined {
    return this.#sessionTable?.get(clientId);
  }

  /**
   * Makes a device message durable: appends it to `iot.ingress` and, for a retained publish,
   * updates `iot.retained`. Resolves only when both are durable; rejects (retriably) when the
   * log is unavailable, in which case nothing must be acknowledged.
   */
  async ingest(envelope: Envelope): Promise<void> {
    const headers = envelopeHeaders(envelope);
    headers[ORIGIN_HEADER] = this.deps.gatewayId;
    await this.#appendBatched({ key: envelopeKey(envelope), value: encodeEnvelope(envelope), headers });
    if (envelope.retain) await this.storeRetained(envelope);
  }

  /**
   * Gathers the appends of one event-loop turn (every connection's publishes that arrived in
   * it) into one `log.append`: one call and one durable write instead of one per message.
   */
  #appendBatched(record: AppendRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#batch.push({ record, resolve, reject });
      if (this.#batch.length === 1) setImmediate(() => this.#flushBatch());
    });
  }

  #flushBatch(): void {
    const batch = this.#batch;
    this.#batch = [];
    this.deps.log.append(TOPICS.ingress, batch.map((b) => b.record)).then(
      () => {
        for (const b of batch) b.resolve();
      },
      (err: unknown) => {
        for (const b of batch) b.reject(err);
      },
    );
  }

  /** MQTT §3.3.1.3: a retained message with an empty payload clears the topic. */
  async storeRetained(envelope: Envelope): Promise<void> {
    if (envelope.payload.length === 0) await this.retained.delete(envelope.topic);
    else await this.retained.set(envelope.topic, encodeEnvelope(envelope));
  }

  /** Publishes a message the gateway itself makes (lifecycle events, wills): ingest, then deliver. */
  async publishInternal(envelope: Envelope): Promise<void> {
    await this.ingest(envelope);
    this.deliver(envelope, envelope.clientId);
  }

  lifecycle(event: LifecycleEvent, clientId: string): void {
    if (this.#stopped || !hasLifecycleEvents(clientId)) return;
    const envelope = createEnvelope({ topic: event.topic, payload: Buffer.from(JSON.stringify(event.payload)), qos: 1, clientId });
    this.publishInternal(envelope).catch((err) => this.logger.warn({ err, topic: event.topic }, 'lifecycle event was not published'));
  }

  /**
   * Hands a message to every session with a matching subscription: once per session, with the
   * highest granted QoS and every matching subscription id (MQTT 5 §3.3.4); one member of each
   * shared-subscription group, round robin, preferring connected members.
   */
  deliver(envelope: Envelope, publisherClientId: string | undefined): void {
    const matches = this.index.match(envelope.topic);
    if (matches.length === 0) return;
    const perClient = new Map<string, { qos: 0 | 1 | 2; ids: number[]; rap: boolean }>();
    let shared: Map<string, IndexedSubscription[]> | undefined;
    const add = (s: IndexedSubscription) => {
      const entry = perClient.get(s.clientId);
      if (!entry) perClient.set(s.clientId, { qos: s.qos, ids: s.subscriptionId === undefined ? [] : [s.subscriptionId], rap: s.retainAsPublished });
      else {
        if (s.qos > entry.qos) entry.qos = s.qos;
        if (s.subscriptionId !== undefined) entry.ids.push(s.subscriptionId);
        entry.rap ||= s.retainAsPublished;
      }
    };
    for (const s of matches) {
      if (s.group !== undefined) {
        shared ??= new Map();
        const key = `${s.group}\u0000${s.filter}`;
        const members = shared.get(key);
        if (members) members.push(s);
        else shared.set(key, [s]);
        continue;
      }
      if (s.noLocal && s.clientId === publisherClientId) continue;
      add(s);
    }
    if (shared) {
      for (const [key, members] of shared) {
        const connected = members.filter((m) => this.sessions.get(m.clientId)?.connection !== undefined);
        const pool = connected.length > 0 ? connected : members;
        const cursor = this.#shareCursor.get(key) ?? 0;
        this.#shareCursor.set(key, cursor + 1);
        add(pool[cursor % pool.length]!);
      }
    }
    for (const [clientId, d] of perClient) {
      const session = this.sessions.get(clientId);
      if (!session) continue;
      const qos = (envelope.qos < d.qos ? envelope.qos : d.qos) as 0 | 1 | 2;
      this.deliverTo(session, outMessageFrom(envelope, qos, d.rap ? envelope.retain : false, d.ids));
    }
  }

  /** Sends to the attached connection, or queues for an offline persistent session. */
  deliverTo(session: Session, message: OutMessage): void {
    if (session.connection) {
      session.connection.deliver(message);
      return;
    }
    if (message.qos === 0) return; // MQTT allows queueing QoS 0 for offline sessions; AWS does not, nor do we
    this.enqueue(session, message);
    this.scheduleSnapshot(session);
  }

  /** Queues a message, dropping the oldest beyond the limit. */
  enqueue(session: Session, message: OutMessage): void {
    session.queue.push(message);
    if (session.queue.length > this.limits.maxQueuedMessages) {
      session.queue.shift();
      this.logger.warn({ clientId: session.clientId }, 'session queue full; dropped the oldest message');
    }
  }

  /** Retained messages matching a filter, not expired, for delivery on subscribe. */
  retainedFor(filter: string): Envelope[] {
    const out: Envelope[] = [];
    const now = Date.now();
    for (const [topic, envelope] of this.retained.entries()) {
      if (!topicMatches(filter, topic)) continue;
      if (envelope.messageExpiryIntervalSec !== undefined && envelope.receivedAt + envelope.messageExpiryIntervalSec * 1000 <= now) continue;
      out.push(envelope);
    }
    return out;
  }

  /**
   * Finds or creates the session for a connecting client. `cleanStart` discards any earlier
   * one. Returns whether a session was resumed (CONNACK session present).
   */
  openSession(clientId: string, cleanStart: boolean): { session: Session; present: boolean } {
    let session = this.sessions.get(clientId);
    const stored = this.#sessionTable?.get(clientId);
    const versionNumber = Math.max(session?.versionNumber ?? -1, stored?.versionNumber ?? -1) + 1;
    if (session?.connection) session.connection.takeOver();
    if (session) {
      clearTimeout(session.expiryTimer);
      session.expiryTimer = undefined;
      this.#cancelWill(session, !cleanStart);
    }
    let present = false;
    if (cleanStart) {
      if (session) this.#discard(session);
      session = undefined;
    } else if (session) {
      present = true;
    } else if (stored && stored.persistent && !Session.expired(stored, Date.now())) {
      session = Session.fromRecord(stored);
      this.#adopt(session, false);
      present = true;
    }
    if (!session) {
      session = new Session(clientId);
      this.sessions.set(clientId, session);
    }
    session.versionNumber = versionNumber;
    session.disconnectedAt = undefined;
    return { session, present };
  }

  /** Records a connection on the log so that other gateways drop their copy (and disconnect a duplicate). */
  announceConnected(session: Session): Promise<void> {
    return this.#writeSession(session, true);
  }

  addSubscription(session: Session, filter: string, options: SubscriptionOptions): boolean {
    const existed = session.subscriptions.has(filter);
    session.subscriptions.set(filter, options);
    this.index.add(toIndexed(session.clientId, filter, options));
    return existed;
  }

  removeSubscription(session: Session, filter: string): boolean {
    if (!session.subscriptions.delete(filter)) return false;
    const shared = parseSharedFilter(filter);
    this.index.remove(session.clientId, shared ? shared.filter : filter, shared?.group);
    return true;
  }

  /** Persists a session's subscriptions; resolves once durable (before SUBACK). */
  saveSession(session: Session): Promise<void> {
    return this.#writeSession(session, session.connection !== undefined);
  }

  scheduleSnapshot(session: Session): void {
    if (!session.persistent || this.#snapshotTimers.has(session.clientId)) return;
    this.#snapshotTimers.set(
      session.clientId,
      setTimeout(() => {
        this.#snapshotTimers.delete(session.clientId);
        if (this.sessions.get(session.clientId) === session) void this.#writeSession(session, session.connection !== undefined).catch(() => undefined);
      }, SNAPSHOT_DEBOUNCE_MS),
    );
  }

  /**
   * The connection is gone. Persistent sessions stay (their expiry timer starts); others end.
   * `will` publishes the last will, after its delay (MQTT 5 §3.1.3.2.2), or at session end.
   */
  closeSession(session: Session, will: (() => void) | undefined, willDelaySec: number): void {
    session.connection = undefined;
    session.disconnectedAt = Date.now();
    if (will) this.scheduleWill(session, will, willDelaySec);
    if (!session.persistent) {
      this.#discard(session);
      this.#writeEnded(session);
      return;
    }
    // In-flight messages are sent again, with DUP, on the next connection (MQTT 5 §4.4).
    void this.#writeSession(session, false).catch(() => undefined);
    this.#startExpiry(session);
  }

  /**
   * Publishes a will now, or after its delay unless the session resumes first; never later than
   * the session's end (MQTT 5 §3.1.3.2.2).
   */
  scheduleWill(session: Session, will: () => void, willDelaySec: number): void {
    const delaySec = Math.min(willDelaySec, session.expiryIntervalSec);
    if (delaySec <= 0) {
      will();
      return;
    }
    this.#cancelWill(session, false);
    session.pendingWill = will;
    session.willTimer = setTimeout(() => this.#cancelWill(session, false), delaySec * 1000);
    session.willTimer.unref();
  }

  #startExpiry(session: Session): void {
    if (session.expiryIntervalSec === NEVER_EXPIRES || this.#stopped) return;
    const ms = Math.max(0, (session.disconnectedAt ?? Date.now()) + session.expiryIntervalSec * 1000 - Date.now());
    session.expiryTimer = setTimeout(() => {
      if (this.sessions.get(session.clientId) !== session || session.connection) return;
      this.#cancelWill(session, false); // the will is sent when the session ends, whichever comes first
      this.#discard(session);
      this.#writeEnded(session);
    }, Math.min(ms, 2 ** 31 - 1));
    session.expiryTimer.unref();
  }

  /** Either sends the delayed will now (`suppress` false) or drops it because the session resumed. */
  #cancelWill(session: Session, suppress: boolean): void {
    clearTimeout(session.willTimer);
    session.willTimer = undefined;
    const will = session.pendingWill;
    session.pendingWill = undefined;
    if (will && !suppress) will();
  }

  #discard(session: Session): void {
    for (const filter of [...session.subscriptions.keys()]) this.removeSubscription(session, filter);
    clearTimeout(session.expiryTimer);
    const timer = this.#snapshotTimers.get(session.clientId);
    if (timer) clearTimeout(timer);
    this.#snapshotTimers.delete(session.clientId);
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
  }

  /** An ended session keeps a small record so that lifecycle version numbers keep growing. */
  #writeEnded(session: Session): void {
    if (this.#stopped || !this.#sessionTable) return;
    const record: SessionRecord = { ...new Session(session.clientId).toRecord(this.deps.gatewayId, false), versionNumber: session.versionNumber, persistent: false };
    this.#sessionTable.set(session.clientId, encodeSessionRecord(record)).catch((err) => this.logger.warn({ err, clientId: session.clientId }, 'could not record the end of a session'));
  }

  async #writeSession(session: Session, connected: boolean): Promise<void> {
    if (!this.#sessionTable) return;
    await this.#sessionTable.set(session.clientId, encodeSessionRecord(session.toRecord(this.deps.gatewayId, connected)));
  }

  #adopt(session: Session, connectedElsewhere: boolean): void {
    this.sessions.set(session.clientId, session);
    for (const [filter, options] of session.subscriptions) this.index.add(toIndexed(session.clientId, filter, options));
    if (!connectedElsewhere) {
      session.disconnectedAt ??= Date.now();
      this.#startExpiry(session);
    } else {
      // Held by another gateway: it delivers. Keep nothing here until it goes offline.
      this.#discard(session);
    }
  }

  /** Another gateway wrote a session record (our own writes come back here too). */
  #onSessionChange(change: TableChange<SessionRecord>): void {
    const record = change.value;
    if (record && record.owner === this.deps.gatewayId) return;
    const local = this.sessions.get(change.key);
    if (!record) {
      if (local && !local.connection) this.#discard(local);
      return;
    }
    if (record.connected) {
      // The client connected to another gateway: that one now holds the session.
      if (local?.connection) local.connection.takeOver();
      if (local) {
        this.#cancelWill(local, true);
        this.#discard(local);
      }
      return;
    }
    if (!local && record.persistent && !Session.expired(record, Date.now())) this.#adopt(Session.fromRecord(record), false);
  }

  /** A fresh id for a session identifier in lifecycle events. */
  static sessionIdentifier(): string {
    return randomUUID().replace(/-/g, '');
  }
}

function toIndexed(clientId: string, rawFilter: string, o: SubscriptionOptions): IndexedSubscription {
  const shared = parseSharedFilter(rawFilter);
  return {
    clientId,
    filter: shared ? shared.filter : rawFilter,
    group: shared ? shared.group : undefined,
    qos: o.qos,
    noLocal: o.noLocal,
    retainAsPublished: o.retainAsPublished,
    retainHandling: o.retainHandling,
    subscriptionId: o.subscriptionId,
  };
}
