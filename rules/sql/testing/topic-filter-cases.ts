/**
 * FROM filters against topics, as the AWS IoT developer guide says a rule matches them (pages
 * "FROM clause" and "MQTT topics"): every shape of filter the guide describes, against topics
 * that differ by suffix, depth, case, a trailing or leading slash, prefix, and `$`. Shared by
 * the compiler's tests (`compileSql().matches`/`evaluate`), the rules' topic-filter index and
 * `kiot sql eval --jsonl`, so that all of them give the same answers.
 */
export interface TopicFilterCase {
  readonly filter: string;
  readonly topic: string;
  readonly matches: boolean;
  /** Why, where the answer is not obvious. */
  readonly why?: string;
}

const cases = (filter: string, yes: readonly string[], no: readonly (string | [string, string])[]): TopicFilterCase[] => [
  ...yes.map((topic) => ({ filter, topic, matches: true })),
  ...no.map((t) => (typeof t === 'string' ? { filter, topic: t, matches: false } : { filter, topic: t[0], matches: false, why: t[1] })),
];

export const TOPIC_FILTER_CASES: readonly TopicFilterCase[] = [
  // FROM clause: "The rule is subscribed to 'topic/subtopic'" and not to 'topic/subtopic-2'.
  ...cases('topic/subtopic', ['topic/subtopic'], [
    ['topic/subtopic-2', 'another suffix'],
    ['topic/subtopic/details', 'deeper'],
    ['topic', 'shallower'],
    ['Topic/Subtopic', 'topics are case-sensitive (MQTT topics page)'],
    ['topic/subtopic/', 'a trailing slash adds an empty level'],
    ['/topic/subtopic', 'a leading slash adds an empty first level'],
    ['other/topic/subtopic', 'another prefix'],
  ]),
  // FROM clause, '#': 'topic/#' runs for topic/subtopic, topic/subtopic-2, topic/subtopic-3/details, not topic-2/subtopic-x.
  ...cases('topic/#', ['topic/subtopic', 'topic/subtopic-2', 'topic/subtopic-3/details', 'topic/'], [
    ['topic-2/subtopic-x', 'another first level'],
    ['topic', "'#' matches one or more levels, so not the parent (MQTT topics page: sensor/# does not match sensor)"],
    ['Topic/subtopic', 'case'],
    ['/topic/subtopic', 'leading slash'],
  ]),
  // FROM clause, '+': 'topic/+' runs for topic/subtopic and topic/subtopic-2 only.
  ...cases('topic/+', ['topic/subtopic', 'topic/subtopic-2', 'topic/'], [
    ['topic/subtopic-3/details', "'+' is exactly one level: too deep"],
    ['topic', 'too shallow'],
    ['topic-2/subtopic-x', 'another first level'],
    ['/topic/subtopic', 'leading slash'],
  ]),
  // MQTT topics page: sensor/+/room1 and sensor/# (the rules' reading of '#').
  ...cases('sensor/+/room1', ['sensor/temperature/room1', 'sensor/humidity/room1'], ['sensor/temperature/room2', 'sensor/room1', 'sensor/temperature/room1/x']),
  ...cases('sensor/#', ['sensor/temperature', 'sensor/temperature/room1', 'sensor/'], [['sensor', 'the parent of #'], 'sensors/temperature']),
  ...cases('+/subtopic', ['topic/subtopic', '/subtopic'], ['topic/subtopic/x', 'subtopic', ['$aws/subtopic', 'a filter starting with a wildcard does not match $ topics']]),
  ...cases('topic/+/#', ['topic/a/b', 'topic/a/b/c', 'topic//x'], [['topic/a', "the parent of '#'"], 'topic']),
  ...cases('#', ['a', 'a/b/c', '/a', 'a/'], [['$aws/things/t1/shadow/update', 'a filter starting with a wildcard does not match $ topics']]),
  ...cases('/topic', ['/topic'], ['topic', '/topic/x']),
  ...cases('$aws/things/+/shadow/update/accepted', ['$aws/things/t1/shadow/update/accepted'], ['$aws/things/t1/shadow/update', '$aws/things/t1/shadow/update/rejected']),
];
