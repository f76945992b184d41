/**
 * `influxdb` (kiot's own; no AWS IoT action writes to InfluxDB): each rule output becomes one
 * point in line protocol (line-protocol.ts): `measurement`, `tags` and `fields` are substitution
 * templates, `timestamp` too (default: when kiot received the message). A batch is one HTTP
 * request to the v1 API (`/write?db=&rp=&precision=`, with `username`/`password` as Basic auth)
 * when `database` is given, or to the v2 API (`/api/v2/write?org=&bucket=&precision=`, with
 * `token`) when `bucket` is.
 *
 * Per-record outcomes: InfluxDB answers a batch with one status. When it refuses a batch on
 * its content (400, 413 or 422: a line it cannot parse, a field type conflict, a point outside
 * the retention policy), the batch is halved and each half written again, down to the lines it
 * refuses alone; those records fail with InfluxDB's message and the rest are written. Writing a
 * point again is harmless: every line carries its timestamp, and InfluxDB keeps one point per
 * series and time. 401, 403 and 404 (credentials, a database or bucket that does not exist)
 * fail every record for good; 5xx, 429 and no answer within the timeout are retriable.
 */
import { z } from 'zod';
import { endBatch, PlatformError, sinkUnavailable, type ActionRecord, type RecordFailure, type Sink, type SinkDefinition } from '../../core/index.js';
import { httpRequest, type PostAnswer } from '../http/post.js';
import type { ActionDeps } from '../runtime/deps.js';
import { constantString, crossChecked, paramsSchema, type ParamProblem, type ParamsSchema } from '../runtime/params.js';
import { encodePoint, keyProblem, PointEncoder } from './line-protocol.js';

/** Points per request; InfluxDB's docs suggest batches of about 5,000 lines. */
export const INFLUXDB_MAX_BATCH_SIZE = 500;
/** Bounds every request, so that a stalled server fails the batch retriably. */
export const DEFAULT_INFLUXDB_TIMEOUT_MS = 10_000;

export const INFLUXDB_PRECISIONS = ['ns', 'us', 'ms', 's'] as const;
type Precision = (typeof INFLUXDB_PRECISIONS)[number];
/** The v1 API's spelling of each precision: it reads `us` or `ns` as nanoseconds (`u` and `n` are its own). */
const V1_PRECISION: Record<Precision, string> = { ns: 'n', us: 'u', ms: 'ms', s: 's' };
/** Nanoseconds per unit, to turn the received-at time (ms) into the write's precision. */
const FROM_MS: Record<Precision, (ms: number) => string> = {
  ns: (ms) => `${BigInt(ms) * 1_000_000n}`,
  us: (ms) => `${BigInt(ms) * 1_000n}`,
  ms: (ms) => String(ms),
  s: (ms) => String(Math.floor(ms / 1000)),
};

const schema = paramsSchema({
  /** `http://host:8086` (or `https://`): the server, without a path. */
  url: constantString('url').pipe(z.url({ protocol: /^https?$/ })),
  /** v1 API: the database, its retention policy (default: the database's default), and credentials. */
  database: constantString('database').optional(),
  retention_policy: constantString('retention_policy').optional(),
  username: constantString('username').optional(),
  /** Prefer a user without admin rights that may only WRITE the database. */
  password: constantString('password').optional(),
  /** v2 API: the organization, the bucket and an API token allowed to write it. */
  org: constantString('org').optional(),
  bucket: constantString('bucket').optional(),
  token: constantString('token').optional(),
  measurement: z.string().min(1),
  /** Tag key -> value template; a value that renders empty leaves the tag out. */
  tags: z.record(z.string().min(1), z.string()).optional(),
  /** Field key -> value template, typed by what it renders to (`12i`, `true`, `21.5`, `"text"`). */
  fields: z.record(z.string().min(1), z.string()),
  /** An integer in `precision` units; default: when kiot received the message. */
  timestamp: z.string().optional(),
  precision: z.enum(INFLUXDB_PRECISIONS).default('ms'),
});

const influxParams = crossChecked(schema, (p, problem) => {
  if ((p.database === undefined) === (p.bucket === undefined)) problem(p.bucket === undefined ? undefined : 'bucket', 'give database (the v1 API) or bucket with org and token (the v2 API), not both');
  if (p.bucket !== undefined) {
    if (p.org === undefined) problem(undefined, 'missing parameter org (bucket needs it)');
    if (p.token === undefined) problem(undefined, 'missing parameter token (bucket needs it)');
    for (const v1 of ['retention_policy', 'username', 'password'] as const) if (p[v1] !== undefined) problem(v1, `${v1} goes with database (the v1 API), not bucket`);
  } else {
    for (const v2 of ['org', 'token'] as const) if (p[v2] !== undefined) problem(v2, `${v2} goes with bucket (the v2 API), not database`);
    if ((p.username === undefined) !== (p.password === undefined)) problem(p.username === undefined ? 'password' : 'username', 'give username and password together');
  }
  if (Object.keys(p.fields).length === 0) problem('fields', 'fields: expected at least one field');
  const tags = Object.keys(p.tags ?? {});
  for (const k of Object.keys(p.fields)) if (tags.includes(k)) problem('fields', `fields: ${k} is also a tag`);
});

/**
 * The keys of `tags` and `fields`, checked as the rule gives them: a parsed record has already
 * lost a key such as `__proto__`, which must be refused rather than dropped.
 */
const checkedParams: ParamsSchema<ReturnType<typeof schema.parse>> = {
  params: influxParams.params,
  required: influxParams.required,
  parse(raw) {
    const problems: ParamProblem[] = [];
    for (const param of ['tags', 'fields'] as const) {
      const given = (raw as Record<string, unknown> | null | undefined)?.[param];
      if (given === null || typeof given !== 'object') continue;
      for (const k of Object.keys(given)) {
        const bad = keyProblem(k);
        if (bad) problems.push({ param, message: `${param}.${k}: ${bad}` });
      }
    }
    if (problems.length > 0) throw new PlatformError('CONFIG_INVALID', problems.map((p) => p.message).join('; '), { details: { problems } });
    return influxParams.parse(raw);
  },
};

export type InfluxDbConfig = ReturnType<typeof schema.parse>;

export interface InfluxDbOptions {
  readonly timeoutMs?: number;
}

export function createInfluxDbDefinition(options: InfluxDbOptions = {}): SinkDefinition<InfluxDbConfig, Pick<ActionDeps, 'logger'>> {
  return {
    type: 'influxdb',
    awsKey: 'influxdb',
    summary: 'Writes each rule output as an InfluxDB point (line protocol, v1 or v2 write API): measurement, tags and fields from templates',
    config: checkedParams,
    resourceParams: ['measurement'],
    maxBatchSize: INFLUXDB_MAX_BATCH_SIZE,
    create: (config) => new InfluxDbSink(config, options.timeoutMs ?? DEFAULT_INFLUXDB_TIMEOUT_MS),
  };
}

export const influxdbAction = createInfluxDbDefinition();

/** The line of one record, or why it cannot be written. */
export function influxLine(p: InfluxDbConfig, receivedAt: number, encoder?: PointEncoder): { line: string } | { problem: string } {
  const point = { measurement: p.measurement, tags: p.tags ?? {}, fields: p.fields, timestamp: p.timestamp || FROM_MS[p.precision](receivedAt) };
  return encoder ? encoder.encode(point) : encodePoint(point);
}

/** Statuses that mean "this content", so a smaller part of the batch may pass. */
const REFUSED_CONTENT = new Set([400, 413, 422]);

/** InfluxDB's message: `{"error"}` (v1), `{"code","message"}` (v2), else the body's text. */
function serverMessage(res: PostAnswer): string {
  const text = res.body.toString('utf8');
  try {
    const json = JSON.parse(text) as { error?: unknown; message?: unknown; code?: unknown };
    if (typeof json.error === 'string') return json.error;
    if (typeof json.message === 'string') return typeof json.code === 'string' ? `${json.code}: ${json.message}` : json.message;
  } catch {
    // not JSON: the text as it came
  }
  return text.trim().slice(0, 500) || `HTTP ${res.status}`;
}

type Outcome = { ok: true } | { ok: false; status: number; message: string };

class InfluxDbSink implements Sink<InfluxDbConfig> {
  readonly #timeoutMs: number;
  readonly #writeUrl: string;
  readonly #pingUrl: string;
  readonly #headers: Record<string, string>;
  readonly #target: string;
  /** The config's tag and field keys, which every record's rendered params have. */
  readonly #encoder: PointEncoder;
  #closed = false;

  constructor(config: InfluxDbConfig, timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.#encoder = new PointEncoder(Object.keys(config.tags ?? {}), Object.keys(config.fields));
    const base = config.url.replace(/\/+$/, '');
    const query = new URLSearchParams();
    if (config.bucket !== undefined) {
      query.set('org', config.org!);
      query.set('bucket', config.bucket);
      query.set('precision', config.precision);
      this.#writeUrl = `${base}/api/v2/write?${query}`;
    } else {
      query.set('db', config.database!);
      if (config.retention_policy !== undefined) query.set('rp', config.retention_policy);
      query.set('precision', V1_PRECISION[config.precision]);
      this.#writeUrl = `${base}/write?${query}`;
    }
    this.#pingUrl = `${base}/ping`;
    this.#headers = { 'content-type': 'text/plain; charset=utf-8' };
    if (config.token !== undefined) this.#headers['authorization'] = `Token ${config.token}`;
    else if (config.username !== undefined) this.#headers['authorization'] = `Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}`;
    this.#target = `InfluxDB ${config.bucket ?? config.database}`;
  }

  #checkOpen(): void {
    if (this.#closed) throw new PlatformError('SINK_UNAVAILABLE', `${this.#target}: the action is closed`, { retriable: false });
  }

  async connect(signal: AbortSignal): Promise<void> {
    this.#checkOpen();
    let res: PostAnswer;
    try {
      res = await httpRequest('GET', this.#pingUrl, {}, Buffer.alloc(0), this.#timeoutMs, signal);
    } catch (err) {
      throw sinkUnavailable(this.#target, (err as Error).message, err);
    }
    if (res.status >= 300) throw sinkUnavailable(this.#target, `GET /ping answered ${res.status}: ${serverMessage(res)}`);
  }

  async writeBatch(records: readonly ActionRecord<InfluxDbConfig>[], signal: AbortSignal): Promise<void> {
    if (records.length === 0) return;
    this.#checkOpen();
    const failures: RecordFailure[] = [];
    const lines: { index: number; line: string }[] = [];
    records.forEach((r, index) => {
      const built = influxLine(r.params, r.receivedAt, this.#encoder);
      if ('problem' in built) failures.push({ index, message: `${this.#target}: ${built.problem}`, retriable: false });
      else lines.push({ index, line: built.line });
    });
    let unavailable: PlatformError | undefined;
    if (lines.length > 0) {
      try {
        await this.#write(lines, failures, signal);
      } catch (err) {
        unavailable = sinkUnavailable(this.#target, (err as Error).message, err);
        const failed = new Set(failures.map((f) => f.index));
        for (const { index } of lines) if (!failed.has(index)) failures.push({ index, message: unavailable.message, retriable: true });
      }
    }
    endBatch(this.#target, failures, records.length, unavailable);
  }

  /**
   * Writes `lines` in one request; when InfluxDB refuses the content, halves them and writes
   * each half, so that only the lines it refuses alone fail. Throws when it cannot be reached.
   */
  async #write(lines: readonly { index: number; line: string }[], failures: RecordFailure[], signal: AbortSignal): Promise<void> {
    const outcome = await this.#post(lines, signal);
    if (outcome.ok) return;
    if (REFUSED_CONTENT.has(outcome.status) && lines.length > 1) {
      const half = Math.ceil(lines.length / 2);
      await this.#write(lines.slice(0, half), failures, signal);
      await this.#write(lines.slice(half), failures, signal);
      return;
    }
    const retriable = outcome.status >= 500 || outcome.status === 429;
    for (const { index } of lines) failures.push({ index, message: `${this.#target}: ${outcome.message}`, retriable });
  }

  async #post(lines: readonly { line: string }[], signal: AbortSignal): Promise<Outcome> {
    let body = '';
    for (const { line } of lines) body += `${line}\n`;
    const res = await httpRequest('POST', this.#writeUrl, this.#headers, Buffer.from(body, 'utf8'), this.#timeoutMs, signal, { lenientHeaders: true });
    if (res.status >= 200 && res.status < 300) return { ok: true };
    return { ok: false, status: res.status, message: `HTTP ${res.status}: ${serverMessage(res)}` };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
