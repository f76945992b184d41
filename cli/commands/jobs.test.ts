/** `kiot jobs` against a real kiot started in this process (embedded log). */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  AddThingToThingGroupCommand,
  CancelJobCommand,
  CreateJobTemplateCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  DescribeJobCommand,
  IoTClient,
} from '@aws-sdk/client-iot';
import { IoTJobsDataPlaneClient, UpdateJobExecutionCommand, type JobExecutionStatus } from '@aws-sdk/client-iot-jobs-data-plane';
import { Command } from 'commander';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runCommand, runKiot, startTestPlatform, type TestPlatform } from '../testing.js';
import { progressBar, register } from './jobs.js';
import type { CliIo } from './sql.js';

let kiot: TestPlatform;
let iot: IoTClient;
let jobsData: IoTJobsDataPlaneClient;
const PUMPS = ['pump-1', 'pump-2', 'pump-3', 'pump-4', 'pump-5'];

beforeAll(async () => {
  kiot = await startTestPlatform();
  iot = kiot.client(IoTClient);
  jobsData = kiot.client(IoTJobsDataPlaneClient);
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'valves' }));
  for (const thing of ['valve-1', 'valve-2', 'gauge-1', ...PUMPS]) await iot.send(new CreateThingCommand({ thingName: thing }));
  for (const thing of ['valve-1', 'valve-2']) await iot.send(new AddThingToThingGroupCommand({ thingName: thing, thingGroupName: 'valves' }));
}, 60_000);

afterAll(async () => {
  await kiot?.stop();
});

const kiotJobs = (...args: string[]) => runCommand(register, 'jobs', kiot, args);

/** What a device reports for its execution, through the jobs data plane. */
const report = (thingName: string, jobId: string, status: JobExecutionStatus) => jobsData.send(new UpdateJobExecutionCommand({ thingName, jobId, status }));

test('kiot jobs create, list, describe, cancel and delete', async () => {
  const document = join(kiot.dir, 'close.json');
  await writeFile(document, '{"op":"close"}');
  const created = await kiotJobs('create', 'close-1', '--group', 'valves', '--thing', 'gauge-1', '--document', document, '--description', 'close the valves');
  expect(created).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/^created arn:aws:iot:us-east-1:\d+:job\/close-1\n$/) });
  expect((await kiotJobs('create', 'open-1', '--thing', 'valve-1', '--document', '{"op":"open"}')).exitCode).toBe(0);

  const listed = (await kiotJobs('list')).stdout.trim().split('\n');
  expect(listed[0]).toMatch(/^JOB\s+STATUS\s+SELECTION\s+CREATED$/);
  expect(listed.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
    ['close-1', 'IN_PROGRESS', 'SNAPSHOT'],
    ['open-1', 'IN_PROGRESS', 'SNAPSHOT'],
  ]);

  const described = (await kiotJobs('describe', 'close-1')).stdout.trim().split('\n');
  expect(described[0]).toMatch(/^close-1 {2}IN_PROGRESS {2}SNAPSHOT {2}created \d{4}-/);
  expect(described.slice(1, 4)).toEqual(['description: close the valves', 'targets: gauge-1, valves', '[░░░░░░░░░░░░░░░░░░░░] 0/3 done  QUEUED 3']);
  expect(described[4]).toMatch(/^THING\s+STATUS\s+NUMBER\s+UPDATED$/);
  expect(described.slice(5).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
    ['gauge-1', 'QUEUED', '1'],
    ['valve-1', 'QUEUED', '1'],
    ['valve-2', 'QUEUED', '1'],
  ]);
  const json = JSON.parse((await kiotJobs('describe', 'close-1', '--json')).stdout) as { job: { description: string }; executions: unknown[] };
  expect([json.job.description, json.executions.length]).toEqual(['close the valves', 3]);

  expect(await kiotJobs('cancel', 'close-1', '--reason-code', 'WRONG', '--comment', 'not these valves')).toMatchObject({ exitCode: 0, stdout: 'canceled close-1\n' });
  const canceled = (await iot.send(new DescribeJobCommand({ jobId: 'close-1' }))).job!;
  expect([canceled.status, canceled.reasonCode, canceled.comment, canceled.forceCanceled]).toEqual(['CANCELED', 'WRONG', 'not these valves', false]);
  expect((await kiotJobs('describe', 'close-1')).stdout).toContain('reason: WRONG: not these valves\n');
  expect((await kiotJobs('list', '--status', 'CANCELED')).stdout).toContain('close-1');
  // A second cancel of a CANCELED job needs --force (which cancels IN_PROGRESS executions too).
  expect(await kiotJobs('cancel', 'close-1')).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/^kiot jobs cancel: HTTP 409 InvalidStateTransitionException[^\n]*\n$/) });
  expect(await kiotJobs('cancel', 'close-1', '--force')).toMatchObject({ exitCode: 0, stdout: 'canceled close-1 (IN_PROGRESS executions too)\n' });
  expect((await iot.send(new DescribeJobCommand({ jobId: 'close-1' }))).job!.forceCanceled).toBe(true);

  expect(await kiotJobs('delete', 'open-1')).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/^kiot jobs delete: HTTP 409 InvalidStateTransitionException[^\n]*\n$/) });
  expect(await kiotJobs('delete', 'open-1', '--force')).toMatchObject({ exitCode: 0, stdout: 'deleted open-1\n' });
  expect((await kiotJobs('list')).stdout).not.toContain('open-1');
});

test('kiot jobs create passes the rollout, abort, retry, timeout and presigned URL configs, and a template', async () => {
  const created = await kiotJobs(
    'create', 'roll-1', '--group', 'valves', '--document', '{"op":"roll"}', '--target-selection', 'CONTINUOUS',
    '--max-per-minute', '50', '--base-rate-per-minute', '5', '--increment-factor', '1.5', '--increase-after-notified', '10', '--increase-after-succeeded', '4',
    '--abort-when', 'FAILED:12.5:20', '--abort-when', 'all:50:10', '--retry', 'TIMED_OUT:2', '--timeout-minutes', '30', '--presigned-url-expiry', '600',
  );
  expect(created).toMatchObject({ exitCode: 0, stderr: '' });
  const job = (await iot.send(new DescribeJobCommand({ jobId: 'roll-1' }))).job!;
  expect(job).toMatchObject({
    targetSelection: 'CONTINUOUS',
    jobExecutionsRolloutConfig: { maximumPerMinute: 50, exponentialRate: { baseRatePerMinute: 5, incrementFactor: 1.5, rateIncreaseCriteria: { numberOfNotifiedThings: 10, numberOfSucceededThings: 4 } } },
    abortConfig: {
      criteriaList: [
        { failureType: 'FAILED', action: 'CANCEL', thresholdPercentage: 12.5, minNumberOfExecutedThings: 20 },
        { failureType: 'ALL', action: 'CANCEL', thresholdPercentage: 50, minNumberOfExecutedThings: 10 },
      ],
    },
    jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'TIMED_OUT', numberOfRetries: 2 }] },
    timeoutConfig: { inProgressTimeoutInMinutes: 30 },
    presignedUrlConfig: { expiresInSec: 600 },
  });
  const described = (await kiotJobs('describe', 'roll-1')).stdout;
  expect(described).toContain('\nrollout: from 5 a minute, x1.5 after each 10 notified or 4 succeeded, at most 50 a minute\n');
  expect(described).toContain('\nabort: CANCEL when FAILED >= 12.5% of at least 20 things; CANCEL when ALL >= 50% of at least 10 things\n');
  expect(described).toContain('\nretry: TIMED_OUT up to 2 times\ntimeout: 30 minutes IN_PROGRESS\n');

  // A job from a template takes its document and configs; the flags override them.
  const { jobTemplateArn } = await iot.send(new CreateJobTemplateCommand({ jobTemplateId: 'tpl-1', description: 'a template', document: '{"op":"tpl"}', timeoutConfig: { inProgressTimeoutInMinutes: 5 } }));
  expect((await kiotJobs('create', 'tpl-job-1', '--thing', 'gauge-1', '--template', 'tpl-1', '--max-per-minute', '7')).exitCode).toBe(0);
  const fromTemplate = (await iot.send(new DescribeJobCommand({ jobId: 'tpl-job-1' }))).job!;
  expect(fromTemplate).toMatchObject({ jobTemplateArn, timeoutConfig: { inProgressTimeoutInMinutes: 5 }, jobExecutionsRolloutConfig: { maximumPerMinute: 7 }, targetSelection: 'SNAPSHOT' });
  expect((await kiotJobs('describe', 'tpl-job-1')).stdout).toContain(`\ntemplate: ${jobTemplateArn}\n`);
  await iot.send(new CancelJobCommand({ jobId: 'roll-1' }));
  await iot.send(new CancelJobCommand({ jobId: 'tpl-job-1' }));
});

test('kiot jobs describe draws a progress bar of the execution states and caps the executions it lists', async () => {
  expect((await kiotJobs('create', 'fw-1', ...PUMPS.flatMap((p) => ['--thing', p]), '--document', '{"op":"update"}')).exitCode).toBe(0);
  await report('pump-1', 'fw-1', 'SUCCEEDED');
  await report('pump-2', 'fw-1', 'SUCCEEDED');
  await report('pump-3', 'fw-1', 'FAILED');
  await report('pump-4', 'fw-1', 'IN_PROGRESS');
  const bar = '[████████████░░░░░░░░] 3/5 done  SUCCEEDED 2  FAILED 1  IN_PROGRESS 1  QUEUED 1';
  await expect.poll(async () => (await kiotJobs('describe', 'fw-1')).stdout.split('\n')).toContain(bar);

  const capped = (await kiotJobs('describe', 'fw-1', '--executions', '2')).stdout.trim().split('\n');
  expect(capped.slice(-5)).toEqual([bar, expect.stringMatching(/^THING\s+STATUS/), expect.stringMatching(/^pump-1\s+SUCCEEDED\s+1\s/), expect.stringMatching(/^pump-2\s+SUCCEEDED\s+1\s/), '... 3 more executions (--executions <n> lists more)']);
  expect(capped.at(-6)).toBe('targets: pump-1, pump-2, pump-3, pump-4, pump-5');
  expect((await kiotJobs('describe', 'fw-1', '--executions', '0')).stdout.trim().split('\n').slice(-2)).toEqual([bar, '... 5 more executions (--executions <n> lists more)']);
  expect((JSON.parse((await kiotJobs('describe', 'fw-1', '--json', '--executions', '4')).stdout) as { executions: unknown[] }).executions).toHaveLength(4);

  expect(progressBar({})).toBe('[░░░░░░░░░░░░░░░░░░░░] 0/0 done');
  expect(progressBar({ numberOfSucceededThings: 10, numberOfFailedThings: 2, numberOfInProgressThings: 3, numberOfQueuedThings: 5 })).toBe('[████████████░░░░░░░░] 12/20 done  SUCCEEDED 10  FAILED 2  IN_PROGRESS 3  QUEUED 5');
  expect(progressBar({ numberOfSucceededThings: 1, numberOfRejectedThings: 1, numberOfTimedOutThings: 1, numberOfCanceledThings: 1, numberOfRemovedThings: 1 })).toBe(
    '[████████████████████] 5/5 done  SUCCEEDED 1  REJECTED 1  TIMED_OUT 1  CANCELED 1  REMOVED 1',
  );
});

test('kiot jobs describe --watch draws a line per change until the job completes or is canceled', async () => {
  expect((await kiotJobs('create', 'watch-1', '--thing', 'pump-1', '--thing', 'pump-2', '--document', '{"op":"watch"}')).exitCode).toBe(0);
  const watching = kiotJobs('describe', 'watch-1', '--watch', '--interval', '0.1');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await report('pump-1', 'watch-1', 'IN_PROGRESS');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await report('pump-1', 'watch-1', 'SUCCEEDED');
  await report('pump-2', 'watch-1', 'SUCCEEDED');
  const watched = await watching;
  expect(watched.exitCode).toBe(0);
  const lines = watched.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^watch-1 {2}IN_PROGRESS {2}SNAPSHOT/);
  // Not a TTY: one line per change, never the same line twice in a row.
  const bars = lines.filter((l) => l.startsWith('['));
  expect(bars[0]).toBe('[░░░░░░░░░░░░░░░░░░░░] 0/2 done  QUEUED 2');
  expect(bars.at(-1)).toBe('[████████████████████] 2/2 done  SUCCEEDED 2');
  expect(bars).toContain('[░░░░░░░░░░░░░░░░░░░░] 0/2 done  IN_PROGRESS 1  QUEUED 1');
  expect(bars.every((b, i) => i === 0 || b !== bars[i - 1])).toBe(true);
  expect(lines.at(-1)).toBe('watch-1 COMPLETED');

  expect((await kiotJobs('create', 'watch-2', '--thing', 'pump-3', '--document', '{"op":"watch"}')).exitCode).toBe(0);
  const canceled = kiotJobs('describe', 'watch-2', '--watch', '--interval', '0.1', '--json');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await iot.send(new CancelJobCommand({ jobId: 'watch-2' }));
  const json = (await canceled).stdout.trim().split('\n').map((l) => JSON.parse(l) as { status: string; jobProcessDetails: Record<string, number> });
  expect(json[0]).toMatchObject({ status: 'IN_PROGRESS', jobProcessDetails: { numberOfQueuedThings: 1 } });
  expect(json.at(-1)).toMatchObject({ status: 'CANCELED' });
});

test('bad input is one line naming the flag, and exit code 2', async () => {
  const notJson = join(kiot.dir, 'not-json.json');
  await writeFile(notJson, '{\n  "op": "update",\n  "version": }\n');
  const array = join(kiot.dir, 'array.json');
  await writeFile(array, '[1, 2]');
  const create = (...args: string[]) => ['create', 'bad-1', '--thing', 'valve-1', '--document', '{"op":"x"}', ...args];
  const cases: [string[], RegExp][] = [
    [['create', 'bad-1', '--thing', 'nope', '--document', '{}'], /^kiot jobs create: --thing nope: HTTP 404 ResourceNotFoundException: .*nope/],
    [['create', 'bad-1', '--group', 'nope', '--document', '{}'], /^kiot jobs create: --group nope: HTTP 404 ResourceNotFoundException: .*nope/],
    [['create', 'bad-1', '--document', '{}'], /^kiot jobs create: --thing or --group: name at least one target$/],
    [['create', 'bad-1', '--thing', 'valve-1'], /^kiot jobs create: --document: required \(or --document-source, or --template\)$/],
    [['create', 'bad-1', '--thing', 'valve-1', '--document', notJson], new RegExp(`^kiot jobs create: --document: ${notJson}:3:14: value expected, found "}"$`)],
    [['create', 'bad-1', '--thing', 'valve-1', '--document', '{"op": "x"'], /^kiot jobs create: --document: the JSON text:1:11: close brace expected, found the end of the text$/],
    [['create', 'bad-1', '--thing', 'valve-1', '--document', array], /^kiot jobs create: --document: .*array\.json: expected a JSON object, found an array$/],
    [['create', 'bad-1', '--thing', 'valve-1', '--document', join(kiot.dir, 'missing.json')], /^kiot jobs create: --document: .*missing\.json: no such file/],
    [create('--document-source', 'ftp://somewhere/doc.json'), /^kiot jobs create: --document: give --document or --document-source, not both$/],
    [['create', 'bad-1', '--thing', 'valve-1', '--document-source', 'ftp://somewhere/doc.json'], /^kiot jobs create: --document-source: expected an S3 URL/],
    [create('--template', 'nope'), /^kiot jobs create: --template nope: HTTP 404 ResourceNotFoundException/],
    [['create', 'bad id', '--thing', 'valve-1', '--document', '{}'], /^kiot jobs create: <jobId>: must match \[a-zA-Z0-9_-\]\{1,64\}/],
    [create('--target-selection', 'SOMETIMES'), /^kiot jobs create: --target-selection: must be SNAPSHOT or CONTINUOUS, received "SOMETIMES"$/],
    [create('--max-per-minute', '0'), /^kiot jobs create: --max-per-minute: must be a whole number from 1 to 1000 \(jobExecutionsRolloutConfig\.maximumPerMinute\)$/],
    [create('--max-per-minute', '1001'), /^kiot jobs create: --max-per-minute: must be a whole number from 1 to 1000/],
    [create('--max-per-minute', 'ten'), /^kiot jobs create: --max-per-minute: expected a number, received "ten"$/],
    [create('--base-rate-per-minute', '10'), /^kiot jobs create: --increment-factor: an exponential rate needs --base-rate-per-minute, --increment-factor and --increase-after-notified or --increase-after-succeeded \(given: --base-rate-per-minute\)$/],
    [create('--base-rate-per-minute', '10', '--increment-factor', '1.05', '--increase-after-notified', '5'), /^kiot jobs create: --increment-factor: must be from 1\.1 to 5, with at most one digit after the decimal/],
    [create('--base-rate-per-minute', '1.5', '--increment-factor', '2', '--increase-after-notified', '5'), /^kiot jobs create: --base-rate-per-minute: must be a whole number from 1 to 1000/],
    [create('--base-rate-per-minute', '10', '--increment-factor', '2', '--increase-after-succeeded', '0'), /^kiot jobs create: --increase-after-succeeded: must be a whole number of at least 1/],
    [create('--abort-when', 'FAILED:10:5', '--abort-when', 'FAILED:0:5'), /^kiot jobs create: --abort-when FAILED:0:5: thresholdPercentage must be above 0 and at most 100, with at most two digits after the decimal \(abortConfig\)$/],
    [create('--abort-when', 'BROKEN:10:5'), /^kiot jobs create: --abort-when BROKEN:10:5: failureType must be one of FAILED, REJECTED, TIMED_OUT, ALL \(abortConfig\)$/],
    [create('--abort-when', 'FAILED:10:0'), /^kiot jobs create: --abort-when FAILED:10:0: minNumberOfExecutedThings must be a whole number of at least 1/],
    [create('--abort-when', 'FAILED:10'), /^kiot jobs create: --abort-when: expected <FAILED\|REJECTED\|TIMED_OUT\|ALL>:<thresholdPercentage>:<minNumberOfExecutedThings>, received "FAILED:10"$/],
    [create('--abort-when', 'FAILED:ten:5'), /^kiot jobs create: --abort-when FAILED:ten:5: expected a number, received "ten"$/],
    [create('--retry', 'FAILED:11'), /^kiot jobs create: --retry FAILED:11: numberOfRetries must be a whole number from 0 to 10/],
    [create('--retry', 'REJECTED:1'), /^kiot jobs create: --retry REJECTED:1: failureType must be one of FAILED, TIMED_OUT, ALL/],
    [create('--timeout-minutes', '0'), /^kiot jobs create: --timeout-minutes: must be a whole number from 1 to 10080, received "0"/],
    [create('--timeout-minutes', '10081'), /^kiot jobs create: --timeout-minutes: must be a whole number from 1 to 10080/],
    [create('--presigned-url-expiry', '30'), /^kiot jobs create: --presigned-url-expiry: must be a whole number of seconds from 60 to 3600/],
    [['list', '--status', 'DONE'], /^kiot jobs list: --status: HTTP 400 InvalidRequestException: status must be one of/],
    [['describe', 'nope'], /^kiot jobs describe: <jobId>: HTTP 404 ResourceNotFoundException: Job nope does not exist$/],
    [['describe', 'fw-1', '--executions', '-1'], /^kiot jobs describe: --executions: must be a whole number of at least 0, received "-1"$/],
    [['describe', 'fw-1', '--watch', '--interval', '0'], /^kiot jobs describe: --interval: must be from 0\.1 to 3600 seconds, received "0"$/],
    [['cancel', 'nope'], /^kiot jobs cancel: <jobId>: HTTP 404 ResourceNotFoundException: Job nope does not exist$/],
    [['cancel', 'fw-1', '--reason-code', 'no$'], /^kiot jobs cancel: --reason-code: must be at most 128 letters/],
    [['cancel', 'fw-1', '--comment', 'x'.repeat(2029)], /^kiot jobs cancel: --comment: must be at most 2028 characters, received 2029$/],
    [['delete', 'nope'], /^kiot jobs delete: <jobId>: HTTP 404 ResourceNotFoundException/],
  ];
  for (const [args, stderr] of cases) {
    const result = await kiotJobs(...args);
    expect({ args, ...result }).toMatchObject({ args, exitCode: 2, stdout: '', stderr: expect.stringMatching(new RegExp(`${stderr.source.replace(/\$$/, '')}[^\n]*\n$`)) });
  }
  expect((await kiotJobs('list')).stdout).not.toContain('bad-1');
  expect((await iot.send(new DescribeJobCommand({ jobId: 'fw-1' }))).job!.status).toBe('IN_PROGRESS');
});

/** `kiot jobs ...args` with its own io: another endpoint than the test kiot's, or a stdout that is a TTY. */
async function runJobs(args: string[], options: { endpoint?: string; tty?: boolean } = {}): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  let stdout = '';
  let stderr = '';
  let exitCode = 0;
  const out = Object.assign(new PassThrough().on('data', (d: Buffer) => (stdout += d.toString())), { isTTY: options.tty ?? false });
  const io: CliIo = { stdin: Readable.from(['']), stdout: out, stderr: new PassThrough().on('data', (d: Buffer) => (stderr += d.toString())), setExitCode: (c) => (exitCode = c) };
  const program = new Command('kiot').exitOverride();
  register(program, io);
  await program.parseAsync(['node', 'kiot', 'jobs', ...args, '--endpoint', options.endpoint ?? kiot.http(), '--data-dir', join(kiot.dir, 'data')]);
  return { stdout, stderr, exitCode };
}

test('on a TTY, describe --watch redraws the bar in place', async () => {
  expect((await kiotJobs('create', 'watch-3', '--thing', 'pump-4', '--document', '{"op":"watch"}')).exitCode).toBe(0);
  const watching = runJobs(['describe', 'watch-3', '--watch', '--interval', '0.1'], { tty: true });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await report('pump-4', 'watch-3', 'REJECTED');
  const { stdout, exitCode } = await watching;
  expect(exitCode).toBe(0);
  expect(stdout).toMatch(/^watch-3 {2}IN_PROGRESS[^\n]*\ntargets: pump-4\n\r\x1b\[K\[░{20}\] 0\/1 done {2}QUEUED 1\r\x1b\[K\[█{20}\] 1\/1 done {2}REJECTED 1\nwatch-3 COMPLETED\n$/);
});

test('kiot jobs describe --watch stops at Ctrl-C (SIGINT), exit code 0', async () => {
  expect((await kiotJobs('create', 'watch-4', '--thing', 'pump-5', '--document', '{"op":"watch"}')).exitCode).toBe(0);
  const watcher = runKiot(['jobs', 'describe', 'watch-4', '--watch', '--interval', '0.2', '--endpoint', kiot.http(), '--data-dir', join(kiot.dir, 'data')]);
  await expect.poll(() => watcher.stdout, { timeout: 20_000 }).toContain('[░░░░░░░░░░░░░░░░░░░░] 0/1 done  QUEUED 1');
  watcher.child.kill('SIGINT');
  expect(await watcher.exited).toBe(0);
  expect(watcher.stdout.at(-1)).toBe('stopped watching watch-4 (still IN_PROGRESS)');
  expect(watcher.stderr()).toBe('');
}, 30_000);

test('a kiot that does not answer is exit code 1', async () => {
  const { stderr, exitCode } = await runJobs(['describe', 'fw-1'], { endpoint: 'http://127.0.0.1:1' });
  expect(exitCode).toBe(1);
  expect(stderr).toMatch(/^kiot jobs describe: cannot reach http:\/\/127\.0\.0\.1:1: \S[^\n]*\n$/);
});

test('every kiot jobs command has --help with its defaults', () => {
  const program = new Command('kiot');
  register(program);
  const help = (name: string) => program.commands.find((c) => c.name() === 'jobs')!.commands.find((c) => c.name() === name)!.helpInformation();
  expect(help('create')).toMatch(/--target-selection <selection>[\s\S]*\(default: "SNAPSHOT"\)/);
  expect(help('create')).toMatch(/--max-per-minute <n>[\s\S]*default: no rate, all at once/);
  expect(help('create')).toContain('--abort-when <type:percent:min>');
  expect(help('describe')).toMatch(/--executions <n>[\s\S]*\(default: "20"\)/);
  expect(help('describe')).toMatch(/--interval <seconds>[\s\S]*\(default: "1"\)/);
  expect(help('list')).toContain('(default: all)');
  expect(help('cancel')).toContain('(default: QUEUED only)');
  expect(help('delete')).toContain('(default: refuse)');
  for (const name of ['create', 'list', 'describe', 'cancel', 'delete']) expect(help(name)).toContain('--region <region>');
});
