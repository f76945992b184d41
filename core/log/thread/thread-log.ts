/**
 * The log of a worker thread: every operation goes over a MessagePort to the thread that owns
 * the real log (`serveLog`), so several threads of one `kiot up` share one EmbeddedLog (whose
 * data dir only one process, and one thread, may open). Consumers here are members of their
 * groups on the owner's log; tables are the shared LogTable over them. Passes the log contract
 * (core/testing/run-log-suite.ts).
 */
import type { MessagePort } from 'node:worker_threads';
import { PlatformError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { AppendBatch, AppendRecord, AppendResult, Consumer, ConsumerOptions, Log, LogStats, SeekPosition, Table, TableOptions, TopicPartition, TopicPartitionOffset, TopicSpec } from '../log.js';
import { LogTable, type TableHost } from '../table.js';
import { Outbox, packAppend, toWireError, unpackBatch, type Call, type Request, type ToOwner, type ToWorker, type WireSettled } from './protocol.js';
import { fromWire } from './serve.js';

type Pending = { resolve(value: unknown): void; reject(err: Error): void };
/** A request without its id, which `#ask` gives it. */
type Ask = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class ThreadLog implements Log, TableHost {
  readonly kind: string;
  readonly logger: Logger;
  readonly #port: MessagePort;
  readonly #outbox: Outbox<ToOwner>;
  readonly #pending = new Map<number, Pending>();
  readonly #consumers = new Map<number, ThreadConsumer>();
  readonly #tables = new Set<LogTable<unknown>>();
  #nextId = 1;
  #appendedRecords = 0;
  #appendedBytes = 0;
  #consumedRecords = 0;
  #closing: Promise<void> | undefined;
  /** Set once close() has stopped the consumers and tables: from then on nothing is asked. */
  #closed = false;
  /** The owner's end of the port closed: nothing can be asked any more. */
  #gone = false;

  /** `kind` is the owner's log kind (`embedded`), as /health reports it. */
  constructor(port: MessagePort, options: { readonly logger: Logger; readonly kind: string }) {
    this.#port = port;
    this.#outbox = new Outbox(port);
    this.logger = options.logger;
    this.kind = options.kind;
    port.on('message', (messages: ToWorker[]) => {
      for (const message of messages) this.#receive(message);
    });
    port.on('close', () => this.#ownerGone());
  }

  ensureTopic(spec: TopicSpec): Promise<void> {
    return this.#ask({ op: 'ensureTopic', spec }) as Promise<void>;
  }

  /** One message to the log's owner, which appends them as its log does; each batch settles with the reply. */
  appendThen(first: AppendBatch, then: readonly AppendBatch[]): Promise<AppendResult[]>[] {
    const batches = [first, ...then].map((b) => {
      this.#appendedRecords += b.records.length;
      const records = packAppend(b.records);
      this.#appendedBytes += records.byteLength;
      return { topic: b.topic, records };
    });
    const settled = this.#ask(
      { op: 'appendThen', batches },
      batches.map((b) => b.records),
    ) as Promise<WireSettled[]>;
    return batches.map((_, i) =>
      settled.then((all) => {
        const s = all[i]!;
        if ('error' in s) throw fromWire(s.error);
        return s.results;
      }),
    );
  }

  append(topic: string, records: readonly AppendRecord[]): Promise<AppendResult[]> {
    const packed = packAppend(records);
    this.#appendedRecords += records.length;
    this.#appendedBytes += packed.byteLength;
    return this.#ask({ op: 'append', topic, records: packed }, [packed]) as Promise<AppendResult[]>;
  }

  offsets(topic: string): Promise<readonly { partition: number; low: number; high: number }[]> {
    return this.#ask({ op: 'offsets', topic }) as Promise<readonly { partition: number; low: number; high: number }[]>;
  }

  consumer(options: ConsumerOptions): Consumer {
    return this.tableConsumer(options);
  }

  tableConsumer(options: ConsumerOptions): Consumer {
    this.#assertOpen();
    const id = this.#nextId++;
    const consumer = new ThreadConsumer(id, options, this, () => this.#consumers.delete(id));
    this.#consumers.set(id, consumer);
    return consumer;
  }

  async openTable<V = Buffer>(topic: string, options: TableOptions<V> = {}): Promise<Table<V>> {
    this.#assertOpen();
    await this.ensureTopic({ name: topic, compacted: true });
    const table = await LogTable.open(topic, this, options);
    this.#tables.add(table as LogTable<unknown>);
    return table;
  }

  forgetTable(table: LogTable<unknown>): void {
    this.#tables.delete(table);
  }

  stats(): LogStats {
    const lag: { groupId: string; topic: string; partition: number; lag: number }[] = [];
    for (const c of this.#consumers.values()) lag.push(...c.lag());
    return { appendedRecords: this.#appendedRecords, appendedBytes: this.#appendedBytes, consumedRecords: this.#consumedRecords, lag };
  }

  /**
   * Stops this thread's consumers and tables (their batches in flight and onRevoked may still
   * commit), then closes the port; the owner's log stays open (it is the owner's to close).
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#tables].map((t) => t.close()));
      await Promise.all([...this.#consumers.values()].map((c) => c.stop()));
      this.#closed = true;
      if (!this.#gone) {
        await this.#ask({ op: 'close' }, [], true).catch(() => undefined);
        this.#outbox.flush();
      }
      this.#port.close();
    })();
    return this.#closing;
  }

  /** @internal ThreadConsumer's requests. */
  ask(request: Ask, transfer: ArrayBuffer[] = []): Promise<unknown> {
    return this.#ask(request, transfer);
  }

  /** @internal */
  countConsumed(n: number): void {
    this.#consumedRecords += n;
  }

  #ask(request: Ask, transfer: ArrayBuffer[] = [], whileClosing = false): Promise<unknown> {
    if (this.#gone) return Promise.reject(new PlatformError('LOG_CLOSED', 'the thread that owns the log is gone'));
    if (this.#closed && !whileClosing) return Promise.reject(new PlatformError('LOG_CLOSED'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#outbox.send({ ...request, id } as Request, transfer);
    });
  }

  #receive(message: ToWorker): void {
    if (message.op === 'reply') {
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if ('error' in message) pending?.reject(fromWire(message.error));
      else pending?.resolve(message.value);
      return;
    }
    const consumer = this.#consumers.get(message.consumer);
    const done = (error?: unknown) => this.#outbox.send(error === undefined ? { op: 'done', call: message.call } : { op: 'done', call: message.call, error: toWireError(error) });
    if (!consumer) return done(new PlatformError('LOG_CLOSED', 'the consumer has stopped'));
    consumer.run(message).then(
      () => done(),
      (err: unknown) => done(err ?? new Error('failed')),
    );
  }

  #ownerGone(): void {
    this.#gone = true;
    for (const p of this.#pending.values()) p.reject(new PlatformError('LOG_CLOSED', 'the thread that owns the log is gone'));
    this.#pending.clear();
  }

  #assertOpen(): void {
    if (this.#closing || this.#gone) throw new PlatformError('LOG_CLOSED');
  }
}

/** A consumer group member whose partitions are read by the owner's log and handed to this thread. */
class ThreadConsumer implements Consumer {
  #assignment: TopicPartition[] = [];
  readonly #lag = new Map<string, { topic: string; partition: number; lag: number }>();
  #started = false;
  #stopping: Promise<void> | undefined;

  constructor(
    readonly id: number,
    readonly options: ConsumerOptions,
    readonly log: ThreadLog,
    readonly forget: () => void,
  ) {}

  async start(): Promise<void> {
    const { groupId, topics, startFrom, maxBatchRecords } = this.options;
    this.#started = true;
    // The assignment comes as `assigned` calls (before the reply, in order), not in the reply:
    // a `revoked` sent meanwhile would be undone by a list read at start.
    await this.log.ask({ op: 'consumerStart', consumer: this.id, options: { groupId, topics, ...(startFrom ? { startFrom } : {}), ...(maxBatchRecords ? { maxBatchRecords } : {}) } });
  }

  commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    return this.log.ask({ op: 'commit', consumer: this.id, offsets: offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })) }) as Promise<void>;
  }

  seek(topic: string, partition: number, position: SeekPosition): Promise<void> {
    return this.log.ask({ op: 'seek', consumer: this.id, topic, partition, position }) as Promise<void>;
  }

  assignment(): readonly TopicPartition[] {
    return this.#assignment;
  }

  lag(): { groupId: string; topic: string; partition: number; lag: number }[] {
    return [...this.#lag.values()].map((l) => ({ groupId: this.options.groupId, ...l }));
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#started) await this.log.ask({ op: 'consumerStop', consumer: this.id }).catch(() => undefined);
      this.#assignment = [];
      this.forget();
    })();
    return this.#stopping;
  }

  /** Runs what the owner's member asks: a batch, or an assignment change. */
  async run(call: Call): Promise<void> {
    if (call.op === 'batch') {
      const records = unpackBatch(call.records, call.topic, call.partition);
      this.log.countConsumed(records.length);
      const last = records[records.length - 1];
      if (last) this.#lag.set(`${call.topic}/${call.partition}`, { topic: call.topic, partition: call.partition, lag: Math.max(0, call.highWatermark - last.offset - 1) });
      await this.options.eachBatch({ topic: call.topic, partition: call.partition, records, highWatermark: call.highWatermark }, this);
      return;
    }
    if (call.op === 'assigned') {
      const known = new Set(this.#assignment.map((p) => `${p.topic}/${p.partition}`));
      this.#assignment = [...this.#assignment, ...call.partitions.filter((p) => !known.has(`${p.topic}/${p.partition}`))];
      await this.options.onAssigned?.(call.partitions);
      return;
    }
    const gone = new Set(call.partitions.map((p) => `${p.topic}/${p.partition}`));
    await this.options.onRevoked?.(call.partitions);
    this.#assignment = this.#assignment.filter((p) => !gone.has(`${p.topic}/${p.partition}`));
    for (const key of gone) this.#lag.delete(key);
  }
}
