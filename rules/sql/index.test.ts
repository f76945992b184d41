import { describe, expect, test } from 'vitest';
import { compileStatement } from './compile.js';
import { defaultRuntime } from './default-runtime.js';
import { compileSql, compileTemplate } from './index.js';
import { parseSql } from './parse.js';

describe('kiot/sql with the real function library', () => {
  test('JSON extensions example (iot-sql-json)', () => {
    const rule = compileSql("SELECT temp, md5(deviceid) AS hashed_id FROM 'topic/#'");
    const payload = { deviceid: 'iot123', temp: 54.98, humidity: 32.43, coords: { latitude: 47.615694, longitude: -122.3359976 } };
    expect(rule.evaluate({ topic: 'topic/x', payload: JSON.stringify(payload) })).toEqual({ temp: 54.98, hashed_id: 'e37f81fb397e595c4aeb5645b8cbbbd1' });
  });
  test('get() with hyphenated keys (iot-sql-json)', () => {
    const rule = compileSql(`SELECT * from 'iot/rules' WHERE get(get(get(mydata,"item2"),"0"),"my-key") = "myValue"`);
    const payload = { mydata: { item2: { '0': { 'my-key': 'myValue' } } } };
    expect(rule.evaluate({ topic: 'iot/rules', json: payload })).toEqual(payload);
  });
  test('non-JSON payload in WHERE (iot-sql-where)', () => {
    const rule = compileSql("SELECT decode(encode(*, 'base64'), 'base64') AS value FROM 'topic/subtopic' WHERE decode(encode(*, 'base64'), 'base64') > 50");
    expect(rule.evaluate({ topic: 'topic/subtopic', payload: Buffer.from('80') })).toEqual({ value: 80 });
  });
  test('nested queries, literals and CASE (guide examples)', () => {
    const e = { e: [{ n: 'temperature', u: 'Cel', t: 1234, v: 22.5 }, { n: 'light', u: 'lm', t: 1235, v: 135 }, { n: 'acidity', u: 'pH', t: 1235, v: 7 }] };
    expect(compileSql("SELECT get((SELECT v FROM e WHERE n = 'temperature'), 0).v as temperature FROM 'topic'").evaluate({ topic: 'topic', json: e })).toEqual({ temperature: 22.5 });
    expect(compileSql("SELECT {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} as lat_long FROM 'topic/subtopic'").evaluate({ topic: 'topic/subtopic', json: { lat_long: [47.606, -122.332] } })).toEqual({ lat_long: { latitude: 47.606, longitude: -122.332 } });
  });
  test('clientid() without MQTT is n/a; topic(n); Basic Ingest', () => {
    const rule = compileSql("SELECT clientid() AS c, topic(2) AS site FROM 'factory/+/telemetry'", { ruleName: 'r1' });
    expect(rule.evaluate({ topic: 'factory/b/telemetry', json: {} })).toEqual({ c: 'n/a', site: 'b' });
    expect(rule.evaluate({ topic: '$aws/rules/r1/factory/b/telemetry', json: {}, clientId: 'dev' })).toEqual({ c: 'dev', site: 'b' });
  });
  test('substitution template example', () => {
    expect(compileTemplate('${topic()}/republish').render({ topic: 'my/iot/topic', json: {} })).toBe('my/iot/topic/republish');
  });
});

describe('inline fast paths give what the library gives', () => {
  const values: unknown[] = ['MiXed', 'straße', '', 1, 2.5, true, null, [1, 'a'], { a: 1 }, undefined];
  test('upper, lower and concat for every kind of argument', async () => {
    const { FUNCTIONS } = await import('./functions/index.js');
    const rule = compileSql("SELECT upper(a) AS u, lower(a) AS l, concat(a, '-', b) AS c, concat(a) AS c1, a || b AS p FROM 't'");
    for (const a of values) {
      for (const b of values) {
        const call = (name: string, args: unknown[]) => FUNCTIONS.get(name)!.call(args as never, undefined as never);
        const expected = Object.fromEntries(
          Object.entries({ u: call('upper', [a]), l: call('lower', [a]), c: call('concat', [a, '-', b]), c1: call('concat', [a]), p: call('concat', [a, b]) }).filter(([, v]) => v !== undefined),
        );
        expect(rule.evaluate({ topic: 't', json: { a, b } })).toEqual(expected);
      }
    }
  });
  test('startswith and endswith for every kind of argument', async () => {
    const { FUNCTIONS } = await import('./functions/index.js');
    const rule = compileSql("SELECT startswith(a, b) AS s, endswith(a, b) AS e, startswith(a, 'Mi') AS l FROM 't'");
    for (const a of values) {
      for (const b of values) {
        const call = (name: string, args: unknown[]) => FUNCTIONS.get(name)!.call(args as never, undefined as never);
        const expected = Object.fromEntries(
          Object.entries({ s: call('startswith', [a, b]), e: call('endswith', [a, b]), l: call('startswith', [a, 'Mi']) }).filter(([, v]) => v !== undefined),
        );
        expect(rule.evaluate({ topic: 't', json: { a, b } })).toEqual(expected);
      }
    }
  });
  test('substring with literal indices for every kind of argument', async () => {
    const { FUNCTIONS } = await import('./functions/index.js');
    const sub = FUNCTIONS.get('substring')!;
    const cases = [[0], [2], [10], [1, 3], [3, 1], [0, 100], [2, 2]];
    const rule = compileSql(`SELECT VALUE [${cases.map((c) => `substring(a, ${c.join(', ')})`).join(', ')}] FROM 't'`);
    for (const a of values) {
      const expected = cases.map((c) => sub.call([a, ...c] as never, undefined as never)).filter((v) => v !== undefined);
      expect(rule.evaluate({ topic: 't', json: { a } }), String(a)).toEqual(expected);
    }
  });
  test('member access on plain, null-prototype and non-object values', () => {
    const rule = compileSql("SELECT VALUE [x.k, x.constructor, x.toString, x.k.k] FROM 't'");
    const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { k: 2 });
    expect(rule.evaluate({ topic: 't', json: { x: { k: 1 } } })).toEqual([1]);
    expect(rule.evaluate({ topic: 't', json: { x: nullProto } })).toEqual([2]);
    expect(rule.evaluate({ topic: 't', json: { x: { k: { k: 3 }, constructor: 4 } } })).toEqual([{ k: 3 }, 4, 3]);
    for (const x of [[1], 'str', 5, null, true]) expect(rule.evaluate({ topic: 't', json: { x } })).toEqual([]);
    expect(rule.evaluate({ topic: 't', payload: Buffer.from([0xff]) })).toEqual([]);
  });
});

describe('string functions and topic(n) are direct calls (issue 17, point 6)', () => {
  const codeOf = (sql: string) => compileStatement(parseSql(sql), { runtime: defaultRuntime, source: '<sql>', sqlVersion: '2016-03-23' }).code;
  test('no argument array and no context object per call', () => {
    const code = codeOf(
      "SELECT topic(2) AS site, topic() AS t, substring(deviceId, 4) AS n, substring(deviceId, 0, 3) AS p, startswith(deviceId, 'dev') AS d, " +
        "concat(deviceId, '/', topic(3)) AS k, lpad(x, 3) AS l, upper(s) AS u, trim(s) AS tr, get(arr, 1) AS g FROM 'factory/+/telemetry'",
    );
    expect(code).not.toMatch(/\.call\(\[/);
    expect(code).not.toContain('MessageContext');
  });
  test('functions that read more of the message than a field of it still get a context', () =>
    expect(codeOf("SELECT get_mqtt_property('content_type') AS c FROM 'a'")).toContain('MessageContext'));
  test('clientid(), principal(), sourceip() and traceid() are reads of the message (issue 12, point 4)', () => {
    const code = codeOf("SELECT clientid() AS c, principal() AS p, sourceip() AS s, traceid() AS t FROM 'a'");
    expect(code).not.toMatch(/\.call\(\[/);
    expect(code).not.toContain('MessageContext');
  });
  test('context fields read directly give what the library gives, absent ones included', async () => {
    const { FUNCTIONS } = await import('./functions/index.js');
    const rule = compileSql("SELECT clientid() AS c, principal() AS p, sourceip() AS s, traceid() AS t, timestamp() AS ts FROM 'a'");
    const names = { c: 'clientid', p: 'principal', s: 'sourceip', t: 'traceid', ts: 'timestamp' } as const;
    const inputs = [
      { topic: 'a', json: {}, clientId: 'c1', principal: 'p1', sourceIp: '10.0.0.1', traceId: 'tr', timestamp: 5 },
      { topic: 'a', json: {}, timestamp: 0 },
      { topic: 'a', json: {}, clientId: '', principal: '', timestamp: 7 },
    ];
    for (const input of inputs) {
      const expected: Record<string, unknown> = {};
      for (const [alias, fn] of Object.entries(names)) {
        const v = FUNCTIONS.get(fn)!.call([], input as never);
        if (v !== undefined) expected[alias] = v;
      }
      expect(rule.evaluate(input), JSON.stringify(input)).toEqual(expected);
    }
  });
  test('timestamp() without a received-at time is the evaluation time, the same for every call in a rule', () => {
    const rule = compileSql("SELECT timestamp() AS a, timestamp() AS b FROM 'a'");
    const before = Date.now();
    const out = rule.evaluate({ topic: 'a', json: {} }) as { a: number; b: number };
    expect(out.a).toBe(out.b);
    expect(out.a).toBeGreaterThanOrEqual(before);
    expect(out.a).toBeLessThanOrEqual(Date.now());
  });
  test('topic(n) through the direct form gives what the library gives, Basic Ingest included', () => {
    const rule = compileSql("SELECT VALUE [topic(), topic(1), topic(2), topic(3), topic(0), topic(2.7), topic('2'), topic(-1), topic(9)] FROM '#'", { ruleName: 'r' });
    // n goes through the Int conversion (iot-sql-data-types): 2.7 is 3, '2' is 2.
    expect(rule.evaluate({ topic: 'a/b/c', json: {} })).toEqual(['a/b/c', 'a', 'b', 'c', 'c', 'b']);
    expect(rule.evaluate({ topic: '$aws/rules/r/a/b/c', json: {} })).toEqual(['a/b/c', 'a', 'b', 'c', 'c', 'b']);
    expect(rule.evaluate({ topic: 'a//', json: {} })).toEqual(['a//', 'a', '', '', '', '']);
  });
  test('inlined topic(n) gives what the library gives', async () => {
    const { FUNCTIONS } = await import('./functions/index.js');
    const topic = FUNCTIONS.get('topic')!;
    const rule = compileSql("SELECT VALUE [topic(1), topic(2), topic(3), topic(4), topic(16), topic(17)] FROM '#'", { ruleName: 'r' });
    const topics = ['a', 'a/b', 'a/b/c/d', '/a/b', 'a/b/', '//', '', 'x'.repeat(20), Array.from({ length: 18 }, (_, i) => `l${i}`).join('/'), '$aws/rules/r/a/b/c', '$aws/rules/r', '$x/y'];
    for (const t of topics) {
      const expected = [1, 2, 3, 4, 16, 17].map((n) => topic.call([n], { topic: t } as never)).filter((v) => v !== undefined);
      expect(rule.evaluateMatched({ topic: t, json: {} }), t).toEqual(expected);
    }
  });
});
