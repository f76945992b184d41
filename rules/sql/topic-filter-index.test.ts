import { describe, expect, test } from 'vitest';
import { MQTT_TOPIC_MATCHING, TopicFilterIndex, topicMatches } from '../../core/index.js';
import { compileSql } from './index.js';
import { TOPIC_FILTER_CASES } from './testing/topic-filter-cases.js';
import { RULE_TOPIC_MATCHING, ruleTopicMatcher, ruleTopicMatches, splitBasicIngest } from './topic-filter-index.js';

describe('splitBasicIngest', () => {
  test('Basic Ingest topics name their rule', () => {
    expect(splitBasicIngest('$aws/rules/BuildingManager/Buildings/Building5')).toEqual({ ruleName: 'BuildingManager', topic: 'Buildings/Building5' });
    expect(splitBasicIngest('a/b')).toBeUndefined();
  });
});

describe('how rules match topics (iot-sql-from, topics)', () => {
  test.each(TOPIC_FILTER_CASES.map((c) => [c.filter, c.topic, c.matches] as const))('FROM %s, topic %s: %s', (filter, topic, expected) => {
    expect(ruleTopicMatches(filter, topic)).toBe(expected);
    const rule = compileSql(`SELECT 1 AS one FROM '${filter}'`);
    expect(rule.matches(topic)).toBe(expected);
    // evaluate() itself does not fire for a topic the rule does not match.
    expect(rule.evaluate({ topic, json: {} })).toEqual(expected ? { one: 1 } : undefined);
    expect(rule.execute({ topic, json: {} }) === undefined).toBe(!expected);
  });

  test("the rules' topic-filter index agrees with the compiled rules on every case", () => {
    const index = new TopicFilterIndex<string>(RULE_TOPIC_MATCHING);
    const filters = [...new Set(TOPIC_FILTER_CASES.map((c) => c.filter))];
    for (const f of filters) index.add(f, f);
    for (const c of TOPIC_FILTER_CASES) expect(index.match(c.topic).includes(c.filter), `${c.filter} / ${c.topic}`).toBe(c.matches);
  });

  test('MQTT subscriptions differ only where the topic is the parent of a # filter', () => {
    for (const c of TOPIC_FILTER_CASES) {
      const parentOfHash = c.filter.endsWith('/#') && topicMatches(c.filter.slice(0, -2), c.topic);
      expect(topicMatches(c.filter, c.topic), `${c.filter} / ${c.topic}`).toBe(c.matches || parentOfHash);
    }
    expect(MQTT_TOPIC_MATCHING.hashMatchesParent).toBe(true);
    expect(RULE_TOPIC_MATCHING.hashMatchesParent).toBe(false);
  });

  test('Basic Ingest reaches the named rule whatever its FROM, and a rule without FROM only that way', () => {
    const matches = ruleTopicMatcher('a/b', 'r1');
    expect(matches('$aws/rules/r1/x/y')).toBe(true);
    expect(matches('$aws/rules/r2/a/b')).toBe(false);
    const noFrom = compileSql('SELECT 1 AS one', { ruleName: 'r1' });
    expect(noFrom.matches('a/b')).toBe(false);
    expect(noFrom.evaluate({ topic: 'a/b', json: {} })).toBeUndefined();
    expect(noFrom.evaluate({ topic: '$aws/rules/r1/a/b', json: {} })).toEqual({ one: 1 });
    expect(compileSql('SELECT 1 AS one').evaluate({ topic: '$aws/rules/r1/a/b', json: {} })).toBeUndefined();
  });
});

describe('evaluateMatched: for callers that routed the message already (the rules worker)', () => {
  test('answers as evaluate for a matching topic, and does not test the topic', () => {
    const rule = compileSql("SELECT v, topic(2) AS t FROM 'sensor/+' WHERE v > 1");
    const input = { topic: 'sensor/a', json: { v: 2 } };
    expect(rule.evaluateMatched(input)).toEqual(rule.evaluate(input));
    expect(rule.evaluateMatched({ ...input, json: { v: 0 } })).toBeUndefined();
    expect(rule.evaluate({ ...input, topic: 'other/a' })).toBeUndefined();
    expect(rule.evaluateMatched({ ...input, topic: 'other/a' })).toEqual({ v: 2, t: 'a' });
    expect(rule.executeMatched({ ...input, topic: 'other/a' })).toMatchObject({ output: { v: 2, t: 'a' } });
  });
});
