/**
 * Which sessions want a topic. Filters without wildcards (a device's own topics, most of a
 * fleet's subscriptions) are a map by filter: one lookup per topic, however many things there
 * are. Filters with `+` or `#` are a trie over filter levels, so that matching one topic costs
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
  /** Children by exact level. The wildcard levels are fields of their own, so that a walk asks the map once per level, not three times. */
  readonly children: Map<string, Node>;
  plus: Node | undefined;
  hash: Node | undefined;
  /** By clientId + group (a client may hold a filter once per group, and once unshared). */
  readonly subs: Map<string, IndexedSubscription>;
}

/** The subscriptions of one filter without wildcards, and the list `match` answers with (made at the first match after a change). */
interface Exact {
  readonly subs: Map<string, IndexedSubscription>;
  list: readonly IndexedSubscription[] | undefined;
}

const newNode = (): Node => ({ children: new Map(), plus: undefined, hash: undefined, subs: new Map() });
const entryKey = (clientId: string, group: string | undefined) => (group === undefined ? clientId : `${clientId}\u0000${group}`);

/** The child of `node` at `level` (a wildcard's own field for `+` and `#`). */
function childAt(node: Node, level: string): Node | undefined {
  return level === '+' ? node.plus : level === '#' ? node.hash : node.children.get(level);
}

function setChild(node: Node, level: string, child: Node | undefined): void {
  if (level === '+') node.plus = child;
  else if (level === '#') node.hash = child;
  else if (child) node.children.set(level, child);
  else node.children.delete(level);
}

/** The answer for a topic nobody here subscribes to (most records, with several gateways). */
const NONE: readonly IndexedSubscription[] = Object.freeze([]);

const hasWildcard = (filter: string): boolean => filter.includes('+') || filter.includes('#');

const isEmpty = (node: Node): boolean => node.subs.size === 0 && node.children.size === 0 && !node.plus && !node.hash;

/**
 * Pushes onto `out` the subscriptions under `node` that match `levels` from `depth` on. A
 * function of its own rather than a closure in the walk: a topic the cache does not hold (a
 * fleet's per-thing topics, more than it keeps) is walked once per record.
 */
function collect(node: Node, levels: readonly string[], depth: number, dollar: boolean, out: IndexedSubscription[]): void {
  const wild = !(dollar && depth === 0);
  if (node.hash && wild) for (const s of node.hash.subs.values()) out.push(s);
  if (depth === levels.length) {
    for (const s of node.subs.values()) out.push(s);
    return;
  }
  const exact = node.children.get(levels[depth]!);
  if (exact) collect(exact, levels, depth + 1, dollar, out);
  if (node.plus && wild) collect(node.plus, levels, depth + 1, dollar, out);
}

/** A topic's or filter's last level: what {@link SubscriptionIndex}'s exact filters are counted by. */
function lastLevel(name: string): string {
  const cut = name.lastIndexOf('/');
  return cut < 0 ? name : name.slice(cut + 1);
}

export class SubscriptionIndex {
  readonly #exact = new Map<string, Exact>();
  /**
   * The exact filters by their last level (`accepted`, `echo`): a few entries whatever the fleet.
   * A topic whose last level no exact filter has (a shadow's `/update/documents` when devices
   * hold `/update/accepted`) is answered from this small map, not from the one of every filter,
   * whose lookup misses the CPU's caches once it holds a fleet's per-thing filters.
   */
  readonly #exactLast = new Map<string, number>();
  readonly #root = newNode();
  /** Subscriptions in the trie: while there are none, a match is one map lookup. */
  #wildcards = 0;
  #size = 0;
  /** What the trie answered for topics matched lately (walked once per topic); emptied by every change to it. */
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
    const wild = hasWildcard(sub.filter);
    const subs = wild ? this.#trieNode(sub.filter).subs : this.#exactEntry(sub.filter).subs;
    const key = entryKey(sub.clientId, sub.group);
    const existed = subs.has(key);
    subs.set(key, sub);
    if (wild) this.#matched.clear();
    this.#lastTopic = undefined;
    if (!existed) {
      this.#size++;
      if (wild) this.#wildcards++;
    }
    return existed;
  }

  /** The trie's node for a filter with wildcards, made on the way if missing. */
  #trieNode(filter: string): Node {
    let node = this.#root;
    for (const level of filter.split('/')) {
      let next = childAt(node, level);
      if (!next) setChild(node, level, (next = newNode()));
      node = next;
    }
    return node;
  }

  /** The entry of a filter without wildcards, made if missing; its list is made again at the next match. */
  #exactEntry(filter: string): Exact {
    let exact = this.#exact.get(filter);
    if (!exact) {
      this.#exact.set(filter, (exact = { subs: new Map(), list: undefined }));
      const last = lastLevel(filter);
      this.#exactLast.set(last, (this.#exactLast.get(last) ?? 0) + 1);
    }
    exact.list = undefined;
    return exact;
  }

  /** Removes a subscription; returns whether it existed. */
  remove(clientId: string, filter: string, group?: string): boolean {
    const key = entryKey(clientId, group);
    if (!hasWildcard(filter)) {
      const exact = this.#exact.get(filter);
      if (!exact?.subs.delete(key)) return false;
      if (exact.subs.size === 0) {
        this.#exact.delete(filter);
        const last = lastLevel(filter);
        const left = this.#exactLast.get(last)! - 1;
        if (left === 0) this.#exactLast.delete(last);
        else this.#exactLast.set(last, left);
      }
      exact.list = undefined;
      this.#size--;
      this.#lastTopic = undefined;
      return true;
    }
    const path: [Node, string][] = [];
    let node = this.#root;
    for (const level of filter.split('/')) {
      const next = childAt(node, level);
      if (!next) return false;
      path.push([node, level]);
      node = next;
    }
    if (!node.subs.delete(key)) return false;
    this.#size--;
    this.#wildcards--;
    this.#matched.clear();
    this.#lastTopic = undefined;
    // Prune empty branches so that churn in filters does not grow the trie for good.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i]!;
      if (!isEmpty(childAt(parent, level)!)) break;
      setChild(parent, level, undefined);
    }
    return true;
  }

  /** Every subscription whose filter matches the topic name (the caller must not change the array). */
  match(topic: string): readonly IndexedSubscription[] {
    if (topic === this.#lastTopic) return this.#lastMatch;
    const exact = this.#exactMatch(topic);
    let match = exact;
    if (this.#wildcards > 0) {
      const wild = this.#matched.get(topic, this.#walk);
      if (exact.length === 0) match = wild;
      else if (wild.length > 0) match = [...exact, ...wild];
    }
    this.#lastTopic = topic;
    this.#lastMatch = match;
    return match;
  }

  #exactMatch(topic: string): readonly IndexedSubscription[] {
    if (!this.#exactLast.has(lastLevel(topic))) return NONE;
    const exact = this.#exact.get(topic);
    if (!exact) return NONE;
    return (exact.list ??= [...exact.subs.values()]);
  }

  readonly #walk = (topic: string): readonly IndexedSubscription[] => {
    const out: IndexedSubscription[] = [];
    collect(this.#root, topic.split('/'), 0, topic.startsWith('$'), out);
    return out.length === 0 ? NONE : out;
  };
}
