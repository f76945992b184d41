/**
 * An embedded log whose disk write fails: the append rejects with a PlatformError, the next one
 * lands at the right offset, nothing of the failed frame is left for the next open to trip on;
 * and an open log does not keep a script from exiting.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { silentLogger } from '../../logger.js';
import { TSX_LOADER } from '../../testing/child-process.js';
import { EmbeddedLog } from './embedded-log.js';
import { SEGMENT_HEADER, encodeFrame } from './frame.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-write-failure-'));
  dirs.push(dir);
  return dir;
}

const source = (file: string) => pathToFileURL(join(import.meta.dirname, file)).href;

/** Runs a TypeScript ES module as a child (optionally under `ulimit -f`); resolves with its output and exit code. */
async function runChild(code: string, args: string[], options: { fileSizeLimitKb?: number; timeoutMs?: number } = {}) {
  const dir = await tempDir();
  const script = join(dir, 'child.mts');
  await writeFile(script, code);
  const node = [process.execPath, '--import', TSX_LOADER, script, ...args].map((a) => `'${a}'`).join(' ');
  const command = options.fileSizeLimitKb ? `ulimit -f ${options.fileSizeLimitKb}; exec ${node}` : `exec ${node}`;
  const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (c, s) => resolve({ code: c, signal: s })));
  clearTimeout(timer);
  return { stdout, stderr, ...exit };
}

/**
 * A real write failure: the child runs under `ulimit -f` (RLIMIT_FSIZE; Node ignores SIGXFSZ),
 * so a big append is written in part up to the limit and then fails with EFBIG; a small append after it fits under the limit.
 */
describe('an embedded log whose disk write fails part way (EFBIG under ulimit -f)', () => {
  const CHILD = `
    import { EmbeddedLog } from ${JSON.stringify(source('embedded-log.ts'))};
    import { silentLogger } from ${JSON.stringify(source('../../logger.ts'))};
    const [dir, bigHex] = process.argv.slice(2);
    const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
    await log.ensureTopic({ name: 't', partitions: 1 });
    const big = Buffer.alloc(200_000, 1);
    Buffer.from(bigHex, 'hex').copy(big, 0);
    const err = await log.append('t', [{ value: big }]).then(() => undefined, (e) => e);
    const second = await log.append('t', [{ value: 'b' }]);
    console.log(JSON.stringify({ platformError: err?.constructor?.name === 'PlatformError', code: err?.code, errno: err?.details?.errno, second }));
    await log.close();
  `;
  let dataDir: string;
  let result: { platformError: boolean; code: string; errno: string; second: unknown };

  beforeAll(async () => {
    dataDir = await tempDir();
    // The shorter retry (one record 'b') ends inside the failed frame's value; craft the bytes
    // that follow it there to look like the start of a small damaged frame (any payload can).
    const small = encodeFrame([{ offset: 0, timestamp: 0, key: null, value: 'b', headers: [] }]);
    const probe = Buffer.alloc(64, 0x5a);
    const valueStart = encodeFrame([{ offset: 0, timestamp: 0, key: null, value: probe, headers: [] }]).indexOf(probe);
    const at = small.length - valueStart;
    expect(at).toBeGreaterThan(0);
    const crafted = Buffer.alloc(at + 9 + 16, 1);
    crafted[at] = 0xa7; // frame magic
    crafted.writeUInt32BE(16, at + 1); // a 16-byte body
    crafted.writeUInt32BE(0, at + 5); // whose crc does not match
    const child = await runChild(CHILD, [dataDir, crafted.toString('hex')], { fileSizeLimitKb: 64 });
    expect(child.code, child.stderr).toBe(0);
    result = JSON.parse(child.stdout.trim().split('\n').pop()!);
  });

  test('the failed append rejects and the next append lands at offset 0', () => {
    expect(result.code).toBe('LOG_UNAVAILABLE');
    expect(result.errno).toBe('EFBIG');
    expect(result.second).toEqual([{ partition: 0, offset: 0 }]);
  });

  test('the append error is a PlatformError', () => {
    expect(result.platformError).toBe(true);
  });

  test('the log opens again after a part-written append and serves the one durable record', async () => {
    const seg = join(dataDir, 'log', 'topics', 't', '0', '00000000000000000000.seg');
    const durable = SEGMENT_HEADER.length + encodeFrame([{ offset: 0, timestamp: 0, key: null, value: 'b', headers: [] }]).length;
    // The failed write was cut back: nothing of it is left past the durable end.
    expect((await stat(seg)).size).toBe(durable);
    const log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
    try {
      expect(await log.offsets('t')).toEqual([{ partition: 0, low: 0, high: 1 }]);
    } finally {
      await log.close();
    }
  });
});

describe('appendThen when a write fails (EFBIG under ulimit -f)', () => {
  test('the first batch fails to be written: the rest is refused unwritten, and the next append lands at offset 0', async () => {
    const dataDir = await tempDir();
    const child = await runChild(
      `
      import { EmbeddedLog } from ${JSON.stringify(source('embedded-log.ts'))};
      import { silentLogger } from ${JSON.stringify(source('../../logger.ts'))};
      const log = await EmbeddedLog.open({ dataDir: process.argv[2], logger: silentLogger() });
      await log.ensureTopic({ name: 'state', partitions: 1 });
      await log.ensureTopic({ name: 'events', partitions: 1 });
      const outcomes = await Promise.allSettled(log.appendThen({ topic: 'state', records: [{ value: Buffer.alloc(200_000, 1) }] }, [{ topic: 'events', records: [{ value: 'reply' }] }]));
      const next = await log.append('events', [{ value: 'next' }]);
      console.log(JSON.stringify({ outcomes: outcomes.map((o) => o.status === 'rejected' ? o.reason.code : 'stored'), next }));
      await log.close();
      `,
      [dataDir],
      { fileSizeLimitKb: 64 },
    );
    expect(child.code, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
    expect(result.outcomes).toEqual(['LOG_UNAVAILABLE', 'LOG_UNAVAILABLE']);
    expect(result.next).toEqual([{ partition: 0, offset: 0 }]);
  });

  test('a journal write fails: a commit that depends on what it held is refused, one that does not is written', async () => {
    const dir = await tempDir();
    const child = await runChild(
      `
      import { Journal } from ${JSON.stringify(source('journal.ts'))};
      import { silentLogger } from ${JSON.stringify(source('../../logger.ts'))};
      const journal = await Journal.open(process.argv[2], silentLogger());
      const segment = { baseOffset: 0, sync: async () => undefined };
      const before = journal.failures;
      const big = await journal.commit('state', 0, segment, 0, Buffer.alloc(100_000, 1)).then(() => 'stored', (e) => e.code);
      journal.expect(1);
      const dependent = await journal.commit('events', 0, segment, 0, Buffer.from('reply'), { count: 1, after: before }).then(() => 'stored', (e) => e.code + ': ' + e.message);
      const independent = await journal.commit('events', 0, segment, 0, Buffer.from('other')).then(() => 'stored', (e) => e.code);
      console.log(JSON.stringify({ big, dependent, independent, failures: journal.failures }));
      await journal.close();
      `,
      [dir],
      { fileSizeLimitKb: 64 },
    );
    expect(child.code, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
    expect(result.big).toBe('EFBIG');
    expect(result.dependent).toBe('LOG_UNAVAILABLE: an append this one depends on failed to be written');
    expect(result.independent).toBe('stored');
    expect(result.failures).toBe(1);
  });
});

describe('an open log and the process', () => {
  test('a script that opens the log, appends and returns without close() exits', async () => {
    const dataDir = await tempDir();
    const child = await runChild(
      `
      import { EmbeddedLog } from ${JSON.stringify(source('embedded-log.ts'))};
      import { silentLogger } from ${JSON.stringify(source('../../logger.ts'))};
      const log = await EmbeddedLog.open({ dataDir: process.argv[2], logger: silentLogger() });
      await log.ensureTopic({ name: 't', partitions: 1 });
      console.log(JSON.stringify(await log.append('t', [{ value: 'a' }])));
      `,
      [dataDir],
      { timeoutMs: 8_000 },
    );
    expect(child.stdout).toContain('"offset":0');
    expect(child.signal).toBeNull(); // not killed by the timeout
    expect(child.code).toBe(0);
  });

  test('an append awaited by a script that then closes the log resolves before the process exits', async () => {
    const dataDir = await tempDir();
    const child = await runChild(
      `
      import { EmbeddedLog } from ${JSON.stringify(source('embedded-log.ts'))};
      import { silentLogger } from ${JSON.stringify(source('../../logger.ts'))};
      const log = await EmbeddedLog.open({ dataDir: process.argv[2], logger: silentLogger() });
      await log.ensureTopic({ name: 't', partitions: 1 });
      console.log(JSON.stringify(await log.append('t', [{ value: 'a' }])));
      await log.close();
      console.log('closed');
      `,
      [dataDir],
    );
    expect(child.stdout).toContain('"offset":0');
    expect(child.stdout).toContain('closed');
    expect(child.code).toBe(0);
  });
});
