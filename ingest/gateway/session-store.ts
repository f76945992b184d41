/**
 * The gateway's sessions (MQTT 5 §4.1): the live ones in memory, each persistent one in the
 * state store over `iot.sessions` (key = client id). Every gateway follows the whole table, so a
 * client may reconnect to any gateway and find its session; the gateway that holds a client's
 * connection is the one writer of its record (one connection per client id, MQTT §3.1.4), so
 * records are written with `StateStore.write`, last writer wins, without commands.
 *
 * Durability rule (issue 9): a message queued for an offline persistent session is acknowledged
 * to its publisher only once the session's record holding it is durable (`snapshot`).
 */
import { randomUUID } from 'node:crypto';
import { StateStore, TOPICS, topicSpec, type Log, type Logger, type StateChange, type StateWrite } from '../../core/index.js';
import { isAnonymous } from '../auth.js';
import type { GatewayClock } from '../clock.js';
import { parseSharedFilter } from '../topics.js';
import type { GatewayLimits } from './limits.js';
import type { OutMessage } from './message.js';
import { NEVER_EXPIRES, Session, type SubscriptionOptions } from './session.js';
import { sessionRecordCodec, type SessionRecord } from './session-record.js';
import type { IndexedSubscription, SubscriptionIndex } from './subscription-index.js';

/** A promise that is already settled: nothing had to be made durable. */
export const DURABLE: Promise<void> = Promise.resolve();

export interface SessionStoreDeps {
  readonly log: Log;
  readonly logger: Logger;
  readonly gatewayId: string;
  readonly limits: GatewayLimits;
  readonly clock: GatewayClock;
  /** The gateway's subscription index; the store keeps its sessions' subscriptions in it. */
  readonly index: SubscriptionIndex;
}

interface SnapshotBatch {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #deps: SessionStoreDeps;
  readonly #logger: Logger;
  readonly #table: StateStore<SessionRecord>;
  readonly #unwatch: () => void;
  /**
   * Offline sessions whose queue changed and whose record must be rewritten before the messages
   * are acknowledged to their publisher (see `snapshot`). All of them are written together, once
   * per event-loop turn; one batch is written at a time, and changes made meanwhile join the next.
   */
  readonly #dirty = new Set<Session>();
  #nextSnapshot: SnapshotBatch | undefined;
  #snapshots: Promise<void> = Promise.resolve();
  /** Records of ended sessions being written: stop() lets them land before it closes the table. */
  readonly #endings = new Set<Promise<void>>();
  #stopped = false;

  private constructor(deps: SessionStoreDeps, table: StateStore<SessionRecord>) {
    this.#deps = deps;
    this.#logger = deps.logger;
    this.#table = table;
    const now = deps.clock.now();
    for (const [clientId, record] of table.entries()) {
      if (!record.persistent) continue;
      if (Session.expired(record, now)) {
        table.write([{ key: clientId, value: null }]).catch((err) => this.#logger.warn({ err, clientId }, 'could not delete an expired session'));
        continue;
      }
      // A session another live gateway holds is adopted too: this gateway queues for it while
      // it is offline, and drops it when its owner announces a connection. One that this
      // gateway id held when it stopped (or was killed) is offline now.
      this.#adopt(Session.fromRecord(record), record.connected && record.owner !== deps.gatewayId);
    }
    this.#unwatch = table.onChange((change) => this.#onChange(change));
  }

  /** Ensures `iot.sessions`, loads it, and adopts the persistent sessions that have not expired. */
  static async open(deps: SessionStoreDeps): Promise<SessionStore> {
    const table = await StateStore.open({ log: deps.log, logger: deps.logger, topic: topicSpec(TOPICS.sessions), codec: sessionRecordCodec, clock: () => deps.clock.now() });
    return new SessionStore(deps, table);
  }

  /** Writes every persistent session's state and stops following the table. Connections are closed first. Safe twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unwatch();
    await this.#snapshots;
    // Connections the gateway just closed (or that went at shutdown) wrote their end; without
    // this wait the table closed under them and each logged a warning (10,000 at a restart).
    await Promise.all(this.#endings);
    const writes: StateWrite<SessionRecord>[] = [];
    for (const session of this.#sessions.values()) {
      session.expiryTimer?.cancel();
      session.willTimer?.cancel();
      if (session.persistent) writes.push(this.#record(session, false));
    }
    await this.#table.write(writes).catch((err) => this.#logger.warn({ err }, 'sessions not persisted on stop'));
    await this.#table.close();
  }

  /** The live (or adopted offline) session of a client id. */
  get(clientId: string): Session | undefined {
    return this.#sessions.get(clientId);
  }

  /** Whether a client id has a connection on this gateway now. */
  isConnected(clientId: string): boolean {
    return this.#sessions.get(clientId)?.connection !== undefined;
  }

  /**
   * The authenticated (non-anonymous) principal that owns a client id right now, if any: the
   * principal of a live connection, of an offline persistent session this gateway holds, or of
   * a stored session that is connected elsewhere or not yet expired. An anonymous client may not
   * connect with such a client id (one identity per client id).
   */
  authenticatedOwner(clientId: string): { principal: string; connected: boolean } | undefined {
    const live = this.#sessions.get(clientId);
    if (live && !isAnonymous(live.principal)) return { principal: live.principal, connected: live.connection !== undefined };
    const stored = this.#resumable(clientId);
    if (!stored || isAnonymous(stored.principal)) return undefined;
    if (stored.connected) return { principal: stored.principal!, connected: true };
    if (stored.persistent && !Session.expired(stored, this.#deps.clock.now())) return { principal: stored.principal!, connected: false };
    return undefined;
  }

  /**
   * Finds or creates the session for a connecting client. `cleanStart` discards any earlier
   * one. Returns whether a session was resumed (CONNACK session present). A session is resumed
   * only by a client on the same side of the anonymous/authenticated line as its owner: an
   * authenticated client never inherits what an anonymous one left under its client id (and the
   * reverse is refused before this is called, see `authenticatedOwner`).
   */
  open(clientId: string, cleanStart: boolean, principal: string): { session: Session; present: boolean } {
    let session = this.#sessions.get(clientId);
    const stored = this.#resumable(clientId);
    const sameSide = (owner: string | undefined) => isAnonymous(owner) === isAnonymous(principal);
    if (session && !sameSide(session.principal)) cleanStart = true;
    if (!session && stored && !sameSide(stored.principal)) cleanStart = true;
    const versionNumber = Math.max(session?.versionNumber ?? -1, this.#table.get(clientId)?.versionNumber ?? -1) + 1;
    if (session?.connection) session.connection.takeOver();
    if (session) {
      session.expiryTimer?.cancel();
      session.expiryTimer = undefined;
      this.#cancelWill(session, !cleanStart);
    }
    let present = false;
    if (cleanStart) {
      if (session) this.#discard(session);
      session = undefined;
    } else if (session) {
      present = true;
    } else if (stored && stored.persistent && !Session.expired(stored, this.#deps.clock.now())) {
      session = Session.fromRecord(stored);
      this.#adopt(session, false);
      present = true;
    }
    if (!session) {
      session = new Session(clientId);
      this.#sessions.set(clientId, session);
    }
    session.versionNumber = versionNumber;
    session.principal = principal;
    session.disconnectedAt = undefined;
    return { session, present };
  }

  /** Records a connection on the log so that other gateways drop their copy (and disconnect a duplicate). */
  announceConnected(session: Session): Promise<void> {
    return this.#table.write([this.#record(session, true)]);
  }

  /** Persists a session's subscriptions; resolves once durable (before SUBACK / UNSUBACK). */
  save(session: Session): Promise<void> {
    return this.#table.write([this.#record(session, session.connection !== undefined)]);
  }

  /** Adds (or replaces) a subscription; returns whether the filter was subscribed already. */
  addSubscription(session: Session, filter: string, options: SubscriptionOptions): boolean {
    const existed = session.subscriptions.has(filter);
    session.subscribe(filter, options);
    this.#deps.index.add(toIndexed(session.clientId, filter, options));
    return existed;
  }

  /** Removes a subscription; returns whether there was one. */
  removeSubscription(session: Session, filter: string): boolean {
    if (!session.unsubscribe(filter)) return false;
    const shared = parseSharedFilter(filter);
    this.#deps.index.remove(session.clientId, shared ? shared.filter : filter, shared?.group);
    return true;
  }

  /** Queues a message (offline, or beyond the client's receive maximum), dropping the oldest beyond the limit. */
  enqueue(session: Session, message: OutMessage): void {
    session.enqueue(message);
    if (session.queue.length > this.#deps.limits.maxQueuedMessages) {
      session.dequeue();
      this.#logger.warn({ clientId: session.clientId }, 'session queue full; dropped the oldest message');
    }
  }

  /**
   * Rewrites the session's record with the next snapshot batch (written after this event-loop
   * turn, or after the batch in flight); resolves once it is durable. A group commit: however
   * many messages and sessions change in one turn, each session is written once, and the whole
   * batch in one append.
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
    const sessions = [...this.#dirty].filter((s) => this.#sessions.get(s.clientId) === s && s.persistent);
    this.#dirty.clear();
    try {
      await this.#table.write(sessions.map((s) => this.#record(s, s.connection !== undefined)));
      batch.resolve();
    } catch (err) {
      this.#logger.warn({ err, sessions: sessions.length }, 'offline session queues not persisted');
      batch.reject(err);
    }
  }

  /**
   * The connection is gone. Persistent sessions stay (their expiry timer starts); others end.
   * `will` publishes the last will, after its delay (MQTT 5 §3.1.3.2.2), or at session end.
   */
  close(session: Session, will: (() => void) | undefined, willDelaySec: number): void {
    session.connection = undefined;
    session.disconnectedAt = this.#deps.clock.now();
    if (will) this.scheduleWill(session, will, willDelaySec);
    if (!session.persistent) {
      this.#discard(session);
      this.#writeEnded(session);
      return;
    }
    // In-flight messages are sent again, with DUP, on the next connection (MQTT 5 §4.4).
    this.#table.write([this.#record(session, false)]).catch(() => undefined);
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
    session.willTimer = this.#deps.clock.after(delaySec * 1000, () => this.#cancelWill(session, false));
  }

  /** A fresh id for a session identifier in lifecycle events. */
  static sessionIdentifier(): string {
    return randomUUID().replace(/-/g, '');
  }

  #startExpiry(session: Session): void {
    if (session.expiryIntervalSec === NEVER_EXPIRES || this.#stopped) return;
    const now = this.#deps.clock.now();
    const ms = Math.max(0, (session.disconnectedAt ?? now) + session.expiryIntervalSec * 1000 - now);
    session.expiryTimer = this.#deps.clock.after(ms, () => {
      if (this.#sessions.get(session.clientId) !== session || session.connection) return;
      this.#cancelWill(session, false); // the will is sent when the session ends, whichever comes first
      this.#discard(session);
      this.#writeEnded(session);
    });
  }

  /** Either sends the delayed will now (`suppress` false) or drops it because the session resumed. */
  #cancelWill(session: Session, suppress: boolean): void {
    session.willTimer?.cancel();
    session.willTimer = undefined;
    const will = session.pendingWill;
    session.pendingWill = undefined;
    if (will && !suppress) will();
  }

  #discard(session: Session): void {
    for (const filter of [...session.subscriptions.keys()]) this.removeSubscription(session, filter);
    session.expiryTimer?.cancel();
    this.#dirty.delete(session);
    if (this.#sessions.get(session.clientId) === session) this.#sessions.delete(session.clientId);
  }

  /** An ended session keeps a small record so that lifecycle version numbers keep growing. */
  #writeEnded(session: Session): void {
    if (this.#stopped) return;
    const record: SessionRecord = { ...new Session(session.clientId).toRecord(this.#deps.gatewayId, false), versionNumber: session.versionNumber, persistent: false };
    const ending = this.#table
      .write([{ key: session.clientId, value: record }])
      .then(
        () => undefined,
        (err) => this.#logger.warn({ err, clientId: session.clientId }, 'could not record the end of a session'),
      )
      .finally(() => this.#endings.delete(ending));
    this.#endings.add(ending);
  }

  /**
   * The stored record of a client id that this gateway does not hold. A record this gateway
   * wrote is only ever stale here: every live one was adopted at start, so one without a local
   * session has ended (expired or cleaned), even while the write saying so is still in flight.
   */
  #resumable(clientId: string): SessionRecord | undefined {
    const stored = this.#table.get(clientId);
    if (stored?.owner === this.#deps.gatewayId && !this.#sessions.has(clientId)) return undefined;
    return stored;
  }

  #record(session: Session, connected: boolean): StateWrite<SessionRecord> {
    return { key: session.clientId, value: session.toRecord(this.#deps.gatewayId, connected) };
  }

  #adopt(session: Session, connectedElsewhere: boolean): void {
    this.#sessions.set(session.clientId, session);
    for (const [filter, options] of session.subscriptions) this.#deps.index.add(toIndexed(session.clientId, filter, options));
    if (!connectedElsewhere) {
      session.disconnectedAt ??= this.#deps.clock.now();
      this.#startExpiry(session);
    } else {
      // Held by another gateway: it delivers. Keep nothing here until it goes offline.
      this.#discard(session);
    }
  }

  /** Another gateway wrote a session record (our own writes come back here too). */
  #onChange(change: StateChange<SessionRecord>): void {
    const record = change.value;
    if (record && record.owner === this.#deps.gatewayId) return;
    const local = this.#sessions.get(change.key);
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
    if (!local && record.persistent && !Session.expired(record, this.#deps.clock.now())) this.#adopt(Session.fromRecord(record), false);
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
