import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { verifySigV4 } from '../../api/index.js';
import { silentLogger, systemClock, type ActionRecord } from '../../core/index.js';
import { httpAction } from './http.js';

// A local endpoint that checks AWS Signature V4 with kiot's own verifier (api/sigv4.ts).
const received: { identity: unknown; body: string }[] = [];
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    try {
      const identity = verifySigV4(
        { method: req.method!, url: req.url!, headers: (req as IncomingMessage).headers, body },
        { now: Date.now(), secretFor: (id) => (id === 'AKIDHTTPACTION' ? 'secret-of-the-http-action' : undefined), services: new Set(['execute-api']) },
      );
      received.push({ identity, body: body.toString() });
      res.writeHead(200).end();
    } catch (err) {
      res.writeHead(403).end((err as Error).message);
    }
  });
});
let url: string;

beforeAll(async () => {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDHTTPACTION');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret-of-the-http-action');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prod/ingest?source=kiot`;
});
afterAll(() => {
  vi.unstubAllEnvs();
  server.close();
});

const record = <P>(params: P): ActionRecord<P> => ({
  output: { temperature: 91 },
  params,
  ruleName: 'r',
  topic: 'a/b',
  clientId: 'c',
  messageId: 'm',
  payload: Buffer.from('{}'),
  receivedAt: Date.now(),
});

test('auth sigv4 signs each request with the AWS default credentials, as AWS IoT does', async () => {
  const params = { url, auth: { sigv4: { signing_region: 'eu-west-1', service_name: 'execute-api', role_arn: 'arn:aws:iam::000000000000:role/http' } } };
  const sink = httpAction.create(httpAction.config.parse(params), { logger: silentLogger(), clock: systemClock });
  await sink.writeBatch([record(params)], new AbortController().signal);
  expect(received).toEqual([{ identity: expect.objectContaining({ accessKeyId: 'AKIDHTTPACTION', region: 'eu-west-1', service: 'execute-api' }), body: '{"temperature":91}' }]);
});

test('a wrong secret is refused by the endpoint and fails the record without retry', async () => {
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'not-the-secret');
  const params = { url, auth: { sigv4: { signing_region: 'eu-west-1', service_name: 'execute-api' } } };
  const sink = httpAction.create(httpAction.config.parse(params), { logger: silentLogger(), clock: systemClock });
  await expect(sink.writeBatch([record(params)], new AbortController().signal)).rejects.toMatchObject({ failures: [expect.objectContaining({ retriable: false, message: expect.stringContaining('403') })] });
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret-of-the-http-action');
});
