/**
 * The embedded log's disk thread (disk-thread.ts) and the partition's bookkeeping around it: a
 * failed write rejects only its own append, the next append lands at the right offset, close()
 * waits for what was asked, and what a failed write leaves in the file.
 *
 * Written in review of the change that brought them; each case that failed then is fixed.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PlatformError } from '../../errors.js';
import { silentLogger } from '../../logger.js';
import { TSX_LOADER } from '../../testing/child-process.js';
import { DiskThread } from './disk-thread.js';
import { EmbeddedLog } from './embedded-log.js';
import { SEGMENT_HEADER, encodeFrame } from './frame.js';
import { Partition, type PartitionSettings, type PendingRecord } from './partition.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-disk-thread-'));
  dirs.push(dir);
  return dir;
}

const logger = silentLogger();
const SETTINGS: PartitionSettings = {
  compacted: false,
  retentionMs: -1,
  retentionBytes: -1,
  segmentBytes: 1 << 30,
  segmentMs: 1e12,
  tombstoneGraceMs: 0,
};
const record = (value: string | Buffer): PendingRecord => ({ key: null, value, headers: [], timestamp: 1_700_000_000_000 });
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

describe('DiskThread', () => {
  test('a write to an invalid fd rejects with its errno code; the other writes of the cycle land and resolve', async () => {
    const dir = await tempDir();
    const path = join(dir, 'f');
    const fd = openSync(path, 'w+');
    const disk = new DiskThread(silentLogger());
    try {
      const good = disk.write(fd, Buffer.from('hello'), 0);
      const bad = disk.write(987_654, Buffer.from('nope'), 0);
      const alsoGood = disk.write(fd, Buffer.from(' world'), 5);
      await expect(bad).rejects.toMatchObject({ code: 'LOG_UNAVAILABLE', details: { errno: 'EBADF' } });
      await good;
      await alsoGood;
      expect(readFileSync(path, 'utf8')).toBe('hello world');
    } finally {
      await disk.close();
      closeSync(fd);
    }
  });

  test('close() waits for the writes asked for before it, then later writes are refused', async () => {
    const dir = await tempDir();
    const path = join(dir, 'f');
    const fd = openSync(path, 'w+');
    const disk = new DiskThread(silentLogger());
    const chunk = Buffer.alloc(64 * 1024, 7);
    const settled: boolean[] = [];
    const writes = Array.from({ length: 50 }, (_, i) => disk.write(fd, chunk, i * chunk.length).then(() => (settled[i] = true)));
    await disk.close();
    expect(settled.filter(Boolean)).toHaveLength(50);
    await Promise.all(writes);
    expect((await stat(path)).size).toBe(50 * chunk.length);
    await expect(disk.write(fd, chunk, 0)).rejects.toThrow(/closed/);
    closeSync(fd);
  });

  test('a cycle copies only the frames, not the pooled ArrayBuffer under a small Buffer', async () => {
    const dir = await tempDir();
    const path = join(dir, 'f');
    const fd = openSync(path, 'w+');
    const disk = new DiskThread(silentLogger());
    try {
      const pooled = Buffer.from('abc'); // a view of the 8 KiB pool
      await disk.write(fd, pooled, 0);
      // The caller keeps its buffer: the cycle transferred a fresh copy, not the pool.
      expect(pooled.buffer.byteLength).toBeGreaterThan(0);
      expect(pooled.toString()).toBe('abc');
      expect(readFileSync(path, 'utf8')).toBe('abc');
    } finally {
      await disk.close();
      closeSync(fd);
    }
  });
});

describe('a partition whose disk write fails', () => {
  test('the failed append rejects; the next append gets the same offset and both survive a reopen', async () => {
    const dir = await tempDir();
    const disk = new DiskThread(silentLogger());
    let fail = true;
    // The real disk thread, given a bad fd once: a real EBADF from the thread.
    const flaky = {
      write: (fd: number, bytes: Buffer, position: number) => {
        if (!fail) return disk.write(fd, bytes, position);
        fail = false;
        return disk.write(987_654, bytes, position);
      },
    } as unknown as DiskThread;
    const partition = await Partition.open(dir, 't', 0, SETTINGS, logger, flaky);
    await expect(partition.append([record('lost')])).rejects.toMatchObject({ code: 'LOG_UNAVAILABLE', details: { errno: 'EBADF' } });
    expect(partition.high).toBe(0);
    expect(await partition.append([record('a'), record('b')])).toEqual([0, 1]);
    expect(await partition.append([record('c')])).toEqual([2]);
    expect((await partition.read(0, 10)).map((r) => r.value?.toString())).toEqual(['a', 'b', 'c']);
    await partition.close();
    const again = await Partition.open(dir, 't', 0, SETTINGS, logger, disk);
    expect(again.high).toBe(3);
    expect((await again.read(0, 10)).map((r) => [r.offset, r.value?.toString()])).toEqual([[0, 'a'], [1, 'b'], [2, 'c']]);
    await again.close();
    await disk.close();
  });

  test('appends of a partition whose write fails do not hold up other partitions of the same cycle', async () => {
    const dir = await tempDir();
    const disk = new DiskThread(silentLogger());
    const broken = { write: (_fd: number, bytes: Buffer, position: number) => disk.write(987_654, bytes, position) } as unknown as DiskThread;
    const p0 = await Partition.open(join(dir, '0'), 't', 0, SETTINGS, logger, broken);
    const p1 = await Partition.open(join(dir, '1'), 't', 1, SETTINGS, logger, disk);
    const [r0, r1] = await Promise.allSettled([p0.append([record('x')]), p1.append([record('y')])]);
    expect(r0.status).toBe('rejected');
    expect(r1).toEqual({ status: 'fulfilled', value: [0] });
    await p0.close();
    await p1.close();
    await disk.close();
  });
});

/**
 * A real write failure: the child runs under `ulimit -f` (RLIMIT_FSIZE; Node ignores SIGXFSZ),
 * so a big append is written in part up to the limit and then fails with EFBIG on the disk
 * thread; a small append after it fits under the limit.
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
    const log = await EmbeddedLog.open({ dataDir, logger });
    try {
      expect(await log.offsets('t')).toEqual([{ partition: 0, low: 0, high: 1 }]);
    } finally {
      await log.close();
    }
  });
});

describe('the disk thread and the process', () => {
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
