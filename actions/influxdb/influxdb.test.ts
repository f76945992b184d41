/**
 * The influxdb action against a throw-away InfluxDB 1.6 server (the v1 API, with authentication
 * on) and against core/testing/influxdb2-write.ts, a local server speaking InfluxDB 2's write API
 * (no InfluxDB 2 installs here): one request per batch, typed fields, timestamps and precisions,
 * refused lines failing alone, and line protocol escaping checked property by property against
 * what InfluxDB 1.6 stores and answers on /query.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError, silentLogger, type ActionRecord } from '../../core/index.js';
import { startInfluxDb, type InfluxDbServer } from '../../core/testing/influxdb.js';
import { startInfluxDb2Write, type InfluxDb2WriteServer } from '../../core/testing/influxdb2-write.js';
import { problemsOf, signal, testRecord } from '../aws/testing/records.js';
import { createInfluxDbDefinition, encodePoint, type InfluxDbConfig } from './index.js';

let server: InfluxDbServer;
let v2: InfluxDb2WriteServer;
beforeAll(async () => {
  [server, v2] = await Promise.all([startInfluxDb(), startInfluxDb2Write({ buckets: ['telemetry'] })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([server?.close(), v2?.close()]);
});

const def = createInfluxDbDefinition();
const deps = { logger: silentLogger() };
type Params = Record<string, unknown>;
const v1 = (database: string, params: Params): Params => ({ url: server.url, database, username: server.user, password: server.password, ...params });
const record = (params: Params, i = 0) => testRecord<InfluxDbConfig>({ i }, def.config.parse(params), i);
const failureOf = (p: Promise<void>) => p.then(() => undefined, (e: unknown) => e);

async function write(records: ActionRecord<InfluxDbConfig>[]): Promise<unknown> {
  const sink = def.create(records[0]!.params, deps);
  try {
    return await failureOf(sink.writeBatch(records, signal()));
  } finally {
    await sink.close();
  }
}

async function database(): Promise<string> {
  const name = `db_${randomUUID().slice(0, 8)}`;
  await server.query(`CREATE DATABASE ${name}`);
  return name;
}

/** Every point of `db`, with tags apart (`GROUP BY *`), time in ns. */
async function points(db: string, where = ''): Promise<{ measurement: string; tags: Record<string, string>; row: Record<string, unknown> }[]> {
  const [result] = await server.query(`SELECT * FROM /.*/ ${where} GROUP BY *`, db);
  return (result?.series ?? []).flatMap((s) => s.values.map((v) => ({ measurement: s.name, tags: s.tags ?? {}, row: Object.fromEntries(s.columns.map((c, i) => [c, v[i]]).filter(([, x]) => x !== null)) })));
}

/** The httpd service's count of write requests, from the server's own statistics. */
async function writeRequests(): Promise<number> {
  const [result] = await server.query('SHOW STATS FOR \'httpd\'');
  const s = result!.series![0]!;
  return Number(s.values[0]![s.columns.indexOf('writeReq')]);
}

describe('influxdb action, v1 API (InfluxDB 1.6)', () => {
  test('a batch is one request; measurement, tags and typed fields from templates; time is when the message was received', async () => {
    const db = await database();
    const params = (i: number) => v1(db, { measurement: 'climate', tags: { site: `s${i % 2}`, empty: '' }, fields: { temperature: `${20 + i}.5`, count: `${i}i`, ok: i % 2 ? 'true' : 'false', note: `"${i}"`, label: `room ${i}`, absent: '' } });
    const before = await writeRequests();
    expect(await write([0, 1, 2].map((i) => record(params(i), i)))).toBeUndefined();
    expect((await writeRequests()) - before).toBe(1);
    const got = await points(db);
    expect(got.map((p) => p.measurement)).toEqual(['climate', 'climate', 'climate']);
    expect(got.map((p) => p.tags)).toEqual([{ site: 's0' }, { site: 's0' }, { site: 's1' }]);
    expect(got.map((p) => p.row).sort((a, b) => Number(a['count']) - Number(b['count']))).toEqual(
      [0, 1, 2].map((i) => ({ time: (1_700_000_000_000 + i) * 1_000_000, temperature: 20.5 + i, count: i, ok: i % 2 === 1, note: String(i), label: `room ${i}` })),
    );
    const [types] = await server.query('SHOW FIELD KEYS FROM climate', db);
    expect(Object.fromEntries(types!.series![0]!.values as [string, string][])).toEqual({ count: 'integer', label: 'string', note: 'string', ok: 'boolean', temperature: 'float' });
  });

  test('timestamp from a template, in the precision given; a retention policy by name', async () => {
    const db = await database();
    await server.query(`CREATE RETENTION POLICY week ON ${db} DURATION 1000w REPLICATION 1`);
    for (const [precision, stamp] of [['s', '1600000000'], ['ms', '1600000000001'], ['us', '1600000000000002'], ['ns', '1600000000000000003']] as const) {
      expect(await write([record(v1(db, { retention_policy: 'week', precision, measurement: 'p', tags: { precision }, fields: { v: '1i' }, timestamp: stamp }))])).toBeUndefined();
    }
    const [result] = await server.query(`SELECT * FROM ${db}.week.p GROUP BY precision`, db);
    expect(Object.fromEntries(result!.series!.map((s) => [s.tags!['precision'], s.values[0]![0]]))).toEqual({ s: 1600000000000000000, ms: 1600000000001000000, us: 1600000000000002000, ns: 1600000000000000003 });
    expect(await points(db)).toEqual([]); // nothing in the default policy
  });

  test('a line InfluxDB refuses fails alone (type conflict, time out of range); one kiot cannot build too; the rest is written', async () => {
    const db = await database();
    const params = (v: string, extra: Params = {}) => v1(db, { measurement: 'm', tags: { k: v }, fields: { v }, ...extra });
    expect(await write([record(params('1i'))])).toBeUndefined();
    const err = await write([
      record(params('2i'), 0),
      record(params('"text"'), 1), // v already stored as an integer
      record(params('3i', { timestamp: '99999999999999999999999' }), 2),
      record(params('4i'), 3),
      record(params('', { tags: {} }), 4), // no field left
      record(params('5i'), 5),
    ]);
    expect(err).toBeInstanceOf(SinkBatchError);
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [2, false], [4, false]]);
    expect(failures[0]!.message).toMatch(/HTTP 400: .*field type conflict/);
    expect(failures[1]!.message).toMatch(/HTTP 400: .*unable to parse/);
    expect(failures[2]!.message).toMatch(/every field rendered empty/);
    expect((await points(db)).map((p) => p.row['v']).sort()).toEqual([1, 2, 4, 5]);
  });

  test('wrong credentials and a database that does not exist fail every record, not retriable', async () => {
    const db = await database();
    const bad = await write([record({ ...v1(db, { measurement: 'm', fields: { v: '1' } }), password: 'wrong' }, 0), record({ ...v1(db, { measurement: 'm', fields: { v: '1' } }), password: 'wrong' }, 1)]);
    expect((bad as SinkBatchError).failures.map((f) => [f.index, f.retriable])).toEqual([[0, false], [1, false]]);
    expect((bad as SinkBatchError).failures[0]!.message).toMatch(/HTTP 401: authorization failed/);
    const missing = await write([record(v1('nope', { measurement: 'm', fields: { v: '1' } }))]);
    expect((missing as SinkBatchError).failures[0]!.message).toMatch(/HTTP 404: database not found/);
  });

  test('line protocol escaping: what InfluxDB 1.6 stores is exactly what the templates rendered', async () => {
    // Characters line protocol treats specially, mixed with any Unicode text.
    const special = fc.constantFrom(',', ' ', '=', '"', '\\', '#', 'a', 'é', '😀', '\t', '\n', "'", 'i', '0', '.', '-', 'e');
    const text = fc.oneof(fc.string({ unit: special, minLength: 1, maxLength: 12 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }));
    const time = 1_600_000_000_000;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(text, text, text, text, text, fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), fc.double({ noNaN: true, noDefaultInfinity: true }), async (measurement, tagKey, tagValue, fieldKey, str, int, float) => {
        fc.pre(!fieldKey.startsWith('s_') && !['n', 'f', tagKey].includes(fieldKey) && !tagKey.startsWith('s_') && !['n', 'f'].includes(tagKey));
        const [kind, typed] = typedAs(str);
        // A fresh database each run: a series' field types and tag keys never meet another run's.
        const db = `prop_${++runs}`;
        // Object.fromEntries: a key such as __proto__ is an own key, as a rule file's JSON makes it.
        const raw = v1(db, { measurement, tags: Object.fromEntries([[tagKey, tagValue]]), fields: Object.fromEntries([[fieldKey, `"${str}"`], [`s_${kind}`, str], ['n', `${int}i`], ['f', String(float)]]), timestamp: String(time) });
        let params: InfluxDbConfig;
        try {
          params = def.config.parse(raw);
        } catch {
          // A key line protocol cannot spell is refused when the rule is checked.
          expect(problemsOf(def.config, raw).join()).toMatch(/key|reserves|backslash|newline/);
          return;
        }
        await server.query(`CREATE DATABASE ${db}`);
        try {
          const line = encodePoint({ measurement, tags: params.tags!, fields: params.fields, timestamp: String(time) });
          const err = await write([record(raw)]);
          if ('problem' in line) {
            expect((err as SinkBatchError).failures[0]!.message).toContain(line.problem);
            return;
          }
          expect(err, line.line).toBeUndefined();
          expect(await points(db), line.line).toEqual([{ measurement, tags: Object.fromEntries([[tagKey, tagValue]]), row: Object.fromEntries([['time', time * 1_000_000], [fieldKey, str], [`s_${kind}`, typed], ['n', int], ['f', Object.is(float, -0) ? 0 : float]]) }]);
        } finally {
          await server.query(`DROP DATABASE ${db}`);
        }
      }),
      { numRuns: 300 },
    );
  }, 180_000);
});

/** What an unquoted field template that rendered `str` stores: its kind and value (line-protocol.ts's typing rules). */
function typedAs(str: string): [string, unknown] {
  if (/^-?\d+i$/.test(str) && BigInt(str.slice(0, -1)) < 2n ** 63n && BigInt(str.slice(0, -1)) >= -(2n ** 63n)) return ['integer', Number(str.slice(0, -1))];
  if (['t', 'T', 'true', 'True', 'TRUE'].includes(str)) return ['boolean', true];
  if (['f', 'F', 'false', 'False', 'FALSE'].includes(str)) return ['boolean', false];
  if (/^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(str) && Number.isFinite(Number(str))) return ['float', Number(str) === 0 ? 0 : Number(str)];
  if (str.length >= 2 && str.startsWith('"') && str.endsWith('"')) return ['string', str.slice(1, -1)];
  return ['string', str];
}

describe('influxdb action, v2 API (local server speaking InfluxDB 2\'s write API)', () => {
  const v2params = (params: Params): Params => ({ url: v2.url, org: v2.org, bucket: 'telemetry', token: v2.token, ...params });

  test('a batch is one request with the token; points as InfluxDB 2 parses them', async () => {
    const before = v2.requests();
    const m = `m_${randomUUID().slice(0, 8)}`;
    const params = (i: number) => v2params({ measurement: m, tags: { 'site name': `a,b=${i}` }, fields: { t: `${i}.25`, n: `${i}i`, s: `say "hi"\n${i}` }, precision: 'us' });
    expect(await write([0, 1].map((i) => record(params(i), i)))).toBeUndefined();
    expect(v2.requests() - before).toBe(1);
    expect(v2.points.filter((p) => p.measurement === m)).toEqual(
      [0, 1].map((i) => ({ bucket: 'telemetry', measurement: m, tags: { 'site name': `a,b=${i}` }, fields: { t: i + 0.25, n: BigInt(i), s: `say "hi"\n${i}` }, time: BigInt(1_700_000_000_000 + i) * 1_000_000n })),
    );
  });

  test('a field type conflict (422) fails only its record; a wrong token or bucket fails every record', async () => {
    const m = `m_${randomUUID().slice(0, 8)}`;
    const params = (v: string) => v2params({ measurement: m, fields: { v } });
    const err = await write([record(params('1i'), 0), record(params('"x"'), 1), record(params('2i'), 2)]);
    expect((err as SinkBatchError).failures.map((f) => [f.index, f.retriable, f.message])).toEqual([[1, false, expect.stringMatching(/HTTP 422: unprocessable entity: .*field type conflict/)]]);
    expect(v2.points.filter((p) => p.measurement === m).map((p) => p.fields['v'])).toEqual([1n, 2n]);
    const denied = await write([record({ ...params('1i'), token: 'wrong' }, 0), record({ ...params('1i'), token: 'wrong' }, 1)]);
    expect((denied as SinkBatchError).failures.map((f) => [f.index, f.retriable, f.message])).toEqual([
      [0, false, expect.stringMatching(/HTTP 401: unauthorized: unauthorized access/)],
      [1, false, expect.stringMatching(/HTTP 401/)],
    ]);
    const nowhere = await write([record({ ...params('1i'), bucket: 'nope' })]);
    expect((nowhere as SinkBatchError).failures[0]!.message).toMatch(/HTTP 404: not found: bucket "nope" not found/);
  });
});

describe('parameters', () => {
  test('v1 or v2, and what each needs; keys line protocol cannot spell are refused', () => {
    const problems = (params: Params) => problemsOf(def.config, { url: 'http://127.0.0.1:8086', measurement: 'm', fields: { v: '${v}' }, ...params });
    expect(problems({ database: 'd' })).toEqual([]);
    expect(problems({ bucket: 'b', org: 'o', token: 't' })).toEqual([]);
    expect(problems({})).toEqual(['give database (the v1 API) or bucket with org and token (the v2 API), not both']);
    expect(problems({ database: 'd', bucket: 'b', org: 'o', token: 't' })).toEqual(['give database (the v1 API) or bucket with org and token (the v2 API), not both']);
    expect(problems({ bucket: 'b' })).toEqual(['missing parameter org (bucket needs it)', 'missing parameter token (bucket needs it)']);
    expect(problems({ database: 'd', token: 't' })).toEqual(['token goes with bucket (the v2 API), not database']);
    expect(problems({ database: 'd', username: 'u' })).toEqual(['give username and password together']);
    expect(problems({ database: 'd', precision: 'h' })[0]).toMatch(/^precision: /);
    expect(problems({ database: 'd', fields: { time: '1' } })[0]).toMatch(/fields\.time: InfluxDB refuses the key "time"/);
    expect(problems({ database: 'd', tags: { 'a\\': '1' } })[0]).toMatch(/backslash/);
    expect(problems({ database: 'd', tags: { v: '1' } })).toEqual(['fields: v is also a tag']);
    expect(problems({ database: 'd', url: 'http://${topic()}' })[0]).toMatch(/cannot be a substitution template/);
    expect(problems({ database: 'd', fields: {} })).toEqual(['fields: expected at least one field']);
    expect(problems({ database: 'd', fields: JSON.parse('{"__proto__": "1", "v": "2"}') })[0]).toMatch(/fields.__proto__: InfluxDB reserves/);
  });
});
