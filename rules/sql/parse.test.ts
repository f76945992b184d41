import { describe, expect, test } from 'vitest';
import { PlatformError } from '../../core/index.js';
import { parseRuleFile } from '../files/index.js';
import { parseSql } from './parse.js';

describe('parseSql', () => {
  test('parses the guide example', () => {
    const s = parseSql("SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50");
    expect(s.query.from).toMatchObject({ kind: 'topic', filter: 'topic/subtopic' });
    expect(s.query.select).toMatchObject({ kind: 'items', items: [{ kind: 'expr', alias: ['rgb'], expr: { kind: 'field', name: 'color' } }] });
    expect(s.query.where).toMatchObject({ kind: 'binary', op: '>', left: { kind: 'field', name: 'temperature' }, right: { kind: 'literal', value: 50 } });
  });
});

describe('comments in rule files (tokens.ts, "Comments")', () => {
  // AWS IoT SQL has no comments (iot-sql-reference); kiot's rule files may hold them between rules.
  test('between rules, comments are allowed and kept out of the SQL', () => {
    const text = [
      '-- alerts for the factory',
      '/* two rules */',
      "CREATE RULE a AS SELECT 5--1 AS r FROM 'a/#' DO republish(topic = 'x'); -- after a rule",
      "CREATE RULE b AS SELECT 1 AS r FROM 'b' DO republish(topic = 'y');",
      '-- the end',
    ].join('\n');
    expect(parseRuleFile(text, 'f.sql').map((r) => [r.name, r.sql])).toEqual([
      ['a', "SELECT 5--1 AS r FROM 'a/#'"],
      ['b', "SELECT 1 AS r FROM 'b'"],
    ]);
  });
  test("inside a rule, '--' and '/*' are operators, never comments", () => {
    const bad = (text: string) => () => parseRuleFile(text, 'g.sql');
    expect(bad("CREATE RULE a AS SELECT 1 AS r FROM 'a' -- note\nDO republish(topic = 'x');")).toThrow(/^g\.sql:1:41: expected DO, found '-' \(a rule file has comments only between rules/);
    expect(bad("CREATE RULE a /* note */ AS SELECT 1 FROM 'a' DO republish(topic = 'x');")).toThrow(/^g\.sql:1:15: .*comments only between rules/);
    expect(bad("CREATE RULE a AS SELECT 1 FROM 'a' DO republish(topic = 'x') -- note\n;")).toThrow(PlatformError);
  });
  test('a rule without its ; does not let a comment swallow the next rule', () =>
    expect(() => parseRuleFile("CREATE RULE a AS SELECT 1 FROM 'a' DO republish(topic = 'x')\n-- c\nCREATE RULE b AS SELECT 1 FROM 'b' DO republish(topic = 'y');", 'h.sql')).toThrow(/^h\.sql:2:1: /));
});
