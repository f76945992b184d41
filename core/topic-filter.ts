/**
 * MQTT topic filters (`+` one level, `#` the rest) and an index over many of them, so that a
 * message is tested only against the rules whose FROM can match it.
 *
 * Rules (MQTT 3.1.1 §4.7, which AWS IoT follows):
 * - `#` must be the last level and alone in it; it also matches the parent (`a/#` matches `a`);
 * - `+` must be alone in its level;
 * - a filter that starts with a wildcard does not match topics that start with `$`
 *   (reserved topics such as `$aws/things/...` need a filter that names `$aws`).
 * The gateway, the bridge and the rules engine all match with these, so they agree.
 *
 * One choice differs between MQTT subscriptions and rules, so it is an explicit option
 * ({@link TopicMatching}) rather than a second implementation: whether `a/#` matches the parent
 * topic `a`. MQTT 3.1.1 §4.7.1.2 says it does, and the exports without options keep that. The
 * AWS IoT guide's MQTT topics page says a rule's `sensor/#` does not match `sensor` (its FROM
 * clause page: `#` matches "one or more" path elements); the rules engine passes
 * `{ hashMatchesParent: false }` (rules/sql, `RULE_TOPIC_MATCHING`).
 */

/** How `#` treats its parent level; see the module comment. */
export interface TopicMatching {
  /** True (MQTT, the default): `a/#` matches `a`. False (AWS IoT rules): it does not. */
  readonly hashMatchesParent: boolean;
}

/** MQTT 3.1.1 §4.7.1.2: `#` also matches the parent level. What the exports do by default. */
export const MQTT_TOPIC_MATCHING: TopicMatching = Object.freeze({ hashMatchesParent: true });

/** MQTT strings, topic names and filters among them, are at most 65535 bytes (MQTT 5 §1.5.4). */
export const MAX_TOPIC_BYTES = 65_535;

/**
 * Returns a reason when `topic` is not a topic name a message can be published to (MQTT 5
 * §4.7.3, 3.1.1 §4.7.3: not empty, no wildcard, no U+0000, at most 65535 bytes), else undefined.
 * Every way into kiot checks names with this: the gateway's PUBLISH and will, HTTP publish, the
 * ingest writer, and the republish action's rendered topic.
 */
export function topicNameProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'a topic name cannot be empty';
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b /* + */ || c === 0x23 /* # */) return 'a topic name cannot contain a wildcard (+ or #)';
    if (c === 0) return 'a topic name cannot contain a NUL character';
  }
  if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES) return `a topic name is at most ${MAX_TOPIC_BYTES} bytes`;
  return undefined;
}

/** True when `topic` is a topic name a message can be published to ({@link topicNameProblem}). */
export function isValidTopicName(topic: string): boolean {
  return topicNameProblem(topic) === undefined;
}

/** True when `filter` is a valid topic filter ({@link topicFilterProblem}) of at most 65535 bytes. */
export function isValidTopicFilter(filter: string): boolean {
  return topicFilterProblem(filter) === undefined && Buffer.byteLength(filter) <= MAX_TOPIC_BYTES;
}

/** Returns a reason when `filter` is not a valid MQTT topic filter, else undefined. */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'a topic filter cannot be empty';
  if (filter.includes('\u0000')) return 'a topic filter cannot contain a NUL character';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return "'#' must be the whole last level of a topic filter";
    }
    if (level.includes('+') && level !== '+') return "'+' must be a whole level of a topic filter";
  }
  return undefined;
}

/** True when `topic` (no wildcards) matches `filter` under MQTT's rules. */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * `filter` (validated with {@link topicFilterProblem}) as a predicate on topics, for a caller
 * that tests one filter against many topics (a compiled rule tests its FROM on every message).
 * It gives {@link topicMatches}'s answer under `matching`, but allocates nothing per call: an
 * exact filter is one string comparison, and a wildcard filter walks the topic with indexOf.
 */
export function compileTopicFilter(filter: string, matching: TopicMatching = MQTT_TOPIC_MATCHING): (topic: string) => boolean {
  if (!filter.includes('+') && !filter.includes('#')) return (topic) => topic === filter;
  const levels = filter.split('/');
  const hashLast = levels[levels.length - 1] === '#';
  const fixed = hashLast ? levels.slice(0, -1) : levels;
  const count = fixed.length;
  const reservedGuard = filter.startsWith('+') || filter.startsWith('#');
  const parent = matching.hashMatchesParent;
  return (topic) => {
    if (reservedGuard && topic.charCodeAt(0) === 36 /* $ */) return false;
    const length = topic.length;
    // `pos` is where level i starts; length + 1 once the topic has no more levels.
    let pos = 0;
    for (let i = 0; i < count; i++) {
      if (pos > length) return false;
      const slash = topic.indexOf('/', pos);
      const stop = slash < 0 ? length : slash;
      const level = fixed[i]!;
      if (level !== '+' && (stop - pos !== level.length || !topic.startsWith(level, pos))) return false;
      pos = stop + 1;
    }
    if (hashLast) return pos <= length || parent;
    return pos === length + 1;
  };
}

interface TrieNode<T> {
  readonly children: Map<string, TrieNode<T>>;
  /** Entries whose filter ends exactly here. */
  readonly here: T[];
  /** Entries whose filter ends with `#` below this node. */
  readonly rest: T[];
}

const newNode = <T>(): TrieNode<T> => ({ children: new Map(), here: [], rest: [] });

/**
 * A trie of topic filters. `match(topic)` walks at most one path per `+` branch, so the cost
 * depends on the topic's depth and the matching filters, not on how many filters there are.
 * Entries are returned in insertion order.
 */
export class TopicFilterIndex<T> {
  readonly #root = newNode<T>();
  readonly #order = new Map<T, number>();
  readonly #hashMatchesParent: boolean;
  #next = 0;

  /** `matching` defaults to MQTT's ({@link MQTT_TOPIC_MATCHING}); rules pass their own. */
  constructor(matching: TopicMatching = MQTT_TOPIC_MATCHING) {
    this.#hashMatchesParent = matching.hashMatchesParent;
  }

  get size(): number {
    return this.#order.size;
  }

  /** Adds `value` under `filter`; throws nothing, validate filters with {@link topicFilterProblem} first. */
  add(filter: string, value: T): void {
    let node = this.#root;
    const levels = filter.split('/');
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i]!;
      if (level === '#' && i === levels.length - 1) {
        node.rest.push(value);
        this.#order.set(value, this.#next++);
        return;
      }
      let child = node.children.get(level);
      if (!child) {
        child = newNode<T>();
        node.children.set(level, child);
      }
      node = child;
    }
    node.here.push(value);
    this.#order.set(value, this.#next++);
  }

  /** Removes every entry equal to `value` under `filter`. */
  remove(filter: string, value: T): void {
    let node: TrieNode<T> | undefined = this.#root;
    const levels = filter.split('/');
    for (let i = 0; i < levels.length && node; i++) {
      const level = levels[i]!;
      if (level === '#' && i === levels.length - 1) {
        removeFrom(node.rest, value);
        this.#order.delete(value);
        return;
      }
      node = node.children.get(level);
    }
    if (node) removeFrom(node.here, value);
    this.#order.delete(value);
  }

  /** Every entry whose filter matches `topic`. */
  match(topic: string): T[] {
    const levels = topic.split('/');
    const out: T[] = [];
    const reserved = topic.startsWith('$');
    this.#walk(this.#root, levels, 0, reserved, out);
    if (out.length > 1) out.sort((a, b) => this.#order.get(a)! - this.#order.get(b)!);
    return out;
  }

  #walk(node: TrieNode<T>, levels: string[], i: number, reserved: boolean, out: T[]): void {
    const wildcardOk = !(reserved && i === 0);
    // At i === levels.length the topic ended here: `#` below this node matches only its parent.
    if (wildcardOk && (i < levels.length || this.#hashMatchesParent)) for (const v of node.rest) out.push(v);
    if (i === levels.length) {
      for (const v of node.here) out.push(v);
      return;
    }
    const exact = node.children.get(levels[i]!);
    if (exact) this.#walk(exact, levels, i + 1, reserved, out);
    if (wildcardOk) {
      const plus = node.children.get('+');
      if (plus) this.#walk(plus, levels, i + 1, reserved, out);
    }
  }
}

function removeFrom<T>(list: T[], value: T): void {
  for (let i = list.length - 1; i >= 0; i--) if (list[i] === value) list.splice(i, 1);
}

/**
 * Slots of {@link RecentTopics}' admission table (64 KB, created at the first miss): about as many
 * as a generation holds, so that a fleet whose topics fit the cache gets them admitted.
 */
const ADMISSION_SLOTS = 16_384;
/** A hash's slot is its top 14 bits (its lowest bit is always set). */
const ADMISSION_SHIFT = 32 - Math.log2(ADMISSION_SLOTS);

/** FNV-1a over the string's UTF-16 code units, never 0 (an empty slot). */
function topicHash(topic: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) h = Math.imul(h ^ topic.charCodeAt(i), 0x01000193);
  return h | 1;
}

/**
 * What a lookup answered for the topics asked about lately: fleets publish on a bounded set of
 * topics, so a per-message lookup (a filter index walk) runs once per topic rather than once per
 * message. Two generations of at most `perGeneration` topics each; a topic not asked about for a
 * whole generation falls out. `clear()` whenever what the lookup reads changes.
 *
 * A topic is cached from its second lookup on: the first only leaves its hash in a fixed table.
 * Topics that are asked about once (a client's lifecycle events, `$aws/events/presence/.../<client
 * id>`: one topic per client) would otherwise fill both generations, 10,000 idle connections
 * opening ~2.5 MB over the gateway's and the rules' caches (issue 12).
 */
export class RecentTopics<T> {
  #recent = new Map<string, T>();
  #older = new Map<string, T>();
  /** Hashes of topics looked up and not cached, by slot. */
  #seen: Int32Array | undefined;

  constructor(private readonly perGeneration = 10_000) {}

  get(topic: string, lookup: (topic: string) => T): T {
    let value = this.#recent.get(topic);
    if (value !== undefined) return value;
    value = this.#older.get(topic);
    if (value === undefined) {
      value = lookup(topic);
      if (!this.#seenBefore(topic)) return value;
    }
    if (this.#recent.size >= this.perGeneration) {
      this.#older = this.#recent;
      this.#recent = new Map();
    }
    this.#recent.set(topic, value);
    return value;
  }

  /** Whether the topic's hash was left by an earlier lookup; if not, leaves it (taking the slot of whatever was there). */
  #seenBefore(topic: string): boolean {
    const seen = (this.#seen ??= new Int32Array(ADMISSION_SLOTS));
    const hash = topicHash(topic);
    const slot = hash >>> ADMISSION_SHIFT;
    if (seen[slot] === hash) return true;
    seen[slot] = hash;
    return false;
  }

  clear(): void {
    if (this.#recent.size > 0) this.#recent = new Map();
    if (this.#older.size > 0) this.#older = new Map();
  }
}
