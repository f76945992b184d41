import { mkdir, open, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import {
  partitionForKey,
  type AppendBatch,
  type AppendRecord,
  type AppendResult,
  type Consumer,
  type ConsumerOptions,
  type Log,
  type LogStats,
  type Table,
  type TableOptions,
  type TopicSpec,
} from '../log.js';
import { LogTable, type TableHost } from '../table.js';
import { EmbeddedConsumer, Group, type GroupHost } from './group.js';
import { Journal, replayJournal, type Dependency } from './journal.js';
import { OffsetStore } from './offset-store.js';
import { Partition, fsyncDir, type PartitionSettings, type PendingRecord } from './partition.js';
import { corrupt } from './segment.js';

/** Kafka's defaults where Kafka has one (retention.ms 7 days, delete.retention.ms 1 day). */
export const DEFAULT_PARTITIONS = 4;
export const DEFAULT_RETENTION_MS = 7 * 24 * 3600_000;
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_SEGMENT_MS = 24 * 3600_000;
export const DEFAULT_TOMBSTONE_GRACE_MS = 24 * 3600_000;
export const DEFAULT_MAINTENANCE_INTERVAL_MS = 60_000;

export interface EmbeddedLogOptions {
  /** The data dir; the log keeps its files in `<dataDir>/log/`. */
  readonly dataDir: string;
  readonly logger: Logger;
  readonly defaultPartitions?: number;
  readonly segmentBytes?: number;
  readonly segmentMs?: number;
  readonly tombstoneGraceMs?: number;
  /** How often retention and compaction run in the background. */
  readonly maintenanceIntervalMs?: number;
}

const NO_HEADERS: readonly (readonly [string, Buffer | string])[] = [];

/** Kafka's legal topic names. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/**
 * topics/<topic>/topic.json := { "version": 1, "name", "partitions", "compacted", "retentionMs", "retentionBytes" }
 */
const TopicFile = z.object({
  version: z.literal(1),
  name: z.string().regex(TOPIC_NAME),
  partitions: z.number().int().min(1).max(1024),
  compacted: z.boolean(),
  retentionMs: z.number().int(),
  retentionBytes: z.number().int(),
});
type TopicMeta = z.infer<typeof TopicFile>;

interface TopicState {
  readonly meta: TopicMeta;
  readonly partitions: Partition[];
}

/** The records of one append, by partition (EmbeddedLog.#place). */
interface Placement {
  readonly partitions: readonly Partition[];
  /** Each record's partition, in input order. */
  readonly partitionOf: readonly number[];
  readonly groups: ReadonlyMap<number, PendingRecord[]>;
  readonly bytes: number;
}

/** Data dirs open in this process: a second open of the same dir must fail, as across processes. */
const openDirs = new Set<string>();

/**
 * The default log: files under `<dataDir>/log/`, one process at a time (a LOCK file holds the
 * owner's pid). Layout:
 *
 *   log/LOCK                                pid of the owning process
 *   log/topics/<topic>/topic.json           settings
 *   log/topics/<topic>/<partition>/<base>.seg  segments (see frame.ts)
 *   log/groups/<group>.json                 committed offsets (see offset-store.ts)
 *   log/journal/{0,1}.wal                   the group commit of every partition (see journal.ts)
 *
 * Anything else under `log/` stops `open` with LOG_CORRUPT naming the file.
 */
export class EmbeddedLog implements Log {
  readonly kind = 'embedded';
  readonly #topics = new Map<string, TopicState>();
  readonly #groups = new Map<string, Group>();
  readonly #tables = new Set<LogTable<unknown>>();
  readonly #tableHost: TableHost;
  readonly #consumers = new Set<EmbeddedConsumer>();
  readonly #logger: Logger;
  readonly #host: GroupHost;
  #appendedRecords = 0;
  #appendedBytes = 0;
  #consumedRecords = 0;
  #maintenance: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly options: EmbeddedLogOptions,
    readonly offsetStore: OffsetStore,
    readonly journal: Journal,
  ) {
    this.#logger = options.logger.child({ module: 'log.embedded' });
    this.#host = {
      logger: options.logger,
      offsets: offsetStore,
      partitionsOf: (topic) => this.#topics.get(topic)?.partitions ?? [],
      partition: (topic, partition) => this.#topic(topic).partitions[partition]!,
      countConsumed: (n) => {
        this.#consumedRecords += n;
      },
    };
    this.#tableHost = {
      logger: options.logger,
      append: (topic, records) => this.append(topic, records),
      offsets: (topic) => this.offsets(topic),
      tableConsumer: (consumerOptions) => this.consumer(consumerOptions),
      forgetTable: (table) => {
        this.#tables.delete(table);
      },
    };
  }

  /** Locks the data dir, verifies every file and opens the topics. */
  static async open(options: EmbeddedLogOptions): Promise<EmbeddedLog> {
    const dir = resolve(options.dataDir, 'log');
    await mkdir(join(dir, 'topics'), { recursive: true });
    await lock(dir);
    try {
      for (const name of await readdir(dir)) {
        if (!['LOCK', 'topics', 'groups', 'journal'].includes(name)) throw corrupt(join(dir, name), 'is not a file the embedded log writes');
      }
      // Before any segment is read: the journal holds what the last process made durable there alone.
      await replayJournal(join(dir, 'journal'), join(dir, 'topics'), options.logger);
      const offsets = await OffsetStore.open(join(dir, 'groups'));
      const journal = await Journal.open(join(dir, 'journal'), options.logger);
      const log = new EmbeddedLog(dir, options, offsets, journal);
      try {
        for (const name of await readdir(join(dir, 'topics'))) await log.#loadTopic(name);
      } catch (err) {
        await log.#closeTopics();
        await journal.close();
        throw err;
      }
      const interval = options.maintenanceIntervalMs ?? DEFAULT_MAINTENANCE_INTERVAL_MS;
      log.#maintenance = setInterval(() => void log.maintain(), interval);
      log.#maintenance.unref();
      return log;
    } catch (err) {
      await unlock(dir);
      throw err;
    }
  }

  async #loadTopic(name: string): Promise<void> {
    const topicDir = join(this.dir, 'topics', name);
    if (!(await stat(topicDir)).isDirectory() || !TOPIC_NAME.test(name)) throw corrupt(topicDir, 'is not a topic directory of the embedded log');
    let meta: TopicMeta;
    const metaPath = join(topicDir, 'topic.json');
    try {
      meta = TopicFile.parse(JSON.parse(await readFile(metaPath, 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (await readdir(topicDir)).length === 0) return; // created, never used
      throw corrupt(metaPath, 'is missing or not a valid topic settings file');
    }
    if (meta.name !== name) throw corrupt(metaPath, `names topic "${meta.name}" but sits in "${name}"`);
    for (const entry of await readdir(topicDir)) {
      if (entry === 'topic.json' || entry === 'topic.json.tmp') continue;
      if (!/^\d+$/.test(entry) || Number(entry) >= meta.partitions) throw corrupt(join(topicDir, entry), 'is not a partition of this topic');
    }
    const partitions: Partition[] = [];
    this.#topics.set(name, { meta, partitions }); // registered first so a failure closes what opened
    for (let p = 0; p < meta.partitions; p++) {
      partitions.push(await Partition.open(join(topicDir, String(p)), name, p, this.#settings(meta), this.journal, this.options.logger));
    }
  }

  #settings(meta: TopicMeta): PartitionSettings {
    return {
      compacted: meta.compacted,
      retentionMs: meta.retentionMs,
      retentionBytes: meta.retentionBytes,
      segmentBytes: this.options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      segmentMs: this.options.segmentMs ?? DEFAULT_SEGMENT_MS,
      tombstoneGraceMs: this.options.tombstoneGraceMs ?? DEFAULT_TOMBSTONE_GRACE_MS,
    };
  }

  #topic(name: string): TopicState {
    const topic = this.#topics.get(name);
    if (!topic) throw new PlatformError('LOG_TOPIC_UNKNOWN', `topic "${name}" does not exist; ensure it first`, { details: { topic: name } });
    return topic;
  }

  #ensuring = new Map<string, Promise<void>>();

  ensureTopic(spec: TopicSpec): Promise<void> {
    this.#assertOpen();
    if (this.#topics.has(spec.name)) {
      const { meta } = this.#topics.get(spec.name)!;
      if ((spec.partitions !== undefined && spec.partitions !== meta.partitions) || (spec.compacted ?? false) !== meta.compacted) {
        this.#logger.warn({ topic: spec.name, existing: meta, requested: spec }, 'topic exists with other settings; keeping them');
      }
      return Promise.resolve();
    }
    let ensuring = this.#ensuring.get(spec.name);
    if (!ensuring) {
      ensuring = this.#createTopic(spec).finally(() => this.#ensuring.delete(spec.name));
      this.#ensuring.set(spec.name, ensuring);
    }
    return ensuring;
  }

  async #createTopic(spec: TopicSpec): Promise<void> {
    if (!TOPIC_NAME.test(spec.name)) {
      throw new PlatformError('INPUT_INVALID', `topic: expected 1-249 characters of A-Z a-z 0-9 . _ -, received ${JSON.stringify(spec.name)}`);
    }
    const meta: TopicMeta = {
      version: 1,
      name: spec.name,
      partitions: spec.partitions ?? this.options.defaultPartitions ?? DEFAULT_PARTITIONS,
      compacted: spec.compacted ?? false,
      retentionMs: spec.retentionMs ?? (spec.compacted ? -1 : DEFAULT_RETENTION_MS),
      retentionBytes: spec.retentionBytes ?? -1,
    };
    const topicDir = join(this.dir, 'topics', spec.name);
    await mkdir(topicDir, { recursive: true });
    const metaPath = join(topicDir, 'topic.json');
    await writeFile(`${metaPath}.tmp`, JSON.stringify(meta, null, 2));
    const fh = await open(`${metaPath}.tmp`, 'r+');
    await fh.datasync();
    await fh.close();
    await rename(`${metaPath}.tmp`, metaPath);
    await fsyncDir(topicDir);
    await fsyncDir(join(this.dir, 'topics'));
    const partitions: Partition[] = [];
    for (let p = 0; p < meta.partitions; p++) {
      partitions.push(await Partition.open(join(topicDir, String(p)), spec.name, p, this.#settings(meta), this.journal, this.options.logger));
    }
    this.#topics.set(spec.name, { meta, partitions });
    // Groups already subscribed to the name now have partitions to share.
    await Promise.all([...this.#groups.values()].filter((g) => g.members.some((m) => m.options.topics.includes(spec.name))).map((g) => g.rebalance()));
  }

  async append(topic: string, records: readonly AppendRecord[]): Promise<AppendResult[]> {
    this.#assertOpen();
    return this.#submit(this.#place(topic, records), (partition, group) => partition.append(group));
  }

  /**
   * `first`'s frames go to the journal as any append's; the moment the last of them is handed to
   * it, `then`'s records are appended, marked as depending on it (Partition.append's `after`):
   * the journal writes them in the same commit when they come in time for it, never in an
   * earlier one, and refuses them if a journal write failed since `first` was handed to it.
   */
  appendThen(first: AppendBatch, then: readonly AppendBatch[]): Promise<AppendResult[]>[] {
    let head: Placement;
    let tails: Placement[];
    try {
      this.#assertOpen();
      head = this.#place(first.topic, first.records);
      tails = then.map((b) => this.#place(b.topic, b.records));
    } catch (err) {
      const failed = Promise.reject(err);
      return [failed, ...then.map(() => failed)];
    }
    let start!: (dependency: Dependency) => void;
    let refuse!: (err: unknown) => void;
    const started = new Promise<Dependency>((resolve, reject) => ((start = resolve), (refuse = reject)));
    let unsequenced = head.groups.size;
    let failuresAt: number | undefined;
    const release = () => {
      // Told now, so that the journal's next write waits a turn for them (Journal.expect).
      this.journal.expect(tails.reduce((n, t) => n + t.groups.size, 0));
      start({ journalFailures: failuresAt ?? this.journal.failures });
    };
    const headDone = this.#submit(head, (partition, group) =>
      partition.append(group, {
        sequenced: () => {
          failuresAt ??= this.journal.failures;
          if (--unsequenced === 0) release();
        },
      }),
    );
    if (unsequenced === 0) release();
    // `first` failed before all of it reached the journal: nothing of `then` is appended.
    headDone.catch(refuse);
    return [headDone, ...tails.map((tail) => started.then((after) => this.#submit(tail, (partition, group) => partition.append(group, { after }))))];
  }

  /** Where the records of one append go: grouped by partition (checked), and each record's partition in input order. */
  #place(topic: string, records: readonly AppendRecord[]): Placement {
    const state = this.#topic(topic);
    const count = state.partitions.length;
    const now = Date.now();
    // Keyless records of one append share a partition that rotates per append (Kafka's sticky
    // partitioner idea, as KafkaLog does), so a batch stays one write.
    const sticky = this.#roundRobin++ % count;
    const partitionOf = new Array<number>(records.length);
    const groups = new Map<number, PendingRecord[]>();
    let bytes = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      // A string key stays a string: hashed and written into the frame as UTF-8, never made a Buffer of its own.
      const key = r.key === undefined ? null : r.key;
      let partition = r.partition;
      if (partition === undefined) partition = key !== null ? partitionForKey(key, count) : sticky;
      else if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
        throw new PlatformError('INPUT_INVALID', `partition: expected 0..${count - 1} for topic "${topic}", received ${partition}`);
      }
      const headers = r.headers ? Object.entries(r.headers) : NO_HEADERS;
      let group = groups.get(partition);
      if (!group) groups.set(partition, (group = []));
      partitionOf[i] = partition;
      group.push({ key, value: r.value, headers, timestamp: r.timestamp ?? now });
      bytes += (key?.length ?? 0) + (r.value === null ? 0 : typeof r.value === 'string' ? r.value.length : r.value.length);
    }
    return { partitions: state.partitions, partitionOf, groups, bytes };
  }

  /** Appends each group of `placement` with `append` (all in this turn); resolves with one result per record, in input order. */
  async #submit(placement: Placement, append: (partition: Partition, group: PendingRecord[]) => Promise<number[]>): Promise<AppendResult[]> {
    const { partitions, partitionOf, groups } = placement;
    const offsets = new Map<number, number[]>();
    await Promise.all([...groups].map(async ([partition, group]) => offsets.set(partition, await append(partitions[partition]!, group))));
    const next = new Map<number, number>();
    const results = new Array<AppendResult>(partitionOf.length);
    for (let i = 0; i < partitionOf.length; i++) {
      const partition = partitionOf[i]!;
      const j = next.get(partition) ?? 0;
      next.set(partition, j + 1);
      results[i] = { partition, offset: offsets.get(partition)![j]! };
    }
    this.#appendedRecords += partitionOf.length;
    this.#appendedBytes += placement.bytes;
    return results;
  }

  #roundRobin = 0;

  consumer(options: ConsumerOptions): Consumer {
    this.#assertOpen();
    let group = this.#groups.get(options.groupId);
    if (!group) {
      group = new Group(options.groupId, this.#host);
      this.#groups.set(options.groupId, group);
    }
    const consumer = new EmbeddedConsumer(options, group, (member) => {
      this.#consumers.delete(member);
      if (member.group.members.length === 0) this.#groups.delete(member.group.id);
    });
    this.#consumers.add(consumer);
    return consumer;
  }

  async openTable<V = Buffer>(topic: string, options?: TableOptions<V>): Promise<Table<V>> {
    this.#assertOpen();
    await this.ensureTopic({ name: topic, compacted: true });
    const table = await LogTable.open<V>(topic, this.#tableHost, options ?? {});
    this.#tables.add(table as LogTable<unknown>);
    return table;
  }

  async offsets(topic: string): Promise<{ partition: number; low: number; high: number }[]> {
    return this.#topic(topic).partitions.map((p) => ({ partition: p.id, low: p.low, high: p.high }));
  }

  stats(): LogStats {
    const lag = [...this.#consumers].flatMap((c) => c.lag().map((l) => ({ groupId: c.options.groupId, ...l })));
    return {
      appendedRecords: this.#appendedRecords,
      appendedBytes: this.#appendedBytes,
      consumedRecords: this.#consumedRecords,
      lag,
    };
  }

  /** Runs retention and compaction on every partition now (also runs on a timer). */
  async maintain(now = Date.now()): Promise<void> {
    if (this.#closing) return;
    for (const topic of this.#topics.values()) {
      for (const partition of topic.partitions) {
        try {
          await partition.maintain(now);
        } catch (err) {
          this.#logger.error({ err, topic: topic.meta.name, partition: partition.id }, 'retention/compaction failed; will retry');
        }
      }
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#maintenance);
      await Promise.all([...this.#tables].map((t) => t.close()));
      await Promise.all([...this.#consumers].map((c) => c.stop()));
      await this.offsetStore.close();
      // The segments' own fsync, while they are open; then nothing is left to replay.
      await Promise.all([...this.#topics.values()].flatMap((t) => t.partitions.map((p) => p.settle())));
      await this.journal.close();
      await this.#closeTopics();
      await unlock(this.dir);
    })();
    return this.#closing;
  }

  async #closeTopics(): Promise<void> {
    await Promise.all([...this.#topics.values()].flatMap((t) => t.partitions.map((p) => p.close())));
  }

  #assertOpen(): void {
    if (this.#closing) throw new PlatformError('LOG_CLOSED', 'the embedded log is closed');
  }
}

async function lock(dir: string): Promise<void> {
  const path = join(dir, 'LOCK');
  if (openDirs.has(dir)) throw locked(dir, process.pid);
  try {
    const owner = Number((await readFile(path, 'utf8')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) throw locked(dir, owner);
  } catch (err) {
    if (err instanceof PlatformError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await writeFile(path, `${process.pid}\n`);
  openDirs.add(dir);
}

async function unlock(dir: string): Promise<void> {
  openDirs.delete(dir);
  await unlink(join(dir, 'LOCK')).catch(() => undefined);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const locked = (dir: string, pid: number): PlatformError =>
  new PlatformError('LOG_LOCKED', `${dir} is in use by process ${pid}; stop it or use another --data-dir`, { details: { dir, pid } });
