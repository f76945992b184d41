/**
 * `postgres` (kiot's own; no AWS IoT action writes to PostgreSQL): inserts each rule output as a
 * row. Either `columns` maps column names to substitution templates (one multi-row INSERT per
 * batch, an UPSERT with `on_conflict`), or `sql` is a parameterised statement whose `$1..$n`
 * take the rendered `values`, run once per record. Values are always bind parameters; table and
 * column names are identifiers checked when the rule is checked and written quoted, so a message
 * cannot change the SQL (postgres.test.ts proves it). Works on TimescaleDB hypertables, which
 * take plain INSERTs.
 *
 * Per-record outcomes: a multi-row INSERT is all or nothing. When it fails on the data (a
 * constraint, a bad value, an oversized row), the batch is written again row by row in one
 * transaction, each row under a savepoint, so the good rows commit and the SinkBatchError names
 * only the rows PostgreSQL refused, with its message. This is the one place that imports `pg`.
 */
import type { Pool, PoolClient, PoolConfig } from 'pg';
import { z } from 'zod';
import { endBatch, PlatformError, sinkUnavailable, type ActionRecord, type RecordFailure, type Sink, type SinkDefinition } from '../../core/index.js';
import { constantString, crossChecked, paramsSchema } from '../runtime/params.js';
import type { ActionDeps } from '../runtime/deps.js';
import { highestPlaceholder, identifier, insertStatement, MAX_BIND_PARAMETERS, tableName, type OnConflict } from './statement.js';

/** Rows per batch; a batch with many columns is split further to stay under MAX_BIND_PARAMETERS. */
export const POSTGRES_MAX_BATCH_SIZE = 500;
/** Connections one action holds: batches of an action are written one at a time. */
const POOL_SIZE = 2;
/** Bounds connecting and every statement, so that a stalled server fails the batch retriably. */
export const DEFAULT_POSTGRES_TIMEOUT_MS = 10_000;

const value = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const schema = paramsSchema({
  /** `postgres://user:password@host:port/database` (libpq's URI form; `?sslmode=` as pg reads it). */
  url: constantString('a connection parameter').optional(),
  host: constantString('a connection parameter').optional(),
  port: z.number().int().min(1).max(65_535).optional(),
  database: constantString('a connection parameter').optional(),
  user: constantString('a connection parameter').optional(),
  /** Prefer PGPASSWORD (or ~/.pgpass) in kiot's environment to a password in a rule file. */
  password: constantString('a connection parameter').optional(),
  table: tableName.optional(),
  /** Column name -> value (a substitution template, or a constant). */
  columns: z.record(identifier, value).optional(),
  /** A statement with $1..$n bind parameters, run once per record with `values`. */
  sql: constantString('sql').optional(),
  values: z.array(value).optional(),
  on_conflict: z.strictObject({ columns: z.array(identifier).min(1), update: z.array(identifier).optional() }).optional(),
});

/** Checks one field at a time cannot: columns xor sql, and what each needs. */
const postgresParams = crossChecked(schema, (p, problem) => {
  if (p.url !== undefined && (p.host ?? p.port ?? p.database ?? p.user) !== undefined) problem('url', 'give url or host/port/database/user, not both');
  if ((p.columns === undefined) === (p.sql === undefined)) problem(p.sql === undefined ? undefined : 'sql', 'give either columns (with table) or sql (with values)');
  if (p.columns !== undefined) {
    if (p.table === undefined) problem(undefined, 'missing parameter table (columns needs it)');
    if (Object.keys(p.columns).length === 0) problem('columns', 'columns: expected at least one column');
    if (p.values !== undefined) problem('values', 'values go with sql; with columns, each column has its value');
  }
  if (p.sql !== undefined) {
    if (p.on_conflict !== undefined) problem('on_conflict', 'on_conflict goes with columns; write ON CONFLICT in sql');
    const wanted = highestPlaceholder(p.sql);
    const given = p.values?.length ?? 0;
    if (wanted !== given) problem(p.values === undefined ? 'sql' : 'values', `sql uses ${wanted} bind parameter(s) ($1..$${wanted}), values gives ${given}`);
  }
  if (p.on_conflict && p.columns) {
    for (const c of [...p.on_conflict.columns, ...(p.on_conflict.update ?? [])]) {
      if (!Object.prototype.hasOwnProperty.call(p.columns, c)) problem('on_conflict', `on_conflict: column ${c} is not in columns`);
    }
  }
});

export type PostgresConfig = ReturnType<typeof schema.parse>;

export interface PostgresOptions {
  readonly timeoutMs?: number;
}

type PgModule = typeof import('pg');
let pgModule: Promise<PgModule> | undefined;
/** Loaded on first use, so that `kiot` commands that write nothing to PostgreSQL do not pay for it. */
/** node-postgres, loaded on first use: the one place kiot imports it (the actions benchmark's baseline borrows it). */
export const loadPg = (): Promise<PgModule> => (pgModule ??= import('pg').then((m) => (m as unknown as { default?: PgModule }).default ?? m));

export function createPostgresDefinition(options: PostgresOptions = {}): SinkDefinition<PostgresConfig, Pick<ActionDeps, 'logger'>> {
  return {
    type: 'postgres',
    awsKey: 'postgres',
    summary: 'Inserts (or upserts) each rule output as a PostgreSQL row: columns from templates, or a parameterised statement',
    config: postgresParams,
    resourceParams: ['table'],
    maxBatchSize: POSTGRES_MAX_BATCH_SIZE,
    create: (config) => new PostgresSink(config, options.timeoutMs ?? DEFAULT_POSTGRES_TIMEOUT_MS),
  };
}

export const postgresAction = createPostgresDefinition();

/** A bind value: a rendered template that is empty (AWS renders Undefined so: a missing field) is NULL. */
const bind = (v: unknown): unknown => (v === '' ? null : v);

/**
 * SQLSTATE classes worth retrying (PostgreSQL docs, appendix A): 08 connection exception, 40
 * transaction rollback (serialization failure, deadlock), 53 insufficient resources, 57 operator
 * intervention (shutdown, statement timeout on the server), 58 system error. Everything else
 * (22 data exception, 23 integrity constraint, 42 syntax or access, 54 program limit exceeded:
 * an oversized row) fails the same way again.
 */
const RETRIABLE_CLASSES = new Set(['08', '40', '53', '57', '58']);
const sqlState = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
};
/** An error from the server about this statement (not the connection, not a timeout). */
const isStatementError = (err: unknown): boolean => {
  const state = sqlState(err);
  return state !== undefined && !RETRIABLE_CLASSES.has(state.slice(0, 2));
};
const messageOf = (err: unknown): string => {
  const e = err as { message?: string; detail?: string; code?: string };
  const state = sqlState(err);
  return `${e.message ?? String(err)}${e.detail ? ` (${e.detail})` : ''}${state ? ` [SQLSTATE ${state}]` : ''}`;
};

class PostgresSink implements Sink<PostgresConfig> {
  readonly #config: PostgresConfig;
  readonly #timeoutMs: number;
  readonly #target: string;
  readonly #columns: readonly string[];
  #lastInsert: { readonly rows: number; readonly text: string } | undefined;
  #pool: Promise<Pool> | undefined;
  #closed = false;

  constructor(config: PostgresConfig, timeoutMs: number) {
    this.#config = config;
    this.#timeoutMs = timeoutMs;
    this.#target = `PostgreSQL${config.table ? ` ${config.table}` : ''}`;
    this.#columns = config.columns ? Object.keys(config.columns) : [];
  }

  #poolConfig(): PoolConfig {
    const c = this.#config;
    return {
      ...(c.url !== undefined ? { connectionString: c.url } : {}),
      ...(c.host !== undefined ? { host: c.host } : {}),
      ...(c.port !== undefined ? { port: c.port } : {}),
      ...(c.database !== undefined ? { database: c.database } : {}),
      ...(c.user !== undefined ? { user: c.user } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      max: POOL_SIZE,
      connectionTimeoutMillis: this.#timeoutMs,
      query_timeout: this.#timeoutMs,
      statement_timeout: this.#timeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: 'kiot',
    };
  }

  #getPool(): Promise<Pool> {
    return (this.#pool ??= loadPg().then((pg) => {
      const pool = new pg.Pool(this.#poolConfig());
      // An idle connection that breaks is dropped by the pool; the next batch opens another.
      pool.on('error', () => {});
      return pool;
    }));
  }

  async #client(): Promise<PoolClient> {
    if (this.#closed) throw new PlatformError('SINK_UNAVAILABLE', `${this.#target}: the action is closed`, { retriable: false });
    const pool = await this.#getPool();
    try {
      return await pool.connect();
    } catch (err) {
      throw this.#connectError(err);
    }
  }

  /** Authentication and a missing database are setup problems; anything else may pass. */
  #connectError(err: unknown): PlatformError {
    const state = sqlState(err);
    if (state !== undefined && (state.startsWith('28') || state === '3D000')) {
      return new PlatformError('CONFIG_INVALID', `${this.#target}: ${messageOf(err)}`, { cause: err, details: { target: this.#target } });
    }
    return sinkUnavailable(this.#target, messageOf(err), err);
  }

  async connect(): Promise<void> {
    (await this.#client()).release();
  }

  async writeBatch(records: readonly ActionRecord<PostgresConfig>[]): Promise<void> {
    if (records.length === 0) return;
    const client = await this.#client();
    let broken: unknown;
    try {
      const failures = this.#config.sql !== undefined ? await this.#statements(client, records) : await this.#insertAll(client, records);
      endBatch(this.#target, failures, records.length, this.#unavailable(failures));
    } catch (err) {
      if (!(err instanceof PlatformError)) broken = err;
      throw err instanceof PlatformError ? err : sinkUnavailable(this.#target, messageOf(err), err);
    } finally {
      // A connection that failed mid-batch (a timeout leaves it in an unknown state) is discarded.
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  #unavailable(failures: readonly RecordFailure[]): PlatformError | undefined {
    const first = failures[0];
    return first && failures.every((f) => f.retriable) ? sinkUnavailable(this.#target, first.message) : undefined;
  }

  #rowValues(record: ActionRecord<PostgresConfig>): unknown[] {
    const p = record.params;
    if (p.sql !== undefined) return (p.values ?? []).map(bind);
    return this.#columns.map((c) => bind(p.columns?.[c]));
  }

  /**
   * The bind values of a multi-row INSERT, row after row, in `columns` order. One array filled in
   * place: `flatMap` over per-row arrays was a tenth of kiot's CPU per record in the actions
   * benchmark (an array per row, and V8's generic flattening).
   */
  #insertValues(chunk: readonly ActionRecord<PostgresConfig>[]): unknown[] {
    const columns = this.#columns;
    const width = columns.length;
    const values: unknown[] = new Array<unknown>(chunk.length * width);
    for (let r = 0, at = 0; r < chunk.length; r++) {
      const rendered = chunk[r]!.params.columns;
      for (let c = 0; c < width; c++) values[at++] = bind(rendered?.[columns[c]!]);
    }
    return values;
  }

  /** Multi-row INSERTs of as many rows as the bind-parameter limit allows; row by row when one fails on the data. */
  async #insertAll(client: PoolClient, records: readonly ActionRecord<PostgresConfig>[]): Promise<RecordFailure[]> {
    const perStatement = Math.max(1, Math.floor(MAX_BIND_PARAMETERS / this.#columns.length));
    const failures: RecordFailure[] = [];
    for (let start = 0; start < records.length; start += perStatement) {
      const chunk = start === 0 && records.length <= perStatement ? records : records.slice(start, start + perStatement);
      try {
        await client.query(this.#insert(chunk.length), this.#insertValues(chunk));
      } catch (err) {
        if (!isStatementError(err)) throw err;
        failures.push(...(await this.#eachRow(client, chunk, start)));
      }
    }
    return failures;
  }

  #insert(rows: number): string {
    // Full batches repeat one row count: build that statement's text once, not per batch.
    if (this.#lastInsert?.rows === rows) return this.#lastInsert.text;
    const c = this.#config;
    const text = insertStatement(c.table!, this.#columns, rows, c.on_conflict as OnConflict | undefined);
    this.#lastInsert = { rows, text };
    return text;
  }

  /**
   * The `sql` form: every record's statement in one transaction; when one fails on the data,
   * the transaction is rolled back and the batch runs again with a savepoint per record.
   */
  async #statements(client: PoolClient, records: readonly ActionRecord<PostgresConfig>[]): Promise<RecordFailure[]> {
    await client.query('BEGIN');
    try {
      for (const r of records) await client.query(this.#config.sql!, this.#rowValues(r));
      await client.query('COMMIT');
      return [];
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      if (!isStatementError(err)) throw err;
    }
    return this.#eachRow(client, records, 0);
  }

  /** Each record in its own savepoint of one transaction: the rows that fail roll back alone. */
  async #eachRow(client: PoolClient, records: readonly ActionRecord<PostgresConfig>[], offset: number): Promise<RecordFailure[]> {
    const failures: RecordFailure[] = [];
    const text = this.#config.sql ?? this.#insert(1);
    await client.query('BEGIN');
    try {
      for (let i = 0; i < records.length; i++) {
        await client.query('SAVEPOINT kiot_row');
        try {
          await client.query(text, this.#rowValues(records[i]!));
          await client.query('RELEASE SAVEPOINT kiot_row');
        } catch (err) {
          if (!isStatementError(err)) throw err;
          await client.query('ROLLBACK TO SAVEPOINT kiot_row');
          failures.push({ index: offset + i, message: `${this.#target}: ${messageOf(err)}`, retriable: false });
        }
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    return failures;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pool = this.#pool;
    if (pool) await (await pool.catch(() => undefined))?.end().catch(() => {});
  }
}
