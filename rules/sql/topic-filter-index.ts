/**
 * Basic Ingest (`$aws/rules/<rule>/<topic>`): such a message goes to the named rule directly.
 * Topic-filter matching itself lives in core (`topicMatches`, `TopicFilterIndex`).
 */
const BASIC_INGEST_PREFIX = '$aws/rules/';

/**
 * Splits a Basic Ingest topic `$aws/rules/<rule>/<rest>` into the rule name and the topic the
 * rule sees (AWS: the prefix is not available to topic()). Undefined for other topics.
 */
export function splitBasicIngest(topic: string): { ruleName: string; topic: string } | undefined {
  if (!topic.startsWith(BASIC_INGEST_PREFIX)) return undefined;
  const rest = topic.slice(BASIC_INGEST_PREFIX.length);
  const slash = rest.indexOf('/');
  const ruleName = slash < 0 ? rest : rest.slice(0, slash);
  if (ruleName.length === 0) return undefined;
  return { ruleName, topic: slash < 0 ? '' : rest.slice(slash + 1) };
}
