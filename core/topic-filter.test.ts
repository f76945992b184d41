import { describe, expect, test } from 'vitest';
import { compileTopicFilter, isValidTopicFilter, isValidTopicName, MAX_TOPIC_BYTES, RecentTopics, TopicFilterIndex, topicFilterProblem, topicMatches, topicNameProblem } from './topic-filter.js';

describe('topicMatches', () => {
  test.each([
    ['a/b', 'a/b', true], ['a/+', 'a/b', true], ['a/+', 'a/b/c', false], ['a/#', 'a', true], ['a/#', 'a/b/c', true],
    ['#', 'x/y', true], ['+/+', 'a/b', true], ['+', '$aws/x', false], ['#', '$SYS/x', false], ['$aws/things/+/shadow/#', '$aws/things/t1/shadow/update', true],
    ['a/+/c', 'a//c', true], ['a/b', 'a/b/', false],
  ])('%s matches %s: %s', (filter, topic, expected) => expect(topicMatches(filter, topic)).toBe(expected));

  test('invalid filters are explained', () => {
    expect(topicFilterProblem('a/#/b')).toContain("'#'");
    expect(topicFilterProblem('a/b+')).toContain("'+'");
    expect(topicFilterProblem('')).toContain('empty');
    expect(topicFilterProblem('a/+/#')).toBeUndefined();
  });
});

describe('topic names', () => {
  test.each(['a', 'a/b', '/', 'a//b', '$aws/things/t1/shadow/update', 'é/ü', ' '])('%j is a topic name', (topic) => {
    expect(topicNameProblem(topic)).toBeUndefined();
    expect(isValidTopicName(topic)).toBe(true);
  });

  test.each([
    ['', 'empty'], ['a/+', 'wildcard'], ['a/#', 'wildcard'], ['a+b', 'wildcard'], ['a\u0000b', 'NUL'], ['x'.repeat(MAX_TOPIC_BYTES + 1), 'bytes'],
  ])('%j is not: %s', (topic, reason) => {
    expect(topicNameProblem(topic)).toContain(reason);
    expect(isValidTopicName(topic)).toBe(false);
  });

  test('the 65535-byte limit counts UTF-8 bytes, not characters', () => {
    expect(isValidTopicName('é'.repeat(32_767))).toBe(true); // 65534 bytes
    expect(isValidTopicName('é'.repeat(32_768))).toBe(false); // 65536 bytes
  });

  test('a filter is valid when topicFilterProblem finds nothing and it fits in 65535 bytes', () => {
    expect(isValidTopicFilter('a/+/#')).toBe(true);
    expect(isValidTopicFilter('a/#/b')).toBe(false);
    expect(isValidTopicFilter('x'.repeat(MAX_TOPIC_BYTES + 1))).toBe(false);
    expect(isValidTopicFilter('x'.repeat(MAX_TOPIC_BYTES))).toBe(true);
  });
});

describe('TopicFilterIndex', () => {
  test('with 5000 rules, a message reaches exactly the rules whose filter matches it', () => {
    const index = new TopicFilterIndex<number>();
    const filters: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const f = i % 5 === 0 ? `site${i % 50}/+/telemetry` : i % 5 === 1 ? `site${i % 50}/dev${i}/#` : i % 5 === 2 ? `site${i % 50}/dev${i}/telemetry` : i % 5 === 3 ? '+/+/alarm' : `other/${i}`;
      filters.push(f);
      index.add(f, i);
    }
    expect(index.size).toBe(5000);
    const topics = ['site10/dev11/telemetry', 'site3/x/alarm', 'other/4', 'nothing/here', 'site2/dev52/telemetry', '$aws/things/x'];
    for (const topic of topics) {
      const expected = filters.map((f, i) => (topicMatches(f, topic) ? i : -1)).filter((i) => i >= 0);
      expect(index.match(topic)).toEqual(expected);
    }
    index.remove('other/4', 4);
    expect(index.match('other/4')).toEqual([]);
  });
});

describe('compileTopicFilter', () => {
  const filters = ['a', 'a/b', 'a/+', '+/b', 'a/#', '#', '+', '+/+', 'a/+/c', 'a/+/#', '/a', 'a/', '+/#', '$aws/+/x', '$aws/#'];
  const topics = ['a', 'a/b', 'a/b/c', 'a/', '/a', 'a//c', 'b', '', '/', '$aws/y/x', '$aws', 'A/b', 'a/b/'];
  test('gives topicMatches its answers under MQTT matching (the default)', () => {
    for (const f of filters) {
      const match = compileTopicFilter(f);
      for (const t of topics) expect(match(t), `${f} / ${t}`).toBe(topicMatches(f, t));
    }
  });
  test('with hashMatchesParent false, differs only on the parent of a # filter', () => {
    for (const f of filters) {
      const match = compileTopicFilter(f, { hashMatchesParent: false });
      for (const t of topics) {
        // The parent of `a/+/#` is any topic that `a/+` matches.
        const parent = f.endsWith('/#') && topicMatches(f.slice(0, -2), t);
        expect(match(t), `${f} / ${t}`).toBe(topicMatches(f, t) && !parent);
      }
    }
  });
  test('the index takes the same option', () => {
    const index = new TopicFilterIndex<string>({ hashMatchesParent: false });
    for (const f of filters) index.add(f, f);
    for (const t of topics) {
      const expected = filters.filter((f) => compileTopicFilter(f, { hashMatchesParent: false })(t));
      expect(index.match(t), t).toEqual(expected);
    }
  });
});

describe('RecentTopics', () => {
  test('a topic is cached from its second lookup; topics asked about once do not fill the cache', () => {
    const lookups: string[] = [];
    const cache = new RecentTopics<string>(4);
    const get = (topic: string) => cache.get(topic, (t) => (lookups.push(t), `value of ${t}`));
    expect(get('a/b')).toBe('value of a/b');
    expect(get('a/b')).toBe('value of a/b');
    expect(lookups).toEqual(['a/b', 'a/b']);
    // Cached now: no more lookups, however many one-off topics pass in between.
    for (let i = 0; i < 100; i++) get(`$aws/events/presence/connected/client-${i}`);
    lookups.length = 0;
    expect(get('a/b')).toBe('value of a/b');
    expect(lookups).toEqual([]);
    // clear(): looked up again (what the lookup reads changed), and cached again at once (seen before).
    cache.clear();
    expect(get('a/b')).toBe('value of a/b');
    expect(get('a/b')).toBe('value of a/b');
    expect(lookups).toEqual(['a/b']);
  });
});
