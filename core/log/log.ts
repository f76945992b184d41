/**
 * The log: the one thing every kiot service talks to. Two implementations exist,
 * `EmbeddedLog` (files under the data dir) and `KafkaLog` (kafkajs), and `ThreadLog` gives a
 * worker thread either one through the thread that opened it (`kiot up --threads`); all three
 * pass `core/testing/run-log-suite.ts`.
 *
 * The model is Kafka's, cut down to what the services need:
 * - a topic has a fixed number of partitions; a record lands in one partition, chosen from
 *   its key (same key, same partition, so one device's messages stay in order) unless the
 *   caller names a partition;
 * - offsets are per partition, start at 0 and only grow (compaction may leave gaps);
 * - a consumer group shares a topic's partitions among its members; a member processes a
 *   partition's records in order and commits the offset of the *next* record to read.
 *   Nothing is committed for the caller: a record whose offset was not committed is
 *   delivered again to whichever member owns its partition next (at-least-once), and a
 *   committed record is never delivered to the group again unless someone seeks back;
 * - a table is a key→value view of a (compacted) topic, for the state services.
 */

/** Bytes, or a string that is written as UTF-8. */
export type Bytes = Buffer | string;

export interface TopicSpec {
  readonly name: string;
  /** Partition count; defaults to the implementation's default (4, as the Kafka mock uses). */
  readonly partitions?: number;
  /** Compacted topics keep the latest value per key; tombstones (null values) delete keys. */
  readonly compacted?: boolean;
  /** Time retention for non-compacted topics; whole segments older than this are deleted. */
  readonly retentionMs?: number;
  /** Size retention per partition for non-compacted topics. */
  readonly retentionBytes?: number;
}

export interface AppendRecord {
  readonly key?: Bytes | null;
  /** `null` is a tombstone: on a compacted topic it deletes the key. */
  readonly value: Bytes | null;
  readonly headers?: Readonly<Record<string, Bytes>>;
  /** Milliseconds since the epoch; defaults to the time of the append. */
  readonly timestamp?: number;
  /** Overrides the key-hash partitioner. */
  readonly partition?: number;
}

export interface AppendResult {
  readonly partition: number;
  readonly offset: number;
}

/** Records for one topic, in one append. */
export interface AppendBatch {
  readonly topic: string;
  readonly records: readonly AppendRecord[];
}

export interface LogRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer>>;
  readonly timestamp: number;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  /** The offset of the next record to read. */
  readonly offset: number;
}

/** Where to move a partition's read position. */
export type SeekPosition = 'earliest' | 'latest' | { readonly offset: number } | { readonly timestamp: number };

/** Records of one partition, in offset order. */
export interface RecordBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly LogRecord[];
  /** The partition's end offset when the batch was read; `highWatermark - last offset - 1` is the lag. */
  readonly highWatermark: number;
}

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a partition with no committed offset for this group starts. Default `'latest'`. */
  readonly startFrom?: 'earliest' | 'latest';
  /**
   * Called with batches of one partition at a time; a member never runs two calls for the same
   * partition at once, and calls for one partition come in offset order. If it throws, the
   * batch is delivered again after a pause (the error is logged). Commit with `commit()`.
   */
  readonly eachBatch: (batch: RecordBatch, consumer: Consumer) => Promise<void>;
  /** Partitions given to this member; called before their first batch. */
  readonly onAssigned?: (partitions: readonly TopicPartition[]) => void | Promise<void>;
  /**
   * Partitions taken from this member; called after their last batch has finished and before
   * another member may read them, so commit what is done here.
   */
  readonly onRevoked?: (partitions: readonly TopicPartition[]) => void | Promise<void>;
  /** Upper bound on records in one batch. Default 500. */
  readonly maxBatchRecords?: number;
}

/** One member of a consumer group. */
export interface Consumer {
  /** Resolves once the member has joined the group and received its first assignment. */
  start(): Promise<void>;
  /**
   * Durably records that everything before each offset is processed. Resolves once stored;
   * safe to retry. Committing a partition this member no longer owns is ignored.
   */
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** Moves the read position of an owned partition; the next batch starts there. */
  seek(topic: string, partition: number, position: SeekPosition): Promise<void>;
  /** Partitions this member owns now. */
  assignment(): readonly TopicPartition[];
  /**
   * Waits for batches in flight, calls `onRevoked`, leaves the group. Does not commit on its
   * own: what the handler committed stays, the rest is delivered again. Safe to call twice.
   */
  stop(): Promise<void>;
}

export interface TableOptions<V> {
  /** Turns stored bytes into values; the default keeps the Buffer. */
  readonly decode?: (value: Buffer, key: string) => V;
  /** Sees every keyed record the table applies (its replay included, tombstones too), before it is decoded. */
  readonly observe?: (record: LogRecord) => void;
}

export interface TableChange<V> {
  readonly key: string;
  /** `undefined` when the key was deleted. */
  readonly value: V | undefined;
  readonly previous: V | undefined;
  readonly record: LogRecord;
}

/**
 * A key→value view of a compacted topic, replayed from the start of every partition: the last
 * value of each key wins and a tombstone deletes it, so it is correct even on a topic that was
 * never compacted. `openTable` resolves only after the view has caught up to the end offsets
 * it saw at open; afterwards it follows new records.
 */
export interface Table<V = Buffer> {
  get(key: string): V | undefined;
  has(key: string): boolean;
  keys(): IterableIterator<string>;
  entries(): IterableIterator<[string, V]>;
  readonly size: number;
  /** Appends a value for the key and resolves once this view has applied it (read-your-writes). */
  set(key: string, value: Bytes): Promise<void>;
  /** Appends a tombstone and resolves once this view has applied it. */
  delete(key: string): Promise<void>;
  /**
   * Resolves once this view has applied every record at or before the given positions (what
   * `append` to the table's topic returned), so a writer can read its own writes.
   * @throws PlatformError LOG_CLOSED when the table is closed first.
   */
  waitFor(positions: readonly AppendResult[]): Promise<void>;
  /** Calls `listener` for every change applied after catch-up; returns an unsubscribe function. */
  onChange(listener: (change: TableChange<V>) => void): () => void;
  close(): Promise<void>;
}

export interface LogStats {
  readonly appendedRecords: number;
  readonly appendedBytes: number;
  readonly consumedRecords: number;
  /** Per consumer group and partition: end offset minus the next offset this process will read. */
  readonly lag: readonly { groupId: string; topic: string; partition: number; lag: number }[];
}

export interface Log {
  /** `'embedded'` or `'kafka'`. */
  readonly kind: string;
  /**
   * Creates the topic if it does not exist. An existing topic keeps its settings (a warning is
   * logged if they differ). Safe to call again.
   */
  ensureTopic(spec: TopicSpec): Promise<void>;
  /**
   * Appends records to one topic. Resolves, with one result per record in input order, only
   * once every record is durable (fsynced / acknowledged by all in-sync replicas). A rejected
   * append may have stored some records: retrying may duplicate them, never lose them.
   * Throws LOG_TOPIC_UNKNOWN for a topic that was not ensured (embedded).
   */
  append(topic: string, records: readonly AppendRecord[]): Promise<AppendResult[]>;
  /**
   * Appends `first` and, as its consequences, each batch of `then` (a state change and the
   * events that announce it): a batch of `then` is stored only if `first` is, and is readable no
   * earlier; a failed write or a crash never leaves one without `first`. Returns `first`'s
   * append, then one per batch of `then`, each settled as `append`'s. The embedded log writes
   * them in one journal commit when it can; a log that cannot order writes across topics
   * (Kafka) appends `then` once `first` is acknowledged ({@link appendThenSequentially}).
   */
  appendThen(first: AppendBatch, then: readonly AppendBatch[]): Promise<AppendResult[]>[];
  /** Creates a consumer group member; call `start()` on it. */
  consumer(options: ConsumerOptions): Consumer;
  /** Opens a table over a topic (ensured as compacted) and waits until it has caught up. */
  openTable<V = Buffer>(topic: string, options?: TableOptions<V>): Promise<Table<V>>;
  /** The first and next-to-be-written offsets of every partition of a topic. */
  offsets(topic: string): Promise<readonly { partition: number; low: number; high: number }[]>;
  /** Counters for `/metrics`. */
  stats(): LogStats;
  /** Stops every consumer and table it made, then releases files or connections. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Partition for a key: murmur2 like Kafka's default partitioner, so both logs agree. A string
 * key is hashed as its UTF-8 bytes; a short one (every key kiot writes: client ids, thing names)
 * is written into a scratch buffer rather than a new Buffer, since every keyed record asks this.
 */
export function partitionForKey(key: Buffer | string, partitions: number): number {
  if (typeof key !== 'string') return (murmur2(key) & 0x7fffffff) % partitions;
  if (key.length * 3 > KEY_SCRATCH.length) return (murmur2(Buffer.from(key)) & 0x7fffffff) % partitions;
  return (murmur2(KEY_SCRATCH, KEY_SCRATCH.write(key)) & 0x7fffffff) % partitions;
}

/** Room for a short string key's UTF-8 bytes (at most 3 per UTF-16 unit) while it is hashed. */
const KEY_SCRATCH = Buffer.allocUnsafe(768);

/** Kafka's murmur2 (as in the Java client's `Utils.murmur2`) over `data`'s first `length` bytes, so keys land where Kafka puts them. */
export function murmur2(data: Buffer, length: number = data.length): number {
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  let h = seed ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = (data[i4]! & 0xff) + ((data[i4 + 1]! & 0xff) << 8) + ((data[i4 + 2]! & 0xff) << 16) + ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length4 * 4;
  const rest = length % 4;
  if (rest === 3) h ^= (data[tail + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (data[tail + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[tail]! & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

export const toBuffer = (value: Bytes): Buffer => (typeof value === 'string' ? Buffer.from(value) : value);

/**
 * `Log.appendThen` for a log that cannot order writes across topics: `then` is appended once
 * `first` is durable, and fails with it.
 */
export function appendThenSequentially(log: Pick<Log, 'append'>, first: AppendBatch, then: readonly AppendBatch[]): Promise<AppendResult[]>[] {
  const head = first.records.length > 0 ? log.append(first.topic, first.records) : Promise.resolve([]);
  return [head, ...then.map((b) => head.then(() => (b.records.length > 0 ? log.append(b.topic, b.records) : [])))];
}
