/**
 * Measures bulk provisioning at scale, with memory: `kiot up` in a child process (embedded log,
 * task inputs on s3rver), then
 *   1. StartThingRegistrationTask over an N-line JSON-lines object on S3, and
 *   2. `kiot provision bulk` over an N-line local file, in a child process of its own,
 * sampling each process's resident set size (/proc/<pid>/status VmRSS) every 100 ms.
 *
 *   node --import tsx provisioning/testing/bulk-memory.ts [lines=100000]
 *
 * Prints lines/s and peak RSS per process. Not a test (it takes minutes): run it by hand.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeThingRegistrationTaskCommand, IoTClient, StartThingRegistrationTaskCommand } from '@aws-sdk/client-iot';
import { createS3Api } from '../../actions/index.js';
import { startS3rver } from '../../actions/s3/testing/s3rver.js';
import { TSX_LOADER } from '../../core/testing/child-process.js';
import { dataDirCredentials } from '../../cli/commands/signed-request.js';
import { KIOT_MAIN, startKiot } from '../../cli/testing.js';

const lines = Number(process.argv[2] ?? 100_000);
const TEMPLATE = JSON.stringify({
  Parameters: { ThingName: { Type: 'String' }, Serial: { Type: 'String' } },
  Resources: { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'ThingName' }, AttributePayload: { serial: { Ref: 'Serial' }, batch: 'bulk' } } } },
});

const rssMb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
};

/** Samples a process's RSS until stopped; returns the peak in MB. */
function sampler(pid: number): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // the process has exited
    }
  }, 100);
  return { stop: () => (clearInterval(timer), peak) };
}

const body = (prefix: string) => Array.from({ length: lines }, (_, i) => JSON.stringify({ ThingName: `${prefix}-${i}`, Serial: `SN-${String(i).padStart(8, '0')}` })).join('\n') + '\n';

const dir = await mkdtemp(join(tmpdir(), 'kiot-bulk-memory-'));
const s3 = await startS3rver(['bulk']);
await mkdir(join(dir, 'rules'));
const kiot = await startKiot(['--data-dir', join(dir, 'data')], {
  cwd: dir,
  env: { KIOT_S3_ENDPOINT: s3.settings.endpoint!, KIOT_S3_FORCE_PATH_STYLE: 'true', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
  timeoutMs: 60_000,
});
const pid = kiot.child.pid!;
try {
  const endpoint = `http://${kiot.listeners.get('http')}`;
  const credentials = (await dataDirCredentials(join(dir, 'data')))!;
  const iot = new IoTClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  console.log(`kiot up: RSS ${rssMb(pid)} MB at start`);

  // 1. A task over S3.
  const input = Buffer.from(body('task'));
  await createS3Api(s3.settings).putObject({ bucket: 'bulk', key: 'devices.jsonl', body: input, contentType: 'application/x-ndjson' }, AbortSignal.timeout(60_000));
  const kiotSampler = sampler(pid);
  let started = Date.now();
  const { taskId } = await iot.send(new StartThingRegistrationTaskCommand({ templateBody: TEMPLATE, inputFileBucket: 'bulk', inputFileKey: 'devices.jsonl', roleArn: 'arn:aws:iam::000000000000:role/bulk' }));
  let task;
  do {
    await new Promise((r) => setTimeout(r, 500));
    task = await iot.send(new DescribeThingRegistrationTaskCommand({ taskId }));
  } while (task.status === 'InProgress');
  let seconds = (Date.now() - started) / 1000;
  console.log(`task: ${task.status}, ${task.successCount} provisioned, ${task.failureCount} failed, of ${lines} lines (${(input.length / 1e6).toFixed(1)} MB) in ${seconds.toFixed(1)} s = ${Math.round(lines / seconds)} lines/s; kiot RSS peak ${kiotSampler.stop()} MB, now ${rssMb(pid)} MB`);

  // 2. kiot provision bulk from a local file, in its own process.
  const file = join(dir, 'devices.jsonl');
  await writeFile(file, body('cli'));
  await writeFile(join(dir, 'template.json'), TEMPLATE);
  const kiotSampler2 = sampler(pid);
  started = Date.now();
  const cli = spawn(process.execPath, ['--import', TSX_LOADER, KIOT_MAIN, 'provision', 'bulk', file, '--template', join(dir, 'template.json'), '--endpoint', endpoint, '--data-dir', join(dir, 'data')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const cliSampler = sampler(cli.pid!);
  let out = '';
  cli.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise((r) => cli.on('exit', r));
  seconds = (Date.now() - started) / 1000;
  console.log(`kiot provision bulk: exit ${String(code)}; ${out.trim().split('\n')[0]}`);
  console.log(`  ${(await stat(file)).size / 1e6} MB file in ${seconds.toFixed(1)} s; CLI RSS peak ${cliSampler.stop()} MB; kiot RSS peak ${kiotSampler2.stop()} MB, now ${rssMb(pid)} MB`);
  iot.destroy();
} finally {
  kiot.child.kill('SIGTERM');
  await kiot.exited;
  await s3.close();
  await rm(dir, { recursive: true, force: true });
}
