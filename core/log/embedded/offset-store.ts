import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { corrupt } from './segment.js';
import { fsyncDir } from './partition.js';

/**
 * Committed offsets of consumer groups: one JSON file per group under `groups/`, replaced
 * atomically (write temp, fsync, rename, fsync dir), so a crash leaves the old or the new
 * offsets, never a mix.
 *
 *   groups/<encodeURIComponent(groupId)>.json := { "version": 1, "group": id, "offsets": { "<topic>/<partition>": next offset } }
 */
const GroupFile = z.object({
  version: z.literal(1),
  group: z.string(),
  offsets: z.record(z.string(), z.number().int().nonnegative()),
});

/** The next write of a group's file: the newest snapshot, and everyone whose commit it carries. */
interface QueuedWrite {
  text: string;
  readonly done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export class OffsetStore {
  readonly #groups = new Map<string, Map<string, number>>();
  /** Per group, the write in progress (a loop that writes what is queued until nothing is). */
  readonly #writing = new Map<string, Promise<void>>();
  readonly #queued = new Map<string, QueuedWrite>();

  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<OffsetStore> {
    await mkdir(dir, { recursive: true });
    const store = new OffsetStore(dir);
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      if (name.endsWith('.json.tmp')) {
        await unlink(path); // an unfinished replacement; the previous file is intact
        continue;
      }
      if (!name.endsWith('.json')) throw corrupt(path, 'is not a file the embedded log writes');
      let parsed: z.infer<typeof GroupFile>;
      try {
        parsed = GroupFile.parse(JSON.parse(await readFile(path, 'utf8')));
      } catch {
        throw corrupt(path, 'is not a valid consumer-group offsets file');
      }
      store.#groups.set(parsed.group, new Map(Object.entries(parsed.offsets)));
    }
    return store;
  }

  get(groupId: string, topic: string, partition: number): number | undefined {
    return this.#groups.get(groupId)?.get(`${topic}/${partition}`);
  }

  /**
   * Stores the offsets durably. Commits that arrive while the group's file is being written go
   * together in the next write (its snapshot holds all of them), so a busy group writes its
   * file once per write's duration, not once per commit.
   */
  commit(groupId: string, offsets: readonly { topic: string; partition: number; offset: number }[]): Promise<void> {
    let group = this.#groups.get(groupId);
    if (!group) {
      group = new Map();
      this.#groups.set(groupId, group);
    }
    for (const o of offsets) group.set(`${o.topic}/${o.partition}`, o.offset);
    const text = JSON.stringify({ version: 1, group: groupId, offsets: Object.fromEntries(group) });
    const queued = this.#queued.get(groupId);
    if (queued) {
      queued.text = text;
      return queued.done;
    }
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#queued.set(groupId, { text, done, resolve, reject });
    if (!this.#writing.has(groupId)) this.#writing.set(groupId, this.#drain(groupId));
    return done;
  }

  async #drain(groupId: string): Promise<void> {
    for (let next = this.#queued.get(groupId); next; next = this.#queued.get(groupId)) {
      this.#queued.delete(groupId);
      try {
        await this.#write(groupId, next.text);
        next.resolve();
      } catch (err) {
        next.reject(err);
      }
    }
    this.#writing.delete(groupId);
  }

  async #write(groupId: string, text: string): Promise<void> {
    const path = join(this.dir, `${encodeURIComponent(groupId)}.json`);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(text);
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
}
