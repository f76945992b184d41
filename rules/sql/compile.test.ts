import { describe, expect, test } from 'vitest';
import { PlatformError } from '../../core/index.js';
import { createSqlMessage } from './compile.js';
import { compileSqlWith, compileTemplateWithRuntime, type CompileSqlOptions } from './engine.js';
import { testRuntime } from './testing/test-runtime.js';

const compile = (sql: string, options?: CompileSqlOptions) => compileSqlWith(testRuntime, sql, options);
const run = (sql: string, payload: unknown, topic = 'a/b') => compile(sql).evaluate({ topic, json: payload });

const expectError = (fn: () => unknown, code: string, text: string) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PlatformError);
    expect((err as PlatformError).code).toBe(code);
    expect((err as PlatformError).message).toContain(text);
    return;
  }
  throw new Error('expected an error');
};

describe('SELECT clause (guide examples, iot-sql-select)', () => {
  const payload = { color: 'red', temperature: 50 };
  test('SELECT *', () => expect(run("SELECT * FROM 'a/b'", payload)).toEqual({ color: 'red', temperature: 50 }));
  test('SELECT color', () => expect(run("SELECT color FROM 'a/b'", payload)).toEqual({ color: 'red' }));
  test('AS renames', () => expect(run("SELECT color AS my_color FROM 'a/b'", payload)).toEqual({ my_color: 'red' }));
  test('several items', () =>
    expect(run("SELECT color as my_color, temperature as fahrenheit FROM 'a/b'", payload)).toEqual({ my_color: 'red', fahrenheit: 50 }));
  test('* with extra items', () =>
    expect(run("SELECT *, 15 as speed FROM 'a/b'", payload)).toEqual({ color: 'red', temperature: 50, speed: 15 }));
  test('SELECT VALUE', () => expect(run("SELECT VALUE color FROM 'a/b'", payload)).toBe('red'));
  test('dot into nested objects', () =>
    expect(run("SELECT color.red as red_value FROM 'a/b'", { color: { red: 255, green: 0, blue: 0 }, temperature: 50 })).toEqual({ red_value: 255 }));
  test('functions and grouping', () =>
    expect(run("SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) as my_color FROM 'a/b'", payload)).toEqual({ celsius: 10, my_color: 'RED' }));
  test('keywords are case-insensitive', () => expect(run("select Color as C from 'a/b' where TEMPERATURE > 1", { Color: 1, TEMPERATURE: 2 })).toEqual({ C: 1 }));
  test('AS is optional', () => expect(run("SELECT color c FROM 'a/b'", payload)).toEqual({ c: 'red' }));
  test('a dotted alias nests the value', () =>
    expect(run("SELECT color AS state.desired.color, temperature AS state.desired.t FROM 'a/b'", payload)).toEqual({ state: { desired: { color: 'red', t: 50 } } }));
  test('Undefined fields are left out', () => expect(run("SELECT color, missing, nope.deeper FROM 'a/b'", payload)).toEqual({ color: 'red' }));
  test('all Undefined gives an empty object', () => expect(run("SELECT missing FROM 'a/b'", payload)).toEqual({}));
  test('SELECT VALUE of Undefined is the empty string', () => expect(run("SELECT VALUE missing FROM 'a/b'", payload)).toBe(''));
  test('NULL literal', () => expect(run("SELECT NULL AS n FROM 'a/b'", payload)).toEqual({ n: null }));
  test('back-quoted names', () => expect(run("SELECT `my-key` AS k FROM 'a/b'", { 'my-key': 3 })).toEqual({ k: 3 }));
  test('a field named value or error stays readable', () =>
    expect(run("SELECT value, error, x.value AS xv FROM 'a/b'", { value: 1, error: 2, x: { value: 3 } })).toEqual({ value: 1, error: 2, xv: 3 }));
  test('unaliased function call is keyed by its name', () => expect(run("SELECT upper(color) FROM 'a/b'", payload)).toEqual({ upper: 'RED' }));
  test('bracket index into arrays', () => expect(run("SELECT a.b[1].c AS x FROM 'a/b'", { a: { b: [{ c: 1 }, { c: 2 }] } })).toEqual({ x: 2 }));
});

describe('WHERE clause (iot-sql-where)', () => {
  test('guide example: rule does not fire', () =>
    expect(run("SELECT color AS my_color FROM 'topic/subtopic' WHERE temperature > 50 AND color <> 'red'", { color: 'red', temperature: 40 })).toBeUndefined());
  test('fires when true', () => expect(run("SELECT color FROM 'a/b' WHERE temperature > 50", { color: 'x', temperature: 60 })).toEqual({ color: 'x' }));
  test('Undefined condition does not fire', () => expect(run("SELECT * FROM 'a/b' WHERE missing > 1", { a: 1 })).toBeUndefined());
  test('NOT, OR, precedence', () => {
    expect(run("SELECT VALUE 1 FROM 'a/b' WHERE NOT a = 1 OR b = 2 AND c = 3", { a: 1, b: 2, c: 3 })).toBe(1);
    expect(run("SELECT VALUE 1 + 2 * 3 FROM 'a/b'", {})).toBe(7);
    expect(run("SELECT VALUE (1 + 2) * 3 FROM 'a/b'", {})).toBe(9);
    expect(run("SELECT VALUE 10 - 2 - 3 FROM 'a/b'", {})).toBe(5);
    expect(run("SELECT VALUE -2 * -3 FROM 'a/b'", {})).toBe(6);
  });
  test('string operands follow the operator tables', () => {
    expect(run("SELECT VALUE '5' > 3 FROM 'a/b'", {})).toBe(true);
    expect(run("SELECT VALUE 'a' + 1 FROM 'a/b'", {})).toBe('a1');
    expect(run("SELECT VALUE 7 / 2 FROM 'a/b'", {})).toBe(3);
    expect(run("SELECT VALUE 'x' = 'x' FROM 'a/b'", {})).toBe(true);
    expect(run("SELECT VALUE [1,2] = [1,2] FROM 'a/b'", {})).toBe(true);
  });
});

describe('literals, CASE and nested queries', () => {
  test('object literal (iot-sql-literals)', () =>
    expect(run("SELECT {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} as lat_long FROM 'a/b'", { lat_long: [47.606, -122.332] })).toEqual({
      lat_long: { latitude: 47.606, longitude: -122.332 },
    }));
  test('array literal (iot-sql-literals)', () =>
    expect(run("SELECT [lat,long] as lat_long FROM 'topic/subtopic'", { lat: 47.606, long: -122.332 }, 'topic/subtopic')).toEqual({ lat_long: [47.606, -122.332] }));
  test('string escapes and numbers with exponents', () => {
    expect(run(`SELECT VALUE 'it''s \\n "x"' FROM 'a/b'`, {})).toBe('it\'s \n "x"');
    expect(run(`SELECT VALUE "dq \\" ok" FROM 'a/b'`, {})).toBe('dq " ok');
    expect(run("SELECT VALUE 1.5e3 FROM 'a/b'", {})).toBe(1500);
    expect(run("SELECT VALUE [true, false, null] FROM 'a/b'", {})).toEqual([true, false, null]);
  });
  test('simple CASE (iot-sql-case)', () =>
    expect(
      run("SELECT CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'caution' WHEN 'red' THEN 'stop' ELSE 'you are not at a stop light' END as instructions FROM 'a/b'", {
        color: 'yellow',
      }),
    ).toEqual({ instructions: 'caution' }));
  test('CASE with no match and no ELSE is Undefined; Undefined subject is Undefined', () => {
    expect(run("SELECT CASE color WHEN 'green' THEN 'go' END as i FROM 'a/b'", { color: 'red' })).toEqual({});
    expect(run("SELECT CASE color WHEN 'green' THEN 'go' ELSE 'x' END as i FROM 'a/b'", {})).toEqual({});
  });
  test('searched CASE', () => expect(run("SELECT CASE WHEN t > 80 THEN 'hot' WHEN t > 50 THEN 'warm' ELSE 'cold' END AS s FROM 'a/b'", { t: 60 })).toEqual({ s: 'warm' }));
  const e = { e: [{ n: 'temperature', u: 'Cel', t: 1234, v: 22.5 }, { n: 'light', u: 'lm', t: 1235, v: 135 }, { n: 'acidity', u: 'pH', t: 1235, v: 7 }] };
  test('nested SELECT VALUE (iot-sql-nested-queries)', () =>
    expect(run("SELECT (SELECT VALUE n FROM e) as sensors FROM 'my/topic'", e, 'my/topic')).toEqual({ sensors: ['temperature', 'light', 'acidity'] }));
  test('nested SELECT with WHERE', () =>
    expect(run("SELECT (SELECT v FROM e WHERE n = 'temperature') as temperature FROM 'my/topic'", e, 'my/topic')).toEqual({ temperature: [{ v: 22.5 }] }));
  test('flattened with get()', () =>
    expect(run("SELECT get((SELECT v FROM e WHERE n = 'temperature'), 0).v as temperature FROM 'topic'", e, 'topic')).toEqual({ temperature: 22.5 }));
  test('nested queries inside nested queries', () =>
    expect(run("SELECT VALUE (SELECT VALUE (SELECT VALUE x FROM ys) FROM xs) FROM 'a/b'", { xs: [{ ys: [{ x: 1 }, { x: 2 }] }, { ys: [{ x: 3 }] }] })).toEqual([[1, 2], [3]]));
  test('cast', () => expect(run("SELECT cast(t AS Int) AS i, CAST('true' as Boolean) AS b FROM 'a/b'", { t: 2.7 })).toEqual({ i: 2, b: true }));
});

describe('SET variables (iot-sql-set)', () => {
  test('variables are reused', () =>
    expect(run("SET @t = temp_fahrenheit - 32, @h = humidity SELECT @t AS d, @h AS humidity FROM 'device/data'", { temp_fahrenheit: 75, humidity: 60 }, 'device/data')).toEqual({ d: 43, humidity: 60 }));
  test('member access on a variable', () =>
    expect(run("SET @s = device1.sensors SELECT @s.temp AS t FROM 'a/b'", { device1: { sensors: { temp: 75 } } })).toEqual({ t: 75 }));
  test('unknown variable is a compile error', () => expectError(() => compile("SELECT @nope FROM 'a/b'"), 'RULES_SQL_SEMANTIC', '<sql>:1:8: unknown variable @nope'));
  test('execute returns variables', () => {
    const r = compile("SET @x = a * 2 SELECT a FROM 'a/b'").execute({ topic: 'a/b', json: { a: 4 } });
    expect(r).toEqual({ output: { a: 4 }, variables: new Map([['x', 8]]) });
  });
});

describe('payload handling', () => {
  test('raw payload is parsed; binary payload stays bytes', () => {
    const rule = compile("SELECT * FROM 'a/b'");
    expect(rule.evaluate({ topic: 'a/b', payload: '{"a":1}' })).toEqual({ a: 1 });
    const bytes = Buffer.from([0xff, 0x00, 0x01]);
    expect(rule.evaluate({ topic: 'a/b', payload: bytes })).toEqual(bytes);
    expect(compile("SELECT encode(*, 'base64') AS data FROM 'a/b'").evaluate({ topic: 'a/b', payload: bytes })).toEqual({ data: bytes.toString('base64') });
  });
  test('fields of a binary payload are Undefined', () => expect(compile("SELECT a FROM 'a/b'").evaluate({ topic: 'a/b', payload: Buffer.from([1, 2]) })).toEqual({}));
  test('the payload is parsed once for many rules', () => {
    const input = createSqlMessage({ topic: 'a/b', payload: Buffer.from('{"a":1}') });
    let parses = 0;
    const original = JSON.parse;
    JSON.parse = ((...args: Parameters<typeof JSON.parse>) => {
      parses++;
      return original(...args);
    }) as typeof JSON.parse;
    try {
      for (let i = 0; i < 5; i++) expect(compile(`SELECT a AS x${i} FROM 'a/b'`).evaluate(input)).toEqual({ [`x${i}`]: 1 });
    } finally {
      JSON.parse = original;
    }
    expect(parses).toBe(1);
  });
  test('a rule that does not read the payload never parses it', () => {
    const rule = compile("SELECT topic() AS t FROM 'a/+'");
    expect(rule.readsPayload).toBe(false);
    expect(rule.evaluate({ topic: 'a/q', payload: 'not json {' })).toEqual({ t: 'a/q' });
  });
  test('inherited property names are not read from plain objects', () => {
    expect(run("SELECT constructor, toString, __proto__ AS p, hasOwnProperty FROM 'a/b'", {})).toEqual({});
    expect(run("SELECT x.constructor AS c, x.length AS l FROM 'a/b'", { x: [1] })).toEqual({});
    const out = run("SELECT a AS __proto__ FROM 'a/b'", { a: { polluted: true } }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
  });
  test('a payload that is not an object has no fields, whichever way it is given', () => {
    const rule = compile("SELECT length AS n, a FROM 'a/b'");
    for (const json of [[1, 2], 'text', 7, true, null, Buffer.from('{"a":1}')]) expect(rule.evaluate({ topic: 'a/b', json })).toEqual({});
    expect(rule.evaluate({ topic: 'a/b', payload: '[1,2]' })).toEqual({});
    expect(rule.evaluate({ topic: 'a/b', payload: '{"a":1,"length":2}' })).toEqual({ n: 2, a: 1 });
    // Objects that fail the inline plain-object test take the general path to the same answer.
    expect(rule.evaluate({ topic: 'a/b', json: { constructor: 1, a: 2 } })).toEqual({ a: 2 });
    expect(rule.evaluate({ topic: 'a/b', json: Object.assign(Object.create(null) as object, { a: 3 }) })).toEqual({ a: 3 });
    // `*` with fields: the row and `*` come from the same parse.
    expect(compile("SELECT *, a AS b FROM 'a/b'").evaluate({ topic: 'a/b', payload: '{"a":1}' })).toEqual({ a: 1, b: 1 });
  });
});

describe('functions and errors', () => {
  test('topic() and clientid() read the envelope', () => {
    const rule = compile("SELECT topic(2) AS site, clientid() AS c FROM 'factory/+/telemetry'");
    expect(rule.evaluate({ topic: 'factory/berlin/telemetry', json: {} })).toEqual({ site: 'berlin', c: 'n/a' });
    expect(rule.evaluate({ topic: 'factory/berlin/telemetry', json: {}, clientId: 'dev1' })).toEqual({ site: 'berlin', c: 'dev1' });
  });
  test('unknown function names the position', () => expectError(() => compile("SELECT\n  nope(a) FROM 'a/b'"), 'RULES_SQL_SEMANTIC', '<sql>:2:3: unknown function nope()'));
  // iot-sql-data-types: a function called with the wrong number of arguments returns Undefined.
  test('a wrong argument count is Undefined, not an error', () => {
    expect(run("SELECT upper(a, b) AS u, upper() AS v, 1 AS one FROM 'a/b'", { a: 'x', b: 'y' })).toEqual({ one: 1 });
    expect(run("SELECT VALUE [upper(a, b), 1] FROM 'a/b'", { a: 'x', b: 'y' })).toEqual([1]);
  });
  test('an unknown function or variable inside a wrong-count call is still an error', () => {
    expectError(() => compile("SELECT upper(nope(a), b) FROM 'a/b'"), 'RULES_SQL_SEMANTIC', '<sql>:1:14: unknown function nope()');
    expectError(() => compile("SELECT upper(@v, b) FROM 'a/b'"), 'RULES_SQL_SEMANTIC', 'unknown variable @v');
  });
  test('validate() failures become compile errors', () =>
    expectError(() => compile("SELECT machinelearning_predict('a', 'b', *) FROM 'a/b'"), 'RULES_SQL_SEMANTIC', 'machinelearning_predict has no local meaning'));
  test('a throwing function becomes RULES_SQL_RUNTIME', () => expectError(() => compile("SELECT boom() FROM 'a/b'").evaluate({ topic: 'a/b' }), 'RULES_SQL_RUNTIME', 'boom'));
  test('bad topic filter', () => expectError(() => compile("SELECT * FROM 'a/#/b'"), 'RULES_SQL_SEMANTIC', "'#' must be the whole last level"));
  test('2015-10-08 has no literals', () => expectError(() => compile("SELECT [1] AS a FROM 'a/b'", { sqlVersion: '2015-10-08' }), 'RULES_SQL_SEMANTIC', 'need SQL version 2016-03-23'));
  test('unknown sql version', () => expectError(() => compile("SELECT 1 FROM 'a/b'", { sqlVersion: '2020-01-01' }), 'RULES_SQL_SEMANTIC', 'sql_version'));
  test('async functions make evaluate return a Promise', async () => {
    const rule = compile("SELECT lookup(k) AS v, (SELECT VALUE lookup(x) FROM xs) AS all FROM 'a/b' WHERE lookup('w') = 'value-of-w'");
    expect(rule.isAsync).toBe(true);
    const out = rule.evaluate({ topic: 'a/b', json: { k: 'z', xs: [{ x: 1 }] } });
    expect(out).toBeInstanceOf(Promise);
    expect(await out).toEqual({ v: 'value-of-z', all: ['value-of-1'] });
  });
});

describe('topic matching', () => {
  test('wildcards (iot-sql-from)', () => {
    const hash = compile("SELECT temperature AS t FROM 'a/#'");
    expect(['a/b', 'a/c', 'a/e/f', 'b/x'].map((t) => hash.matches(t))).toEqual([true, true, true, false]);
    const plus = compile("SELECT temperature AS t FROM 'a/+'");
    expect(['a/b', 'a/c', 'a/e/f', 'b/x'].map((t) => plus.matches(t))).toEqual([true, true, false, false]);
  });
  test('Basic Ingest goes to the named rule and strips the prefix for topic()', () => {
    const rule = compile("SELECT topic() AS t FROM 'Buildings/#'", { ruleName: 'BuildingManager' });
    expect(rule.matches('$aws/rules/BuildingManager/Buildings/Building5/Floor2')).toBe(true);
    expect(rule.matches('$aws/rules/Other/Buildings/Building5')).toBe(false);
    expect(rule.evaluate({ topic: '$aws/rules/BuildingManager/Buildings/Building5', json: {} })).toEqual({ t: 'Buildings/Building5' });
    expect(compile('SELECT 1 AS one', { ruleName: 'ingestOnly' }).matches('$aws/rules/ingestOnly/x')).toBe(true);
  });
});

describe('no user text becomes code', () => {
  const evil = ['"]; globalThis.pwned = 1; //', "'); globalThis.pwned = 1; ('", '${globalThis.pwned = 1}', '\\u0022); globalThis.pwned=1;//', '*/ globalThis.pwned = 1 /*', '\u2028globalThis.pwned=1'];
  test.each(evil)('through string literals, names, aliases, keys and topics: %s', (text) => {
    const sqlString = `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
    const quotedName = `\`${text.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
    const statements = [
      `SELECT ${sqlString} AS a FROM 'a/b'`,
      `SELECT ${quotedName} FROM 'a/b'`,
      `SELECT a AS ${quotedName} FROM 'a/b'`,
      `SELECT x.${quotedName} AS y FROM 'a/b'`,
      `SELECT {${sqlString}: 1} AS o FROM 'a/b'`,
      `SELECT a FROM ${sqlString.replace(/[#+]/g, '_')}`,
      `SELECT a FROM 'a/b' WHERE ${sqlString} = a`,
    ];
    for (const sql of statements) {
      const rule = compile(sql);
      rule.evaluate({ topic: 'a/b', json: { a: 1, [text]: 2 } });
    }
    const template = compileTemplateWithRuntime(testRuntime, `x/\${${sqlString}}/\${${quotedName}}`);
    expect(template.render({ topic: 'a/b', json: { [text]: 'v' } })).toBe(`x/${text}/v`);
    expect((globalThis as Record<string, unknown>)['pwned']).toBeUndefined();
  });
  test('the key and string appear only as JSON string literals in the generated code', () => {
    expect(compile(`SELECT 'a"b' AS \`k"\` FROM 'a/b'`).evaluate({ topic: 'a/b', json: {} })).toEqual({ 'k"': 'a"b' });
  });
});

describe('substitution templates (iot-substitution-templates)', () => {
  test('guide example: ${topic()}/republish', () => {
    const t = compileTemplateWithRuntime(testRuntime, '${topic()}/republish');
    expect(t.render({ topic: 'my/iot/topic', json: { deviceid: 'iot123' } })).toBe('my/iot/topic/republish');
  });
  test('payload fields, objects, Undefined and variables', () => {
    const t = compileTemplateWithRuntime(testRuntime, 'd/${deviceid}/${coords}/${missing}/${@v}/${ {"a": 1}.a }');
    expect(t.render({ topic: 'x', json: { deviceid: 'iot123', coords: { lat: 1 } } }, new Map([['v', 7]]))).toBe('d/iot123/{"lat":1}//7/1');
    expect(t.isTemplate).toBe(true);
    expect(compileTemplateWithRuntime(testRuntime, 'plain $ text {}').render({ topic: 'x' })).toBe('plain $ text {}');
  });
  test('errors name the position in the template', () => {
    expectError(() => compileTemplateWithRuntime(testRuntime, 'a/${topic(}', { source: 'r.sql' }), 'RULES_SQL_SYNTAX', 'r.sql:1:11: expected');
    expectError(() => compileTemplateWithRuntime(testRuntime, 'a/${topic()'), 'RULES_SQL_SYNTAX', "<template>:1:3: expected '}'");
    expectError(() => compileTemplateWithRuntime(testRuntime, 'a/${nope()}'), 'RULES_SQL_SEMANTIC', '<template>:1:5: unknown function nope()');
  });
});

describe('regressions', () => {
  test('nested function calls each call their own function', () =>
    expect(run("SELECT upper(lower(concat(a, 'X'))) AS u, lower(upper(a)) AS l FROM 'a/b'", { a: 'Ab' })).toEqual({ u: 'ABX', l: 'ab' }));
});
