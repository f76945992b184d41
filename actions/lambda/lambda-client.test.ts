import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { verifySigV4 } from '../../api/index.js';
import { invokeLambda } from './lambda-client.js';

// A local Invoke API that records whether each call was signed, checked with kiot's own verifier.
const calls: { path: string; signedBy: string | undefined }[] = [];
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let signedBy: string | undefined;
    if (req.headers.authorization) {
      const identity = verifySigV4(
        { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) },
        { now: Date.now(), secretFor: (id) => (id === 'AKIDLAMBDA' ? 'lambda-secret' : undefined), services: new Set(['lambda']) },
      );
      signedBy = `${identity.accessKeyId}@${identity.region}`;
    }
    calls.push({ path: req.url!, signedBy });
    res.writeHead(202).end();
  });
});
let endpoint: string;

beforeAll(async () => {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDLAMBDA');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'lambda-secret');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  vi.unstubAllEnvs();
  server.close();
});

test('Invoke is signed for the signing region when one is set (AWS), and unsigned otherwise (LocalStack)', async () => {
  const arn = 'arn:aws:lambda:eu-central-1:000000000000:function:alert';
  expect((await invokeLambda({ endpoint, signingRegion: 'eu-central-1' }, arn, Buffer.from('{}'), 'Event')).status).toBe(202);
  expect((await invokeLambda({ endpoint }, 'alert', Buffer.from('{}'), 'Event')).status).toBe(202);
  expect(calls).toEqual([
    { path: `/2015-03-31/functions/${encodeURIComponent(arn)}/invocations`, signedBy: 'AKIDLAMBDA@eu-central-1' },
    { path: '/2015-03-31/functions/alert/invocations', signedBy: undefined },
  ]);
});
