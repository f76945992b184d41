/**
 * How rules match topics: Basic Ingest (`$aws/rules/<rule>/<topic>`), which sends a message to
 * the named rule directly, and the FROM filter. Topic-filter matching itself lives in core
 * (`compileTopicFilter`, `TopicFilterIndex`), shared with the MQTT gateway; rules differ from
 * MQTT subscriptions in one point, chosen here.
 */
import { compileTopicFilter, type TopicMatching } from '../../core/topic-filter.js';

const BASIC_INGEST_PREFIX = '$aws/rules/';

/**
 * Rules match `#` as the AWS IoT guide says, not as MQTT does: a FROM filter `sensor/#` does
 * not match the parent topic `sensor` (MQTT topics page: "sensor/#" matches `sensor/`,
 * `sensor/temperature`, ... but not `sensor`; FROM clause page: `#` matches "one or more"
 * path elements). MQTT subscriptions in the gateway keep MQTT 3.1.1 §4.7.1.2, where `sensor/#`
 * does match `sensor`. README.md lists this among the differences.
 */
export const RULE_TOPIC_MATCHING: TopicMatching = Object.freeze({ hashMatchesParent: false });

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

/**
 * The predicate "a message on this topic triggers the rule": Basic Ingest to `ruleName`, or a
 * topic that the FROM filter matches under {@link RULE_TOPIC_MATCHING}. A statement without
 * FROM is triggered by Basic Ingest only (iot-sql-reference: FROM is "Optional for rules that
 * are only activated using the Basic Ingest feature"). Allocates nothing for a topic that
 * does not start with `$`.
 */
export function ruleTopicMatcher(topicFilter: string | undefined, ruleName: string | undefined): (topic: string) => boolean {
  const filter = topicFilter === undefined ? () => false : compileTopicFilter(topicFilter, RULE_TOPIC_MATCHING);
  return (topic) => {
    if (topic.charCodeAt(0) === 36 /* $ */) {
      const ingest = splitBasicIngest(topic);
      if (ingest) return ruleName !== undefined && ingest.ruleName === ruleName;
    }
    return filter(topic);
  };
}

/** True when a rule with FROM `filter` is triggered by a message on `topic` (no Basic Ingest). */
export function ruleTopicMatches(filter: string, topic: string): boolean {
  return compileTopicFilter(filter, RULE_TOPIC_MATCHING)(topic);
}
