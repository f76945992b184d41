/**
 * `elasticsearch` and `opensearch`: index each rule output as a document (AWS IoT developer
 * guide, "Elasticsearch" and "OpenSearch"): endpoint, index and id from (templated) parameters.
 * Records go to each endpoint in one `_bulk` request, and the bulk response's per-item status
 * tells which records failed (429 and 5xx retriable, other errors not). This is the one place
 * that imports `@elastic/elasticsearch`.
 *
 * `type` is accepted for AWS compatibility and ignored: mapping types are gone since
 * Elasticsearch 7 / OpenSearch 1. `role_arn` is accepted and ignored too: kiot does not sign
 * requests with SigV4; put credentials in the endpoint URL (`https://user:pass@host:9200`).
 * The opensearch kind drops the Elasticsearch client's product check and vendor media types,
 * which OpenSearch does not send or accept.
 */
import type { BaseConnection, Client, ClientOptions, TransportOptions } from '@elastic/elasticsearch';
import { z } from 'zod';
import { endBatch, sinkUnavailable, type ActionRecord, type PlatformError, type RecordFailure, type Sink, type SinkDefinition } from '../../core/index.js';
import { toJsonSafe, type ElasticsearchSettings } from '../aws/index.js';
import { paramsSchema } from '../runtime/params.js';
import type { ActionDeps } from '../runtime/deps.js';

export const ELASTICSEARCH_MAX_BATCH_SIZE = 200;
/** A bulk request that takes longer than this fails the batch (retriable) instead of hanging. */
export const DEFAULT_ELASTICSEARCH_REQUEST_TIMEOUT_MS = 10_000;

const schema = paramsSchema({
  /** e.g. your domain's `https://` endpoint, or `http://localhost:9200`. */
  endpoint: z.string().regex(/^https?:\/\//, 'an http:// or https:// URL'),
  index: z.string().min(1),
  /** Ignored (mapping types were removed in Elasticsearch 7); accepted so AWS rules load unchanged. */
  type: z.string().optional(),
  id: z.string().min(1),
  role_arn: z.string().optional(),
});

export type ElasticsearchConfig = ReturnType<typeof schema.parse>;

export interface ElasticsearchSinkOptions {
  readonly settings?: ElasticsearchSettings;
  /** The client's Connection class; tests pass `@elastic/elasticsearch-mock`'s. */
  readonly connection?: typeof BaseConnection;
}

type Flavor = 'elasticsearch' | 'opensearch';

export function createElasticsearchDefinition(options: ElasticsearchSinkOptions = {}): SinkDefinition<ElasticsearchConfig, Pick<ActionDeps, 'aws'>> {
  return definition('elasticsearch', 'Indexes each rule output as an Elasticsearch document (bulk API; endpoint, index, id)', options);
}

export function createOpenSearchDefinition(options: ElasticsearchSinkOptions = {}): SinkDefinition<ElasticsearchConfig, Pick<ActionDeps, 'aws'>> {
  return definition('opensearch', 'Indexes each rule output as an OpenSearch document (bulk API; endpoint, index, id)', options);
}

/** The definitions with no kiot overrides. */
export const elasticsearchAction = createElasticsearchDefinition();
export const opensearchAction = createOpenSearchDefinition();

function definition(flavor: Flavor, summary: string, options: ElasticsearchSinkOptions): SinkDefinition<ElasticsearchConfig, Pick<ActionDeps, 'aws'>> {
  return {
    type: flavor,
    awsKey: flavor === 'opensearch' ? 'openSearch' : 'elasticsearch',
    summary,
    config: schema,
    resourceParams: ['index'],
    maxBatchSize: ELASTICSEARCH_MAX_BATCH_SIZE,
    create: (config, deps) => new SearchSink(flavor, config, { ...options, settings: options.settings ?? deps.aws.elasticsearch }),
  };
}

type ElasticSdk = typeof import('@elastic/elasticsearch');
let sdk: Promise<{ m: ElasticSdk; OpenSearchTransport: ElasticSdk['Transport'] }> | undefined;

/**
 * The client loads on first use (its import costs about half a second, which every `kiot`
 * command would pay through the action catalogue). OpenSearch answers without
 * `x-elastic-product` and rejects `application/vnd.elasticsearch+json`, so the opensearch kind
 * uses a transport without the product check and with plain JSON media types.
 */
const loadSdk = () =>
  (sdk ??= import('@elastic/elasticsearch').then((m) => {
    class OpenSearchTransport extends m.Transport {
      constructor(opts: TransportOptions) {
        super({
          ...opts,
          productCheck: undefined, // the transport reads undefined as "no product check"
          vendoredHeaders: { jsonContentType: 'application/json', ndjsonContentType: 'application/x-ndjson', accept: 'application/json' },
        });
      }
    }
    return { m, OpenSearchTransport };
  }));

interface BulkItemResult {
  status?: number;
  error?: { type?: string; reason?: string | null } | null;
}

class SearchSink implements Sink<ElasticsearchConfig> {
  readonly #clients = new Map<string, Promise<Client>>();
  #closed = false;

  constructor(
    private readonly flavor: Flavor,
    private readonly config: ElasticsearchConfig,
    private readonly options: ElasticsearchSinkOptions,
  ) {}

  #endpoint(record?: ActionRecord<ElasticsearchConfig>): string {
    return this.options.settings?.endpoint ?? (record ? record.params.endpoint : this.config.endpoint);
  }

  #client(endpoint: string): Promise<Client> {
    let client = this.#clients.get(endpoint);
    if (!client) {
      client = loadSdk().then(({ m, OpenSearchTransport }) => {
        const opts: ClientOptions = {
          node: endpoint,
          // kiot's one retry policy retries failed records; the client's own retries would multiply it.
          maxRetries: 0,
          requestTimeout: this.options.settings?.requestTimeoutMs ?? DEFAULT_ELASTICSEARCH_REQUEST_TIMEOUT_MS,
          ...(this.options.connection ? { Connection: this.options.connection } : {}),
          ...(this.flavor === 'opensearch' ? { Transport: OpenSearchTransport } : {}),
        };
        return new m.Client(opts);
      });
      this.#clients.set(endpoint, client);
    }
    return client;
  }

  async connect(signal: AbortSignal): Promise<void> {
    const endpoint = this.#endpoint();
    try {
      // Any HTTP answer means the cluster is reachable; only transport errors mean it is not.
      await (await this.#client(endpoint)).ping({}, { signal });
    } catch (err) {
      if (isUnreachable(err)) throw this.#unavailable(endpoint, err);
    }
  }

  async writeBatch(records: readonly ActionRecord<ElasticsearchConfig>[], signal: AbortSignal): Promise<void> {
    const failures: RecordFailure[] = [];
    const byEndpoint = new Map<string, { index: number; action: object; doc: object }[]>();
    records.forEach((record, index) => {
      const { index: target, id } = record.params;
      const doc = toJsonSafe(record.output);
      if (!target) failures.push({ index, message: `${this.flavor}: index rendered empty`, retriable: false });
      else if (!id) failures.push({ index, message: `${this.flavor}: id rendered empty`, retriable: false });
      else if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
        failures.push({ index, message: `${this.flavor}: the rule output is not a JSON object, so it cannot be a document`, retriable: false });
      } else {
        const endpoint = this.#endpoint(record);
        const list = byEndpoint.get(endpoint) ?? [];
        list.push({ index, action: { index: { _index: target, _id: id } }, doc });
        byEndpoint.set(endpoint, list);
      }
    });
    let unreachable: { endpoint: string; err: unknown } | undefined;
    await Promise.all(
      [...byEndpoint].map(async ([endpoint, entries]) => {
        try {
          const response = await (await this.#client(endpoint)).bulk(
            { operations: entries.flatMap((e) => [e.action, e.doc]) },
            { signal },
          );
          response.items.forEach((item, i) => {
            const result = (item.index ?? Object.values(item)[0]) as BulkItemResult | undefined;
            const status = result?.status ?? 500;
            if (!result?.error && status < 300) return;
            const reason = result?.error ? `${result.error.type ?? 'error'}: ${result.error.reason ?? ''}` : `status ${status}`;
            failures.push({ index: entries[i]!.index, message: `${this.flavor}: ${reason} (status ${status})`, retriable: status === 429 || status >= 500 });
          });
          if (response.items.length < entries.length) {
            for (const e of entries.slice(response.items.length)) failures.push({ index: e.index, message: `${this.flavor}: no result in the bulk response`, retriable: true });
          }
        } catch (err) {
          const retriable = isUnreachable(err) || isRetriableStatus(err);
          if (isUnreachable(err)) unreachable ??= { endpoint, err };
          for (const e of entries) failures.push({ index: e.index, message: `${this.flavor}: ${describe(err)}`, retriable });
        }
      }),
    );
    endBatch(this.flavor, failures, records.length, unreachable && this.#unavailable(unreachable.endpoint, unreachable.err));
  }

  #unavailable(endpoint: string, err: unknown): PlatformError {
    return sinkUnavailable(`${this.flavor} at ${redact(endpoint)}`, describe(err), err);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(clients.map(async (c) => (await c).close()));
  }
}

// The client's error classes, by name (they set it), so that checking needs no loaded client.
const UNREACHABLE = new Set(['ConnectionError', 'TimeoutError', 'NoLivingConnectionsError', 'RequestAbortedError']);
const nameOf = (err: unknown): string | undefined => (err as { name?: string } | undefined)?.name;
const statusOf = (err: unknown): number => (err as { statusCode?: number }).statusCode ?? 0;

function isUnreachable(err: unknown): boolean {
  return UNREACHABLE.has(nameOf(err) ?? '');
}

function isRetriableStatus(err: unknown): boolean {
  if (nameOf(err) !== 'ResponseError') return false;
  const status = statusOf(err);
  return status === 429 || status >= 500;
}

function describe(err: unknown): string {
  if (nameOf(err) === 'ProductNotSupportedError') return 'the endpoint is not Elasticsearch (for OpenSearch use the opensearch action)';
  if (nameOf(err) === 'ResponseError') return `status ${statusOf(err)}: ${(err as Error).message}`;
  return `${nameOf(err) ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`;
}

/** Endpoints may carry credentials in their userinfo; never put those in errors or logs. */
function redact(endpoint: string): string {
  return endpoint.replace(/\/\/[^@/]*@/, '//***@');
}
