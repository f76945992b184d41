import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PlatformError } from '../../core/index.js';
import { compileSql, compileTemplate } from './index.js';

const SEEDS = [
  "SELECT color AS my_color FROM 'topic/subtopic' WHERE temperature > 50 AND color <> 'red'",
  "SELECT *, 15 as speed FROM 'a/b'",
  "SELECT VALUE color FROM 'a/b'",
  "SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) as my_color FROM 'a/b'",
  "SELECT CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'caution' ELSE 'x' END as i FROM 'a/b'",
  "SELECT get((SELECT v FROM e WHERE n = 'temperature'), 0).v as temperature FROM 'topic'",
  "SELECT {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} as lat_long FROM 'a/#'",
  "SET @t = a.b[0] SELECT @t AS t, [1, 2.5e3, null, true] AS arr, cast(x AS Int) AS i FROM '+/x' WHERE NOT (a = 'q' OR b <> 2)",
  "SELECT encode(*, 'base64') AS data, topic(2) AS t, clientid() AS c, concat(a, \"b\") AS s FROM 'a/b'",
];

/** Only kiot's errors may escape; anything else is a bug. */
function onlyPlatformErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof PlatformError)) throw err;
    expect(err.message.length).toBeLessThan(2000);
  }
}

const mutate = (sql: string, ops: { at: number; kind: number; text: string }[]): string => {
  let s = sql;
  for (const { at, kind, text } of ops) {
    const i = at % (s.length + 1);
    if (kind === 0) s = s.slice(0, i) + s.slice(i + 1); // delete a character
    else if (kind === 1) s = s.slice(0, i) + text + s.slice(i); // insert text
    else s = s.slice(0, i) + s.slice(i + text.length * 2); // drop a run
  }
  return s;
};

const tokenish = fc.constantFrom('(', ')', "'", '"', '`', ',', '.', '[', ']', '{', '}', '*', 'SELECT', 'FROM', 'WHERE', 'CASE', 'END', '@x', '${', '-', '--', '/*', ' AS ', 'NOT', '1e309', '\u0000', '\\');

describe('robustness (property-based)', () => {
  test('random text never throws anything but a PlatformError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (text) => onlyPlatformErrors(() => compileSql(text))), { numRuns: 1000 });
  });

  test('mutated SQL never throws anything but a PlatformError', () => {
    const op = fc.record({ at: fc.nat(300), kind: fc.nat(2), text: tokenish });
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS), fc.array(op, { minLength: 1, maxLength: 4 }), (seed, ops) => {
        onlyPlatformErrors(() => compileSql(mutate(seed, ops)));
        onlyPlatformErrors(() => compileTemplate(`x/\${${mutate(seed.slice(7, 40), ops)}}`));
      }),
      { numRuns: 2000 },
    );
  });

  test('compiled rules take any JSON, or bytes, without throwing', () => {
    const rules = SEEDS.map((sql) => compileSql(sql));
    fc.assert(
      fc.property(fc.jsonValue(), fc.uint8Array({ maxLength: 64 }), fc.string(), (json, bytes, topic) => {
        for (const rule of rules) {
          onlyPlatformErrors(() => rule.evaluate({ topic: topic || 'a/b', json }));
          onlyPlatformErrors(() => rule.evaluate({ topic: 'a/b', payload: Buffer.from(bytes) }));
          onlyPlatformErrors(() => rule.evaluate({ topic: 'a/b', payload: JSON.stringify(json) ?? '' }));
        }
      }),
      { numRuns: 500 },
    );
  });

  test('deeply nested input does not hang the parser', () => {
    const deep = `SELECT ${'('.repeat(200)}1${')'.repeat(200)} AS x FROM 'a'`;
    onlyPlatformErrors(() => compileSql(deep));
    const unclosed = `SELECT ${'['.repeat(500)} FROM 'a'`;
    onlyPlatformErrors(() => compileSql(unclosed));
  });
});

test('very long member chains and operator chains are handled', () => {
  onlyPlatformErrors(() => compileSql(`SELECT a${'.b'.repeat(5000)} AS x FROM 'a'`));
  onlyPlatformErrors(() => compileSql(`SELECT 1${' + 1'.repeat(5000)} AS x FROM 'a'`));
  onlyPlatformErrors(() => compileSql(`SELECT ${'NOT '.repeat(5000)}true AS x FROM 'a'`));
});
