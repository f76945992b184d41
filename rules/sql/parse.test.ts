import { describe, expect, test } from 'vitest';
import { PlatformError } from '../../core/index.js';
import { parseSql } from './parse.js';

describe('parseSql', () => {
  test('parses the guide example', () => {
    const s = parseSql("SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50");
    expect(s.query.from).toMatchObject({ kind: 'topic', filter: 'topic/subtopic' });
    expect(s.query.select).toMatchObject({ kind: 'items', items: [{ kind: 'expr', alias: ['rgb'], expr: { kind: 'field', name: 'color' } }] });
    expect(s.query.where).toMatchObject({ kind: 'binary', op: '>', left: { kind: 'field', name: 'temperature' }, right: { kind: 'literal', value: 50 } });
  });
});
