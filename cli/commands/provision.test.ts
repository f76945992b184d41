/**
 * `kiot provision bulk` against a real kiot started in this process (`kiot up`'s wiring, embedded
 * log): a run with a summary and reports, a template by name, and a run SIGKILLed in a child
 * process that resumes with no certificate or report line twice.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateProvisioningTemplateCommand, DescribeThingCommand, IoTClient, ListThingPrincipalsCommand } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { TSX_LOADER } from '../../core/testing/child-process.js';
import { makeCsr } from '../../provisioning/testing/csr.js';
import { KIOT_MAIN, runCommand, startTestPlatform, type TestPlatform } from '../testing.js';
import { register } from './provision.js';

let kiot: TestPlatform;
let iot: IoTClient;
const THING_TEMPLATE = JSON.stringify({
  Parameters: { ThingName: { Type: 'String' }, Site: { Type: 'String', Default: 'north', AllowedValues: ['north', 'south'] } },
  Resources: { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'ThingName' }, AttributePayload: { site: { Ref: 'Site' } } } } },
});

beforeAll(async () => {
  kiot = await startTestPlatform();
  iot = kiot.client(IoTClient);
}, 60_000);

afterAll(async () => {
  await kiot?.stop();
});

const kiotProvision = (...args: string[]) => runCommand(register, 'provision', kiot, args);

const readLines = async (path: string) => (await readFile(path, 'utf8')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

test('a file of lines with a template by name: summary, reports, and exit 1 when a line failed', async () => {
  await iot.send(new CreateProvisioningTemplateCommand({ templateName: 'sites', templateBody: THING_TEMPLATE, provisioningRoleArn: 'arn:aws:iam::123456789012:role/p' }));
  const file = join(kiot.dir, 'devices.jsonl');
  const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ ThingName: `cli-${i}`, ...(i % 2 ? { Site: 'south' } : {}) }));
  lines[10] = '{"ThingName": ';
  lines[20] = JSON.stringify({ ThingName: 'cli-20', Site: 'east' });
  await writeFile(file, `${lines.join('\n')}\n`);
  const run = await kiotProvision('bulk', file, '--template', 'sites', '--batch', '100');
  expect(run.exitCode).toBe(1);
  expect(run.stdout).toMatch(/^provisioned 998, failed 2, of 1000 lines in \d+\.\d s \(\d+ lines\/s\)\nresults: .*devices\.results\.jsonl\nerrors: .*devices\.errors\.jsonl\n$/);
  expect((await iot.send(new DescribeThingCommand({ thingName: 'cli-999' }))).attributes).toEqual({ site: 'south' });
  const results = await readLines(join(kiot.dir, 'devices.results.jsonl'));
  expect(results).toHaveLength(998);
  expect(results[0]).toEqual({ offset: 0, response: { ResourceArns: { thing: expect.stringMatching(/:thing\/cli-0$/) } } });
  const errors = await readLines(join(kiot.dir, 'devices.errors.jsonl'));
  expect(errors.map((e) => [e['offset'], e['errorMessage']])).toEqual([
    [10, expect.stringMatching(/^line 11: not JSON/)],
    [20, 'parameters.Site: expected one of "north", "south", received "east"'],
  ]);
  expect(existsSync(`${file}.progress.json`)).toBe(false);
}, 60_000);

test('bad input: a missing file, an unknown template, a bad --batch: one line and exit 1', async () => {
  expect(await kiotProvision('bulk', join(kiot.dir, 'none.jsonl'), '--template', 'sites')).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/^kiot provision bulk: .*none\.jsonl: no such file\n$/) });
  const file = join(kiot.dir, 'one.jsonl');
  await writeFile(file, '{"ThingName":"one"}\n');
  expect(await kiotProvision('bulk', file, '--template', 'nope')).toMatchObject({ exitCode: 1, stderr: 'kiot provision bulk: HTTP 404 ResourceNotFoundException: provisioning template nope does not exist\n' });
  expect(await kiotProvision('bulk', file, '--template', 'sites', '--batch', '0')).toMatchObject({ exitCode: 1, stderr: 'kiot provision bulk: --batch: expected an integer from 1 to 1000, received 0\n' });
});

test('a run killed mid-way resumes where it stopped: one certificate per line, every report line once', async () => {
  const template = join(kiot.dir, 'csr-template.json');
  await writeFile(
    template,
    JSON.stringify({
      Parameters: { ThingName: { Type: 'String' }, CSR: { Type: 'String' } },
      Resources: {
        thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'ThingName' } } },
        certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateSigningRequest: { Ref: 'CSR' }, Status: 'ACTIVE' } },
      },
    }),
  );
  const count = 400;
  const file = join(kiot.dir, 'killed.jsonl');
  const csrs = await Promise.all(Array.from({ length: count }, (_, i) => makeCsr(`k-${i}`)));
  await writeFile(file, csrs.map((csr, i) => JSON.stringify({ ThingName: `k-${i}`, CSR: csr })).join('\n'));
  const args = ['provision', 'bulk', file, '--template', template, '--batch', '20', '--endpoint', kiot.http(), '--data-dir', join(kiot.dir, 'data')];
  const child = spawn(process.execPath, ['--import', TSX_LOADER, KIOT_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const progressFile = `${file}.progress.json`;
  // Killed once it has recorded some batches (whatever it has in flight then is sent again on resume).
  for (let i = 0; i < 600; i++) {
    if (existsSync(progressFile) && JSON.parse(await readFile(progressFile, 'utf8').catch(() => '{"line":0}')).line >= 100) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  const killedAt = JSON.parse(await readFile(progressFile, 'utf8')) as { line: number };
  expect(killedAt.line).toBeGreaterThanOrEqual(100);
  expect(killedAt.line).toBeLessThan(count);

  const resumed = await kiotProvision('bulk', file, '--template', template, '--batch', '20');
  expect(resumed.stderr).toMatch(/^resuming at line \d+/);
  expect(resumed).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(new RegExp(`^provisioned ${count}, failed 0, of ${count} lines`)) });
  const results = await readLines(join(kiot.dir, 'killed.results.jsonl'));
  expect(results.map((r) => r['offset'])).toEqual(Array.from({ length: count }, (_, i) => i));
  const certificates = new Set(results.map((r) => r['response'].ResourceArns.certificate as string));
  expect(certificates.size).toBe(count);
  // No line made a second certificate: each thing has exactly the one its result names.
  const inFlight = Array.from({ length: Math.min(40, count - killedAt.line) }, (_, j) => killedAt.line + j);
  for (const i of [0, Math.floor(killedAt.line / 2), ...inFlight, count - 1]) {
    const principals = (await iot.send(new ListThingPrincipalsCommand({ thingName: `k-${i}` }))).principals;
    expect(principals).toEqual([results[i]!['response'].ResourceArns.certificate]);
  }
}, 120_000);
