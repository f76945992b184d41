import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { errors, type BaseConnection } from '@elastic/elasticsearch';
import { afterEach, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { blackHole, closedPort, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createElasticsearchDefinition, createOpenSearchDefinition } from './elasticsearch-sink.js';

type Doc = Record<string, unknown>;

/** The part of @elastic/elasticsearch-mock used here. */
interface ClientMock {
  add(pattern: { method: string | string[]; path: string }, resolver: (params: { body?: unknown }) => unknown): ClientMock;
  clear(pattern: { method: string | string[]; path: string }): ClientMock;
  getConnection(): typeof BaseConnection;
}
// The mock is CommonJS (`module.exports = Mock`) while its types declare an ES default export,
// which NodeNext resolution cannot reconcile; load it as what it is.
const Mock = createRequire(import.meta.url)('@elastic/elasticsearch-mock') as new () => ClientMock;

/** The mock's Connection has no close(), which Client.close() calls; a real connection does. */
function closableConnection(mock: ClientMock): typeof BaseConnection {
  const MockConnection = mock.getConnection();
  return class extends MockConnection {
    override async close(): Promise<void> {}
  };
}

/**
 * Elastic's mock behind a tiny document store: `_bulk` indexes each document, except those
 * whose `fail` field asks for a mapping error (400) or a full queue (429), as a cluster does.
 */
function mockCluster() {
  const mock = new Mock();
  const store = new Map<string, Doc>();
  let bulkCalls = 0;
  mock.add({ method: 'HEAD', path: '/' }, () => '');
  mock.add({ method: ['POST', 'PUT'], path: '/_bulk' }, (params) => {
    bulkCalls++;
    const lines = params.body as Doc[];
    const items = [];
    for (let i = 0; i < lines.length; i += 2) {
      const { _index, _id } = (lines[i] as { index: { _index: string; _id: string } }).index;
      const doc = lines[i + 1] as Doc;
      if (doc['fail'] === 'mapping') {
        items.push({ index: { _index, _id, status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [t]' } } });
      } else if (doc['fail'] === 'busy') {
        items.push({ index: { _index, _id, status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue is full' } } });
      } else {
        store.set(`${_index}/${_id}`, doc);
        items.push({ index: { _index, _id, status: 201, result: 'created' } });
      }
    }
    return { took: 1, errors: items.some((i) => i.index.status >= 300), items };
  });
  return { mock, store, bulkCalls: () => bulkCalls };
}

const RULE = { endpoint: 'http://127.0.0.1:9200', index: 'telemetry-${topic(2)}', id: '${newuuid()}', type: '_doc' };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('elasticsearch (through @elastic/elasticsearch-mock)', () => {
  test('a batch is one bulk request; every document lands under its rendered index and id', async () => {
    const cluster = mockCluster();
    const def = createElasticsearchDefinition({ connection: closableConnection(cluster.mock) });
    const sink = def.create(def.config.parse(RULE), testDeps());
    await sink.connect(signal());
    const records = Array.from({ length: 30 }, (_, i) => testRecord({ temperature: i, raw: Buffer.from('hi') }, { ...RULE, index: `telemetry-d${i % 3}`, id: `id-${i}` }, i));
    await sink.writeBatch(records, signal());
    expect(cluster.bulkCalls()).toBe(1);
    expect(cluster.store.size).toBe(30);
    expect(cluster.store.get('telemetry-d2/id-5')).toEqual({ temperature: 5, raw: 'aGk=' });
    await sink.close();
    await sink.close();
  });

  test('items the bulk response reports as failed are exactly the failed records; 429 is retriable, 400 is not', async () => {
    const cluster = mockCluster();
    const def = createElasticsearchDefinition({ connection: closableConnection(cluster.mock) });
    const sink = def.create(def.config.parse(RULE), testDeps());
    const failAt: Record<number, string> = { 2: 'mapping', 5: 'busy', 7: 'mapping' };
    const records = Array.from({ length: 10 }, (_, i) => testRecord({ n: i, ...(failAt[i] ? { fail: failAt[i] } : {}) }, { ...RULE, index: 'ix', id: `r${i}` }, i));
    const err = await sink.writeBatch(records, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([
      [2, false],
      [5, true],
      [7, false],
    ]);
    expect(failures[0]!.message).toMatch(/mapper_parsing_exception/);
    expect([...cluster.store.keys()].sort()).toEqual(['ix/r0', 'ix/r1', 'ix/r3', 'ix/r4', 'ix/r6', 'ix/r8', 'ix/r9']);
    await sink.close();
  });

  test('an output that is not an object fails alone; a whole-request 503 fails the batch retriable, a 400 fails each record for good', async () => {
    const cluster = mockCluster();
    const def = createElasticsearchDefinition({ connection: closableConnection(cluster.mock) });
    const sink = def.create(def.config.parse(RULE), testDeps());
    const err = await sink.writeBatch([testRecord({ ok: 1 }, { ...RULE, index: 'ix', id: 'a' }, 0), testRecord(42, { ...RULE, index: 'ix', id: 'b' }, 1)], signal()).catch((e: unknown) => e);
    expect((err as SinkBatchError).failures.map((f) => [f.index, f.retriable])).toEqual([[1, false]]);

    for (const [status, retriable] of [[503, true], [400, false]] as const) {
      cluster.mock.clear({ method: ['POST', 'PUT'], path: '/_bulk' });
      cluster.mock.add({ method: ['POST', 'PUT'], path: '/_bulk' }, () => new errors.ResponseError({ body: { error: 'nope' }, statusCode: status, headers: {}, warnings: [], meta: {} as never }));
      const e = await sink.writeBatch([testRecord({ ok: 1 }, { ...RULE, index: 'ix', id: 'c' }, 0), testRecord({ ok: 2 }, { ...RULE, index: 'ix', id: 'd' }, 1)], signal()).catch((x: unknown) => x);
      // Every record failed retriably: the one ending for that is a whole-batch SINK_UNAVAILABLE (endBatch).
      if (retriable) expect(e).toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true, message: expect.stringContaining('503') });
      else expect((e as SinkBatchError).failures.map((f) => [f.index, f.retriable])).toEqual([[0, false], [1, false]]);
    }
    await sink.close();
  });
});

/** A loopback server speaking just enough of OpenSearch's bulk API (no Elastic product header). */
async function fakeOpenSearch(): Promise<{ url: string; docs: Doc[]; contentTypes: string[]; server: Server }> {
  const docs: Doc[] = [];
  const contentTypes: string[] = [];
  const read = async (req: IncomingMessage) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    return text;
  };
  const server = createServer(async (req, res) => {
    contentTypes.push(String(req.headers['content-type'] ?? ''));
    const body = await read(req);
    if (req.url?.startsWith('/_bulk')) {
      const lines = body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Doc);
      const items = [];
      for (let i = 0; i < lines.length; i += 2) {
        docs.push(lines[i + 1]!);
        items.push({ index: { ...(lines[i] as { index: Doc }).index, status: 201 } });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ took: 1, errors: false, items }));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, docs, contentTypes, server };
}

describe('opensearch and real HTTP', () => {
  test('opensearch sends plain ndjson and accepts a server without the Elastic product header; elasticsearch refuses it', async () => {
    const os = await fakeOpenSearch();
    cleanups.push(() => new Promise((resolve) => os.server.close(() => resolve())));
    const params = { endpoint: os.url, index: 'ix', id: 'a' };
    const osDef = createOpenSearchDefinition();
    const osSink = osDef.create(osDef.config.parse(params), testDeps());
    await osSink.writeBatch([testRecord({ t: 1 }, params, 0)], signal());
    expect(os.docs).toEqual([{ t: 1 }]);
    expect(os.contentTypes).toContain('application/x-ndjson');
    await osSink.close();

    const esDef = createElasticsearchDefinition();
    const esSink = esDef.create(esDef.config.parse(params), testDeps());
    const err = await esSink.writeBatch([testRecord({ t: 2 }, params, 0)], signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkBatchError);
    expect((err as SinkBatchError).failures[0]).toMatchObject({ index: 0, retriable: false, message: expect.stringMatching(/not Elasticsearch/) });
    await esSink.close();
  });

  test('a cluster that is down, or never answers, rejects with a retriable SINK_UNAVAILABLE', async () => {
    const port = await closedPort();
    const params = { endpoint: `http://127.0.0.1:${port}`, index: 'ix', id: 'a' };
    const def = createElasticsearchDefinition();
    const sink = def.create(def.config.parse(params), testDeps());
    await expect(sink.connect(signal())).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
    const err = await sink.writeBatch([testRecord({ t: 1 }, params)], signal()).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(SinkBatchError);
    expect(err).toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
    await sink.close();

    const hole = await blackHole();
    cleanups.push(() => hole.close());
    const stalled = createOpenSearchDefinition({ settings: { endpoint: `http://127.0.0.1:${hole.port}`, requestTimeoutMs: 300 } });
    const sink2 = stalled.create(stalled.config.parse(params), testDeps());
    await expect(sink2.writeBatch([testRecord({ t: 1 }, params)], signal())).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
    await sink2.close();
  });
});
