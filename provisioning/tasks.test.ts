/**
 * Bulk registration tasks: the line splitter (any chunking gives the same lines and byte
 * offsets), memory bounded by the batch whatever the input's length, and a task killed mid-batch
 * (SIGKILL, in a child process) that resumes from its checkpoint with no thing, certificate or
 * report line twice.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createS3Api } from '../actions/index.js';
import { startS3rver } from '../actions/s3/testing/s3rver.js';
import { EmbeddedLog, silentLogger } from '../core/index.js';
import { TSX_LOADER } from '../core/testing/child-process.js';
import { ThingRegistry, createSecurityService, thingsDirectory } from '../registry/index.js';
import { EMPTY_CHECKPOINT } from './commands.js';
import type { TaskRecord } from './model.js';
import { createProvisioningService } from './service.js';
import { jsonLines, runTask, type ObjectStore } from './tasks.js';
import { makeCsr } from './testing/csr.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'testing', 'task-child.ts');

async function* chunked(bytes: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

describe('jsonLines', () => {
  test('any chunking gives the same lines, each with the byte where the next starts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: 'grapheme' }).map((s) => s.replace(/\n/g, '')), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }), fc.boolean(), async (lines, sizes, trailing) => {
        const text = lines.join('\n') + (trailing && lines.length > 0 ? '\n' : '');
        const bytes = Buffer.from(text);
        const out: { text: string; end: number }[] = [];
        for await (const line of jsonLines(chunked(bytes, sizes), 100)) out.push(line);
        const expected = text === '' ? [] : text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
        expect(out.map((l) => l.text)).toEqual(expected);
        let end = 100;
        out.forEach((l, i) => {
          end += Buffer.byteLength(expected[i]!) + (i < expected.length - 1 || text.endsWith('\n') ? 1 : 0);
          expect(l.end).toBe(end);
        });
      }),
    );
  });
});

describe('runTask', () => {
  test('100,000 lines stream through with at most one batch in memory', async () => {
    const total = 100_000;
    let produced = 0;
    let appliedSoFar = 0;
    let maxAhead = 0;
    const objects: ObjectStore = {
      async read() {
        async function* lines() {
          // Generated as read: nothing holds the whole input.
          while (produced < total) {
            const n = Math.min(1000, total - produced);
            let chunk = '';
            for (let i = 0; i < n; i++) chunk += `${JSON.stringify({ ThingName: `t-${produced + i}` })}\n`;
            produced += n;
            maxAhead = Math.max(maxAhead, produced - appliedSoFar);
            yield Buffer.from(chunk);
          }
        }
        return { body: lines(), size: 0 };
      },
      write: async () => undefined,
      link: (b, k) => `${b}/${k}`,
    };
    let checkpoints = 0;
    let task: TaskRecord = { kind: 'task', taskId: 't', templateBody: '{}', inputFileBucket: 'b', inputFileKey: 'k', roleArn: 'r', status: 'InProgress', checkpoint: EMPTY_CHECKPOINT, createdAt: 0, updatedAt: 0 };
    const end = await runTask(task, {
      objects,
      logger: silentLogger(),
      batchLines: 500,
      apply: async (lines) => {
        appliedSoFar += lines.length;
        return lines.map(() => ({ resourceArns: {}, parameters: {}, deviceConfiguration: {}, replayed: false }));
      },
      checkpoint: async (input) => {
        checkpoints++;
        task = { ...task, checkpoint: input.checkpoint, ...(input.status ? { status: input.status } : {}) };
        return task;
      },
    });
    expect(end?.status).toBe('Completed');
    expect(end?.checkpoint.successCount).toBe(total);
    expect(checkpoints).toBe(total / 500 + 1);
    // Read ahead of what is applied: one batch plus one chunk of the stream, never the input.
    expect(maxAhead).toBeLessThanOrEqual(500 + 1000);
  });

  test('a task killed mid-batch resumes from its checkpoint: no thing, certificate or report line twice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiot-task-crash-'));
    const s3 = await startS3rver(['bulk']);
    try {
      const lines = 300;
      const csrs = await Promise.all(Array.from({ length: lines }, (_, i) => makeCsr(`crash-${i}`)));
      const input = csrs.map((csr, i) => JSON.stringify({ ThingName: `crash-${i}`, CSR: csr })).join('\n');
      const s3Api = createS3Api(s3.settings);
      await s3Api.putObject({ bucket: 'bulk', key: 'crash.jsonl', body: Buffer.from(input), contentType: 'application/x-ndjson' }, AbortSignal.timeout(10_000));
      const template = JSON.stringify({
        Parameters: { ThingName: { Type: 'String' }, CSR: { Type: 'String' } },
        Resources: {
          thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'ThingName' } } },
          certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateSigningRequest: { Ref: 'CSR' }, Status: 'ACTIVE' } },
        },
      });
      const templateFile = join(dir, 'template.json');
      await writeFile(templateFile, template);
      const dataDir = join(dir, 'data');

      // Killed after 130 lines: batches of 50, so the checkpoint says 100 and lines 100.. are in flight.
      const child = spawn(process.execPath, ['--import', TSX_LOADER, CHILD, dataDir, s3.settings.endpoint!, 'bulk', 'crash.jsonl', templateFile, '130'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
      expect(signal).toBe('SIGKILL');
      const taskId = /task (\S+)/.exec(out)?.[1];
      expect(taskId).toBeDefined();

      const logger = silentLogger();
      const log = await EmbeddedLog.open({ dataDir, logger });
      const registry = await ThingRegistry.open({ log, logger, region: 'us-east-1', accountId: '123456789012', publishEvents: false });
      const securityService = createSecurityService({ region: undefined, accountId: '123456789012' }, { log, logger, things: thingsDirectory(registry), registryStore: registry.store });
      const security = await securityService.start();
      const certificates = () => [...registry.store.state.keys()].filter((k) => k.startsWith('cert/'));
      const before = certificates().length;
      expect(before).toBeGreaterThanOrEqual(130);
      expect(before).toBeLessThan(lines);
      const objects: ObjectStore = {
        read: (b, k, start) => s3Api.getObjectStream({ bucket: b, key: k, start }),
        write: (b, k, body, contentType) => s3Api.putObject({ bucket: b, key: k, body: Buffer.from(body), contentType }, AbortSignal.timeout(10_000)),
        link: (b, k) => `${b}/${k}`,
      };
      const service = createProvisioningService({ region: 'us-east-1', accountId: '123456789012' }, { log, logger, registry: registry.store, certificates: security.certificates, policies: security.policies, objects, taskBatchLines: 50 });
      const provisioning = await service.start(); // resumes the task
      const interrupted = provisioning.task(taskId!);
      expect(interrupted.checkpoint.line).toBe(100);
      await provisioning.idle();
      const done = provisioning.task(taskId!);
      expect(done.status).toBe('Completed');
      expect(done.checkpoint).toMatchObject({ line: lines, successCount: lines, failureCount: 0 });

      // Every thing has exactly one certificate, and there are exactly as many certificates as lines.
      expect(certificates()).toHaveLength(lines);
      for (let i = 0; i < lines; i++) expect(security.policies.principalsOfThing(`crash-${i}`)).toHaveLength(1);

      // The results report lists every line once.
      const offsets: number[] = [];
      for (const link of provisioning.taskReports(taskId!, 'RESULTS')) {
        const body = (await s3.getObject('bulk', link.slice('bulk/'.length))).body.toString();
        for (const l of body.trim().split('\n')) offsets.push((JSON.parse(l) as { offset: number }).offset);
      }
      expect(offsets.sort((a, b) => a - b)).toEqual(Array.from({ length: lines }, (_, i) => i));
      s3Api.destroy();
      await service.stop();
      await securityService.stop();
      await registry.close();
      await log.close();
    } finally {
      await s3.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
