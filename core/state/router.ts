/**
 * One writer per key: routes a state store's commands to the process that owns the key's
 * partition, through the log, so that stores in many processes (several `api` or `shadow`
 * processes on one Kafka cluster) never write the same key at once.
 *
 * Ownership is a consumer group over `<topic>.requests`: its member that is assigned
 * partition p owns partition p of the state topic. A new owner first catches its view up to
 * the end of the partition (the previous owner's last writes), then executes. The previous
 * owner stops executing when its partitions are revoked: on the embedded log before the new
 * owner is assigned them, on Kafka when the rebalance starts (KafkaConsumer); a command that was
 * still waiting for its key's turn then does not start there but goes to the new owner, so that
 * only commands it had already started can land after the new owner caught up. A command for
 * an owned partition runs in the calling process; any other is appended to the requests
 * topic (in the key's partition) and answered by the owner on `iot.state.replies`, keyed by
 * the asking process. Requests older than the ask timeout are skipped: their caller was told
 * the owner was unavailable, and must not find the change made behind its back.
 *
 * A request runs once, though the log delivers it at least once: the owner's writes for a
 * request carry its position (the `kiot-request` header, `<partition>:<offset>` of the request),
 * every view notes the last such position per partition (ServedRequests), and an owner skips a
 * request at or before it, which an earlier owner ran but had not committed when the partition
 * moved. A request whose partition moved before it started is not answered by the old owner:
 * the offset committed stops before it, and the new owner runs and answers it.
 *
 * Record layouts (UTF-8 JSON, no state frame; checked with the schemas below when read):
 *   request: { id, command, input, replyTo, deadline }       key = the command's first key
 *   reply:   { id, ok: true, result, written: [{partition, offset}] }
 *          | { id, ok: false, error: { code, message, details, retriable } }   key = replyTo
 * A request that does not match its schema is not run: when its id and replyTo can be read,
 * its asker gets a STATE_RECORD_INVALID error naming the field; otherwise it is skipped with a
 * warning. A reply that does not match fails the ask it answers with that error.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ERROR_CODES, PlatformError, type ErrorCode } from '../errors.js';
import type { AppendResult, Consumer, Log, LogRecord, TopicPartition, TopicSpec } from '../log/log.js';
import type { Logger } from '../logger.js';
import { TOPIC_SPECS, requestsTopicFor } from '../topics.js';
import { decodeValue, jsonCodec, type StateCodec } from './codec.js';

/** Answers to routed commands, for every state store (its spec is in the catalogue, core/topics.ts). */
export const STATE_REPLIES_TOPIC: TopicSpec = TOPIC_SPECS.stateReplies;

export interface RoutedOutcome {
  readonly result: unknown;
  /** Where the owner's writes landed, so the asker can wait until its own view has them. */
  readonly written: readonly AppendResult[];
}

export interface OwnerRouterOptions {
  readonly log: Log;
  readonly logger: Logger;
  readonly topic: TopicSpec;
  /** Partitions of the state topic. */
  readonly partitions: number;
  readonly timeoutMs: number;
  /**
   * Runs a command here (this process owns its partition). `owned` tells whether it still does:
   * a command that waited its turn past the partition's revocation must not start, but throw
   * {@link partitionMoved} (the router then asks the new owner); `owned` may also throw (the
   * request expired while it waited), and the command then does not run either. A command
   * asked through the log gets its request's position, for its writes' `kiot-request` header
   * ({@link ServedRequests.header}).
   */
  execute(command: string, input: unknown, owned: () => boolean, request?: RequestPosition): Promise<{ result: unknown; written: AppendResult[] }>;
  /** What the store's view has read of the requests its writes answered. */
  readonly served: ServedRequests;
  /** Resolves once the view has applied these positions. */
  catchUp(positions: readonly AppendResult[]): Promise<void>;
  /** The last written position of every non-empty partition of the state topic. */
  ends(): Promise<AppendResult[]>;
}

interface Request {
  readonly id: string;
  readonly command: string;
  /** Absent when the command's input is undefined (JSON has no undefined). */
  readonly input?: unknown;
  readonly replyTo: string;
  readonly deadline: number;
}

interface ReplyError {
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
  readonly retriable?: boolean;
}

type Reply =
  | { readonly id: string; readonly ok: true; readonly result: unknown; readonly written: AppendResult[] }
  | { readonly id: string; readonly ok: false; readonly error: ReplyError };

/** The consumer group of a state topic's owners (over its requests topic). */
export const ownerGroupFor = (topic: string): string => `kiot.state.${topic}`;

/** Where a request is on the requests topic. */
export interface RequestPosition {
  readonly partition: number;
  readonly offset: number;
}

/** The header on an owner's writes that names the request they answer. */
export const REQUEST_HEADER = 'kiot-request';

/**
 * Per partition of a store's requests topic, the last request whose writes the store's view has
 * read: fed with every record of the state topic (`observe`, replay included), asked by an owner
 * before it runs a request delivered again.
 */
export class ServedRequests {
  readonly #last = new Map<number, number>();

  /** The header value for the writes of the request at `position`. */
  static header(position: RequestPosition): string {
    return `${position.partition}:${position.offset}`;
  }

  observe(record: LogRecord): void {
    const header = record.headers[REQUEST_HEADER];
    if (header === undefined) return;
    const text = header.toString('latin1');
    const colon = text.indexOf(':');
    const partition = Number(text.slice(0, colon));
    const offset = Number(text.slice(colon + 1));
    if (colon < 1 || !Number.isInteger(partition) || !Number.isInteger(offset)) return;
    if (offset > (this.#last.get(partition) ?? -1)) this.#last.set(partition, offset);
  }

  /** Whether writes of the request at `position`, or of a later one in its partition, were read. */
  has(position: RequestPosition): boolean {
    return position.offset <= (this.#last.get(position.partition) ?? -1);
  }
}

/** The id (and a request's replyTo), read on their own from a record that fails its schema, to tell the asker why. */
const addressSchema = z.object({ id: z.string().min(1), replyTo: z.string().min(1).optional() });

const requestCodec: StateCodec<Request> = jsonCodec<Request>({
  name: 'state request',
  version: 1,
  schema: z.object({ id: z.string().min(1), command: z.string().min(1), input: z.unknown().optional(), replyTo: z.string().min(1), deadline: z.number() }),
});

const position = z.object({ partition: z.number().int().min(0), offset: z.number().int().min(0) });
const replyCodec: StateCodec<Reply> = jsonCodec<Reply>({
  name: 'state reply',
  version: 1,
  schema: z.discriminatedUnion('ok', [
    z.object({ id: z.string().min(1), ok: z.literal(true), result: z.unknown().optional(), written: z.array(position) }),
    z.object({
      id: z.string().min(1),
      ok: z.literal(false),
      error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional(), retriable: z.boolean().optional() }),
    }),
  ]) as z.ZodType<Reply>,
});

/**
 * A request or reply record's value, checked against its schema.
 * @throws PlatformError STATE_RECORD_INVALID naming the field that does not fit (or that it is not JSON).
 */
function decodeRouted<T>(codec: StateCodec<T>, record: LogRecord): T {
  return decodeValue(codec, record.value ?? Buffer.alloc(0), codec.version, record.key?.toString('utf8') ?? '(no key)');
}

/** The id and replyTo of a record that failed its schema, as far as it has them. */
function addressOf(record: LogRecord): z.infer<typeof addressSchema> | undefined {
  try {
    const parsed = addressSchema.safeParse(JSON.parse(record.value?.toString('utf8') ?? 'null'));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

interface Waiting {
  resolve(outcome: RoutedOutcome): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

export class OwnerRouter {
  readonly #o: OwnerRouterOptions;
  readonly #requestsTopic: TopicSpec;
  readonly #instance = randomUUID();
  /** Partitions this process owns and has caught up on. */
  readonly #owned = new Set<number>();
  /**
   * Local executions per partition, awaited before a partition is handed over: a count, and
   * what to call when it falls to 0 (a Set of the executions churned per command).
   */
  readonly #running = new Map<number, { count: number; idle: Promise<void> | undefined; settle: (() => void) | undefined }>();
  readonly #waiting = new Map<string, Waiting>();
  #owners: Consumer | undefined;
  /** Commands run here (asked locally or by another process), and commands sent to another owner. */
  readonly counts = { executed: 0, asked: 0 };
  #replies: Promise<Consumer> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: OwnerRouterOptions) {
    this.#o = options;
    this.#requestsTopic = requestsTopicFor({ ...options.topic, partitions: options.partitions });
  }

  async start(): Promise<void> {
    const { log } = this.#o;
    await log.ensureTopic(this.#requestsTopic);
    await log.ensureTopic(STATE_REPLIES_TOPIC);
    this.#owners = log.consumer({
      groupId: ownerGroupFor(this.#o.topic.name),
      topics: [this.#requestsTopic.name],
      // A request is worth executing only until its deadline; older ones are skipped below.
      startFrom: 'earliest',
      onAssigned: (partitions) => this.#assigned(partitions),
      onRevoked: (partitions) => this.#revoked(partitions),
      eachBatch: async (batch, consumer) => {
        const { topic, partition } = batch;
        // One at a time: a request is over (run, answered, its writes read back) before the next
        // starts, so the last position a view has read from writes means all before it are over.
        let next: number | undefined;
        for (const record of batch.records) {
          if (await this.#serve(record)) {
            next = record.offset + 1;
            continue;
          }
          // Its partition moved before it ran: the new owner runs it and the rest. Should this
          // process own the partition again, it reads from there again.
          if (next !== undefined) await consumer.commit([{ topic, partition, offset: next }]);
          if (consumer.assignment().some((tp) => tp.topic === topic && tp.partition === partition)) await consumer.seek(topic, partition, { offset: record.offset });
          return;
        }
        if (next !== undefined) await consumer.commit([{ topic, partition, offset: next }]);
      },
    });
    await this.#owners.start();
  }

  /** Runs the command here when this process owns `partition`, else asks its owner. */
  route(partition: number, key: string, command: string, input: unknown): Promise<RoutedOutcome> {
    if (this.#stopping) return Promise.reject(new PlatformError('LOG_CLOSED', `state store ${this.#o.topic.name} is closed`));
    if (this.#owned.has(partition)) {
      this.counts.executed++;
      // Not tracked past the local run: the partition's hand-over waits for that, and the new owner answers the rest.
      return this.#track(partition, this.#o.execute(command, input, () => this.#holds(partition))).catch((err: unknown) => {
        if (!isPartitionMoved(err)) throw err;
        this.counts.executed--;
        this.counts.asked++;
        return this.#ask(partition, key, command, input);
      });
    }
    this.counts.asked++;
    return this.#ask(partition, key, command, input);
  }

  /**
   * Runs the command here when this process owns `partition` now, else undefined (nothing is
   * asked). Rejects with {@link partitionMoved} when the partition moved before the command
   * issued its writes: nothing was written.
   */
  runHere(partition: number, command: string, input: unknown): Promise<RoutedOutcome> | undefined {
    if (this.#stopping || !this.#owned.has(partition)) return undefined;
    this.counts.executed++;
    return this.#track(partition, this.#o.execute(command, input, () => this.#holds(partition)));
  }

  /** The partitions this process owns (and has caught up on) now. */
  ownedPartitions(): number[] {
    return [...this.#owned].sort((a, b) => a - b);
  }

  /** Leaves the owner group once local commands finish; pending asks fail as unavailable. Safe twice. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#owners?.stop();
      const replies = await this.#replies?.catch(() => undefined);
      await replies?.stop();
      for (const [id, w] of this.#waiting) {
        clearTimeout(w.timer);
        w.reject(unavailable(this.#o.topic.name, 'the store was closed'));
        this.#waiting.delete(id);
      }
    })();
    return this.#stopping;
  }

  // --- ownership -----------------------------------------------------------------------------

  async #assigned(partitions: readonly TopicPartition[]): Promise<void> {
    for (const { partition } of partitions) {
      if (partition >= this.#o.partitions) continue;
      // The previous owner's last writes are durable before it gave the partition up: read them first.
      await this.#o.catchUp(await this.#o.ends());
      this.#owned.add(partition);
    }
  }

  async #revoked(partitions: readonly TopicPartition[]): Promise<void> {
    for (const { partition } of partitions) this.#owned.delete(partition);
    await Promise.all(
      partitions.map(({ partition }) => {
        const running = this.#running.get(partition);
        if (!running || running.count === 0) return undefined;
        return (running.idle ??= new Promise<void>((resolve) => (running.settle = resolve)));
      }),
    );
  }

  /**
   * Whether a command on `partition` may still start or issue its writes here: while it is owned,
   * and while this process stops (its partitions are revoked while it is still a member, so the
   * hand-over waits for those commands and no other process owns them yet).
   */
  #holds(partition: number): boolean {
    return this.#owned.has(partition) || this.#stopping !== undefined;
  }

  #track<R>(partition: number, work: Promise<R>): Promise<R> {
    let running = this.#running.get(partition);
    if (!running) this.#running.set(partition, (running = { count: 0, idle: undefined, settle: undefined }));
    running.count++;
    const done = () => {
      if (--running.count > 0 || !running.settle) return;
      running.settle();
      running.idle = running.settle = undefined;
    };
    work.then(done, done);
    return work;
  }

  // --- the owner answers ---------------------------------------------------------------------

  /** Runs and answers a request; false when its partition moved before it started (not answered). */
  async #serve(record: LogRecord): Promise<boolean> {
    let request: Request;
    try {
      request = decodeRouted(requestCodec, record);
    } catch (err) {
      this.#o.logger.warn({ err, partition: record.partition, offset: record.offset }, 'skipped a record that is not a state request');
      const asker = addressOf(record);
      if (asker?.replyTo) await this.#reply(asker.replyTo, { id: asker.id, ok: false, error: replyError(err as PlatformError) });
      return true;
    }
    const { partition, offset } = record;
    if (request.deadline < Date.now()) return true; // its caller has given up (see the file comment)
    if (this.#o.served.has({ partition, offset })) {
      // Run by an earlier owner, which moved on before committing it: its caller was answered then.
      this.#o.logger.debug({ partition, offset, command: request.command }, 'skipped a request an earlier owner ran');
      return true;
    }
    // When its turn comes: still owned, and still awaited (it may have queued behind its key's other commands).
    const owned = () => {
      if (!this.#holds(partition)) return false;
      if (request.deadline < Date.now()) throw unavailable(this.#o.topic.name, `the request waited past its deadline for partition ${partition}`);
      return true;
    };
    let reply: Reply;
    this.counts.executed++;
    try {
      const outcome = await this.#track(partition, this.#o.execute(request.command, request.input, owned, { partition, offset }));
      reply = { id: request.id, ok: true, result: outcome.result, written: outcome.written };
    } catch (err) {
      if (isPartitionMoved(err)) {
        this.counts.executed--;
        return false;
      }
      const e = err instanceof PlatformError ? err : new PlatformError('INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
      if (e.code === 'INTERNAL') this.#o.logger.error({ err, command: request.command }, 'state command failed');
      reply = { id: request.id, ok: false, error: replyError(e) };
    }
    await this.#reply(request.replyTo, reply);
    return true;
  }

  #reply(replyTo: string, reply: Reply): Promise<unknown> {
    return this.#o.log.append(STATE_REPLIES_TOPIC.name, [{ key: replyTo, value: replyCodec.encode(reply) }]);
  }

  // --- asking another process ---------------------------------------------------------------------

  async #ask(partition: number, key: string, command: string, input: unknown): Promise<RoutedOutcome> {
    await this.#listen();
    const id = randomUUID();
    const answered = new Promise<RoutedOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(unavailable(this.#o.topic.name, `no owner of partition ${partition} answered within ${this.#o.timeoutMs} ms`));
      }, this.#o.timeoutMs);
      this.#waiting.set(id, { resolve, reject, timer });
    });
    const request: Request = { id, command, input, replyTo: this.#instance, deadline: Date.now() + this.#o.timeoutMs };
    try {
      await this.#o.log.append(this.#requestsTopic.name, [{ key, value: requestCodec.encode(request), partition }]);
    } catch (err) {
      const w = this.#waiting.get(id);
      if (w) {
        clearTimeout(w.timer);
        this.#waiting.delete(id);
      }
      throw err;
    }
    return answered;
  }

  /** Joins the replies topic at its end, once, before the first ask. */
  #listen(): Promise<Consumer> {
    this.#replies ??= (async () => {
      const consumer = this.#o.log.consumer({
        groupId: `kiot.state.replies.${this.#instance}`,
        topics: [STATE_REPLIES_TOPIC.name],
        startFrom: 'latest',
        eachBatch: async (batch) => {
          for (const record of batch.records) if (record.key?.toString('utf8') === this.#instance) this.#answer(record);
        },
      });
      await consumer.start();
      return consumer;
    })();
    this.#replies.catch(() => (this.#replies = undefined));
    return this.#replies;
  }

  #answer(record: LogRecord): void {
    let reply: Reply;
    try {
      reply = decodeRouted(replyCodec, record);
    } catch (err) {
      const id = addressOf(record)?.id ?? '';
      const w = this.#waiting.get(id);
      if (!w) {
        this.#o.logger.warn({ err, partition: record.partition, offset: record.offset }, 'skipped a record that is not a state reply');
        return;
      }
      clearTimeout(w.timer);
      this.#waiting.delete(id);
      w.reject(err);
      return;
    }
    const w = this.#waiting.get(reply.id);
    if (!w) return;
    clearTimeout(w.timer);
    this.#waiting.delete(reply.id);
    if (reply.ok) w.resolve({ result: reply.result, written: reply.written });
    else w.reject(rebuildError(reply.error));
  }
}

const replyError = (e: PlatformError): ReplyError => ({ code: e.code, message: e.message, details: { ...e.details }, retriable: e.retriable });

function rebuildError(e: ReplyError): PlatformError {
  const code = (Object.hasOwn(ERROR_CODES, e.code) ? e.code : 'INTERNAL') as ErrorCode;
  return new PlatformError(code, e.message, { ...(e.details ? { details: e.details } : {}), retriable: e.retriable ?? false });
}

const unavailable = (topic: string, why: string): PlatformError =>
  new PlatformError('STATE_UNAVAILABLE', `state store ${topic}: ${why}`, { retriable: true, details: { topic } });

/**
 * What a command throws instead of starting when its partition was revoked while it waited for its
 * turn (`OwnerRouterOptions.execute`'s `owned`): retriable, so that an asker from another process
 * asks again and reaches the new owner.
 */
export const partitionMoved = (topic: string, partition: number): PlatformError =>
  new PlatformError('STATE_UNAVAILABLE', `state store ${topic}: partition ${partition} moved to another owner`, { retriable: true, details: { topic, partition, moved: true } });

const isPartitionMoved = (err: unknown): boolean => err instanceof PlatformError && err.code === 'STATE_UNAVAILABLE' && err.details?.['moved'] === true;
