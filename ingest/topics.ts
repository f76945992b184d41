/**
 * What ingest adds to core's topic names and filters (`isValidTopicName`, `isValidTopicFilter`,
 * `topicMatches`, `TopicFilterIndex` in core/topic-filter.ts, which every way into kiot and the
 * rules engine share): shared subscriptions (MQTT 5 §4.8.2) and AWS IoT's topic quotas.
 */
import { TOPICS, isValidTopicFilter } from '../core/index.js';

/** The gateway's compacted topics on the log (specs in core's catalogue, `core/topics.ts`). */
export const GATEWAY_TOPICS = {
  /** Persistent MQTT sessions by client id: subscriptions, queued messages, owner gateway. */
  sessions: TOPICS.sessions,
  /** Retained messages by topic name: an encoded envelope; a tombstone clears the topic. */
  retained: TOPICS.retained,
} as const;

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

/** AWS IoT's topic quotas (forward slashes, bytes) as a gateway configures them. */
export interface TopicQuotas {
  readonly maxTopicSlashes: number;
  readonly maxTopicBytes: number;
}

/** Which AWS IoT topic quota a topic name breaks, if any (`countedTopic` says what counts). */
export function topicQuotaBroken(topic: string, quotas: TopicQuotas): 'topic-depth' | 'topic-length' | undefined {
  if (topicSlashes(topic) > quotas.maxTopicSlashes) return 'topic-depth';
  if (topicBytes(topic) > quotas.maxTopicBytes) return 'topic-length';
  return undefined;
}
