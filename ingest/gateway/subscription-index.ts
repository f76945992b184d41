/**
 * Which sessions want a topic: a trie over filter levels, so that matching one topic costs
 * the topic's depth rather than the number of subscriptions. `$`-topics are not matched by
 * filters whose first level is a wildcard (MQTT 5 §4.7.2).
 */

import { RecentTopics } from '../../core/topic-filter.js';

/** One subscription as the index stores it. */
export interface IndexedSubscription {
  readonly clientId: string;
  /** The filter without a `$share/<group>/` prefix. */
  readonly filter: string;
  /** Shared-subscription group, when the client subscribed with `$share/<group>/...`. */
  readonly group?: string;
  readonly qos: 0 | 1 | 2;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;
  readonly subscriptionId?: number;
}

interface Node {
  children: Map<string, Node>;
  /** By clientId + group (a client may hold a filter once per group, and once unshared). */
  subs: Map<string, IndexedSubscription>;
}

const newNode = (): Node => ({ children: new Map(), subs: new Map() });
const entryKey = (clientId: string, group: string | undefined) => (group === undefined ? clientId : `${clientId}\u0000${group}`);

export class SubscriptionIndex {
  readonly #root = newNode();
  #size = 0;
  /** The subscriptions of topics matched lately (the trie is walked once per topic); emptied by every change to them. */
  readonly #matched = new RecentTopics<readonly IndexedSubscription[]>();
  /**
   * The last topic matched and its answer: the delivery consumer asks about a record's topic
   * before decoding it and again to deliver it, and with more topics than the cache holds (a
   * fleet's per-thing topics) the second ask would walk the trie again.
   */
  #lastTopic: string | undefined;
  #lastMatch: readonly IndexedSubscription[] = [];

  get size(): number {
    return this.#size;
  }

  /** Adds or replaces a client's subscription; returns whether it already existed. */
  add(sub: IndexedSubscription): boolean {
    let node = this.#root;
    for (const level of sub.filter.split('/')) {
      let next = node.children.get(level);
      if (!next) node.children.set(level, (next = newNode()));
      node = next;
    }
    const key = entryKey(sub.clientId, sub.group);
    const existed = node.subs.has(key);
    node.subs.set(key, sub);
    this.#matched.clear();
    this.#lastTopic = undefined;
    if (!existed) this.#size++;
    return existed;
  }

  /** Removes a subscription; returns whether it existed. */
  remove(clientId: string, filter: string, group?: string): boolean {
    const path: [Node, string][] = [];
    let node = this.#root;
    for (const level of filter.split('/')) {
      const next = node.children.get(level);
      if (!next) return false;
      path.push([node, level]);
      node = next;
    }
    if (!node.subs.delete(entryKey(clientId, group))) return false;
    this.#size--;
    this.#matched.clear();
    this.#lastTopic = undefined;
    // Prune empty branches so that churn in filters does not grow the trie for good.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i]!;
      const child = parent.children.get(level)!;
      if (child.subs.size > 0 || child.children.size > 0) break;
      parent.children.delete(level);
    }
    return true;
  }

  /** Every subscription whose filter matches the topic name (the caller must not change the array). */
  match(topic: string): readonly IndexedSubscription[] {
    if (topic === this.#lastTopic) return this.#lastMatch;
    const match = this.#matched.get(topic, this.#walk);
    this.#lastTopic = topic;
    this.#lastMatch = match;
    return match;
  }

  readonly #walk = (topic: string): IndexedSubscription[] => {
    const out: IndexedSubscription[] = [];
    const levels = topic.split('/');
    const dollar = topic.startsWith('$');
    const walk = (node: Node, depth: number) => {
      const hash = node.children.get('#');
      if (hash && !(dollar && depth === 0)) for (const s of hash.subs.values()) out.push(s);
      if (depth === levels.length) {
        for (const s of node.subs.values()) out.push(s);
        return;
      }
      const exact = node.children.get(levels[depth]!);
      if (exact) walk(exact, depth + 1);
      const plus = node.children.get('+');
      if (plus && !(dollar && depth === 0)) walk(plus, depth + 1);
    };
    walk(this.#root, 0);
    return out;
  };
}
