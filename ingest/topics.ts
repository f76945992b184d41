/**
 * MQTT topic names and filters (MQTT 5 §4.7, 3.1.1 §4.7): validation, shared-subscription
 * parsing and matching. The gateway keeps its own copy of matching rather than importing
 * rules/ (ingest may import only core and registry, DESIGN.md "Folders").
 */
import type { TopicSpec } from '../../core/index.js';

/** The gateway's own compacted topics on the log. */
export const GATEWAY_TOPICS = {
  /** Persistent MQTT sessions by client id: subscriptions, queued messages, owner gateway. */
  sessions: 'iot.sessions',
  /** Retained messages by topic name: an encoded envelope; a tombstone clears the topic. */
  retained: 'iot.retained',
} as const;

export const GATEWAY_TOPIC_SPECS: readonly TopicSpec[] = [
  { name: GATEWAY_TOPICS.sessions, partitions: 4, compacted: true },
  { name: GATEWAY_TOPICS.retained, partitions: 4, compacted: true },
];

/** MQTT strings are at most 65535 bytes (MQTT 5 §1.5.4). */
const MAX_TOPIC_BYTES = 65_535;

/** A topic name a client may publish to: not empty, no wildcards, no U+0000. */
export function isValidTopicName(topic: string): boolean {
  if (topic.length === 0 || Buffer.byteLength(topic) > MAX_TOPIC_BYTES) return false;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b /* + */ || c === 0x23 /* # */ || c === 0) return false;
  }
  return true;
}

/** A topic filter: `#` only as the whole last level, `+` only as a whole level. */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || Buffer.byteLength(filter) > MAX_TOPIC_BYTES || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return false;
    if (level.includes('+') && level !== '+') return false;
  }
  return true;
}

export interface SharedFilter {
  readonly group: string;
  readonly filter: string;
}

const SHARE_PREFIX = '$share/';

/**
 * Splits `$share/<group>/<filter>` (MQTT 5 §4.8.2). Returns `undefined` for an ordinary filter
 * and `null` for a malformed shared one (empty group, wildcard in the group, no filter).
 */
export function parseSharedFilter(filter: string): SharedFilter | undefined | null {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash < 0) return null;
  const group = filter.slice(SHARE_PREFIX.length, slash);
  const rest = filter.slice(slash + 1);
  if (group.length === 0 || group.includes('+') || group.includes('#') || !isValidTopicFilter(rest)) return null;
  return { group, filter: rest };
}

export { topicMatches } from '../../core/index.js';

const BASIC_INGEST_PREFIX = /^\$aws\/rules\/[^/]+\//i;

/**
 * The part of a topic name or filter that AWS IoT's topic quotas count: without a leading
 * `$share/<group>/` and without the Basic Ingest prefix `$aws/rules/<rule>/` ("Maximum number of
 * slashes in topic and topic filter ... excludes the first 3 forward slashes in the mandatory
 * segments for Basic Ingest topics", AWS IoT Core message broker quotas; the AWS IoT Device
 * SDK's `aws_mqtt5_topic_skip_aws_iot_core_uncounted_prefix` skips the same two prefixes).
 */
export function countedTopic(topic: string): string {
  const shared = parseSharedFilter(topic);
  const rest = shared ? shared.filter : topic;
  return rest.replace(BASIC_INGEST_PREFIX, '');
}

/** Forward slashes in the counted part of a topic name or filter. */
export function topicSlashes(topic: string): number {
  const counted = countedTopic(topic);
  let n = 0;
  for (let i = 0; i < counted.length; i++) if (counted.charCodeAt(i) === 0x2f) n++;
  return n;
}

/** Bytes (UTF-8) of the counted part of a topic name. */
export const topicBytes = (topic: string): number => Buffer.byteLength(countedTopic(topic));
