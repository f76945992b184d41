/**
 * The postgres action against a throw-away PostgreSQL server: one INSERT statement per batch,
 * UPSERT, the `sql` form, NULL for a value that renders empty, oversized rows failing alone with
 * PostgreSQL's error, and no way for a message to change the SQL.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PlatformError, SinkBatchError, silentLogger } from '../../core/index.js';
import { startPostgres, type PostgresServer } from '../../core/testing/postgres.js';
import { problemsOf, signal, testRecord } from '../aws/testing/records.js';
import { createPostgresDefinition, type PostgresConfig } from './index.js';

let server: PostgresServer;
let client: pg.Client;
beforeAll(async () => {
  server = await startPostgres();
  client = new pg.Client({ connectionString: server.url });
  await client.connect();
}, 60_000);
afterAll(async () => {
  await client?.end();
  await server?.close();
});

const def = createPostgresDefinition();
const deps = { logger: silentLogger() };
const sinkFor = (params: Record<string, unknown>) => def.create(def.config.parse(params), deps);
const record = (params: Record<string, unknown>, i = 0) => testRecord<PostgresConfig>({ i }, def.config.parse(params), i);
const failureOf = (p: Promise<void>) => p.then(() => undefined, (e: unknown) => e);

/** A fresh table `(device text primary key, temperature double precision, note text)`. */
async function table(): Promise<string> {
  const name = `t_${randomUUID().slice(0, 8)}`;
  await client.query(`CREATE TABLE ${name} (device text PRIMARY KEY, temperature double precision, note text)`);
  return name;
}
const rows = async (name: string) => (await client.query(`SELECT device, temperature, note FROM ${name} ORDER BY device`)).rows;

describe('postgres action', () => {
  test('a batch is one INSERT statement; values are converted to the column types by PostgreSQL', async () => {
    const t = await table();
    await client.query(`CREATE TABLE ${t}_statements (n integer)`);
    await client.query(`CREATE FUNCTION ${t}_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO ${t}_statements VALUES (1); RETURN NULL; END $$`);
    await client.query(`CREATE TRIGGER ${t}_count AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${t}_count()`);
    const params = (i: number) => ({ url: server.url, table: t, columns: { device: `d${i}`, temperature: `${20 + i}.5`, note: 'n' } });
    const sink = sinkFor(params(0));
    await sink.writeBatch([0, 1, 2, 3, 4].map((i) => record(params(i), i)), signal());
    await sink.close();
    expect(await rows(t)).toEqual([0, 1, 2, 3, 4].map((i) => ({ device: `d${i}`, temperature: 20.5 + i, note: 'n' })));
    expect((await client.query(`SELECT count(*)::int AS n FROM ${t}_statements`)).rows).toEqual([{ n: 1 }]);
  });

  test('on_conflict updates the named columns (UPSERT); without update it does nothing', async () => {
    const t = await table();
    const params = (temperature: string, update?: string[]) => ({ url: server.url, table: t, columns: { device: 'pump', temperature, note: `t=${temperature}` }, on_conflict: { columns: ['device'], ...(update ? { update } : {}) } });
    const sink = sinkFor(params('1', ['temperature']));
    await sink.writeBatch([record(params('1', ['temperature']))], signal());
    await sink.writeBatch([record(params('2', ['temperature']))], signal());
    expect(await rows(t)).toEqual([{ device: 'pump', temperature: 2, note: 't=1' }]);
    await sink.close();
    const nothing = sinkFor(params('3'));
    await nothing.writeBatch([record(params('3'))], signal());
    await nothing.close();
    expect(await rows(t)).toEqual([{ device: 'pump', temperature: 2, note: 't=1' }]);
  });

  test('sql with values: the statement runs once per record with its bind parameters', async () => {
    const t = await table();
    const params = (device: string, temperature: string) => ({ url: server.url, sql: `INSERT INTO ${t} (device, temperature) VALUES ($1, $2::double precision * 2)`, values: [device, temperature] });
    const sink = sinkFor(params('a', '1'));
    await sink.writeBatch([record(params('a', '1'), 0), record(params('b', '2.5'), 1)], signal());
    await sink.close();
    expect(await rows(t)).toEqual([{ device: 'a', temperature: 2, note: null }, { device: 'b', temperature: 5, note: null }]);
  });

  test('sql: a statement refused for one record fails that record alone; the others commit', async () => {
    const t = await table();
    const params = (device: string, temperature: string) => ({ url: server.url, sql: `INSERT INTO ${t} (device, temperature) VALUES ($1, $2)`, values: [device, temperature] });
    const sink = sinkFor(params('a', '1'));
    const err = await failureOf(sink.writeBatch([record(params('a', '1'), 0), record(params('b', 'warm'), 1), record(params('a', '3'), 2), record(params('d', '4'), 3)], signal()));
    await sink.close();
    expect((err as SinkBatchError).failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [2, false]]);
    expect((err as SinkBatchError).failures.map((f) => f.message)).toEqual([expect.stringMatching(/invalid input syntax.*22P02/), expect.stringMatching(/duplicate key.*23505/)]);
    expect((await rows(t)).map((r) => r.device)).toEqual(['a', 'd']);
  });

  test('a value that renders empty (an Undefined field) is NULL', async () => {
    const t = await table();
    const sink = sinkFor({ url: server.url, table: t, columns: { device: 'x', temperature: '', note: '' } });
    await sink.writeBatch([record({ url: server.url, table: t, columns: { device: 'x', temperature: '', note: '' } })], signal());
    await sink.close();
    expect(await rows(t)).toEqual([{ device: 'x', temperature: null, note: null }]);
  });

  test('an oversized row fails alone with PostgreSQL\'s error; the rest of the batch is written', async () => {
    const t = await table();
    const params = (device: string) => ({ url: server.url, table: t, columns: { device, temperature: '1', note: 'n' } });
    // Incompressible and far over a btree entry's limit (about 2.7 kB): refused by the primary key's index.
    const huge = randomBytes(20_000).toString('hex');
    const sink = sinkFor(params('a'));
    const err = await failureOf(sink.writeBatch([record(params('a'), 0), record(params(huge), 1), record(params('c'), 2)], signal()));
    await sink.close();
    expect(err).toBeInstanceOf(SinkBatchError);
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false]]);
    expect(failures[0]!.message).toMatch(/index row|exceeds|maximum/i);
    expect((await rows(t)).map((r) => r.device)).toEqual(['a', 'c']);
  });

  test('a table partitioned by time (as a TimescaleDB hypertable is chunked) takes the batch INSERT, the UPSERT and the row-by-row fallback', async () => {
    // TimescaleDB does not install from Debian here; hypertables take plain INSERT and ON CONFLICT
    // on a unique index that includes the time column, which is what a native partitioned table needs too.
    const t = `p_${randomUUID().slice(0, 8)}`;
    await client.query(`CREATE TABLE ${t} (device text NOT NULL, ts timestamptz NOT NULL, temperature double precision, PRIMARY KEY (device, ts)) PARTITION BY RANGE (ts)`);
    await client.query(`CREATE TABLE ${t}_2023 PARTITION OF ${t} FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')`);
    await client.query(`CREATE TABLE ${t}_2024 PARTITION OF ${t} FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`);
    const params = (device: string, ts: string, temperature: string) => ({ url: server.url, table: t, columns: { device, ts, temperature }, on_conflict: { columns: ['device', 'ts'], update: ['temperature'] } });
    const sink = sinkFor(params('a', '2023-06-01T00:00:00Z', '1'));
    await sink.writeBatch([record(params('a', '2023-06-01T00:00:00Z', '1'), 0), record(params('a', '2024-06-01T00:00:00Z', '2'), 1)], signal());
    // An UPSERT of an existing row, and a row outside every partition: only that one fails.
    const err = await failureOf(sink.writeBatch([record(params('a', '2023-06-01T00:00:00Z', '3'), 0), record(params('b', '2030-01-01T00:00:00Z', '4'), 1), record(params('c', '2024-02-01T00:00:00Z', '5'), 2)], signal()));
    await sink.close();
    expect((err as SinkBatchError).failures.map((f) => [f.index, f.retriable, f.message])).toEqual([[1, false, expect.stringMatching(/no partition of relation/)]]);
    const stored = await client.query(`SELECT tableoid::regclass::text AS part, device, temperature FROM ${t} ORDER BY device, ts`);
    expect(stored.rows).toEqual([
      { part: `${t}_2023`, device: 'a', temperature: 3 },
      { part: `${t}_2024`, device: 'a', temperature: 2 },
      { part: `${t}_2024`, device: 'c', temperature: 5 },
    ]);
  });

  test('a table that does not exist fails every record, not retriable', async () => {
    const params = { url: server.url, table: 'no_such_table', columns: { device: 'a' } };
    const sink = sinkFor(params);
    const err = await failureOf(sink.writeBatch([record(params, 0), record(params, 1)], signal()));
    await sink.close();
    expect(err).toBeInstanceOf(SinkBatchError);
    expect((err as SinkBatchError).failures.map((f) => [f.index, f.retriable])).toEqual([[0, false], [1, false]]);
    expect((err as SinkBatchError).failures[0]!.message).toMatch(/does not exist/);
  });

  test('a database that does not exist is a setup problem, not a retriable outage', async () => {
    const sink = sinkFor({ url: server.url.replace(/\/postgres$/, '/nope'), table: 't', columns: { device: 'a' } });
    const err = await failureOf(sink.connect(signal()));
    await sink.close();
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', retriable: false });
  });
});

describe('SQL injection', () => {
  const hostile = [`x'); DROP TABLE victims; --`, `x", "note") VALUES ('a','b'); DROP TABLE victims; --`, `$1`, `'; SELECT pg_sleep(10); --`, `\\'; DELETE FROM victims; --`];

  test('values from a message are data: the table survives and holds them exactly', async () => {
    const t = await table();
    await client.query('CREATE TABLE IF NOT EXISTS victims (n integer)');
    await client.query('INSERT INTO victims VALUES (1)');
    const columnsParams = (i: number) => ({ url: server.url, table: t, columns: { device: `c${i}`, note: hostile[i]! } });
    const sqlParams = (i: number) => ({ url: server.url, sql: `INSERT INTO ${t} (device, note) VALUES ($1, $2)`, values: [`s${i}`, hostile[i]!] });
    const viaColumns = sinkFor(columnsParams(0));
    const viaSql = sinkFor(sqlParams(0));
    await viaColumns.writeBatch(hostile.map((_, i) => record(columnsParams(i), i)), signal());
    await viaSql.writeBatch(hostile.map((_, i) => record(sqlParams(i), i)), signal());
    await Promise.all([viaColumns.close(), viaSql.close()]);
    expect((await client.query('SELECT n FROM victims')).rows).toEqual([{ n: 1 }]);
    const notes = await client.query<{ device: string; note: string }>(`SELECT device, note FROM ${t}`);
    for (const [i, text] of hostile.entries()) {
      expect(notes.rows.find((r) => r.device === `c${i}`)?.note).toBe(text);
      expect(notes.rows.find((r) => r.device === `s${i}`)?.note).toBe(text);
    }
  });

  test('names are identifiers, checked before anything runs: no quotes, spaces, semicolons or templates', () => {
    const bad = [
      { table: 'readings; DROP TABLE victims', columns: { device: 'a' } },
      { table: 'readings"', columns: { device: 'a' } },
      { table: '${topic(1)}', columns: { device: 'a' } },
      { table: 'a.b.c', columns: { device: 'a' } },
      { table: 'readings', columns: { 'device) VALUES (1); --': 'a' } },
      { table: 'readings', columns: { device: 'a' }, on_conflict: { columns: ['device"; --'] } },
      { sql: "INSERT INTO t VALUES ('${topic()}')", values: [] },
      { url: 'postgres://${topic(1)}@127.0.0.1/db', table: 'readings', columns: { device: 'a' } },
    ];
    for (const params of bad) expect(() => def.config.parse(params), JSON.stringify(params)).toThrow(PlatformError);
  });
});

describe('parameters', () => {
  test('columns or sql, and what each needs', () => {
    const problems = (params: Record<string, unknown>) => problemsOf(def.config, params);
    expect(problems({ table: 't', columns: { a: '${x}' } })).toEqual([]);
    expect(problems({ table: 't' })).toEqual(['give either columns (with table) or sql (with values)']);
    expect(problems({ columns: { a: 'x' } })).toEqual(['missing parameter table (columns needs it)']);
    expect(problems({ sql: 'INSERT INTO t VALUES ($1, $2)', values: ['${a}'] })).toEqual(['sql uses 2 bind parameter(s) ($1..$2), values gives 1']);
    expect(problems({ sql: "INSERT INTO t VALUES ('$3', $1) -- $4", values: ['${a}'] })).toEqual([]);
    expect(problems({ table: 't', columns: { a: 'x' }, on_conflict: { columns: ['b'] } })).toEqual(['on_conflict: column b is not in columns']);
    expect(problems({ url: 'postgres://h/db', host: 'h', table: 't', columns: { a: 'x' } })).toEqual(['give url or host/port/database/user, not both']);
  });
});
