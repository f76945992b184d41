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
  DEFAULT_MAX_BYTES_PER_SECOND_PER_CONNECTION,
  DEFAULT_MAX_PUBLISHES_PER_SECOND_PER_CONNECTION,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
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
import { isAnonymous } from '../auth.js';
import { createEgressConsumer, ORIGIN_HEADER, type EgressConsumer } from '../egress/egress.js';
import { hasLifecycleEvents, type LifecycleEvent } from './lifecycle.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
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
}

/**
 * AWS IoT's quotas where it has one: 128 KiB payloads (plus headroom for topic and
 * properties), 1200 s maximum keep-alive, 1 h persistent-session expiry by default;
 * receive maximum 100 follows AWS's in-flight QoS 1 limit per connection. The per-connection
 * quotas of "AWS IoT Core message broker and protocol limits and quotas" (AWS General
 * Reference, AWS IoT Core endpoints and quotas): client id 128 bytes, topic 256 bytes, 7 forward
 * slashes in a topic or filter, 50 subscriptions per connection, 8 subscriptions per SUBSCRIBE,
 * 100 publish requests per second and 512 KiB/s throughput per connection (the AWS IoT Device
 * SDK's client-side validation uses the same numbers).
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
};

export interface BrokerDeps {
  readonly log: Log;
  readonly logger: Logger;
  readonly gatewayId: string;
  readonly limits: GatewayLimits;
  /** Counters for `/metrics`; a fresh set by default. */
  readonly metrics?: GatewayMetrics;
  /** See `GatewayDeps.isDeviceClientId`. */
  readonly isDeviceClientId?: (clientId: string) => boolean;
}

/** A promise that is already settled: what `deliver` returns when nothing had to be made durable. */
const DURABLE: Promise<void> = Promise.resolve();

interface SnapshotBatch {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * How often the delivery consumer commits what it delivered (and made durable). Its group is
 * named after the gateway id, so a gateway that restarts with the same id (kiot up on the
 * embedded log) goes on from there: what it read after the last commit is delivered again
 * (at least once), nothing queued for an offline session is lost in between.
 */
const EGRESS_COMMIT_INTERVAL_MS = 1000;

export class Broker {
  readonly sessions = new Map<string, Session>();
  readonly index = new SubscriptionIndex();
  readonly logger: Logger;
  #retained: Table<Envelope> | undefined;
  #sessionTable: Table<SessionRecord> | undefined;
  #consumer: EgressConsumer | undefined;
  #unwatch: (() => void) | undefined;
  #shareCursor = new Map<string, number>();
  /**
   * Offline sessions whose queue changed and whose record must be rewritten before the messages
   * are acknowledged to their publisher (see `deliver`). All of them are written together, once
   * per event-loop turn; one batch is written at a time, and changes made meanwhile join the next.
   */
  #dirty = new Set<Session>();
  #nextSnapshot: SnapshotBatch | undefined;
  #snapshots: Promise<void> = Promise.resolve();
  readonly metrics: GatewayMetrics;
  #batch: { record: AppendRecord; resolve: () => void; reject: (err: unknown) => void }[] = [];
  #stopped = false;

  constructor(readonly deps: BrokerDeps) {
    this.logger = deps.logger.child({ module: 'ingest.gateway' });
    this.metrics = deps.metrics ?? createGatewayMetrics();
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
      // it is offline, and drops it when its owner announces a connection. One that this
      // gateway id held when it stopped (or was killed) is offline now.
      this.#adopt(Session.fromRecord(record), record.connected && record.owner !== this.deps.gatewayId);
    }
    this.#unwatch = this.#sessionTable.onChange((change) => this.#onSessionChange(change));
    this.#consumer = createEgressConsumer({
      log,
      logger: this.deps.logger,
      groupId: `kiot-gateway-${this.deps.gatewayId}`,
      topics: [TOPICS.ingress, TOPICS.egress],
      skipOrigin: this.deps.gatewayId,
      deliver: (envelope) => this.deliver(envelope, undefined),
      commitIntervalMs: EGRESS_COMMIT_INTERVAL_MS,
    });
    await this.#consumer.start();
  }

  /** Writes every persistent session's state and leaves the consumer group. Connections are closed by the caller first. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unwatch?.();
    await this.#snapshots;
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
    await this.deliver(envelope, envelope.clientId);
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
   *
   * Returns a promise that resolves once the message is durable in every offline persistent
   * session it was queued for (their records rewritten in `iot.sessions`), and rejects if a
   * record could not be written. Whoever acknowledges the message (PUBACK, a consumer commit)
   * waits for it first, so that an acknowledged message survives a crash. Delivery itself
   * (sending to connected clients) has happened when it returns.
   */
  deliver(envelope: Envelope, publisherClientId: string | undefined): Promise<void> {
    const matches = this.index.match(envelope.topic);
    if (matches.length === 0) return DURABLE;
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
    let durable = DURABLE;
    for (const [clientId, d] of perClient) {
      const session = this.sessions.get(clientId);
      if (!session) continue;
      const qos = (envelope.qos < d.qos ? envelope.qos : d.qos) as 0 | 1 | 2;
      // Every session queued for in this call joins the same snapshot batch.
      durable = this.deliverTo(session, outMessageFrom(envelope, qos, d.rap ? envelope.retain : false, d.ids)) ?? durable;
    }
    return durable;
  }

  /**
   * Sends to the attached connection, or queues for an offline persistent session; in that case
   * returns the promise of the snapshot that makes the queued message durable.
   */
  deliverTo(session: Session, message: OutMessage): Promise<void> | undefined {
    if (session.connection) {
      session.connection.deliver(message);
      return undefined;
    }
    if (message.qos === 0) return undefined; // MQTT allows queueing QoS 0 for offline sessions; AWS does not, nor do we
    this.enqueue(session, message);
    return this.snapshot(session);
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
   * The authenticated (non-anonymous) principal that owns a client id right now, if any: the
   * principal of a live connection, of an offline persistent session this gateway holds, or of
   * a stored session that is connected elsewhere or not yet expired. An anonymous client may not
   * connect with such a client id (one identity per client id).
   */
  authenticatedOwner(clientId: string): { principal: string; connected: boolean } | undefined {
    const live = this.sessions.get(clientId);
    if (live && !isAnonymous(live.principal)) return { principal: live.principal, connected: live.connection !== undefined };
    const stored = this.#sessionTable?.get(clientId);
    if (!stored || isAnonymous(stored.principal)) return undefined;
    if (stored.connected) return { principal: stored.principal!, connected: true };
    if (stored.persistent && !Session.expired(stored, Date.now())) return { principal: stored.principal!, connected: false };
    return undefined;
  }

  /**
   * Finds or creates the session for a connecting client. `cleanStart` discards any earlier
   * one. Returns whether a session was resumed (CONNACK session present). A session is resumed
   * only by a client on the same side of the anonymous/authenticated line as its owner: an
   * authenticated client never inherits what an anonymous one left under its client id (and the
   * reverse is refused before this is called, see `authenticatedOwner`).
   */
  openSession(clientId: string, cleanStart: boolean, principal: string): { session: Session; present: boolean } {
    let session = this.sessions.get(clientId);
    const stored = this.#sessionTable?.get(clientId);
    const sameSide = (owner: string | undefined) => isAnonymous(owner) === isAnonymous(principal);
    if (session && !sameSide(session.principal)) cleanStart = true;
    if (!session && stored && !sameSide(stored.principal)) cleanStart = true;
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
    session.principal = principal;
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

  /**
   * Rewrites the session's record with the next snapshot batch (written after this event-loop
   * turn, or after the batch in flight); resolves once it is durable. A group commit: however
   * many messages and sessions change in one turn, each session is written once.
   */
  snapshot(session: Session): Promise<void> {
    if (!session.persistent) return DURABLE;
    this.#dirty.add(session);
    if (!this.#nextSnapshot) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => undefined); // each waiter handles the failure; none may be left unhandled
      const batch: SnapshotBatch = { promise, resolve, reject };
      this.#nextSnapshot = batch;
      setImmediate(() => {
        this.#snapshots = this.#snapshots.then(() => this.#writeSnapshot(batch));
      });
    }
    return this.#nextSnapshot.promise;
  }

  async #writeSnapshot(batch: SnapshotBatch): Promise<void> {
    if (this.#nextSnapshot === batch) this.#nextSnapshot = undefined;
    const sessions = [...this.#dirty].filter((s) => this.sessions.get(s.clientId) === s && s.persistent);
    this.#dirty.clear();
    try {
      await Promise.all(sessions.map((s) => this.#writeSession(s, s.connection !== undefined)));
      batch.resolve();
    } catch (err) {
      this.logger.warn({ err, sessions: sessions.length }, 'offline session queues not persisted');
      batch.reject(err);
    }
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
    this.#dirty.delete(session);
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
