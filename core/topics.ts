import type { TopicSpec } from './log/log.js';

/**
 * The catalogue of kiot's own topics (DESIGN.md, "One picture"): every topic a kiot service
 * ensures is specified here once, by name, partitions, compaction and retention, and callers
 * take the spec with {@link topicSpec} instead of writing their own.
 *
 * Partition counts follow the librdkafka mock's auto-create default (4) unless a topic needs
 * one writer for all its keys (1). On a real cluster, topics that already exist keep their own
 * counts; the log reads the live count, never this one.
 *
 * To add a topic: add its name to {@link TOPICS} and its spec to {@link TOPIC_SPECS} (the
 * compiler asks for both). Topics that are not kiot's (a kafka action's target, a test's own)
 * stay outside; {@link topicSpec} gives them the log's defaults.
 */
export const TOPICS = {
  /** Device messages in (gateway, bridge, HTTP publish) -> rules. */
  ingress: 'iot.ingress',
  /** Messages out to devices (republish, shadow, jobs, lifecycle events) -> gateway. */
  egress: 'iot.egress',
  /** Rule definitions from the API, so every rules worker runs the same set. */
  rules: 'iot.rules',
  shadows: 'iot.shadows',
  /** Every version of every shadow, not compacted: `kiot shadow history` (shadow/history.ts). */
  shadowHistory: 'iot.shadows.history',
  registry: 'iot.registry',
  jobs: 'iot.jobs',
  /** Provisioning templates and bulk registration tasks (provisioning/). */
  provisioning: 'iot.provisioning',
  /** Failed actions with no error action of their own. */
  deadLetter: 'iot.dead-letter',
  /** Persistent MQTT sessions by client id (the gateway's session store, ingest/). */
  sessions: 'iot.sessions',
  /** Retained MQTT messages by topic name; a tombstone clears the topic (ingest/). */
  retained: 'iot.retained',
  /** The HTTP API's SigV4 access keys by key id (api/access-keys.ts). */
  accessKeys: 'iot.access-keys',
  /** Answers to state-store commands routed to another process (core/state/router.ts). */
  stateReplies: 'iot.state.replies',
} as const;

export type TopicKey = keyof typeof TOPICS;

/** How long the state stores' request and reply records are kept: far longer than any command waits. */
const STATE_ROUTING_RETENTION_MS = 60 * 60_000;

/** How long shadow versions stay readable in `iot.shadows.history`. */
const SHADOW_HISTORY_RETENTION_MS = 7 * 24 * 60 * 60_000;

/** Every kiot topic's spec, by its key in {@link TOPICS}. */
export const TOPIC_SPECS: { readonly [K in TopicKey]: TopicSpec & { readonly name: (typeof TOPICS)[K] } } = {
  ingress: { name: TOPICS.ingress, partitions: 4 },
  egress: { name: TOPICS.egress, partitions: 4 },
  deadLetter: { name: TOPICS.deadLetter, partitions: 4 },
  // One partition: one owner runs every rule command, and every worker reads all rules anyway.
  rules: { name: TOPICS.rules, partitions: 1, compacted: true },
  shadows: { name: TOPICS.shadows, partitions: 4, compacted: true },
  // As iot.shadows, so that a shadow's history is in the partition its key hashes to.
  shadowHistory: { name: TOPICS.shadowHistory, partitions: 4, retentionMs: SHADOW_HISTORY_RETENTION_MS },
  // One partition: registry commands check across kinds (DeleteThing looks at attachments).
  registry: { name: TOPICS.registry, partitions: 1, compacted: true },
  jobs: { name: TOPICS.jobs, partitions: 4, compacted: true },
  // One partition: few keys (templates, tasks), and listing them reads one table.
  provisioning: { name: TOPICS.provisioning, partitions: 1, compacted: true },
  sessions: { name: TOPICS.sessions, partitions: 4, compacted: true },
  retained: { name: TOPICS.retained, partitions: 4, compacted: true },
  // One partition: few keys, and every API process verifies with all of them.
  accessKeys: { name: TOPICS.accessKeys, partitions: 1, compacted: true },
  stateReplies: { name: TOPICS.stateReplies, partitions: 4, retentionMs: STATE_ROUTING_RETENTION_MS },
};

/** Every topic in the catalogue; `kiot up` ensures them all before it starts a service. */
export const CORE_TOPICS: readonly TopicSpec[] = Object.values(TOPIC_SPECS);

const BY_NAME = new Map<string, TopicSpec>(CORE_TOPICS.map((spec) => [spec.name, spec]));

/**
 * The spec of a topic by name: the catalogue's for a kiot topic, else (a kafka action's target,
 * a topic a test or an option names) just the name, so the log applies its defaults.
 */
export function topicSpec(name: string): TopicSpec {
  return BY_NAME.get(name) ?? { name };
}

/**
 * The requests topic of a state store's topic (`<topic>.requests`, core/state/router.ts): as
 * many partitions as the state topic, since partition p's owner serves partition p's requests.
 */
export function requestsTopicFor(topic: TopicSpec): TopicSpec {
  return { name: `${topic.name}.requests`, partitions: topic.partitions ?? 4, retentionMs: STATE_ROUTING_RETENTION_MS };
}
