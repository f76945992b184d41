/**
 * `redis` (kiot's own; no AWS IoT action writes to Redis): one command per rule output, with a
 * templated key. `SET key value [EX ttl_seconds]`, `HSET key field value ...`,
 * `XADD key [MAXLEN ~ max_len] * field value ...` or `PUBLISH channel message` (the channel is
 * `key`). `value` defaults to the rule output as JSON (the bytes of a binary output); `fields`
 * defaults to the output's top-level fields (strings as they are, other values as JSON).
 *
 * A batch goes as one pipeline, whose reply holds each command's own result, so a record Redis
 * refuses (WRONGTYPE, an oversized value) fails alone. The client connects once, never queues
 * commands while disconnected and never reconnects on its own: the action runner reconnects
 * through `connect` after a SINK_UNAVAILABLE, with its backoff. This is the one place that
 * imports `ioredis`.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { z } from 'zod';
import { endBatch, sinkUnavailable, type ActionRecord, type RecordFailure, type Sink, type SinkDefinition } from '../../core/index.js';
import { outputText, type ActionDeps } from '../runtime/deps.js';
import { SinkConnection } from '../runtime/connection.js';
import { constantString, crossChecked, intOrTemplate, paramsSchema } from '../runtime/params.js';

export const REDIS_COMMANDS = ['SET', 'HSET', 'XADD', 'PUBLISH'] as const;
export const REDIS_MAX_BATCH_SIZE = 500;
/** Bounds connecting and every command, so that a stalled server fails the batch retriably. */
export const DEFAULT_REDIS_TIMEOUT_MS = 10_000;

const fieldValue = z.union([z.string(), z.number(), z.boolean()]);

const schema = paramsSchema({
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  url: constantString('a connection parameter').optional(),
  host: constantString('a connection parameter').optional(),
  port: z.number().int().min(1).max(65_535).optional(),
  db: z.number().int().min(0).optional(),
  username: constantString('a connection parameter').optional(),
  password: constantString('a connection parameter').optional(),
  command: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(REDIS_COMMANDS)),
  /** The key (the channel for PUBLISH); usually a template such as `device:${clientid()}`. */
  key: z.string().min(1),
  /** SET's value and PUBLISH's message; default: the rule output as JSON. */
  value: z.string().optional(),
  /** HSET's and XADD's field -> value; default: the rule output's top-level fields. */
  fields: z.record(z.string().min(1), fieldValue).optional(),
  /** SET only: expiry in seconds (EX). */
  ttl_seconds: intOrTemplate.optional(),
  /** XADD only: trims the stream to about this many entries (MAXLEN ~). */
  max_len: z.number().int().min(1).optional(),
});

const redisParams = crossChecked(schema, (p, problem) => {
  if (p.url !== undefined && (p.host ?? p.port) !== undefined) problem('url', 'give url or host/port, not both');
  const keyed = p.command === 'SET' || p.command === 'PUBLISH';
  if (keyed && p.fields !== undefined) problem('fields', `fields go with HSET and XADD, not ${p.command} (use value)`);
  if (!keyed && p.value !== undefined) problem('value', `value goes with SET and PUBLISH, not ${p.command} (use fields)`);
  if (p.fields !== undefined && Object.keys(p.fields).length === 0) problem('fields', 'fields: expected at least one field');
  if (p.ttl_seconds !== undefined && p.command !== 'SET') problem('ttl_seconds', `ttl_seconds goes with SET, not ${p.command}`);
  if (p.max_len !== undefined && p.command !== 'XADD') problem('max_len', `max_len goes with XADD, not ${p.command}`);
});

export type RedisConfig = ReturnType<typeof schema.parse>;

export interface RedisSinkOptions {
  readonly timeoutMs?: number;
}

type RedisClass = typeof import('ioredis').Redis;
let redisModule: Promise<{ Redis: RedisClass }> | undefined;
/** Loaded on first use, so that `kiot` commands that write nothing to Redis do not pay for it. */
/** ioredis, loaded on first use: the one place kiot imports it (the actions benchmark's baseline borrows it). */
export const loadRedis = (): Promise<{ Redis: RedisClass }> => (redisModule ??= import('ioredis'));

export function createRedisDefinition(options: RedisSinkOptions = {}): SinkDefinition<RedisConfig, Pick<ActionDeps, 'logger'>> {
  return {
    type: 'redis',
    awsKey: 'redis',
    summary: 'Writes each rule output to Redis: SET, HSET, XADD or PUBLISH with a templated key',
    config: redisParams,
    resourceParams: ['key'],
    maxBatchSize: REDIS_MAX_BATCH_SIZE,
    create: (config) => new RedisSink(config, options.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS),
  };
}

export const redisAction = createRedisDefinition();

/**
 * Server errors worth retrying (Redis's error prefixes): the server is loading its data, busy
 * with a script, a replica without its master, a cluster slot moving. Every other reply error
 * (WRONGTYPE, ERR ... syntax, a value over proto-max-bulk-len) fails the same way again.
 */
const RETRIABLE_REPLIES = /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|CLUSTERDOWN|READONLY|NOREPLICAS)\b/;

type Arg = string | Buffer;

/** The command's name and arguments for one record, or the reason it cannot be written. */
export function redisCommand(p: RedisConfig, output: unknown): { name: string; args: Arg[] } | { problem: string } {
  if (!p.key) return { problem: 'key rendered empty' };
  switch (p.command) {
    case 'SET': {
      // The output as a string unless it is binary: ioredis then writes the command as one string.
      const args: Arg[] = [p.key, p.value ?? outputText(output)];
      if (p.ttl_seconds !== undefined && p.ttl_seconds !== '') {
        const ttl = Number(p.ttl_seconds);
        if (!Number.isInteger(ttl) || ttl <= 0) return { problem: `ttl_seconds: expected a positive integer, received ${JSON.stringify(p.ttl_seconds)}` };
        args.push('EX', String(ttl));
      }
      return { name: 'set', args };
    }
    case 'PUBLISH':
      return { name: 'publish', args: [p.key, p.value ?? outputText(output)] };
    case 'HSET':
    case 'XADD': {
      const fields = p.fields ?? outputFields(output);
      if (fields === undefined) return { problem: 'the rule output is not an object with fields; give fields' };
      const pairs = Object.entries(fields).flatMap(([f, v]): Arg[] => [f, typeof v === 'string' || Buffer.isBuffer(v) ? v : outputText(v)]);
      if (p.command === 'HSET') return { name: 'hset', args: [p.key, ...pairs] };
      return { name: 'xadd', args: [p.key, ...(p.max_len !== undefined ? ['MAXLEN', '~', String(p.max_len)] : []), '*', ...pairs] };
    }
  }
}

function outputFields(output: unknown): Record<string, unknown> | undefined {
  if (output === null || typeof output !== 'object' || Array.isArray(output) || Buffer.isBuffer(output)) return undefined;
  const fields = Object.fromEntries(Object.entries(output).filter(([, v]) => v !== undefined));
  return Object.keys(fields).length > 0 ? fields : undefined;
}

class RedisSink implements Sink<RedisConfig> {
  readonly #config: RedisConfig;
  readonly #timeoutMs: number;
  readonly #connection = new SinkConnection<Redis>('Redis', {
    open: () => this.#open(),
    destroy: (client) => client.disconnect(),
    end: (client) => client.quit(),
  });

  constructor(config: RedisConfig, timeoutMs: number) {
    this.#config = config;
    this.#timeoutMs = timeoutMs;
  }

  #options(): RedisOptions {
    const c = this.#config;
    return {
      ...(c.host !== undefined ? { host: c.host } : {}),
      ...(c.port !== undefined ? { port: c.port } : {}),
      ...(c.db !== undefined ? { db: c.db } : {}),
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: this.#timeoutMs,
      commandTimeout: this.#timeoutMs,
      connectionName: 'kiot',
    };
  }

  /** A connected client (SinkConnection keeps it between batches). */
  async #open(): Promise<Redis> {
    const { Redis } = await loadRedis();
    const client = this.#config.url !== undefined ? new Redis(this.#config.url, this.#options()) : new Redis(this.#options());
    // Errors reach the command that failed; without a listener ioredis would print them.
    client.on('error', () => {});
    client.once('end', () => this.#connection.drop(client));
    // connectTimeout covers the TCP connect only; this bounds the handshake after it too
    // (a server that accepts and never answers leaves connect() pending for seconds).
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    const connecting = client.connect();
    connecting.catch(() => {});
    try {
      await Promise.race([connecting, timeout]);
      return client;
    } catch (err) {
      client.disconnect();
      throw sinkUnavailable('Redis', (err as Error).message, err);
    } finally {
      clearTimeout(timer);
    }
  }

  async connect(): Promise<void> {
    await this.#connection.get();
  }

  async writeBatch(records: readonly ActionRecord<RedisConfig>[]): Promise<void> {
    if (records.length === 0) return;
    const client = await this.#connection.get();
    const failures: RecordFailure[] = [];
    const sent: number[] = [];
    const pipeline = client.pipeline();
    records.forEach((r, index) => {
      const command = redisCommand(r.params, r.output);
      if ('problem' in command) return void failures.push({ index, message: `Redis: ${command.problem}`, retriable: false });
      pipeline.call(command.name, ...command.args);
      sent.push(index);
    });
    let unreachable: unknown;
    if (sent.length > 0) {
      let replies: [Error | null, unknown][] | null;
      try {
        replies = await pipeline.exec();
      } catch (err) {
        replies = null;
        unreachable = err;
      }
      sent.forEach((index, i) => {
        const err = replies ? replies[i]?.[0] : unreachable;
        if (!err) return;
        const fromServer = (err as Error).name === 'ReplyError';
        if (!fromServer) unreachable ??= err;
        failures.push({ index, message: `Redis ${records[index]!.params.key}: ${(err as Error).message}`, retriable: !fromServer || RETRIABLE_REPLIES.test((err as Error).message) });
      });
    }
    // A timeout or a broken connection leaves replies unknown: start the next batch on a new connection.
    if (unreachable !== undefined) this.#connection.drop(client);
    endBatch('Redis', failures, records.length, unreachable === undefined ? undefined : sinkUnavailable('Redis', (unreachable as Error).message, unreachable));
  }

  close(): Promise<void> {
    return this.#connection.close();
  }
}
