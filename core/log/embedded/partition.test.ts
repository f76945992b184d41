import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { silentLogger } from '../../logger.js';
import { Journal } from './journal.js';
import { Partition, TAIL_MAX_AGE_MS, type PartitionSettings } from './partition.js';

const SETTINGS: PartitionSettings = { compacted: false, retentionMs: -1, retentionBytes: -1, segmentBytes: 1 << 30, segmentMs: 1 << 30, tombstoneGraceMs: 0 };

let dir: string;
let partition: Partition;
let journal: Journal;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-partition-'));
  await mkdir(join(dir, 'journal'));
  journal = await Journal.open(join(dir, 'journal'), silentLogger());
  partition = await Partition.open(join(dir, 't-0'), 't', 0, SETTINGS, journal, silentLogger());
});
afterEach(async () => {
  await partition.settle();
  await journal.close();
  await partition.close();
  await rm(dir, { recursive: true, force: true });
});

const record = (n: number) => ({ key: Buffer.from(`k${n}`), value: Buffer.from(`v${n}`), headers: [['h', Buffer.from(`x${n}`)] as const], timestamp: 1_000 + n });

/** Appends `frames` frames of `perFrame` records each, one write each, while a reader follows the end. */
async function appendFollowed(frames: number, perFrame: number): Promise<void> {
  for (let f = 0; f < frames; f++) {
    // A consumer at the end keeps the tail in memory.
    const following = new Promise<void>((resolve) => partition.onData(partition.high, resolve));
    await partition.append(Array.from({ length: perFrame }, (_, i) => record(f * perFrame + i)));
    await following;
  }
}

test('reads from the in-memory tail start at any offset inside a frame and stop at maxRecords', async () => {
  await appendFollowed(50, 4);
  for (const [from, max] of [
    [0, 1000],
    [1, 3],
    [6, 5],
    [133, 100],
    [199, 10],
  ] as const) {
    const got = await partition.read(from, max);
    const want = Math.min(max, 200 - from);
    expect(got.map((r) => r.offset)).toEqual(Array.from({ length: want }, (_, i) => from + i));
    expect(got.map((r) => [r.key!.toString(), r.value!.toString(), r.headers.h!.toString(), r.timestamp])).toEqual(
      Array.from({ length: want }, (_, i) => [`k${from + i}`, `v${from + i}`, `x${from + i}`, 1_000 + from + i]),
    );
  }
  expect(await partition.read(200, 10)).toEqual([]);
});

test('consumers reading the tail share one decode of each frame', async () => {
  // One frame, in the tail however slow the machine is (frames leave it TAIL_MAX_AGE_MS after they came).
  await appendFollowed(1, 15);
  const a = await partition.read(0, 100);
  const b = await partition.read(2, 100);
  expect(a).toHaveLength(15);
  expect(b).toHaveLength(13);
  for (let i = 0; i < b.length; i++) expect(b[i]).toBe(a[i + 2]);
});

test('decoded records count toward the bound of the tail: a tail of small records keeps fewer of them than its frames alone would allow', async () => {
  // 40 frames of 100 small records: 120 KB of frames, which fits the 256 KB bound, but decoded
  // (as consumers read them) they take over 1 MB, which does not.
  const first = new Map<number, unknown>();
  for (let f = 0; f < 40; f++) {
    await appendFollowed(1, 100);
    for (const r of await partition.read(f * 100, 100)) first.set(r.offset, r);
  }
  expect(first.size).toBe(4_000);
  // The newest frame is still served from memory (the same decoded records)...
  const newest = await partition.read(3_900, 100);
  newest.forEach((r) => expect(r).toBe(first.get(r.offset)));
  // ...the oldest was dropped, and is read again from the file.
  const oldest = await partition.read(0, 100);
  expect(oldest.map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  oldest.forEach((r) => expect(r).not.toBe(first.get(r.offset)));
});

test('a frame dropped from the tail is let go, with the records a late reader decoded from it', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  await appendFollowed(5, 100);
  // A reader behind the end decodes the first frame: its records stay with the frame while it is in the tail.
  const refs = (await partition.read(0, 100)).map((r) => new WeakRef(r));
  expect(refs).toHaveLength(100);
  // 40 more frames of 100 records, each read as it comes: the first is long dropped (see the test
  // above), and far fewer than the 1,024 dropped slots after which the tail's array is cut.
  for (let f = 5; f < 45; f++) {
    await appendFollowed(1, 100);
    expect(await partition.read(f * 100, 100)).toHaveLength(100);
  }
  await new Promise((resolve) => setImmediate(resolve)); // a WeakRef holds its target until the job that made it is over
  gc();
  expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
});

test('a frame the tail has held for TAIL_MAX_AGE_MS is dropped when the next comes: a reader that far behind reads the file', async () => {
  const file = join(dir, 't-0', '00000000000000000000.seg');
  const fileSize = async () => (await stat(file)).size;
  const header = await fileSize();
  await appendFollowed(1, 1);
  await new Promise((r) => setTimeout(r, TAIL_MAX_AGE_MS + 50));
  await appendFollowed(1, 1);
  // The newest frame is served from memory: the staged frames are not in the file yet...
  expect((await partition.read(1, 10)).map((r) => r.offset)).toEqual([1]);
  expect(await fileSize()).toBe(header);
  // ...the older one was dropped: reading it writes the staged frames out and reads the file.
  expect((await partition.read(0, 10)).map((r) => r.offset)).toEqual([0, 1]);
  expect(await fileSize()).toBeGreaterThan(header);
});

test('a waiter is woken once by the next write, not before, and not after offData', async () => {
  let woken = 0;
  const wake = () => woken++;
  partition.onData(0, wake);
  expect(woken).toBe(0);
  await partition.append([record(0)]);
  await new Promise((r) => setImmediate(r)); // appenders and waiters are told after the write's turn
  expect(woken).toBe(1);
  await partition.append([record(1)]);
  expect(woken).toBe(1); // once
  partition.onData(1, wake); // offset 1 is readable: at once
  expect(woken).toBe(2);
  partition.onData(2, wake);
  partition.offData(wake);
  await partition.append([record(2)]);
  await new Promise((r) => setImmediate(r));
  expect(woken).toBe(2);
});

test('appended frames reach the segment file together: once they are many, or when a read of the file needs them', async () => {
  const file = join(dir, 't-0', '00000000000000000000.seg');
  const fileSize = async () => (await stat(file)).size;
  const header = await fileSize();
  // Nobody follows the end, so the partition keeps no tail: a read goes to the file.
  for (let f = 0; f < 3; f++) await partition.append([record(f)]);
  // Durable in the journal, not in the file yet.
  expect(await fileSize()).toBe(header);
  const read = await partition.read(0, 100);
  expect(read.map((r) => [r.offset, r.value!.toString()])).toEqual([0, 1, 2].map((i) => [i, `v${i}`]));
  const written = await fileSize();
  expect(written).toBeGreaterThan(header);
  // Many frames are written without a read: 200 frames of 1 KB.
  for (let f = 0; f < 200; f++) await partition.append([{ key: null, value: Buffer.alloc(1000, f), headers: [], timestamp: 2_000 + f }]);
  expect(await fileSize()).toBeGreaterThan(written + 100_000);
});

test('what the tail serves equals what the segment file serves', async () => {
  await appendFollowed(20, 3);
  const fromMemory = await partition.read(5, 40);
  await partition.close();
  partition = await Partition.open(join(dir, 't-0'), 't', 0, SETTINGS, journal, silentLogger());
  const fromDisk = await partition.read(5, 40);
  expect(fromDisk).toEqual(fromMemory);
});
