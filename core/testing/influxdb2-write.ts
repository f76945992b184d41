/**
 * Test helper: a local server that speaks InfluxDB 2's write API, for the influxdb action's v2
 * tests (no InfluxDB 2 installs from Debian here). `POST /api/v2/write?org=&bucket=&precision=`
 * with `Authorization: Token <token>`, and `GET /ping`, answered as InfluxDB 2 answers them:
 *
 * - 401 `{"code":"unauthorized","message":"unauthorized access"}` for a missing or wrong token;
 * - 404 `{"code":"not found","message":"bucket \"b\" not found"}` for another org or bucket;
 * - 400 `{"code":"invalid","message":"unable to parse '<line>': <reason>"}` when any line does
 *   not parse, and then nothing of the request is written (InfluxDB 2 parses the whole body first);
 * - 422 `{"code":"unprocessable entity","message":"failure writing points to database: partial
 *   write: field type conflict: ... dropped=N"}` when a field's type differs from the type its
 *   measurement already stores; the other points are written;
 * - 204 otherwise.
 *
 * Lines are parsed with their own line protocol reader (escapes, quoted string fields that may
 * hold newlines, the `i` integer suffix, boolean spellings), independent of kiot's writer, and the
 * points kept in memory as InfluxDB would store them.
 */
import { createServer } from 'node:http';
import { serveLoopback, type ServedLoopback } from './http-server.js';

export type StoredValue = number | bigint | boolean | string;

export interface StoredPoint {
  readonly bucket: string;
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: Record<string, StoredValue>;
  /** Nanoseconds since the epoch. */
  readonly time: bigint;
}

export interface InfluxDb2WriteServer extends ServedLoopback {
  readonly org: string;
  readonly token: string;
  /** Every point written, in order. */
  readonly points: StoredPoint[];
  /** How many write requests arrived (answered with any status). */
  readonly requests: () => number;
}

const PRECISION_NS: Record<string, bigint> = { ns: 1n, us: 1_000n, ms: 1_000_000n, s: 1_000_000_000n };

class LineError extends Error {}

/** Splits a body into lines; a newline inside a quoted string field does not end its line. */
export function splitLines(body: string): string[] {
  const lines: string[] = [];
  let start = 0;
  let inFields = false;
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === ' ' && !quoted) inFields = true;
    if (inFields && c === '"' && (quoted || body[i - 1] === '=')) quoted = !quoted;
    if (c === '\n' && !quoted) {
      lines.push(body.slice(start, i));
      start = i + 1;
      inFields = false;
    }
  }
  lines.push(body.slice(start));
  return lines.filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

/** Reads up to an unescaped character of `stops`; returns the raw text and where it stopped. */
function readUntil(line: string, at: number, stops: string): [string, number] {
  let i = at;
  while (i < line.length && !stops.includes(line[i]!)) i += line[i] === '\\' ? 2 : 1;
  return [line.slice(at, Math.min(i, line.length)), i];
}

const unescape = (raw: string, chars: string): string => raw.replace(/\\(.)/gs, (all, c: string) => (chars.includes(c) ? c : all));

function fieldOf(raw: string): StoredValue {
  if (/^-?\d+i$/.test(raw)) {
    const v = BigInt(raw.slice(0, -1));
    if (v < -(2n ** 63n) || v >= 2n ** 63n) throw new LineError(`unable to parse integer ${raw}: value out of range`);
    return v;
  }
  if (['t', 'T', 'true', 'True', 'TRUE'].includes(raw)) return true;
  if (['f', 'F', 'false', 'False', 'FALSE'].includes(raw)) return false;
  if (/^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(raw) && Number.isFinite(Number(raw))) return Number(raw);
  throw new LineError(`invalid field format`);
}

/** One point of a line, in nanoseconds. */
export function parseLine(line: string, precisionNs: bigint, now: bigint): Omit<StoredPoint, 'bucket'> {
  let [raw, i] = readUntil(line, 0, ', ');
  const measurement = unescape(raw, ', ');
  if (measurement === '') throw new LineError('missing measurement');
  const tags: Record<string, string> = {};
  while (line[i] === ',') {
    let key: string;
    [key, i] = readUntil(line, i + 1, '=, ');
    if (line[i] !== '=') throw new LineError('missing tag value');
    let value: string;
    [value, i] = readUntil(line, i + 1, ', ');
    if (key === '' || value === '') throw new LineError('missing tag key or value');
    tags[unescape(key, ',= ')] = unescape(value, ',= ');
  }
  if (line[i] !== ' ') throw new LineError('missing fields');
  i++;
  const fields: Record<string, StoredValue> = {};
  for (;;) {
    let key: string;
    [key, i] = readUntil(line, i, '=, ');
    if (line[i] !== '=' || key === '') throw new LineError('missing fields');
    i++;
    let value: StoredValue;
    if (line[i] === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (j >= line.length) throw new LineError('unbalanced quotes');
      value = line.slice(i + 1, j).replace(/\\([\\"])/g, '$1');
      i = j + 1;
    } else {
      let text: string;
      [text, i] = readUntil(line, i, ', ');
      value = fieldOf(text);
    }
    fields[unescape(key, ',= ')] = value;
    if (line[i] !== ',') break;
    i++;
  }
  let time = now;
  if (line[i] === ' ') {
    const stamp = line.slice(i + 1);
    if (!/^-?\d+$/.test(stamp)) throw new LineError('bad timestamp');
    time = BigInt(stamp) * precisionNs;
  } else if (i < line.length) throw new LineError('invalid field format');
  return { measurement, tags, fields, time };
}

const typeOf = (v: StoredValue): string => (typeof v === 'bigint' ? 'integer' : typeof v === 'number' ? 'float' : typeof v);

/** Starts the server on a free loopback port; `buckets` exist in `org`. */
export async function startInfluxDb2Write(options: { org?: string; token?: string; buckets: readonly string[] }): Promise<InfluxDb2WriteServer> {
  const org = options.org ?? 'kiot';
  const token = options.token ?? 'kiot-test-token';
  const points: StoredPoint[] = [];
  /** bucket -> measurement -> field -> type */
  const schema = new Map<string, Map<string, string>>();
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const answer = (status: number, code?: string, message?: string): void => {
        if (code === undefined) return void res.writeHead(status).end();
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ code, message }));
      };
      if (url.pathname === '/ping' && req.method === 'GET') return answer(204);
      if (url.pathname !== '/api/v2/write' || req.method !== 'POST') return answer(404, 'not found', 'path not found');
      requests++;
      if (req.headers.authorization !== `Token ${token}`) return answer(401, 'unauthorized', 'unauthorized access');
      const bucket = url.searchParams.get('bucket') ?? '';
      if (url.searchParams.get('org') !== org) return answer(404, 'not found', `organization name "${url.searchParams.get('org')}" not found`);
      if (!options.buckets.includes(bucket)) return answer(404, 'not found', `bucket "${bucket}" not found`);
      const precision = PRECISION_NS[url.searchParams.get('precision') ?? 'ns'];
      if (precision === undefined) return answer(400, 'invalid', `invalid precision; valid precision units are ns, us, ms, and s`);
      const parsed: Omit<StoredPoint, 'bucket'>[] = [];
      for (const line of splitLines(Buffer.concat(chunks).toString('utf8'))) {
        try {
          parsed.push(parseLine(line, precision, BigInt(Date.now()) * 1_000_000n));
        } catch (err) {
          if (!(err instanceof LineError)) throw err;
          return answer(400, 'invalid', `unable to parse '${line}': ${err.message}`);
        }
      }
      let dropped = 0;
      let conflict = '';
      for (const p of parsed) {
        const types = schema.get(`${bucket}\n${p.measurement}`) ?? new Map<string, string>();
        const clash = Object.entries(p.fields).find(([k, v]) => types.has(k) && types.get(k) !== typeOf(v));
        if (clash) {
          dropped++;
          conflict ||= `field type conflict: input field "${clash[0]}" on measurement "${p.measurement}" is type ${typeOf(clash[1])}, already exists as type ${types.get(clash[0])}`;
          continue;
        }
        for (const [k, v] of Object.entries(p.fields)) types.set(k, typeOf(v));
        schema.set(`${bucket}\n${p.measurement}`, types);
        // One point per series and time: a point written again merges into it (InfluxDB's rule).
        const same = points.find((q) => q.bucket === bucket && q.measurement === p.measurement && q.time === p.time && JSON.stringify(q.tags) === JSON.stringify(p.tags));
        if (same) Object.assign(same.fields, p.fields);
        else points.push({ bucket, ...p, tags: Object.fromEntries(Object.entries(p.tags).sort(([a], [b]) => (a < b ? -1 : 1))) });
      }
      if (dropped > 0) return answer(422, 'unprocessable entity', `failure writing points to database: partial write: ${conflict} dropped=${dropped}`);
      answer(204);
    });
  });
  return { ...(await serveLoopback(server)), org, token, points, requests: () => requests };
}
