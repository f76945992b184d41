/**
 * `kiot topics tail` against a running kiot: what a rule's error action wrote to a topic that no
 * MQTT client reads, and following a topic as it fills.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { TSX_LOADER } from '../../core/testing/child-process.js';
import { waitUntil } from '../../core/testing/run-log-suite.js';
import { KIOT_MAIN, startTestPlatform, type TestPlatform } from '../testing.js';

const run = promisify(execFile);
let kiotUp: TestPlatform;
let data: IoTDataPlaneClient;
const http = () => kiotUp.http();
const kiot = (...args: string[]) => run(process.execPath, ['--import', TSX_LOADER, KIOT_MAIN, 'topics', 'tail', ...args, '--endpoint', http(), '--data-dir', join(kiotUp.dir, 'data')]);

beforeAll(async () => {
  // A DynamoDB action with no region fails every time: the error action gets each message.
  kiotUp = await startTestPlatform({ 'r.sql': "CREATE RULE store AS SELECT * FROM 'plant/+/temp' DO dynamodbv2(table_name = 'temps') ERROR DO kafka(topic = 'rule-errors');\n" });
  data = kiotUp.client(IoTDataPlaneClient);
}, 60_000);

afterAll(async () => kiotUp?.stop());

test("kiot topics tail prints what a rule's error action wrote, newest last", async () => {
  for (const n of [1, 2, 3]) await data.send(new PublishCommand({ topic: `plant/${n}/temp`, qos: 1, payload: Buffer.from(JSON.stringify({ t: 20 + n })) }));
  let lines: string[] = [];
  for (const deadline = Date.now() + 20_000; lines.length < 3 && Date.now() < deadline; ) {
    lines = (await kiot('rule-errors', '--json').catch(() => ({ stdout: '' }))).stdout.trim().split('\n').filter(Boolean);
  }
  const errors = lines.map((l) => JSON.parse(l) as { value: string }).map((r) => JSON.parse(r.value) as { ruleName: string; topic: string; failures: { failedAction: string; errorMessage: string }[] });
  expect(errors.map((e) => e.topic).sort()).toEqual(['plant/1/temp', 'plant/2/temp', 'plant/3/temp']);
  expect(errors[0]).toMatchObject({ ruleName: 'store', failures: [{ failedAction: 'DynamoDBv2Action' }] });
  expect(errors[0]!.failures[0]!.errorMessage).toContain('--aws-region');

  // Plain lines, the last one only, and what is wrong said in one line.
  const last = (await kiot('rule-errors', '-n', '1')).stdout.trim().split('\n');
  expect(last.length).toBeGreaterThanOrEqual(1);
  expect(last[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+ \d+\/\d+ key=\S+ \{.*"ruleName":"store"/);
  await expect(kiot('no-such-topic')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('no topic no-such-topic') });
  await expect(kiot('rule-errors', '-n', 'x')).rejects.toMatchObject({ code: 2 });
}, 60_000);

test('kiot topics tail --follow prints envelopes as they arrive', async () => {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, KIOT_MAIN, 'topics', 'tail', 'iot.ingress', '-n', '1', '--follow', '--endpoint', http(), '--data-dir', join(kiotUp.dir, 'data')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await new Promise((r) => setTimeout(r, 3000));
    await data.send(new PublishCommand({ topic: 'follow/me', qos: 1, payload: Buffer.from('{"hello":"tail"}') }));
    await waitUntil(() => out.includes('follow/me {"hello":"tail"}'), 'the new message followed', 20_000);
  } finally {
    child.kill();
  }
}, 60_000);
