import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { silentLogger } from '../../logger.js';
import { EmbeddedLog } from './embedded-log.js';
import { CHECKPOINT_MS, decodeEntries } from './journal.js';
import { Segment } from './segment.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-journal-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const journalFile = (name: string) => join(dir, 'log', 'journal', name);
const journalBytes = async () => (await stat(journalFile('0.wal'))).size + (await stat(journalFile('1.wal'))).size;

test('the appends of one turn to several topics and partitions share one journal write', async () => {
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  try {
    await log.ensureTopic({ name: 'a', partitions: 4 });
    await log.ensureTopic({ name: 'b', partitions: 1 });
    const before = log.journal.writes;
    const appends = Array.from({ length: 4 }, (_, p) => log.append('a', [{ value: `a${p}`, partition: p }]));
    await Promise.all([...appends, log.append('b', [{ value: 'b' }])]);
    expect(log.journal.writes - before).toBe(1);
    const entries = decodeEntries(await readFile(journalFile('0.wal')));
    expect(entries.map((e) => `${e.topic}/${e.partition}`).slice(-5).sort()).toEqual(['a/0', 'a/1', 'a/2', 'a/3', 'b/0']);
  } finally {
    await log.close();
  }
});

test("appendThen: the first batch and its consequences share one journal write, the first's entries before theirs", async () => {
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  try {
    await log.ensureTopic({ name: 'state', partitions: 2 });
    await log.ensureTopic({ name: 'events', partitions: 1 });
    await log.ensureTopic({ name: 'history', partitions: 1 });
    const before = log.journal.writes;
    const results = await Promise.all(
      log.appendThen({ topic: 'state', records: [{ value: 's0', partition: 0 }, { value: 's1', partition: 1 }] }, [
        { topic: 'events', records: [{ value: 'accepted' }] },
        { topic: 'history', records: [{ value: 'v1' }] },
      ]),
    );
    expect(results.map((r) => r.length)).toEqual([2, 1, 1]);
    expect(log.journal.writes - before).toBe(1);
    const entries = decodeEntries(await readFile(journalFile('0.wal'))).slice(-4);
    expect(entries.slice(0, 2).map((e) => e.topic)).toEqual(['state', 'state']);
    expect(entries.slice(2).map((e) => e.topic).sort()).toEqual(['events', 'history']);
  } finally {
    await log.close();
  }
});

test('a checkpoint empties the journal once its first entry is CHECKPOINT_MS old; a clean close empties it too', async () => {
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  try {
    await log.ensureTopic({ name: 't', partitions: 1 });
    await log.append('t', [{ value: 'first' }]);
    const first = await journalBytes();
    expect(first).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, CHECKPOINT_MS + 100));
    // The commit after that finds the file old enough: the segment is fsynced and the file emptied...
    await log.append('t', [{ value: 'second' }]);
    await expect.poll(() => stat(journalFile('0.wal')).then((s) => s.size), { timeout: 5_000 }).toBe(0);
    // What it held is in the segment file: the checkpoint wrote the segment's staged frames before it fsynced it.
    const segment = await readFile(join(dir, 'log', 'topics', 't', '0', '00000000000000000000.seg'));
    expect(segment.includes('first') && segment.includes('second')).toBe(true);
    // ...and commits go on in the other file.
    await log.append('t', [{ value: 'third' }]);
    expect((await stat(journalFile('1.wal'))).size).toBeGreaterThan(0);
    expect((await stat(journalFile('0.wal'))).size).toBe(0);
  } finally {
    await log.close();
  }
  expect(await journalBytes()).toBe(0);
  const again = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  try {
    expect(await again.offsets('t')).toEqual([{ partition: 0, low: 0, high: 3 }]);
  } finally {
    await again.close();
  }
});

test('a checkpoint fsyncs the segments written through the file one at a time', async () => {
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  const sync = Segment.prototype.sync;
  let running = 0;
  let most = 0;
  let synced = 0;
  Segment.prototype.sync = async function (this: Segment) {
    most = Math.max(most, ++running);
    try {
      return await sync.call(this);
    } finally {
      running--;
      synced++;
    }
  };
  try {
    await log.ensureTopic({ name: 't', partitions: 4 });
    await Promise.all(Array.from({ length: 4 }, (_, p) => log.append('t', [{ value: `v${p}`, partition: p }])));
    await new Promise((r) => setTimeout(r, CHECKPOINT_MS + 100));
    await log.append('t', [{ value: 'after', partition: 0 }]);
    await expect.poll(() => stat(journalFile('0.wal')).then((s) => s.size), { timeout: 5_000 }).toBe(0);
    expect(synced).toBeGreaterThanOrEqual(4);
    expect(most).toBe(1);
  } finally {
    Segment.prototype.sync = sync;
    await log.close();
  }
});

test('reading a journal stops at the first torn or damaged entry', async () => {
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  let bytes: Buffer;
  try {
    await log.ensureTopic({ name: 't', partitions: 1 });
    for (let i = 0; i < 3; i++) await log.append('t', [{ value: `v${i}` }]);
    bytes = await readFile(journalFile('0.wal'));
  } finally {
    await log.close();
  }
  const whole = decodeEntries(bytes);
  expect(whole).toHaveLength(3);
  // Entry = 9 bytes of magic, length and crc; 2 + topic ("t") + 4 + 8 + 8; the frame.
  const secondEnds = whole.slice(0, 2).reduce((n, e) => n + 9 + 2 + 1 + 4 + 8 + 8 + e.frame.length, 0);
  expect(decodeEntries(bytes.subarray(0, bytes.length - 1))).toHaveLength(2); // torn last write
  const flipped = Buffer.from(bytes);
  flipped[secondEnds - 1]! ^= 0xff; // the second entry's last byte
  expect(decodeEntries(flipped)).toHaveLength(1);
});
