import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { loadConfig, silentLogger, TOPICS, type Log } from '../../core/index.js';
import { createRulesService, type RulesService, type RulesServiceOptions } from './index.js';
import { closeTestLog, envelopesOf, openTestLog, publish, readN, waitFor } from './test-helpers.js';
import { serveLoopback } from '../../core/testing/http-server.js';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A loopback HTTP server whose answer the test picks per request. */
async function startServer(answer: (req: Received) => { status: number; body?: string; headers?: Record<string, string> }): Promise<{ url: string; port: number; received: Received[]; close(): Promise<void>; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      received.push(r);
      const a = answer(r);
      res.writeHead(a.status, a.headers).end(a.body ?? '');
    });
  });
  return { ...(await serveLoopback(server)), received, server };
}

let dir: string;
let log: Log;
let cleanups: (() => Promise<void>)[];

beforeEach(async () => ({ dir, log, cleanups } = await openTestLog('kiot-rules-act-')));
afterEach(() => closeTestLog({ dir, log, cleanups }));

const FAST_RETRY = { retries: 3, initialBackoffMs: 30, maxBackoffMs: 100 };

async function start(rules: string, options: RulesServiceOptions = {}): Promise<RulesService> {
  const rulesDir = join(dir, 'rules');
  await mkdir(rulesDir, { recursive: true });
  await writeFile(join(rulesDir, 'rules.sql'), rules);
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), rulesDir }, env: {} });
  const service = createRulesService(config.rules, { log, logger: silentLogger(), options: { retry: FAST_RETRY, useTable: false, ...options } });
  cleanups.push(() => service.stop());
  await service.start();
  const failed = service.list().rules.filter((r) => r.state !== 'enabled');
  expect(failed).toEqual([]);
  return service;
}

describe('actions end to end (embedded log, loopback servers)', () => {
  test('http: url template, headers and basic auth reach a local server', async () => {
    const server = await startServer(() => ({ status: 200 }));
    cleanups.push(server.close);
    await start(`CREATE RULE web AS SELECT temperature FROM 'h/+' DO http(url = '${server.url}/in/\${topic(2)}', confirmation_url = '${server.url}/', headers = [{key: 'x-device', value: '\${clientid()}'}], auth = {basic: {username: 'u', password: 'p'}});`);
    await publish(log, [{ topic: 'h/dev1', clientId: 'c1', payload: Buffer.from('{"temperature": 21}') }]);
    await waitFor(() => server.received.length === 1, 10_000, 'the request');
    expect(server.received[0]).toMatchObject({ method: 'POST', url: '/in/dev1', body: '{"temperature":21}' });
    expect(server.received[0]!.headers['x-device']).toBe('c1');
    expect(server.received[0]!.headers['authorization']).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  test('lambda action and the aws_lambda SQL function use the Invoke API', async () => {
    const server = await startServer((req) => {
      const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(req.url);
      if (!match || req.method !== 'POST') return { status: 404 };
      const fn = decodeURIComponent(match[1]!);
      if (req.headers['x-amz-invocation-type'] === 'Event') return { status: 202 };
      if (fn.endsWith(':function:double')) return { status: 200, body: JSON.stringify({ doubled: JSON.parse(req.body).x * 2 }) };
      return { status: 200, body: '{"errorMessage":"boom"}', headers: { 'x-amz-function-error': 'Unhandled' } };
    });
    cleanups.push(server.close);
    await start(
      `CREATE RULE fn AS SELECT aws_lambda('arn:aws:lambda:us-east-1:123456789012:function:double', {"x": x}).doubled AS d FROM 'l/in' DO lambda(function_arn = 'notify-\${topic(1)}');`,
      { lambdaEndpoint: server.url },
    );
    await publish(log, [{ topic: 'l/in', payload: Buffer.from('{"x": 21}') }]);
    await waitFor(() => server.received.some((r) => r.headers['x-amz-invocation-type'] === 'Event'), 10_000, 'the Event invoke');
    const event = server.received.find((r) => r.headers['x-amz-invocation-type'] === 'Event')!;
    expect(event.url).toBe('/2015-03-31/functions/notify-l/invocations');
    expect(JSON.parse(event.body)).toEqual({ d: 42 });
  });

  test('cloudwatch_metric data points appear on the Prometheus registry', async () => {
    const service = await start(`CREATE RULE cw AS SELECT * FROM 'cw/+' DO cloudwatch_metric(metric_namespace = 'plant', metric_name = '\${topic(2)}', metric_value = '\${temperature}', metric_unit = 'None');`);
    await publish(log, [
      { topic: 'cw/oven', clientId: 'o', payload: Buffer.from('{"temperature": 20}') },
      { topic: 'cw/oven', clientId: 'o', payload: Buffer.from('{"temperature": 21.5}') },
    ]);
    await waitFor(() => service.list().rules[0]!.counters.actionsOk === 2, 10_000, 'two data points');
    const text = await service.metricsRegistry.metrics();
    expect(text).toContain('kiot_cloudwatch_metric_value{namespace="plant",metric="oven",unit="None"} 21.5');
    expect(text).toContain('kiot_cloudwatch_metric_sum{namespace="plant",metric="oven",unit="None"} 41.5');
    expect(text).toContain('kiot_rule_matched_total{rule="cw"} 2');
  });
});

describe('faults', () => {
  test('http target down then back: nothing lost, error action after the bound, other rules not held', async () => {
    let down = true;
    const server = await startServer(() => ({ status: down ? 503 : 200 }));
    cleanups.push(server.close);
    const service = await start(
      `CREATE RULE web AS SELECT * FROM 'f/+' DO http(url = '${server.url}/x') ERROR DO republish(topic = 'errors/\${topic(2)}');
       CREATE RULE side AS SELECT * FROM 'f/+' DO republish(topic = 'side');`,
    );
    // First message: the target stays down past the retry bound -> one error message, AWS's shape.
    await publish(log, [{ topic: 'f/a', clientId: 'dev-a', payload: Buffer.from('{"n":1}') }]);
    const [errorEnvelope] = envelopesOf(await readN(log, TOPICS.egress, 2)).filter((e) => e.topic === 'errors/a');
    expect(errorEnvelope).toBeDefined();
    const error = JSON.parse(errorEnvelope!.payload.toString());
    expect(error).toMatchObject({
      ruleName: 'web',
      topic: 'f/a',
      clientId: 'dev-a',
      base64OriginalPayload: Buffer.from('{"n":1}').toString('base64'),
      failures: [{ failedAction: 'HttpAction', failedResource: `${server.url}/x`, errorMessage: expect.stringContaining('503') }],
    });
    expect(typeof error.cloudwatchTraceId).toBe('string');
    expect(server.received.length).toBe(FAST_RETRY.retries + 1);
    // Second message: down for its first attempts, then back -> delivered, no error message.
    const before = server.received.length;
    await publish(log, [{ topic: 'f/b', clientId: 'dev-b', payload: Buffer.from('{"n":2}') }]);
    await waitFor(() => server.received.length >= before + 2, 10_000, 'a retry');
    down = false;
    await waitFor(() => service.list().rules.find((r) => r.name === 'web')!.counters.actionsOk === 1, 10_000, 'delivery after recovery');
    expect(server.received.at(-1)!.body).toBe('{"n":2}');
    const web = service.list().rules.find((r) => r.name === 'web')!;
    expect(web.counters).toMatchObject({ matched: 2, actionsOk: 1, actionsFailed: 1, errorActions: 1, deadLetters: 0 });
    expect(service.list().rules.find((r) => r.name === 'side')!.counters.actionsOk).toBe(2);
  });

  test('a 4xx answer is not retried; a failing error action sends the message to the dead-letter topic', async () => {
    const server = await startServer(() => ({ status: 400 }));
    cleanups.push(server.close);
    const service = await start(`CREATE RULE bad AS SELECT * FROM 'g' DO http(url = '${server.url}/x') ERROR DO http(url = '${server.url}/err');`);
    await publish(log, [{ topic: 'g', payload: Buffer.from('{"n":3}') }]);
    const [dead] = await readN(log, TOPICS.deadLetter, 1);
    const message = JSON.parse(dead!.value!.toString());
    expect(message.ruleName).toBe('bad');
    expect(message.failures.map((f: { failedAction: string; failedResource: string }) => [f.failedAction, f.failedResource])).toEqual([
      ['HttpAction', `${server.url}/x`],
      ['HttpAction', `${server.url}/err`],
    ]);
    expect(server.received.map((r) => r.url)).toEqual(['/x', '/err']);
    expect(service.list().rules[0]!.counters).toMatchObject({ actionsFailed: 1, deadLetters: 1 });
  });
});
