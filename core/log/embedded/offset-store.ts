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

export class OffsetStore {
  readonly #groups = new Map<string, Map<string, number>>();
  readonly #writes = new Map<string, Promise<void>>();

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

  /** Stores the offsets durably; concurrent commits of one group are written in order. */
  commit(groupId: string, offsets: readonly { topic: string; partition: number; offset: number }[]): Promise<void> {
    let group = this.#groups.get(groupId);
    if (!group) {
      group = new Map();
      this.#groups.set(groupId, group);
    }
    for (const o of offsets) group.set(`${o.topic}/${o.partition}`, o.offset);
    const snapshot = JSON.stringify({ version: 1, group: groupId, offsets: Object.fromEntries(group) });
    const previous = this.#writes.get(groupId) ?? Promise.resolve();
    const write = previous.catch(() => undefined).then(() => this.#write(groupId, snapshot));
    this.#writes.set(groupId, write);
    return write;
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
    await Promise.all([...this.#writes.values()].map((w) => w.catch(() => undefined)));
  }
}
