import { writeSync, ftruncateSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import { corrupt } from './segment.js';
import { fsyncDir } from './partition.js';

/**
 * Committed offsets of consumer groups, two files per group under `groups/` (name =
 * `encodeURIComponent(groupId)`):
 *
 *   <name>.json  a snapshot, replaced atomically (write temp, fsync, rename, fsync dir):
 *                { "version": 1, "group": id, "offsets": { "<topic>/<partition>": next offset }, "seq": n }
 *   <name>.log   the commits since, one line each, appended and fdatasynced:
 *                <crc32 of the JSON, 8 hex digits> { "seq": n, "offsets": { ... the group's whole map } }\n
 *
 * A commit costs one small write and one fdatasync, not a file replacement (open, write,
 * fsync, close, rename, fsync of the directory). The group's offsets are those of the entry with
 * the highest `seq`, the snapshot's or the journal's last whole line; a line cut short by a crash
 * fails its checksum and is cut off when the store opens. Once the journal passes
 * {@link JOURNAL_COMPACT_BYTES} the snapshot is rewritten and the journal emptied; a crash
 * between the two leaves a journal whose lines are all older than the snapshot, so the snapshot
 * wins. Snapshots written before the journal existed have no `seq` (0).
 */
const GroupFile = z.object({
  version: z.literal(1),
  group: z.string(),
  offsets: z.record(z.string(), z.number().int().nonnegative()),
  seq: z.number().int().nonnegative().optional(),
});
const JournalEntry = z.object({ seq: z.number().int().nonnegative(), offsets: z.record(z.string(), z.number().int().nonnegative()) });

/** A group's journal is folded into its snapshot past this size. */
const JOURNAL_COMPACT_BYTES = 256 * 1024;

/** The next write of a group's offsets: everyone whose commit it carries. */
interface QueuedWrite {
  readonly done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

interface GroupState {
  readonly id: string;
  readonly offsets: Map<string, number>;
  seq: number;
  journal: FileHandle | undefined;
  journalBytes: number;
}

export class OffsetStore {
  readonly #groups = new Map<string, GroupState>();
  /** Per group, the write in progress (a loop that writes what is queued until nothing is). */
  readonly #writing = new Map<string, Promise<void>>();
  readonly #queued = new Map<string, QueuedWrite>();

  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<OffsetStore> {
    await mkdir(dir, { recursive: true });
    const store = new OffsetStore(dir);
    const names = await readdir(dir);
    for (const name of names) {
      const path = join(dir, name);
      if (name.endsWith('.json.tmp')) {
        await unlink(path); // an unfinished replacement; the previous file is intact
        continue;
      }
      if (name.endsWith('.log')) {
        if (!names.includes(`${name.slice(0, -'.log'.length)}.json`)) throw corrupt(path, 'is a consumer-group journal without its snapshot');
        continue;
      }
      if (!name.endsWith('.json')) throw corrupt(path, 'is not a file the embedded log writes');
      let parsed: z.infer<typeof GroupFile>;
      try {
        parsed = GroupFile.parse(JSON.parse(await readFile(path, 'utf8')));
      } catch {
        throw corrupt(path, 'is not a valid consumer-group offsets file');
      }
      const state: GroupState = { id: parsed.group, offsets: new Map(Object.entries(parsed.offsets)), seq: parsed.seq ?? 0, journal: undefined, journalBytes: 0 };
      await store.#replayJournal(state, `${path.slice(0, -'.json'.length)}.log`);
      store.#groups.set(parsed.group, state);
    }
    return store;
  }

  /** Applies the journal's last whole entry if it is newer than the snapshot, and cuts off a torn tail. */
  async #replayJournal(state: GroupState, path: string): Promise<void> {
    let text: Buffer;
    try {
      text = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let good = 0;
    let last: z.infer<typeof JournalEntry> | undefined;
    for (let start = 0; start < text.length; ) {
      const end = text.indexOf(0x0a, start);
      if (end < 0) break;
      const entry = journalLine(text.subarray(start, end));
      if (!entry) break;
      last = entry;
      good = end + 1;
      start = end + 1;
    }
    if (good < text.length) {
      const fh = await open(path, 'r+');
      try {
        await fh.truncate(good);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    }
    if (last && last.seq > state.seq) {
      state.offsets.clear();
      for (const [k, v] of Object.entries(last.offsets)) state.offsets.set(k, v);
      state.seq = last.seq;
    }
  }

  get(groupId: string, topic: string, partition: number): number | undefined {
    return this.#groups.get(groupId)?.offsets.get(`${topic}/${partition}`);
  }

  /**
   * Stores the offsets durably. Commits that arrive while the group's journal is being written
   * go together in the next write (it carries the group's whole map), so a busy group writes
   * once per fdatasync, not once per commit.
   */
  commit(groupId: string, offsets: readonly { topic: string; partition: number; offset: number }[]): Promise<void> {
    let group = this.#groups.get(groupId);
    if (!group) {
      group = { id: groupId, offsets: new Map(), seq: 0, journal: undefined, journalBytes: 0 };
      this.#groups.set(groupId, group);
    }
    for (const o of offsets) group.offsets.set(`${o.topic}/${o.partition}`, o.offset);
    const queued = this.#queued.get(groupId);
    if (queued) return queued.done;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#queued.set(groupId, { done, resolve, reject });
    if (!this.#writing.has(groupId)) this.#writing.set(groupId, this.#drain(group));
    return done;
  }

  async #drain(group: GroupState): Promise<void> {
    for (let next = this.#queued.get(group.id); next; next = this.#queued.get(group.id)) {
      this.#queued.delete(group.id);
      try {
        await this.#write(group);
        next.resolve();
      } catch (err) {
        next.reject(err);
      }
    }
    this.#writing.delete(group.id);
  }

  #path(group: GroupState, ext: '.json' | '.log'): string {
    return join(this.dir, `${encodeURIComponent(group.id)}${ext}`);
  }

  async #write(group: GroupState): Promise<void> {
    group.seq++;
    const offsets = Object.fromEntries(group.offsets);
    if (!group.journal) {
      // A group's first commit in this process: a snapshot first, so the journal never stands alone.
      await this.#snapshot(group, offsets);
      group.journal = await open(this.#path(group, '.log'), 'a+');
      ftruncateSync(group.journal.fd, 0); // what an earlier process journalled, the snapshot now holds
      group.journalBytes = 0;
      await group.journal.datasync();
      return;
    }
    if (group.journalBytes >= JOURNAL_COMPACT_BYTES) {
      await this.#snapshot(group, offsets);
      ftruncateSync(group.journal.fd, 0);
      group.journalBytes = 0;
      await group.journal.datasync();
      return;
    }
    const json = JSON.stringify({ seq: group.seq, offsets });
    const line = Buffer.from(`${crc32(json).toString(16).padStart(8, '0')} ${json}\n`);
    // Synchronous: a few hundred bytes into the page cache cost less than a trip through libuv's
    // thread pool; the fdatasync, which waits for the disk, stays asynchronous.
    let written = 0;
    while (written < line.length) written += writeSync(group.journal.fd, line, written, line.length - written, group.journalBytes + written);
    group.journalBytes += line.length;
    await group.journal.datasync();
  }

  async #snapshot(group: GroupState, offsets: Record<string, number>): Promise<void> {
    const path = this.#path(group, '.json');
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify({ version: 1, group: group.id, offsets, seq: group.seq }));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(this.dir);
  }

  async flush(): Promise<void> {
    await Promise.all([...this.#writing.values()]);
  }

  /** Waits for writes in flight and closes the journals. */
  async close(): Promise<void> {
    await this.flush();
    for (const group of this.#groups.values()) {
      const fh = group.journal;
      group.journal = undefined;
      await fh?.close();
    }
  }
}

/** A journal line's entry, or undefined when the line is torn or damaged. */
function journalLine(line: Buffer): z.infer<typeof JournalEntry> | undefined {
  if (line.length < 10 || line[8] !== 0x20) return undefined;
  const json = line.toString('utf8', 9);
  if (crc32(json).toString(16).padStart(8, '0') !== line.toString('latin1', 0, 8)) return undefined;
  try {
    return JournalEntry.parse(JSON.parse(json));
  } catch {
    return undefined;
  }
}
