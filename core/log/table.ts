import { randomUUID } from 'node:crypto';
import { PlatformError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AppendRecord, AppendResult, Bytes, Consumer, ConsumerOptions, LogRecord, RecordBatch, Table, TableChange, TableOptions } from './log.js';

/** What a table needs from the log that opened it (both implementations share this table). */
export interface TableHost {
  readonly logger: Logger;
  append(topic: string, records: readonly AppendRecord[]): Promise<AppendResult[]>;
  offsets(topic: string): Promise<readonly { partition: number; low: number; high: number }[]>;
  tableConsumer(options: ConsumerOptions): Consumer;
  forgetTable(table: LogTable<unknown>): void;
}

interface Waiter {
  readonly partition: number;
  readonly offset: number;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * A table over a topic, built only on the log's own operations so EmbeddedLog and KafkaLog
 * share it: a member of its own throwaway consumer group (a fresh random
 * group id, never committed, so it always starts from the earliest offsets and owns every
 * partition) that replays the topic into a Map and then follows it.
 */
export class LogTable<V> implements Table<V> {
  readonly #topic: string;
  readonly #host: TableHost;
  readonly #decode: (value: Buffer, key: string) => V;
  readonly #observe: ((record: LogRecord) => void) | undefined;
  readonly #log: Logger;
  readonly #values = new Map<string, V>();
  /** Per partition, the offset after the last record applied. */
  readonly #applied = new Map<number, number>();
  readonly #listeners = new Set<(change: TableChange<V>) => void>();
  #waiters: Waiter[] = [];
  #caughtUp = false;
  #consumer: Consumer | undefined;
  #closed: Promise<void> | undefined;

  private constructor(topic: string, host: TableHost, options: TableOptions<V>) {
    this.#topic = topic;
    this.#host = host;
    // Kept values get bytes of their own: a record's value is a view into what the log read (a
    // frame, a ThreadLog batch), which one kept key would otherwise hold whole.
    this.#decode = options.decode ?? ((value: Buffer) => Buffer.from(value) as unknown as V);
    this.#observe = options.observe;
    this.#log = host.logger.child({ table: topic });
  }

  /** Opens the table and resolves once it has applied every record below the end offsets seen now. */
  static async open<V>(topic: string, host: TableHost, options: TableOptions<V>): Promise<LogTable<V>> {
    const table = new LogTable<V>(topic, host, options);
    const ends = await host.offsets(topic);
    const caughtUp = Promise.all(
      ends
        .filter(({ low, high }) => high > low)
        .map(({ partition, high }) => new Promise<void>((resolve, reject) => table.#waiters.push({ partition, offset: high - 1, resolve, reject }))),
    );
    caughtUp.catch(() => undefined); // awaited below; this only keeps a close() during open from being unhandled
    table.#consumer = host.tableConsumer({
      groupId: `kiot.table.${topic}.${randomUUID()}`,
      topics: [topic],
      startFrom: 'earliest',
      eachBatch: async (batch) => table.#apply(batch),
    });
    try {
      await table.#consumer.start();
      await caughtUp;
    } catch (err) {
      await table.close();
      throw err;
    }
    table.#caughtUp = true;
    return table;
  }

  #apply(batch: RecordBatch): void {
    for (const record of batch.records) {
      if (record.key === null) continue; // a table is keyed; keyless records have no place in it
      this.#observe?.(record);
      const key = record.key.toString('utf8');
      const previous = this.#values.get(key);
      let value: V | undefined;
      if (record.value !== null) {
        try {
          value = this.#decode(record.value, key);
        } catch (err) {
          // One bad record must not stop the state service: keep the last good value.
          this.#log.error({ err, key, partition: record.partition, offset: record.offset }, 'table value could not be decoded; kept the previous value');
          continue;
        }
        this.#values.set(key, value);
      } else {
        this.#values.delete(key);
      }
      if (this.#caughtUp) {
        const change: TableChange<V> = { key, value, previous, record };
        for (const listener of this.#listeners) {
          try {
            listener(change);
          } catch (err) {
            this.#log.error({ err, key }, 'table change listener failed');
          }
        }
      }
    }
    const last = batch.records[batch.records.length - 1];
    if (!last) return;
    const applied = Math.max(this.#applied.get(batch.partition) ?? 0, last.offset + 1);
    this.#applied.set(batch.partition, applied);
    this.#waiters = this.#waiters.filter((w) => {
      if (w.partition !== batch.partition || w.offset >= applied) return true;
      w.resolve();
      return false;
    });
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
    return this.#write(key, value);
  }

  delete(key: string): Promise<void> {
    return this.#write(key, null);
  }

  async #write(key: string, value: Bytes | null): Promise<void> {
    if (this.#closed) throw new PlatformError('LOG_CLOSED', `table ${this.#topic} is closed`);
    const [result] = await this.#host.append(this.#topic, [{ key, value }]);
    if (!result) throw new PlatformError('INTERNAL', 'append returned no result');
    await this.waitFor([result]);
  }

  waitFor(positions: readonly AppendResult[]): Promise<void> {
    if (this.#closed) return Promise.reject(new PlatformError('LOG_CLOSED', `table ${this.#topic} is closed`));
    if (positions.length === 1) {
      // A write's one position (the state store's usual command): no array, no Promise.all.
      const p = positions[0]!;
      if ((this.#applied.get(p.partition) ?? 0) > p.offset) return Promise.resolve();
      return new Promise<void>((resolve, reject) => this.#waiters.push({ partition: p.partition, offset: p.offset, resolve, reject }));
    }
    const pending = positions.filter((p) => (this.#applied.get(p.partition) ?? 0) <= p.offset);
    if (pending.length === 0) return Promise.resolve();
    return Promise.all(
      pending.map((p) => new Promise<void>((resolve, reject) => this.#waiters.push({ partition: p.partition, offset: p.offset, resolve, reject }))),
    ).then(() => undefined);
  }

  onChange(listener: (change: TableChange<V>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#consumer?.stop();
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w.reject(new PlatformError('LOG_CLOSED', `table ${this.#topic} was closed`));
      this.#listeners.clear();
      this.#host.forgetTable(this as LogTable<unknown>);
    })();
    return this.#closed;
  }
}
