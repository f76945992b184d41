/**
 * `http`: POSTs the rule's output to an HTTPS (or, for local targets, HTTP) endpoint (AWS IoT,
 * https-rule-action). Parameters: `url` (template), `confirmation_url` (when given, every
 * rendered URL must start with it — AWS confirms a destination by that prefix; kiot does not
 * run the confirmation handshake), `headers` ([{key, value}], values are templates), `auth`
 * (none; AWS's `{sigv4: {signing_region, service_name, role_arn}}`, signed with the AWS SDK's
 * default credentials — `role_arn` is not assumed; or kiot's `{basic: {username, password}}`),
 * `enable_batching` and `batch_config` ({max_batch_size}: outputs are sent as one JSON array).
 *
 * Retries follow AWS: only 429 and 5xx answers (and no answer at all) are retried, with kiot's
 * retry policy; any other status fails the record at once.
 */
import { z } from 'zod';
import { endBatch, type ActionRecord, type RecordFailure, type Sink, type SinkDefinition } from '../../core/index.js';
import { outputBytes } from '../runtime/deps.js';
import { defaultCredentials, signRequest } from './sigv4.js';
import { post } from './post.js';
import { keyValueList, paramsSchema } from '../runtime/params.js';

/** Time a request may take (AWS: "the HTTPS endpoint must respond within 3 seconds"; kiot allows more for local targets). */
export const HTTP_TIMEOUT_MS = 5_000;
/** Requests one action keeps in flight at once. */
export const HTTP_CONCURRENCY = 32;

const auth = z.union([
  z.strictObject({ basic: z.strictObject({ username: z.string(), password: z.string() }) }),
  z.strictObject({ none: z.strictObject({}).optional() }),
  z.strictObject({ sigv4: z.strictObject({ signing_region: z.string().min(1), service_name: z.string().min(1), role_arn: z.string().optional() }) }),
]);

const config = paramsSchema({
  url: z.string().min(1),
  confirmation_url: z.string().optional(),
  headers: keyValueList.optional(),
  auth: auth.optional(),
  enable_batching: z.boolean().optional(),
  batch_config: z.strictObject({ max_batch_open_ms: z.number().optional(), max_batch_size: z.number().int().min(1).max(10).optional(), max_batch_size_bytes: z.number().optional() }).optional(),
});

export type HttpActionConfig = ReturnType<typeof config.parse>;
type SigV4Auth = { signing_region: string; service_name: string; role_arn?: string | undefined };

/** Why a status fails: retriable (429, 5xx) or not. */
const retriable = (status: number): boolean => status === 429 || status >= 500;

function checkUrl(url: string, confirmation: string | undefined): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `url ${JSON.stringify(url)} is not a URL`;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return `url ${JSON.stringify(url)} is not http(s)`;
  if (confirmation !== undefined && !url.startsWith(confirmation)) return `url ${JSON.stringify(url)} does not start with the confirmation_url ${JSON.stringify(confirmation)}`;
  return undefined;
}

class HttpSink implements Sink<HttpActionConfig> {
  /** Resolved once per action and reused, not looked up per request. */
  readonly #credentials = defaultCredentials();
  constructor(private readonly config: HttpActionConfig) {}

  async connect(): Promise<void> {}

  async writeBatch(records: readonly ActionRecord<HttpActionConfig>[], signal: AbortSignal): Promise<void> {
    const failures: RecordFailure[] = [];
    // With batching, records that render to the same URL and headers go in one request.
    const groups: { indexes: number[]; url: string; headers: Record<string, string>; body: Buffer; sigv4: SigV4Auth | undefined }[] = [];
    const byTarget = new Map<string, (typeof groups)[number] & { outputs: Buffer[] }>();
    const maxBatch = this.config.enable_batching ? (this.config.batch_config?.max_batch_size ?? 10) : 1;
    records.forEach((r, index) => {
      const p = r.params;
      const problem = checkUrl(p.url, p.confirmation_url);
      if (problem) return failures.push({ index, message: `http: ${problem}`, retriable: false });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (const h of p.headers ?? []) headers[h.key.toLowerCase()] = h.value;
      const basic = p.auth && 'basic' in p.auth ? p.auth.basic : undefined;
      if (basic) headers['authorization'] = `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`;
      const sigv4 = p.auth && 'sigv4' in p.auth ? p.auth.sigv4 : undefined;
      let body: Buffer;
      try {
        body = outputBytes(r.output);
      } catch (err) {
        return failures.push({ index, message: `http: ${(err as Error).message}`, retriable: false });
      }
      if (maxBatch === 1) return groups.push({ indexes: [index], url: p.url, headers, body, sigv4 });
      const target = JSON.stringify([p.url, headers, sigv4]);
      let g = byTarget.get(target);
      if (!g || g.indexes.length >= maxBatch) {
        g = { indexes: [], url: p.url, headers, body: Buffer.alloc(0), outputs: [], sigv4 };
        byTarget.set(target, g);
        groups.push(g);
      }
      g.indexes.push(index);
      g.outputs.push(body);
      g.body = Buffer.concat([Buffer.from('['), ...g.outputs.flatMap((o, i) => (i === 0 ? [o] : [Buffer.from(','), o])), Buffer.from(']')]);
      return undefined;
    });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < groups.length) {
        const g = groups[next++]!;
        const failure = await this.#send(g.url, g.headers, g.body, g.sigv4, signal);
        if (failure) for (const index of g.indexes) failures.push({ index, ...failure });
      }
    };
    await Promise.all(Array.from({ length: Math.min(HTTP_CONCURRENCY, groups.length) }, worker));
    endBatch('http', failures, records.length);
  }

  async #send(url: string, unsigned: Record<string, string>, body: Buffer, sigv4: SigV4Auth | undefined, signal: AbortSignal): Promise<Omit<RecordFailure, 'index'> | undefined> {
    try {
      const headers = sigv4 ? await signRequest({ method: 'POST', url, headers: unsigned, body }, { service: sigv4.service_name, region: sigv4.signing_region, credentials: this.#credentials }) : unsigned;
      const res = await post(url, headers, body, HTTP_TIMEOUT_MS, signal);
      if (res.status >= 200 && res.status < 300) return undefined;
      return { message: `http: POST ${url} answered ${res.status}`, retriable: retriable(res.status) };
    } catch (err) {
      return { message: `http: POST ${url} failed: ${(err as Error).message}`, retriable: true };
    }
  }

  async close(): Promise<void> {}
}

export const httpAction: SinkDefinition<HttpActionConfig> = {
  type: 'http',
  awsKey: 'http',
  summary: 'POST the output to an HTTP(S) endpoint',
  config,
  resourceParams: ['url'],
  maxBatchSize: 100,
  create: (c) => new HttpSink(c),
};
