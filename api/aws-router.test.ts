import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PlatformError, silentLogger } from '../core/index.js';
import { createAwsRoutes } from './aws-router.js';
import type { AwsOperation, AwsRequest } from './operation.js';
import { createHttpServer, type HttpServer } from './server.js';

// The router with a stand-in authenticator: what it does around an operation, not SigV4.
const seen: AwsRequest[] = [];
const op = (name: string, method: AwsOperation['method'], path: string, extra: Partial<AwsOperation> = {}): AwsOperation => ({
  name,
  method,
  path,
  async handle(request) {
    seen.push(request);
    return { op: name, params: request.params };
  },
  ...extra,
});
const operations: AwsOperation[] = [
  op('Labelled', 'PUT', '/groups/{groupName}'),
  op('Literal', 'PUT', '/groups/special'),
  op('Greedy', 'POST', '/topics/{topic+}', { successStatus: 202 }),
  op('Raw', 'POST', '/raw/{id}', { bodyFormat: 'raw' }),
  op('Fails', 'GET', '/fails/{kind}', {
    async handle(request) {
      if (request.params['kind'] === 'exists') throw new PlatformError('REGISTRY_ALREADY_EXISTS', 'thing x already exists', { details: { resourceId: 'id-1', resourceArn: 'arn:x' } });
      if (request.params['kind'] === 'custom') throw new PlatformError('INPUT_INVALID', 'weird', { details: { awsErrorType: 'TransferConflictException', awsStatus: 409 } });
      throw new Error('secret internals');
    },
  }),
];
let http: HttpServer;
const ADMIN = { admin: true, allows: () => true, allowsOperation: () => true } as const;
let base: string;

beforeAll(async () => {
  const routes = createAwsRoutes({ operations, logger: silentLogger(), maxBodyBytes: 64, authenticate: () => ({ accessKeyId: 'AKIATEST', region: 'r', service: 'iot', signedAt: 0, ...ADMIN }) });
  http = createHttpServer({ logger: silentLogger(), metrics: async () => '', health: () => ({}), routes });
  base = `http://127.0.0.1:${await http.listen('127.0.0.1', 0)}`;
});
afterAll(() => http.close());

describe('AWS router', () => {
  test('literal paths win over labels; labels and greedy labels are decoded', async () => {
    expect(await (await fetch(`${base}/groups/special`, { method: 'PUT' })).json()).toEqual({ op: 'Literal', params: {} });
    expect(await (await fetch(`${base}/groups/a%3Ab`, { method: 'PUT' })).json()).toEqual({ op: 'Labelled', params: { groupName: 'a:b' } });
    const greedy = await fetch(`${base}/topics/a/b%20c/d?qos=1`, { method: 'POST', body: '{"x":1}' });
    expect(greedy.status).toBe(202);
    expect(await greedy.json()).toEqual({ op: 'Greedy', params: { topic: 'a/b c/d' } });
    const last = seen.at(-1)!;
    expect(last.body).toEqual({ x: 1 });
    expect(last.query.get('qos')).toBe('1');
    expect(last.accessKeyId).toBe('AKIATEST');
  });

  test('raw bodies are passed through; bad JSON and oversized bodies get AWS errors', async () => {
    await fetch(`${base}/raw/1`, { method: 'POST', body: 'not json' });
    expect(seen.at(-1)!.rawBody?.toString()).toBe('not json');
    expect(seen.at(-1)!.body).toBeUndefined();
    const bad = await fetch(`${base}/topics/x`, { method: 'POST', body: '{oops' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-amzn-errortype')).toBe('SerializationException');
    const big = await fetch(`${base}/topics/x`, { method: 'POST', body: 'x'.repeat(100) });
    expect(big.status).toBe(413);
    expect(big.headers.get('x-amzn-errortype')).toBe('RequestEntityTooLargeException');
  });

  test('errors map to AWS types, statuses and members; internal errors do not leak', async () => {
    const exists = await fetch(`${base}/fails/exists`);
    expect(exists.status).toBe(409);
    expect(exists.headers.get('x-amzn-errortype')).toBe('ResourceAlreadyExistsException');
    expect(await exists.json()).toEqual({ message: 'thing x already exists', resourceId: 'id-1', resourceArn: 'arn:x' });
    const custom = await fetch(`${base}/fails/custom`);
    expect([custom.status, custom.headers.get('x-amzn-errortype')]).toEqual([409, 'TransferConflictException']);
    const internal = await fetch(`${base}/fails/boom`);
    expect(internal.status).toBe(500);
    expect(internal.headers.get('x-amzn-errortype')).toBe('InternalFailureException');
    expect(JSON.stringify(await internal.json())).not.toContain('secret');
  });

  test('two operations on one method and path are refused at startup', () => {
    expect(() => createAwsRoutes({ operations: [op('A', 'GET', '/x/{a}'), op('B', 'GET', '/x/{a}')], logger: silentLogger(), authenticate: () => ({ accessKeyId: '', region: '', service: '', signedAt: 0, ...ADMIN }) })).toThrow(/A and B/);
  });
});
