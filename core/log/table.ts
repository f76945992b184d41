import { randomUUID } from 'node:crypto';
import { PlatformError } from '../errors.js';
import {
  toBuffer,
  type Bytes,
  type Consumer,
  type Log,
  type LogRecord,
  type RecordBatch,
  type Table,
  type TableChange,
  type TableOptions,
} from './log.js';

/**
 * A Table built only on the Log interface, so both implementations share it: a consumer in a
 * group of its own (never committed, so it always replays from the start) reads every partition;
 * `openTable` resolves once each partition has reached the end offset seen at open.
 */
export async function openLogTable<V>(log: Log, topic: string, options: TableOptions<V> = {}): Promise<Table<V>> {
  await log.ensureTopic({ name: topic, compacted: true });
  const table = new LogTable<V>(log, topic, options);
  await table.start();
  return table;
}

class LogTable<V> implements Table<V> {
  readonly #values = new Map<string, V>();
  readonly #listeners = new Set<(change: TableChange<V>) => void>();
  /** Per partition: the offset after the last record applied. */
  readonly #applied = new Map<number, number>();
  #waiters: { partition: number; offset: number; resolve(): void }[] = [];
  #caughtUp = false;
  #consumer: Consumer | undefined;
  #closed = false;

  constructor(
    readonly log: Log,
    readonly topic: string,
    readonly options: TableOptions<V>,
  ) {}

  async start(): Promise<void> {
    const ends = await this.log.offsets(this.topic);
    this.#consumer = this.log.consumer({
      groupId: `kiot-table-${this.topic}-${randomUUID()}`,
      topics: [this.topic],
      startFrom: 'earliest',
      maxBatchRecords: 5000,
      eachBatch: async (batch) => this.#apply(batch),
    });
    await this.#consumer.start();
    await Promise.all(ends.filter((e) => e.high > e.low).map((e) => this.#waitApplied(e.partition, e.high - 1)));
    this.#caughtUp = true;
  }

  #apply(batch: RecordBatch): void {
    for (const record of batch.records) {
      if (record.key === null) continue; // a table only holds keyed records
      const key = record.key.toString();
      const previous = this.#values.get(key);
      let value: V | undefined;
      if (record.value === null) this.#values.delete(key);
      else {
        value = this.#decode(record, key);
        this.#values.set(key, value);
      }
      if (this.#caughtUp) for (const listener of this.#listeners) listener({ key, value, previous, record });
    }
    const last = batch.records[batch.records.length - 1];
    if (!last) return;
    this.#applied.set(batch.partition, last.offset + 1);
    this.#waiters = this.#waiters.filter((w) => {
      if (w.partition === batch.partition && last.offset >= w.offset) {
        w.resolve();
        return false;
      }
      return true;
    });
  }

  #decode(record: LogRecord, key: string): V {
    const value = record.value!;
    if (!this.options.decode) return value as unknown as V;
    return this.options.decode(value, key);
  }

  #waitApplied(partition: number, offset: number): Promise<void> {
    if ((this.#applied.get(partition) ?? 0) > offset) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ partition, offset, resolve }));
  }

  get(key: string): V | undefined {
    return this.#values.get(key);
  }
  has(key: string): boolean {
    return this.#values.has(key);
  }
  keys(): IterableIterator<string> {
    return this.#values.keys();
  }
  entries(): IterableIterator<[string, V]> {
    return this.#values.entries();
  }
  get size(): number {
    return this.#values.size;
  }

  set(key: string, value: Bytes): Promise<void> {
    return this.#write(key, toBuffer(value));
  }

  delete(key: string): Promise<void> {
    return this.#write(key, null);
  }

  async #write(key: string, value: Buffer | null): Promise<void> {
    if (this.#closed) throw new PlatformError('LOG_CLOSED', `table ${this.topic} is closed`);
    const [result] = await this.log.append(this.topic, [{ key, value }]);
    await this.#waitApplied(result!.partition, result!.offset);
  }

  onChange(listener: (change: TableChange<V>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    await this.#consumer?.stop();
  }
}
