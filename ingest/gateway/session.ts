/**
 * One MQTT session: what outlives a network connection (MQTT 5 §4.1): subscriptions,
 * messages in flight and queued, QoS 2 packet ids received, the will waiting for its delay.
 * `session-record.ts` is how a session is stored in `iot.sessions`.
 */
import type { IConnectPacket } from 'mqtt-packet';
import { ANONYMOUS_PRINCIPAL } from '../auth.js';
import type { ClockTimer } from '../clock.js';
import { loadMessage, storeMessage, type InflightMessage, type OutMessage } from './message.js';
import type { SessionRecord } from './session-record.js';

/** Subscription options as the client sent them (MQTT 5 §3.8.3.1). */
export interface SubscriptionOptions {
  readonly qos: 0 | 1 | 2;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;
  readonly subscriptionId?: number;
}

/** What a session needs of the connection currently attached to it. */
export interface SessionConnection {
  /** Sends a message now or queues it (flow control); the session calls this only while attached. */
  deliver(message: OutMessage): void;
  /** Closes the network connection because another connection took the session over. */
  takeOver(): void;
}

export type Will = NonNullable<IConnectPacket['will']>;

/** MQTT 5: 0xFFFFFFFF means the session never expires. */
export const NEVER_EXPIRES = 0xffffffff;

/**
 * Shared by every session that has none yet. Most sessions of a large fleet sit idle: they never
 * subscribe, receive at QoS 1 or publish at QoS 2, and an empty Map or Set costs about 180 bytes.
 */
const NO_SUBSCRIPTIONS: ReadonlyMap<string, SubscriptionOptions> = new Map();
const NOTHING_IN_FLIGHT: ReadonlyMap<number, InflightMessage> = new Map();
const NO_PACKET_IDS: ReadonlySet<number> = new Set();
const NOTHING_QUEUED: readonly OutMessage[] = Object.freeze([]);

export class Session {
  #subscriptions: Map<string, SubscriptionOptions> | undefined;
  #inflight: Map<number, InflightMessage> | undefined;
  #queue: OutMessage[] | undefined;
  #incomingQos2: Set<number> | undefined;
  connection: SessionConnection | undefined;
  expiryIntervalSec = 0;
  disconnectedAt: number | undefined;
  versionNumber = 0;
  /** The principal that owns the session: the one that connected last (see `SessionRecord.principal`). */
  principal: string = ANONYMOUS_PRINCIPAL;
  expiryTimer: ClockTimer | undefined;
  willTimer: ClockTimer | undefined;
  pendingWill: (() => void) | undefined;
  #nextPacketId = 1;

  constructor(readonly clientId: string) {}

  /** Topic filter → options; change it with {@link subscribe} and {@link unsubscribe}. */
  get subscriptions(): ReadonlyMap<string, SubscriptionOptions> {
    return this.#subscriptions ?? NO_SUBSCRIPTIONS;
  }

  subscribe(filter: string, options: SubscriptionOptions): void {
    (this.#subscriptions ??= new Map()).set(filter, options);
  }

  /** Whether the filter was subscribed. */
  unsubscribe(filter: string): boolean {
    return this.#subscriptions?.delete(filter) ?? false;
  }

  /** Outbound QoS 1/2 messages by packet id; change it with {@link setInflight} and {@link deleteInflight}. */
  get inflight(): ReadonlyMap<number, InflightMessage> {
    return this.#inflight ?? NOTHING_IN_FLIGHT;
  }

  setInflight(message: InflightMessage): void {
    (this.#inflight ??= new Map()).set(message.packetId, message);
  }

  deleteInflight(packetId: number): void {
    this.#inflight?.delete(packetId);
  }

  /** Messages waiting to be sent (offline, or beyond the client's receive maximum), oldest first; change it with {@link enqueue} and {@link dequeue}. */
  get queue(): readonly OutMessage[] {
    return this.#queue ?? NOTHING_QUEUED;
  }

  enqueue(message: OutMessage): void {
    (this.#queue ??= []).push(message);
  }

  /** The oldest queued message, taken off the queue. */
  dequeue(): OutMessage | undefined {
    return this.#queue?.shift();
  }

  /** QoS 2 packet ids PUBREC'd and waiting for PUBREL: a resent PUBLISH is not stored twice. */
  get incomingQos2(): ReadonlySet<number> {
    return this.#incomingQos2 ?? NO_PACKET_IDS;
  }

  addIncomingQos2(packetId: number): void {
    (this.#incomingQos2 ??= new Set()).add(packetId);
  }

  /** Whether the packet id was waiting for its PUBREL. */
  deleteIncomingQos2(packetId: number): boolean {
    return this.#incomingQos2?.delete(packetId) ?? false;
  }

  get persistent(): boolean {
    return this.expiryIntervalSec > 0;
  }

  /** A packet id not in use by a message in flight. */
  nextPacketId(): number {
    for (let i = 0; i < 65_535; i++) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === 65_535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
    throw new Error('no free packet id');
  }

  toRecord(owner: string, connected: boolean): SessionRecord {
    return {
      v: 1,
      clientId: this.clientId,
      owner,
      connected,
      persistent: this.persistent,
      expiryIntervalSec: this.expiryIntervalSec,
      disconnectedAt: this.disconnectedAt,
      versionNumber: this.versionNumber,
      principal: this.principal,
      subscriptions: [...this.subscriptions].map(([filter, o]) => ({ filter, ...o })),
      messages: [
        ...[...this.inflight.values()].map((f) => storeMessage(f.message, f)),
        ...this.queue.filter((m) => m.qos > 0).map((m) => storeMessage(m)),
      ],
      incomingQos2: [...this.incomingQos2],
    };
  }

  static fromRecord(record: SessionRecord): Session {
    const session = new Session(record.clientId);
    session.expiryIntervalSec = record.expiryIntervalSec;
    session.disconnectedAt = record.disconnectedAt;
    session.versionNumber = record.versionNumber;
    session.principal = record.principal ?? ANONYMOUS_PRINCIPAL;
    for (const { filter, ...options } of record.subscriptions) session.subscribe(filter, options);
    for (const stored of record.messages) {
      const message = loadMessage(stored);
      if (stored.id !== undefined && stored.st !== undefined) {
        session.setInflight({ packetId: stored.id, message, state: stored.st });
      } else {
        session.enqueue(message);
      }
    }
    for (const id of record.incomingQos2) session.addIncomingQos2(id);
    return session;
  }

  /** Whether the stored session has outlived its expiry interval. */
  static expired(record: SessionRecord, now: number): boolean {
    if (record.connected || record.expiryIntervalSec === NEVER_EXPIRES) return false;
    return record.disconnectedAt === undefined || record.disconnectedAt + record.expiryIntervalSec * 1000 <= now;
  }
}
