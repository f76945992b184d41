/**
 * The one way to build a state service: a store over a compacted topic of the log.
 *
 * - Reads come from a table (every process that opens the store replays the topic into
 *   memory and follows it); each value is a frame (`codec.ts`) checked on decode.
 * - Changes are commands: pure functions `(state, input, ctx) => change` that read the store
 *   and return the writes they want, their result, and records to append elsewhere (events).
 * - One writer per key: the store's owner group (`<topic>.requests`, one member per process
 *   that opened the store with commands) gives each partition of the topic to one process.
 *   A command for a key this process owns runs here; any other goes to its owner through the
 *   log and is answered on `iot.state.replies` (`router.ts`). On the owner, commands run one at
 *   a time per key, so each one's reads see the writes of the one before, and a write that
 *   names `ifRevision` is compare-and-set on the key's revision.
 * - Writes that need no owner (a gateway's own sessions, retained messages: last writer wins,
 *   as MQTT has it) go straight to the topic with `write`.
 *
 * Replaying the topic from the start, compacted or not, gives the state the live store had:
 * the last value of each key wins, and a tombstone deletes it.
 */
import { randomUUID } from 'node:crypto';
import { PlatformError } from '../errors.js';
import type { AppendBatch, AppendRecord, AppendResult, Log, Table, TopicSpec } from '../log/log.js';
import { partitionForKey } from '../log/log.js';
import type { Logger } from '../logger.js';
import { decodeFrame, encodeFrame, type StateCodec, type StateFrame } from './codec.js';
import { OwnerRouter, REQUEST_HEADER, ServedRequests, partitionMoved, type RequestPosition } from './router.js';

/** A key changed in the store (after catch-up; own writes included). */
export interface StateChange<T> {
  readonly key: string;
  /** Undefined when the key was deleted. */
  readonly value: T | undefined;
  readonly previous: T | undefined;
  /** The key's revision after the change (0 when deleted). */
  readonly revision: number;
}

/** What every role may do with a store: read it and follow it. */
export interface StateView<T> {
  get(key: string): T | undefined;
  /** 1 for a key's first value, +1 per write; 0 when the key does not exist. */
  revision(key: string): number;
  has(key: string): boolean;
  keys(): IterableIterator<string>;
  entries(): IterableIterator<[string, T]>;
  readonly size: number;
  /** Calls `listener` for every change applied to this view; returns an unsubscribe function. */
  onChange(listener: (change: StateChange<T>) => void): () => void;
}

export interface StateWrite<T> {
  readonly key: string;
  /** `null` deletes the key. */
  readonly value: T | null;
  /** Compare-and-set: the revision the key must have now (0 = must not exist). */
  readonly ifRevision?: number;
}

/** What a command returns: the writes it wants, its result, and records for other topics. */
export interface Change<T, R> {
  readonly writes: readonly StateWrite<T>[];
  readonly result: R;
  /**
   * Events, appended with the writes (`Log.appendThen`): stored only if the writes are, and
   * readable no earlier. A failure of theirs alone is logged; the change stands.
   */
  readonly appends?: readonly { readonly topic: string; readonly records: readonly AppendRecord[] }[];
}

export interface CommandContext {
  /** ms since the epoch, read once per command. */
  readonly now: number;
  newId(): string;
}

/**
 * A named command. `keys` are the keys it reads and writes: it runs after every earlier
 * command on any of them, and the first one routes it to its owner. Every key it writes must
 * be in the same partition as the first (a topic of one partition puts them all there).
 */
export interface CommandDefinition<T, I, R> {
  readonly name: string;
  keys(input: I): readonly string[];
  run(state: StateView<T>, input: I, ctx: CommandContext): Change<T, R> | Promise<Change<T, R>>;
}

export interface StateStoreOptions<T> {
  readonly log: Log;
  readonly logger: Logger;
  /** The topic, from the catalogue (`core/topics.ts`); ensured as compacted on open. */
  readonly topic: TopicSpec;
  readonly codec: StateCodec<T>;
  /**
   * The commands this store executes (or a function of the opened store that returns them,
   * for commands that read indexes built over it). With none, the store is a read-only view
   * (other roles) and never joins the owner group; `write` still works.
   */
  readonly commands?: readonly CommandDefinition<T, any, any>[] | ((store: StateStore<T>) => readonly CommandDefinition<T, any, any>[]);
  readonly clock?: () => number;
  /**
   * Pipelined commands: a key's next command runs as soon as this one's writes are issued,
   * reading them from the store's pending writes, instead of after they are durable and read
   * back. Only for commands that read nothing but the state they are given (no index built
   * over the store). A command's result and its appends still wait until its writes are
   * durable; an append that fails fails every command queued behind it too, unappended (they
   * may have read its writes), and the next command on its keys reads the topic to its end first. The store's
   * view takes its own writes as they were written when it reads them back (they are what its
   * commands read meanwhile), without decoding their bytes again.
   */
  readonly pipelined?: boolean;
  /** How long a command routed to another process may wait for its answer. Default 30 s. */
  readonly requestTimeoutMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** No events: a command's `appends` when it has none. */
const NO_EVENTS: readonly AppendBatch[] = [];

/** A pipelined command's writes and events, waiting for the store's next append (#appendInOrder). */
interface QueuedAppend {
  readonly records: readonly AppendRecord[];
  readonly events: readonly AppendBatch[];
  /** The command's name, for the log line should its events alone fail. */
  readonly command: string;
  /** With the writes' positions, once the writes are durable and the events appended (or their failure logged). */
  resolve(results: AppendResult[]): void;
  reject(err: unknown): void;
}

/** What #issue hands back: when the writes are applied to this view, and when the events are appended too. */
interface Issued {
  /** Resolves once the writes are durable and this view has applied them; rejects if they (or an earlier write on their keys) failed. */
  readonly applied: Promise<AppendResult[]>;
  /** As `applied`, and after the command's events are appended (a failure of theirs alone is logged). */
  readonly done: Promise<AppendResult[]>;
}

/** A command that writes and appends nothing. */
const nothingIssued = (): Issued => {
  const none = Promise.resolve<AppendResult[]>([]);
  return { applied: none, done: none };
};

const ignore = (): void => undefined;

/** A write issued by this process and not yet applied to its table; `null` is a delete. */
interface Pending<T> {
  readonly value: T | null;
  readonly revision: number;
}

/** A write of this process that its view has not read back yet: its bytes, and the frame they hold (see #ownWrite). */
interface OwnWrite<T> {
  readonly bytes: Buffer;
  readonly frame: StateFrame<T>;
}

/**
 * What the store holds for a key while commands on it are queued or in flight: one record per
 * key, dropped once all of it is over (four maps set and emptied per command churned their
 * tables, which the young generation then promoted).
 */
interface KeyState<T> {
  /** When the last task queued on the key is over (#locked). */
  tail: Promise<void> | undefined;
  /** The last write issued and not yet applied to the table: what the key's next command reads. */
  pending: Pending<T> | undefined;
  /** When the last write issued is durable and applied; a later write on the key waits for it. */
  applied: Promise<AppendResult[]> | undefined;
  /** Pipelined: the key's writes not yet read back by the view, oldest first. */
  unread: OwnWrite<T>[] | undefined;
}

/** `view` with the keys' pending writes over it: a pending write answers for its key. */
function pendingView<T>(view: StateView<T>, keys: ReadonlyMap<string, KeyState<T>>): StateView<T> {
  const pendingOf = (key: string): Pending<T> | undefined => keys.get(key)?.pending;
  const live = (key: string): boolean => {
    const p = pendingOf(key);
    return p ? p.value !== null : view.has(key);
  };
  return {
    get: (key) => {
      const p = pendingOf(key);
      return p ? (p.value ?? undefined) : view.get(key);
    },
    revision: (key) => pendingOf(key)?.revision ?? view.revision(key),
    has: live,
    *keys() {
      for (const key of view.keys()) if (!pendingOf(key) || live(key)) yield key;
      for (const [key, { pending: p }] of keys) if (p && p.value !== null && !view.has(key)) yield key;
    },
    *entries() {
      for (const key of this.keys()) yield [key, this.get(key)!];
    },
    get size() {
      let size = view.size;
      for (const [key, { pending: p }] of keys) if (p) size += (p.value !== null ? 1 : 0) - (view.has(key) ? 1 : 0);
      return size;
    },
    onChange: (listener) => view.onChange(listener),
  };
}

export class StateStore<T> implements StateView<T> {
  readonly topic: string;
  readonly #options: StateStoreOptions<T>;
  readonly #table: Table<StateFrame<T>>;
  readonly #partitions: number;
  readonly #commands = new Map<string, CommandDefinition<T, any, any>>();
  readonly #clock: () => number;
  readonly #logger: Logger;
  /** The keys with commands queued or in flight (see KeyState). */
  readonly #keys = new Map<string, KeyState<T>>();
  /** Keys whose write failed: the next command on one first reads the topic to its end. */
  readonly #resync = new Set<string>();
  /** The store as commands read it: pending writes first, then the table. */
  readonly #ownerView: StateView<T>;
  /** Pipelined: writes (and their events) waiting for the append in flight; they go together in the next one, in order. */
  readonly #queued: QueuedAppend[] = [];
  #appending = false;
  #router: OwnerRouter | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: StateStoreOptions<T>, table: Table<StateFrame<T>>, partitions: number) {
    this.topic = options.topic.name;
    this.#options = options;
    this.#table = table;
    this.#partitions = partitions;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger.child({ module: 'core.state', topic: options.topic.name });
    this.#ownerView = pendingView(this, this.#keys);
  }

  #define(commands: readonly CommandDefinition<T, any, any>[]): void {
    for (const c of commands) {
      if (this.#commands.has(c.name)) throw new PlatformError('CONFIG_INVALID', `command ${c.name} is defined twice on ${this.topic}`);
      this.#commands.set(c.name, c);
    }
  }

  /**
   * Ensures the topic (compacted), opens the view and waits until it has caught up; with
   * commands, also joins the owner group.
   */
  static async open<T>(options: StateStoreOptions<T>): Promise<StateStore<T>> {
    const spec: TopicSpec = { ...options.topic, compacted: true };
    await options.log.ensureTopic(spec);
    const codec = options.codec;
    let opened: StateStore<T> | undefined;
    const served = new ServedRequests();
    const table = await options.log.openTable<StateFrame<T>>(spec.name, {
      decode: (bytes, key) => (opened && opened.#ownWrite(key, bytes)) ?? decodeFrame(codec, bytes, key),
      observe: (record) => served.observe(record),
    });
    try {
      const partitions = (await options.log.offsets(spec.name)).length;
      const store = new StateStore(options, table, partitions);
      opened = store;
      const commands = options.commands;
      store.#define(typeof commands === 'function' ? commands(store) : (commands ?? []));
      if (store.#commands.size > 0) {
        store.#router = new OwnerRouter({
          log: options.log,
          logger: store.#logger,
          topic: spec,
          partitions,
          timeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
          execute: (name, input, owned, request) => store.#runLocal(name, input, owned, request),
          served,
          catchUp: (positions) => table.waitFor(positions),
          // Every partition, not only the owned one: a command may write keys of other
          // partitions (one lock key serialising a whole topic), so all of them must be read.
          ends: async () => (await options.log.offsets(spec.name)).filter((e) => e.high > e.low).map((e) => ({ partition: e.partition, offset: e.high - 1 })),
        });
        await store.#router.start();
      }
      return store;
    } catch (err) {
      await table.close();
      throw err;
    }
  }

  // --- reading -----------------------------------------------------------------------------

  get(key: string): T | undefined {
    return this.#table.get(key)?.value;
  }

  revision(key: string): number {
    return this.#table.get(key)?.revision ?? 0;
  }

  has(key: string): boolean {
    return this.#table.has(key);
  }

  keys(): IterableIterator<string> {
    return this.#table.keys();
  }

  *entries(): IterableIterator<[string, T]> {
    for (const [key, frame] of this.#table.entries()) yield [key, frame.value];
  }

  get size(): number {
    return this.#table.size;
  }

  onChange(listener: (change: StateChange<T>) => void): () => void {
    return this.#table.onChange(({ key, value, previous }) => listener({ key, value: value?.value, previous: previous?.value, revision: value?.revision ?? 0 }));
  }

  /** The partitions of the topic whose keys this process owns now (none for a read-only view). */
  ownedPartitions(): number[] {
    return this.#router?.ownedPartitions() ?? [];
  }

  /** Commands this process ran as their key's owner, and commands it sent to another owner. */
  stats(): { readonly executed: number; readonly asked: number } {
    return { ...(this.#router?.counts ?? { executed: 0, asked: 0 }) };
  }

  /** The partition of the topic that holds `key` (as the log's partitioner places it). */
  partitionOf(key: string): number {
    return partitionForKey(key, this.#partitions);
  }

  // --- writing -----------------------------------------------------------------------------

  /**
   * Runs a command on the owner of its first key: here when this process owns it, else through
   * the log. Resolves with its result once its writes are applied to this view.
   * @throws PlatformError what the command threw; STATE_CONFLICT when an `ifRevision` no
   *   longer holds; STATE_UNAVAILABLE (retriable) when no owner answered in time.
   */
  async execute<I, R>(name: string, input: I): Promise<R> {
    const command = this.#commands.get(name);
    if (!command || !this.#router) throw new PlatformError('INTERNAL', `${this.topic} has no command ${name}`);
    if (this.#closing) throw new PlatformError('LOG_CLOSED', `state store ${this.topic} is closed`);
    const [first] = command.keys(input);
    if (first === undefined) throw new PlatformError('INTERNAL', `command ${name} named no key`);
    const outcome = await this.#router.route(this.partitionOf(first), first, name, input);
    // Read-your-writes: the owner answered once its writes were durable; wait until this view has them too.
    await this.#table.waitFor(outcome.written);
    return outcome.result as R;
  }

  /**
   * Runs a command here when this process owns its first key's partition now; undefined when it
   * does not (nothing runs). For input that only this process can hold (a record to append with
   * the command's events): it is never sent to another owner.
   * @throws PlatformError as `execute`, and STATE_UNAVAILABLE with `details.moved` (retriable)
   *   when the partition moved before the command issued its writes: nothing was written.
   */
  executeHere<I, R>(name: string, input: I): Promise<R> | undefined {
    const command = this.#commands.get(name);
    if (!command || !this.#router) throw new PlatformError('INTERNAL', `${this.topic} has no command ${name}`);
    if (this.#closing) return undefined;
    const [first] = command.keys(input);
    if (first === undefined) throw new PlatformError('INTERNAL', `command ${name} named no key`);
    return this.#router.runHere(this.partitionOf(first), name, input)?.then((outcome) => outcome.result as R);
  }

  /**
   * Writes values with no owner in between (last writer wins): for state that has one writer by
   * construction, or none needed. Resolves once this view has applied them.
   */
  async write(writes: readonly StateWrite<T>[]): Promise<void> {
    if (writes.length === 0) return;
    const { applied } = await this.#locked(
      writes.map((w) => w.key),
      async () => this.#issue(writes, NO_EVENTS, 'write'),
    );
    await applied;
  }

  /** Leaves the owner group (commands in flight finish first) and stops following the topic. Safe twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#router?.stop();
      await Promise.allSettled([...this.#keys.values()].map((k) => k.tail));
      await this.#table.close();
    })();
    return this.#closing;
  }

  // --- the owner's side --------------------------------------------------------------------

  /**
   * Runs a command here, one at a time per key; called by the router for owned partitions. When
   * its turn comes, or its run ends, after the partition was revoked (`owned()` false), it issues
   * no writes (partitionMoved). `request`: the request it answers, named on its writes.
   */
  #runLocal(name: string, input: unknown, owned: () => boolean, request?: RequestPosition): Promise<{ result: unknown; written: AppendResult[] }> {
    const command = this.#commands.get(name);
    if (!command) return Promise.reject(new PlatformError('INTERNAL', `${this.topic} has no command ${name}`));
    const keys = command.keys(input);
    const ran = this.#locked(keys, async () => {
      if (this.#resync.size > 0 && keys.some((k) => this.#resync.has(k))) await this.#readToEnd(keys);
      if (!owned()) throw partitionMoved(this.topic, this.partitionOf(keys[0]!));
      const running = command.run(this.#ownerView, input, { now: this.#clock(), newId: randomUUID });
      const change = running instanceof Promise ? await running : running;
      // A command is pure until its writes are issued: one that lost its partition while it ran is run again by the new owner.
      if (!owned()) throw partitionMoved(this.topic, this.partitionOf(keys[0]!));
      const { applied, done } = this.#issue(change.writes, change.appends ?? NO_EVENTS, name, request);
      // Not pipelined: the key's next command waits until these writes are read back.
      if (!this.#options.pipelined) await applied;
      return { result: change.result as unknown, done };
    });
    return ran.then(({ result, done }) => done.then((written) => ({ result, written })));
  }

  /**
   * Checks the writes' revisions against what the key's commands have written so far, marks
   * them pending and issues their append at once, with the command's events after them
   * (`Log.appendThen`: stored only with the writes, readable no earlier). See {@link Issued}.
   * Pipelined, a failed append also fails every command queued behind it (#drainQueue), since
   * those may have read its writes; otherwise `applied` waits for the earlier writes on the same
   * keys and fails with them.
   */
  #issue(writes: readonly StateWrite<T>[], events: readonly AppendBatch[], command: string, request?: RequestPosition): Issued {
    if (writes.length === 0 && events.every((e) => e.records.length === 0)) return nothingIssued();
    const pipelined = this.#options.pipelined === true;
    // The usual command writes one key: no map of revisions then.
    const revisions = writes.length > 1 ? new Map<string, number>() : undefined;
    const records = new Array<AppendRecord>(writes.length);
    const headers = request && { [REQUEST_HEADER]: ServedRequests.header(request) };
    const mine = new Array<Pending<T>>(writes.length);
    let unread: { readonly key: string; readonly own: OwnWrite<T> }[] | undefined;
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      const current = revisions?.get(w.key) ?? this.#ownerView.revision(w.key);
      if (w.ifRevision !== undefined && w.ifRevision !== current) {
        throw new PlatformError('STATE_CONFLICT', `${this.topic} ${w.key}: expected revision ${w.ifRevision}, found ${current}`, { details: { key: w.key, expected: w.ifRevision, actual: current } });
      }
      const revision = w.value === null ? 0 : current + 1;
      revisions?.set(w.key, revision);
      if (w.value === null) records[i] = headers ? { key: w.key, value: null, headers } : { key: w.key, value: null };
      else {
        const bytes = encodeFrame(this.#options.codec, w.value, revision);
        records[i] = headers ? { key: w.key, value: bytes, headers } : { key: w.key, value: bytes };
        if (pipelined) (unread ??= []).push({ key: w.key, own: { bytes, frame: { value: w.value, revision } } });
      }
      mine[i] = { value: w.value, revision };
    }
    if (unread) {
      for (const { key, own } of unread) {
        const state = this.#key(key);
        if (state.unread) state.unread.push(own);
        else state.unread = [own];
      }
    }
    for (let i = 0; i < writes.length; i++) this.#key(writes[i]!.key).pending = mine[i]!;
    let issued: Issued;
    if (pipelined) {
      const done = this.#appendInOrder(records, events, command).then((results) => this.#table.waitFor(results).then(() => results));
      issued = { applied: done, done };
    } else {
      const before: Promise<AppendResult[]>[] = [];
      for (const w of writes) {
        const earlier = this.#keys.get(w.key)?.applied;
        if (earlier) before.push(earlier);
      }
      const [appended, ...announcing] = this.#options.log.appendThen({ topic: this.topic, records }, events);
      const applied = appended!.then(async (results) => {
        await Promise.all(before);
        await this.#table.waitFor(results);
        return results;
      });
      const announced = Promise.all(announcing).then(ignore, (err: unknown) =>
        appended!.then(
          () => this.#logger.error({ err, command }, 'records of a command could not be appended; the change itself is stored'),
          ignore, // the change failed, and its events with it
        ),
      );
      const done = applied.then((results) => announced.then(() => results));
      // Its failure is `applied`'s, which the caller sees; `write` waits for `applied` alone.
      done.catch(ignore);
      issued = { applied, done };
    }
    const { applied } = issued;
    for (const w of writes) this.#key(w.key).applied = applied;
    const settle = (failed: boolean) => {
      // Read back by now, unless the write failed (or its bytes were not met again): forget it either way.
      if (unread) for (const { key, own } of unread) this.#ownWrite(key, own.bytes);
      for (const { key } of writes) {
        const state = this.#keys.get(key);
        if (state) {
          if (state.pending && mine.includes(state.pending)) state.pending = undefined;
          if (state.applied === applied) state.applied = undefined;
          this.#release(key, state);
        }
        if (failed) this.#resync.add(key);
      }
    };
    applied.then(
      () => settle(false),
      () => settle(true),
    );
    return issued;
  }

  /**
   * Appends in the order they were asked for, one append in flight: what is asked meanwhile, or
   * in the same turn of the event loop, goes in the next append, together, each command's
   * events after the writes (grouped by topic, in the order asked). A log need not keep the
   * order of concurrent appends (Kafka does not), and a pipelined key's writes must land in the
   * order they were issued. Resolves with the writes' positions once the events are appended
   * too (see QueuedAppend).
   */
  #appendInOrder(records: readonly AppendRecord[], events: readonly AppendBatch[], command: string): Promise<AppendResult[]> {
    return new Promise<AppendResult[]>((resolve, reject) => {
      this.#queued.push({ records, events, command, resolve, reject });
      if (!this.#appending) void this.#drainQueue();
    });
  }

  async #drainQueue(): Promise<void> {
    this.#appending = true;
    while (this.#queued.length > 0) {
      // Once this turn's callbacks are done: the writes of every command they run (a batch of
      // requests delivered together, the commands a read-back let go) go in this one append.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const batch = this.#queued.splice(0);
      const byTopic = new Map<string, AppendRecord[]>();
      for (const b of batch) {
        for (const e of b.events) {
          let records = byTopic.get(e.topic);
          if (!records) byTopic.set(e.topic, (records = []));
          for (const r of e.records) records.push(r);
        }
      }
      const topics = [...byTopic.keys()];
      const [head, ...tails] = this.#options.log.appendThen(
        { topic: this.topic, records: batch.length === 1 ? batch[0]!.records : batch.flatMap((b) => b.records) },
        topics.map((topic) => ({ topic, records: byTopic.get(topic)! })),
      );
      // The events are stored only with the writes: a failure of theirs that follows the writes' is not news.
      const announced = tails.length === 0 ? undefined : Promise.allSettled(tails);
      let results: AppendResult[];
      try {
        results = await head!;
      } catch (err) {
        // Every command queued since ran after these and may have read their writes: none of them is appended either.
        for (const b of batch) b.reject(err);
        for (const b of this.#queued.splice(0)) b.reject(err);
        continue;
      }
      const resolve = () => {
        let at = 0;
        for (const b of batch) {
          b.resolve(batch.length === 1 ? results : results.slice(at, at + b.records.length));
          at += b.records.length;
        }
      };
      if (!announced) resolve();
      else {
        void announced.then((outcomes) => {
          outcomes.forEach((o, i) => {
            if (o.status === 'rejected') {
              const commands = [...new Set(batch.filter((b) => b.events.some((e) => e.topic === topics[i])).map((b) => b.command))];
              this.#logger.error({ err: o.reason, topic: topics[i], commands }, 'records of a command could not be appended; the change itself is stored');
            }
          });
          resolve();
        });
      }
    }
    this.#appending = false;
  }

  /**
   * The frame of a record this store wrote and its view has not read back yet, taken off the
   * list (`bytes` are compared whole); undefined for any other record, which is decoded. A
   * pipelined store's commands read their writes as written (its pending writes), so its view
   * keeps those values too rather than decoding the same bytes it just encoded.
   */
  #ownWrite(key: string, bytes: Buffer): StateFrame<T> | undefined {
    const state = this.#keys.get(key);
    const unread = state?.unread;
    if (!unread) return undefined;
    const at = unread.findIndex((u) => u.bytes.equals(bytes));
    if (at < 0) return undefined;
    const own = unread[at]!;
    unread.splice(at, 1);
    if (unread.length === 0) {
      state.unread = undefined;
      this.#release(key, state);
    }
    return own.frame;
  }

  /** The key's record, made when a command or write first needs it. */
  #key(key: string): KeyState<T> {
    let state = this.#keys.get(key);
    if (!state) this.#keys.set(key, (state = { tail: undefined, pending: undefined, applied: undefined, unread: undefined }));
    return state;
  }

  /** Drops the key's record once nothing of it is left. */
  #release(key: string, state: KeyState<T>): void {
    if (state.tail === undefined && state.pending === undefined && state.applied === undefined && state.unread === undefined && this.#keys.get(key) === state) this.#keys.delete(key);
  }

  /** After a failed write: waits until this view has read the topic to its end, so that the keys' next command reads what did land. */
  async #readToEnd(keys: readonly string[]): Promise<void> {
    await Promise.allSettled(keys.map((k) => this.#keys.get(k)?.applied));
    const ends = (await this.#options.log.offsets(this.topic)).filter((e) => e.high > e.low).map((e) => ({ partition: e.partition, offset: e.high - 1 }));
    await this.#table.waitFor(ends);
    for (const k of keys) this.#resync.delete(k);
  }

  /** Runs `task` after every earlier task on any of `keys`, and before any later one. */
  #locked<R>(keys: readonly string[], task: () => Promise<R>): Promise<R> {
    // One key, the usual case, without a Set, an array or Promise.all; none before: at once.
    const unique = keys.length === 1 ? keys : [...new Set(keys)];
    let before: Promise<unknown> | undefined;
    if (unique.length === 1) before = this.#keys.get(unique[0]!)?.tail;
    else {
      const all = unique.map((k) => this.#keys.get(k)?.tail).filter((p) => p !== undefined);
      if (all.length > 0) before = Promise.all(all);
    }
    // A key's tail never rejects: it is when its last task is over, however it ended.
    const ran = before ? before.then(task) : task();
    const tail = ran.then(ignore, ignore);
    for (const k of unique) this.#key(k).tail = tail;
    void tail.then(() => {
      for (const k of unique) {
        const state = this.#keys.get(k);
        if (state?.tail !== tail) continue;
        state.tail = undefined;
        this.#release(k, state);
      }
    });
    return ran;
  }
}
