import type { TopicSpec } from './log/log.js';

/**
 * The topics kiot's services share (DESIGN.md, "One picture"). Partition counts follow the
 * librdkafka mock's auto-create default (4); on a real cluster, topics that already exist keep
 * their own counts.
 */
export const TOPICS = {
  /** Device messages in (gateway, bridge, HTTP publish) -> rules. */
  ingress: 'iot.ingress',
  /** Messages out to devices (republish, shadow, jobs, lifecycle events) -> gateway. */
  egress: 'iot.egress',
  /** Rule definitions from the API, so every rules worker runs the same set. */
  rules: 'iot.rules',
  shadows: 'iot.shadows',
  registry: 'iot.registry',
  jobs: 'iot.jobs',
  /** Failed actions with no error action of their own. */
  deadLetter: 'iot.dead-letter',
} as const;

export const CORE_TOPICS: readonly TopicSpec[] = [
  { name: TOPICS.ingress, partitions: 4 },
  { name: TOPICS.egress, partitions: 4 },
  { name: TOPICS.deadLetter, partitions: 4 },
  { name: TOPICS.rules, partitions: 1, compacted: true },
  { name: TOPICS.shadows, partitions: 4, compacted: true },
  { name: TOPICS.registry, partitions: 1, compacted: true },
  { name: TOPICS.jobs, partitions: 4, compacted: true },
];
