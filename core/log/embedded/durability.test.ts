import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdtemp, open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { PlatformError } from '../../errors.js';
import { silentLogger } from '../../logger.js';
import { collect, uniqueGroup } from '../../testing/run-log-suite.js';
import { TSX_LOADER } from '../../testing/child-process.js';
import { EmbeddedLog, type EmbeddedLogOptions } from './embedded-log.js';
import { CHECKPOINT_MS, decodeEntries } from './journal.js';
import { OffsetStore } from './offset-store.js';

const CHILD = fileURLToPath(new URL('../../testing/embedded-log-child.ts', import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-durability-'));
  dirs.push(dir);
  return dir;
}

const openLog = (dataDir: string, extra: Partial<EmbeddedLogOptions> = {}) =>
  EmbeddedLog.open({ dataDir, logger: silentLogger(), ...extra });

function startChild(args: string[]): { child: ChildProcess; lines: AsyncIterator<string> } {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return { child, lines };
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * A child appends batches of 50 records, one append at a time, and prints each acknowledged
 * batch; it is SIGKILLed once it has had 40 batches acknowledged and `afterMs` have passed.
 * Reopened, the log holds every acknowledged record, once, and nothing torn. Returns the
 * generations in the journal files' headers as the kill left them (0 for a file without one).
 */
async function everyAckedRecordSurvivesKill({ afterMs }: { afterMs: number }): Promise<{ generations: number[] }> {
  const dataDir = await tempDir();
  const { child, lines } = startChild(['write', dataDir, 'crash']);
  const started = Date.now();
  let maxAcked = -1;
  let acks = 0;
  for (;;) {
    const { value, done } = await lines.next();
    if (done) throw new Error('writer exited early');
    const match = /^acked (\d+) (\d+)$/.exec(value);
    if (match) {
      maxAcked = Number(match[2]);
      if (++acks >= 40 && Date.now() - started >= afterMs) break;
    }
  }
  await killed(child);
  const generations = await Promise.all(
    ['0.wal', '1.wal'].map(async (name) => {
      const head = await readFile(join(dataDir, 'log', 'journal', name));
      return head.length >= 5 && head[0] === 0x4b ? head.readUInt32BE(1) : 0;
    }),
  );

  const log = await openLog(dataDir);
  try {
    const offsets = await log.offsets('crash');
    const total = offsets.reduce((n, o) => n + o.high - o.low, 0);
    expect(total).toBeGreaterThan(maxAcked);
    const records = await collect(log, { topics: ['crash'], startFrom: 'earliest' }, (r) => r.length >= total);
    const seqs = records.map((r) => {
      const match = /^seq-(\d+)-x{300}$/.exec(r.value!.toString());
      expect(match).not.toBeNull(); // nothing torn is served
      return Number(match![1]);
    });
    expect(new Set(seqs).size).toBe(seqs.length);
    const seen = new Set(seqs);
    for (let seq = 0; seq <= maxAcked; seq++) expect(seen.has(seq)).toBe(true);
    // The log takes new appends after recovery.
    await log.append('crash', [{ key: 'after', value: 'restart' }]);
  } finally {
    await log.close();
  }
  return { generations };
}

async function segmentFiles(dataDir: string, topic: string, partition = 0): Promise<string[]> {
  const dir = join(dataDir, 'log', 'topics', topic, String(partition));
  return (await readdir(dir)).sort().map((name) => join(dir, name));
}

describe('EmbeddedLog durability', () => {
  test('every acknowledged record survives SIGKILL mid-write', async () => {
    await everyAckedRecordSurvivesKill({ afterMs: 0 });
  }, 60_000);

  test("every acknowledged record survives SIGKILL once the journal's files are written over (after two checkpoints)", async () => {
    const { generations } = await everyAckedRecordSurvivesKill({ afterMs: 2 * CHECKPOINT_MS + 1_000 });
    // 0.wal's first use had generation 1, 1.wal's 2: a 3 or more means a file was used again.
    expect(Math.max(...generations)).toBeGreaterThanOrEqual(3);
  }, 60_000);

  test('a consumer killed before committing gets its uncommitted records again after restart', async () => {
    const dataDir = await tempDir();
    const groupId = uniqueGroup();
    const log = await openLog(dataDir);
    await log.ensureTopic({ name: 'work', partitions: 1 });
    await log.append('work', Array.from({ length: 10 }, (_, i) => ({ value: `seq-${i}` })));
    await log.close();

    const { child, lines } = startChild(['consume', dataDir, 'work', groupId, '5']);
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error('consumer exited early');
      if (value === 'seen 9') break;
    }
    await killed(child);

    const again = await openLog(dataDir);
    try {
      const inbox: string[] = [];
      const consumer = again.consumer({
        groupId,
        topics: ['work'],
        startFrom: 'earliest',
        eachBatch: async (batch) => {
          inbox.push(...batch.records.map((r) => r.value!.toString()));
        },
      });
      await consumer.start();
      await expect.poll(() => inbox.length).toBe(5);
      expect(inbox).toEqual(['seq-5', 'seq-6', 'seq-7', 'seq-8', 'seq-9']);
      await consumer.stop();
    } finally {
      await again.close();
    }
  }, 60_000);

  /**
   * SIGKILL loses nothing the OS has; a power cut loses what was only in its page cache. Between
   * two journal checkpoints that is every segment write since the first: each partition's last
   * segment from its first journalled position on. Both ways of losing it are simulated on the
   * files a killed writer left: cut off, and zeroed (pages written back out of order).
   */
  for (const loss of ['cut off', 'zeroed'] as const) {
    test(`every acknowledged record survives losing the segments' writes since the last checkpoint (${loss})`, async () => {
      const dataDir = await tempDir();
      const { child, lines } = startChild(['write', dataDir, 'power']);
      let maxAcked = -1;
      for (let acks = 0; acks < 30; ) {
        const { value, done } = await lines.next();
        if (done) throw new Error('writer exited early');
        const match = /^acked (\d+) (\d+)$/.exec(value);
        if (match) {
          maxAcked = Number(match[2]);
          acks++;
        }
      }
      await killed(child);

      const journal = join(dataDir, 'log', 'journal');
      const entries = (await Promise.all(['0.wal', '1.wal'].map(async (f) => decodeEntries(await readFile(join(journal, f)))))).flat();
      expect(entries.length).toBeGreaterThan(0);
      let lost = 0;
      for (const partition of [0, 1]) {
        const mine = entries.filter((e) => e.partition === partition);
        if (mine.length === 0) continue;
        const segment = (await segmentFiles(dataDir, 'power', partition)).at(-1)!;
        const from = Math.min(...mine.map((e) => e.position));
        const size = (await stat(segment)).size;
        lost += size - from;
        if (loss === 'cut off') await truncate(segment, from);
        else {
          const fh = await open(segment, 'r+');
          await fh.write(Buffer.alloc(size - from), 0, size - from, from);
          await fh.close();
        }
      }
      expect(lost).toBeGreaterThan(0);

      const log = await openLog(dataDir);
      try {
        const offsets = await log.offsets('power');
        const total = offsets.reduce((n, o) => n + o.high - o.low, 0);
        const records = await collect(log, { topics: ['power'], startFrom: 'earliest' }, (r) => r.length >= total);
        const seen = new Set(records.map((r) => Number(/^seq-(\d+)-x{300}$/.exec(r.value!.toString())![1])));
        expect(seen.size).toBe(records.length);
        for (let seq = 0; seq <= maxAcked; seq++) expect(seen.has(seq)).toBe(true);
        await log.append('power', [{ key: 'after', value: 'restart' }]);
      } finally {
        await log.close();
      }
      // A clean close leaves nothing to replay.
      for (const f of ['0.wal', '1.wal']) expect((await stat(join(journal, f))).size).toBe(0);
    }, 60_000);
  }

  test('a torn write at the tail is truncated on restart and never served', async () => {
    const dataDir = await tempDir();
    const log = await openLog(dataDir);
    await log.ensureTopic({ name: 'torn', partitions: 1 });
    await log.append('torn', Array.from({ length: 10 }, (_, i) => ({ value: `v${i}` })));
    await log.close();
    const [segment] = await segmentFiles(dataDir, 'torn');
    const intact = (await stat(segment!)).size;
    // The first 20 bytes of a frame that claims 100 bytes of body: a write cut short.
    const partial = Buffer.alloc(20);
    partial[0] = 0xa7;
    partial.writeUInt32BE(100, 1);
    await appendFile(segment!, partial);

    const reopened = await openLog(dataDir);
    try {
      expect(await reopened.offsets('torn')).toEqual([{ partition: 0, low: 0, high: 10 }]);
      expect((await stat(segment!)).size).toBe(intact);
      const [next] = await reopened.append('torn', [{ value: 'v10' }]);
      expect(next!.offset).toBe(10);
      const records = await collect(reopened, { topics: ['torn'], startFrom: 'earliest' }, (r) => r.length >= 11);
      expect(records.map((r) => r.value!.toString())).toEqual([...Array.from({ length: 10 }, (_, i) => `v${i}`), 'v10']);
    } finally {
      await reopened.close();
    }
  });

  test('a tail of zeros (file extended before data landed) is truncated', async () => {
    const dataDir = await tempDir();
    const log = await openLog(dataDir);
    await log.ensureTopic({ name: 'zeros', partitions: 1 });
    await log.append('zeros', [{ value: 'a' }, { value: 'b' }]);
    await log.close();
    const [segment] = await segmentFiles(dataDir, 'zeros');
    await appendFile(segment!, Buffer.alloc(4096));
    const reopened = await openLog(dataDir);
    expect(await reopened.offsets('zeros')).toEqual([{ partition: 0, low: 0, high: 2 }]);
    await reopened.close();
  });

  test('damage in the middle of a segment stops startup with an error naming the file', async () => {
    const dataDir = await tempDir();
    const log = await openLog(dataDir);
    await log.ensureTopic({ name: 'damaged', partitions: 1 });
    for (let i = 0; i < 5; i++) await log.append('damaged', [{ value: `value-${i}` }]); // five frames
    await log.close();
    const [segment] = await segmentFiles(dataDir, 'damaged');
    const bytes = await readFile(segment!);
    bytes[40] = bytes[40]! ^ 0xff; // inside the first record's body
    await writeFile(segment!, bytes);

    const error = await openLog(dataDir).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as PlatformError).code).toBe('LOG_CORRUPT');
    expect((error as PlatformError).message).toContain(segment!);
    expect((error as PlatformError).message).toContain('checksum mismatch');
    // The file is left as it was for the operator to inspect.
    expect((await readFile(segment!)).equals(bytes)).toBe(true);
  });

  test('a foreign file in the log directory stops startup with an error naming it', async () => {
    const dataDir = await tempDir();
    const log = await openLog(dataDir);
    await log.ensureTopic({ name: 'clean', partitions: 1 });
    await log.close();
    const stray = join(dataDir, 'log', 'topics', 'clean', '0', 'notes.txt');
    await writeFile(stray, 'hello');
    await expect(openLog(dataDir)).rejects.toThrow(stray);
    await rm(stray);
    const foreignSegment = join(dataDir, 'log', 'topics', 'clean', '0', '00000000000000000000.seg');
    await writeFile(foreignSegment, 'this is not a segment at all, it is text');
    await expect(openLog(dataDir)).rejects.toThrow(/not a kiot log segment/);
  });

  test('the data dir can be opened by one log at a time', async () => {
    const dataDir = await tempDir();
    const log = await openLog(dataDir);
    const error = await openLog(dataDir).catch((err: unknown) => err);
    expect((error as PlatformError).code).toBe('LOG_LOCKED');
    await log.close();
    const again = await openLog(dataDir);
    await again.close();
  });

  test('committed offsets survive a restart', async () => {
    const dataDir = await tempDir();
    const groupId = uniqueGroup();
    const log = await openLog(dataDir);
    await log.ensureTopic({ name: 'offsets', partitions: 1 });
    await log.append('offsets', [{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
    const consumer = log.consumer({ groupId, topics: ['offsets'], startFrom: 'earliest', eachBatch: async () => undefined });
    await consumer.start();
    await consumer.commit([{ topic: 'offsets', partition: 0, offset: 2 }]);
    await log.close();

    const again = await openLog(dataDir);
    const seen: string[] = [];
    const next = again.consumer({ groupId, topics: ['offsets'], startFrom: 'earliest', eachBatch: async (b) => { seen.push(...b.records.map((r) => r.value!.toString())); } });
    await next.start();
    await expect.poll(() => seen).toEqual(['c']);
    await again.close();
  });

  test('commits go to a journal beside the group snapshot; a torn last line is cut off, a newer snapshot wins', async () => {
    const dataDir = await tempDir();
    const groupId = uniqueGroup();
    const log = await openLog(dataDir);
    await log.ensureTopic({ name: 'journal', partitions: 2 });
    await log.append('journal', Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`, partition: i % 2 })));
    const consumer = log.consumer({ groupId, topics: ['journal'], startFrom: 'earliest', eachBatch: async () => undefined });
    await consumer.start();
    for (let offset = 1; offset <= 4; offset++) await consumer.commit([{ topic: 'journal', partition: 0, offset }]);
    await consumer.commit([{ topic: 'journal', partition: 1, offset: 3 }]);
    const groups = join(dataDir, 'log', 'groups');
    const journal = join(groups, `${encodeURIComponent(groupId)}.log`);
    const lines = (await readFile(journal, 'utf8')).trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(4); // the first commit wrote the snapshot; the others a line each
    expect(lines.at(-1)).toMatch(/^[0-9a-f]{8} \{"seq":\d+,"offsets":\{"journal\/0":4,"journal\/1":3\}\}$/);
    await log.close();

    // A crash in the middle of a line: the line is ignored and cut off, the one before holds.
    await appendFile(journal, '0badc0de {"seq":99,"offsets":{"journal/0":9');
    const reopened = await openLog(dataDir);
    const seen: string[] = [];
    const next = reopened.consumer({ groupId, topics: ['journal'], startFrom: 'earliest', eachBatch: async (b) => { seen.push(...b.records.map((r) => r.value!.toString())); } });
    await next.start();
    // Partition 0 holds v0 v2 v4 v6 v8 (offsets 0-4): from 4, v8; partition 1 holds v1 v3 v5 v7 v9: from 3, v7 v9.
    await expect.poll(() => [...seen].sort()).toEqual(['v7', 'v8', 'v9']);
    expect((await readFile(journal, 'utf8')).endsWith('\n')).toBe(true);
    await reopened.close();

    // A journal line older than the snapshot (a crash between a snapshot and emptying the journal) loses to it.
    const snapshot = join(groups, `${encodeURIComponent(groupId)}.json`);
    const snap = JSON.parse(await readFile(snapshot, 'utf8')) as { seq: number; offsets: Record<string, number> };
    await writeFile(snapshot, JSON.stringify({ ...snap, offsets: { 'journal/0': 5, 'journal/1': 5 }, seq: snap.seq + 100 }));
    const json = JSON.stringify({ seq: snap.seq + 1, offsets: { 'journal/0': 0, 'journal/1': 0 } });
    const { crc32 } = await import('node:zlib');
    await writeFile(journal, `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`);
    const last = await openLog(dataDir);
    const after: string[] = [];
    const third = last.consumer({ groupId, topics: ['journal'], startFrom: 'earliest', eachBatch: async (b) => { after.push(...b.records.map((r) => r.value!.toString())); } });
    await third.start();
    await last.append('journal', [{ value: 'new', partition: 0 }]);
    await expect.poll(() => after).toEqual(['new']);
    await last.close();
  });

  test('a group journal past 256 KiB is folded into the snapshot and starts again', async () => {
    const dir = join(await tempDir(), 'groups');
    const store = await OffsetStore.open(dir);
    const journal = join(dir, 'g.log');
    let folded = false;
    for (let offset = 1; offset <= 6_000 && !folded; offset++) {
      const before = offset > 1 ? (await stat(journal)).size : 0;
      await store.commit('g', [{ topic: 'some.topic.with.a.long.name', partition: 0, offset }]);
      folded = offset > 2 && (await stat(journal)).size < before;
    }
    expect(folded).toBe(true);
    await store.commit('g', [{ topic: 'some.topic.with.a.long.name', partition: 0, offset: 7_000 }]);
    await store.close();
    const again = await OffsetStore.open(dir);
    expect(again.get('g', 'some.topic.with.a.long.name', 0)).toBe(7_000);
    await again.close();
  });

  test('compaction keeps the latest value per key, keeps offsets, and drops old tombstones', async () => {
    const dataDir = await tempDir();
    const log = await openLog(dataDir, { segmentBytes: 2048, tombstoneGraceMs: 1000 });
    try {
      await log.ensureTopic({ name: 'state', partitions: 1, compacted: true });
      const old = Date.now() - 60_000;
      for (let round = 0; round < 20; round++) {
        await log.append('state', Array.from({ length: 5 }, (_, k) => ({ key: `key-${k}`, value: `round-${round}-${'p'.repeat(40)}`, timestamp: old })));
      }
      await log.append('state', [{ key: 'key-0', value: null, timestamp: old }]);
      // Enough later writes that the tombstone's segment is closed (only closed segments compact).
      for (let i = 0; i < 30; i++) await log.append('state', [{ key: 'filler', value: 'f'.repeat(80) }]);
      await log.append('state', [{ key: 'fresh', value: 'last' }]); // lands in the active segment
      const before = await segmentFiles(dataDir, 'state');
      const sizeBefore = (await Promise.all(before.map((f) => stat(f)))).reduce((n, s) => n + s.size, 0);
      expect(before.length).toBeGreaterThan(2);

      await log.maintain();

      const after = await segmentFiles(dataDir, 'state');
      const sizeAfter = (await Promise.all(after.map((f) => stat(f)))).reduce((n, s) => n + s.size, 0);
      expect(sizeAfter).toBeLessThan(sizeBefore / 3);
      const records = await collect(log, { topics: ['state'], startFrom: 'earliest' }, (r) => r.some((x) => x.key?.toString() === 'fresh'));
      const keys = records.map((r) => r.key!.toString()).filter((k) => k !== 'filler'); // fillers reach the active segment
      expect(new Set(keys).size).toBe(keys.length); // one record per key left in closed segments
      expect(keys).not.toContain('key-0'); // the tombstone is past its grace period and went too
      expect(records.find((r) => r.key!.toString() === 'key-3')!.value!.toString()).toMatch(/^round-19-/);
      const offsetsSeen = records.map((r) => r.offset);
      expect(offsetsSeen).toEqual([...offsetsSeen].sort((a, b) => a - b));
      expect(offsetsSeen[offsetsSeen.length - 1]).toBe(131); // offsets are never renumbered

      const table = await log.openTable('state');
      expect([...table.keys()].sort()).toEqual(['filler', 'fresh', 'key-1', 'key-2', 'key-3', 'key-4']);
      await table.close();
    } finally {
      await log.close();
    }
    // And the compacted files open cleanly again.
    const again = await openLog(dataDir);
    expect((await again.offsets('state'))[0]!.high).toBe(132);
    await again.close();
  });

  test('retention deletes old closed segments and consumers start at the new low offset', async () => {
    const dataDir = await tempDir();
    const log = await openLog(dataDir, { segmentBytes: 1024 });
    try {
      await log.ensureTopic({ name: 'telemetry', partitions: 1, retentionMs: 60_000 });
      const old = Date.now() - 3600_000;
      for (let i = 0; i < 10; i++) await log.append('telemetry', [{ value: `old-${i}-${'z'.repeat(200)}`, timestamp: old }]);
      await log.append('telemetry', [{ value: 'new' }]);
      await log.maintain();
      const { low, high } = (await log.offsets('telemetry'))[0]!;
      expect(low).toBeGreaterThan(0);
      expect(high).toBe(11);
      const records = await collect(log, { topics: ['telemetry'], startFrom: 'earliest' }, (r) => r.some((x) => x.value!.toString() === 'new'));
      expect(records[0]!.offset).toBe(low);
    } finally {
      await log.close();
    }
  });
});
