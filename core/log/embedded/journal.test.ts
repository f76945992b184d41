import { cp, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { silentLogger } from '../../logger.js';
import { readRange } from '../read-range.js';
import { EmbeddedLog } from './embedded-log.js';
import { CHECKPOINT_MS, GROWTH_BYTES, decodeEntries, type JournalEntry } from './journal.js';
import { Segment } from './segment.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-journal-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const journalFile = (name: string) => join(dir, 'log', 'journal', name);
const journalBytes = async () => (await stat(journalFile('0.wal'))).size + (await stat(journalFile('1.wal'))).size;
/** The entries a replay would read from a journal file now. */
const entriesOf = async (name: string) => decodeEntries(await readFile(journalFile(name)));
const values = (entries: readonly JournalEntry[]) => entries.map((e) => e.frame.toString('latin1'));

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
    // The commit after that finds the file old enough: the segment is fsynced and the file emptied
    // (its header zeroed: it keeps its blocks for its next use)...
    await log.append('t', [{ value: 'second' }]);
    await expect.poll(() => entriesOf('0.wal').then((e) => e.length), { timeout: 5_000 }).toBe(0);
    expect((await readFile(journalFile('0.wal'))).subarray(0, 9)).toEqual(Buffer.alloc(9));
    expect((await stat(journalFile('0.wal'))).size).toBe(GROWTH_BYTES);
    // What it held is in the segment file: the checkpoint wrote the segment's staged frames before it fsynced it.
    const segment = await readFile(join(dir, 'log', 'topics', 't', '0', '00000000000000000000.seg'));
    expect(segment.includes('first') && segment.includes('second')).toBe(true);
    // ...and commits go on in the other file.
    await log.append('t', [{ value: 'third' }]);
    expect(values(await entriesOf('1.wal')).some((v) => v.includes('third'))).toBe(true);
    expect(await entriesOf('0.wal')).toEqual([]);
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
    await expect.poll(() => entriesOf('0.wal').then((e) => e.length), { timeout: 5_000 }).toBe(0);
    expect(synced).toBeGreaterThanOrEqual(4);
    expect(most).toBe(1);
  } finally {
    Segment.prototype.sync = sync;
    await log.close();
  }
});

test('reading a journal stops at the first torn or damaged entry (its place or its frame)', async () => {
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
  // A 9-byte header; an entry = 9 bytes of magic, length and crc; 4 (generation) + 2 + topic ("t") + 4 + 8 + 8; the frame.
  const ends = whole.map((_, i) => 9 + whole.slice(0, i + 1).reduce((n, e) => n + 9 + 4 + 2 + 1 + 4 + 8 + 8 + e.frame.length, 0));
  // Zeros follow the entries (the file grows by GROWTH_BYTES at a time).
  expect(bytes.length).toBe(GROWTH_BYTES);
  expect(bytes.subarray(ends[2]!).equals(Buffer.alloc(bytes.length - ends[2]!))).toBe(true);
  expect(decodeEntries(bytes.subarray(0, ends[2]! - 1))).toHaveLength(2); // torn last write
  const flipped = Buffer.from(bytes);
  flipped[ends[1]! - 1]! ^= 0xff; // the second entry's last byte
  expect(decodeEntries(flipped)).toHaveLength(1);
  const placed = Buffer.from(bytes);
  placed[ends[0]! + 9 + 4 + 2 + 1 + 4 + 8 + 7]! ^= 0x01; // the second entry's position, against the entry's checksum
  expect(decodeEntries(placed)).toHaveLength(1);
  const header = Buffer.from(bytes);
  header[4]! ^= 0x01; // the header's generation, against its checksum
  expect(decodeEntries(header)).toEqual([]);
});

test('a file is written over from its start when it is used again: the entries of its last use after the new ones are not read, nor replayed', async () => {
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  const copy = await mkdtemp(join(tmpdir(), 'kiot-journal-crash-'));
  const appended: string[] = [];
  // Values of one length: entries of both uses of the file are the same size, so that the first
  // use's entries go on exactly where the second's end (only their generation tells them apart).
  const append = async (label: string) => {
    const value = label.padEnd(64, '.');
    await log.append('t', [{ value }]);
    appended.push(value);
  };
  try {
    await log.ensureTopic({ name: 't', partitions: 1 });
    // First use of 0.wal: many entries.
    for (let i = 0; i < 40; i++) await append(`first-use-${i}`);
    const firstUse = await entriesOf('0.wal');
    expect(firstUse.length).toBeGreaterThanOrEqual(40);
    // A checkpoint empties 0.wal; commits go on in 1.wal; a second checkpoint empties 1.wal and brings them back to 0.wal.
    for (const [from, to] of [
      ['0.wal', '1.wal'],
      ['1.wal', '0.wal'],
    ] as const) {
      await new Promise((r) => setTimeout(r, CHECKPOINT_MS + 100));
      await append(`checkpoint-of-${from}`);
      await expect.poll(() => entriesOf(from).then((e) => e.length), { timeout: 5_000 }).toBe(0);
      await append(`first-in-${to}`);
      expect(values(await entriesOf(to)).some((v) => v.includes(`first-in-${to}`))).toBe(true);
    }
    await append('second-use');
    // 0.wal holds its second use's few entries at its start, the first use's after them.
    const bytes = await readFile(journalFile('0.wal'));
    const secondUse = decodeEntries(bytes);
    expect(values(secondUse).some((v) => v.includes('second-use'))).toBe(true);
    expect(values(secondUse).some((v) => v.includes('first-use'))).toBe(false);
    expect(bytes.includes('first-use-39')).toBe(true);
    // A crash now (the files as they are): a replay restores the segment from the second use's
    // entries alone, and every record reads back as appended.
    await cp(join(dir, 'log'), join(copy, 'log'), { recursive: true });
    const segment = join(copy, 'log', 'topics', 't', '0', '00000000000000000000.seg');
    await truncate(segment, Math.min(...secondUse.filter((e) => e.topic === 't').map((e) => e.position)));
  } finally {
    await log.close();
  }
  try {
    const reopened = await EmbeddedLog.open({ dataDir: copy, logger: silentLogger() });
    try {
      const read = await readRange(reopened, { topic: 't' });
      expect(read.map((r) => r.value!.toString())).toEqual(appended);
    } finally {
      await reopened.close();
    }
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
});

test('a journal an earlier kiot wrote (entries from byte 0, no header, no generation) is still replayed', async () => {
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  const copy = await mkdtemp(join(tmpdir(), 'kiot-journal-legacy-'));
  let entries: JournalEntry[];
  try {
    await log.ensureTopic({ name: 't', partitions: 1 });
    for (let i = 0; i < 5; i++) await log.append('t', [{ value: `v${i}` }]);
    entries = await entriesOf('0.wal');
    await cp(join(dir, 'log'), join(copy, 'log'), { recursive: true });
  } finally {
    await log.close();
  }
  try {
    // The same entries as the earlier layout wrote them, and the segment cut where they start (its page cache lost).
    await writeFile(join(copy, 'log', 'journal', '0.wal'), Buffer.concat(entries.map(legacyEntry)));
    await writeFile(join(copy, 'log', 'journal', '1.wal'), Buffer.alloc(0));
    await truncate(join(copy, 'log', 'topics', 't', '0', '00000000000000000000.seg'), Math.min(...entries.filter((e) => e.topic === 't').map((e) => e.position)));
    const reopened = await EmbeddedLog.open({ dataDir: copy, logger: silentLogger() });
    try {
      expect((await readRange(reopened, { topic: 't' })).map((r) => r.value!.toString())).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    } finally {
      await reopened.close();
    }
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
});

/** An entry as kiot wrote it before journal files had a header: magic 0x4A, length, crc, then the body from `topicLength` on. */
function legacyEntry(e: JournalEntry): Buffer {
  const topic = Buffer.from(e.topic);
  const body = Buffer.alloc(2 + topic.length + 4 + 8 + 8);
  body.writeUInt16BE(topic.length, 0);
  topic.copy(body, 2);
  body.writeUInt32BE(e.partition, 2 + topic.length);
  body.writeBigInt64BE(BigInt(e.segmentBase), 6 + topic.length);
  body.writeBigInt64BE(BigInt(e.position), 14 + topic.length);
  const whole = Buffer.concat([body, e.frame]);
  const head = Buffer.alloc(9);
  head[0] = 0x4a;
  head.writeUInt32BE(whole.length, 1);
  head.writeUInt32BE(crc32(whole), 5);
  return Buffer.concat([head, whole]);
}
