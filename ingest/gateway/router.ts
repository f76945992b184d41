/**
 * Routes a message to the sessions that subscribed to its topic: matching through the
 * subscription index, one copy per session with its merged subscription options, one member
 * of each shared-subscription group, and retained messages for a new subscription. Sessions
 * themselves (queues, durability) are the session store's.
 */
import type { Envelope } from '../../core/index.js';
import type { GatewayClock } from '../clock.js';
import type { RetainedStore } from '../retained-store.js';
import { outMessageFrom, type OutMessage } from './message.js';
import type { Session } from './session.js';
import { DURABLE, type SessionStore } from './session-store.js';
import type { IndexedSubscription, SubscriptionIndex } from './subscription-index.js';

export interface RouterDeps {
  readonly index: SubscriptionIndex;
  readonly sessions: SessionStore;
  readonly retained: RetainedStore;
  readonly clock: GatewayClock;
}

/**
 * Fleet provisioning's topics reach only the connection that asked (AWS IoT: "Fleet Provisioning
 * returns the device provisioning MQTT API results through the same MQTT connection used to
 * publish the API request"): their replies carry private keys and ownership tokens, and every
 * device of a fleet shares one claim certificate and so one policy. The provisioning service
 * sets the requester's client id on each reply (provisioning/service.ts); a request itself
 * reaches no other client either.
 */
const PER_CONNECTION = /^\$aws\/(certificates\/create(-from-csr)?\/|provisioning-templates\/[^/]+\/provision\/)/;
export const isPerConnectionTopic = (topic: string): boolean => topic.startsWith('$aws/') && PER_CONNECTION.test(topic);

export class Router {
  readonly #deps: RouterDeps;
  /** Per shared group and filter, the round-robin position. */
  readonly #shareCursor = new Map<string, number>();

  constructor(deps: RouterDeps) {
    this.#deps = deps;
  }

  /**
   * Hands a message to every session with a matching subscription: once per session, with the
   * highest granted QoS and every matching subscription id (MQTT 5 §3.3.4); one member of each
   * shared-subscription group, round robin, preferring connected members (MQTT 5 §4.8.2).
   *
   * Returns a promise that resolves once the message is durable in every offline persistent
   * session it was queued for (their records rewritten in `iot.sessions`), and rejects if a
   * record could not be written. Whoever acknowledges the message (PUBACK, a consumer commit)
   * waits for it first, so that an acknowledged message survives a crash. Delivery itself
   * (sending to connected clients) has happened when it returns.
   */
  deliver(envelope: Envelope, publisherClientId: string | undefined): Promise<void> {
    let matches = this.#deps.index.match(envelope.topic);
    if (matches.length === 0) return DURABLE;
    if (isPerConnectionTopic(envelope.topic)) matches = matches.filter((s) => s.clientId === envelope.clientId);
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
      if (s.noLocal && s.clientId === publisherClientId) continue; // MQTT 5 §3.8.3.1 No Local
      add(s);
    }
    if (shared) {
      for (const [key, members] of shared) {
        const connected = members.filter((m) => this.#deps.sessions.isConnected(m.clientId));
        const pool = connected.length > 0 ? connected : members;
        const cursor = this.#shareCursor.get(key) ?? 0;
        this.#shareCursor.set(key, cursor + 1);
        add(pool[cursor % pool.length]!);
      }
    }
    let durable = DURABLE;
    for (const [clientId, d] of perClient) {
      const session = this.#deps.sessions.get(clientId);
      if (!session) continue;
      const qos = (envelope.qos < d.qos ? envelope.qos : d.qos) as 0 | 1 | 2;
      // MQTT 5 §3.3.1.3: the retain flag goes out only under Retain As Published.
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
    this.#deps.sessions.enqueue(session, message);
    return this.#deps.sessions.snapshot(session);
  }

  /** Retained messages matching a filter, not expired, for delivery on subscribe (MQTT 5 §3.3.1.3). */
  retainedFor(filter: string): Envelope[] {
    // A retained message on a per-connection topic would reach other connections: never delivered.
    return this.#deps.retained.matching(filter, this.#deps.clock.now()).filter((e) => !isPerConnectionTopic(e.topic));
  }
}
