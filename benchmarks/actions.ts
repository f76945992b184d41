/**
 * `npm run bench -- actions`: records per second into each local target through the rules
 * worker (embedded log -> rule -> action -> target), each beside the same target's own client
 * writing the same records, in the same batch size, one batch at a time as the action runner
 * does, in the same run. Target: kiot ≥ 0.8× the client.
 *
 * The messages are distinct readings from 100 devices on 20 sites (`factory/<site>/telemetry`);
 * the rule selects every one and calls `topic()`. PostgreSQL, InfluxDB and Redis run as their
 * own server processes (core/testing/); dynalite, s3rver and kinesalite, which are Node servers,
 * run in a child process (actions-servers.ts). Every run writes to a fresh table, database or key prefix,
 * and is read back from the target (count, and a digest of every record's seq and temperature)
 * before its rate counts. A warm-up round, then two rounds in alternating order, best of each.
 *
 * Each side pays for its own garbage and its own warm-up: a full GC before every timed run, and
 * runs of a second or more (100,000 records into postgres, influxdb and redis, 10,000 into
 * dynalite, 20,000 into kinesalite; s3rver stays under one listing page). With 20,000 records
 * a run into Redis lasted 0.1-0.3 s, shorter than the old generation took to fill, and the
 * mark-compact for what one side promoted (ioredis alone promotes ~6 MB a scavenge) fell in the
 * next side's run; with 5,000 into kinesalite, kiot's fresh SDK client was still warming up.
 *
 * Both sides start warm: the client's connection is open before its clock starts, and kiot's
 * rule has its action connected (RuleSet.connect, as a rules worker connects its actions when it
 * starts) before its clock starts; kiot's clock then covers the worker joining its group and
 * reading the log. kiot writes one batch at a time per action and evaluates the messages behind
 * it meanwhile (reading and evaluating are what it has and the client has not); the client, with
 * its records built already, writes one batch at a time too.
 *
 * The targets are one list: a target is an entry with its action clause, its client's write of
 * a batch and its read-back. `KIOT_BENCH_ACTIONS=postgres,redis npm run bench -- actions` runs
 * only the named ones (all of them when it is unset), for profiling one target at a time.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchWriteItemCommand, CreateTableCommand, DescribeTableCommand, DynamoDBClient, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand, KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createEnvelope, EmbeddedLog, envelopeRecord, silentLogger, systemClock, type AppendRecord, type Log } from '../core/index.js';
import { startInfluxDb } from '../core/testing/influxdb.js';
import { startPostgres } from '../core/testing/postgres.js';
import { startRedis } from '../core/testing/redis.js';
import { createActionDeps, createActionRegistry, DeadLetterWriter, DEFAULT_RETRY_POLICY, type AwsActionSettings } from '../actions/index.js';
import { loadPg } from '../actions/postgres/index.js';
import { loadRedis } from '../actions/redis/index.js';
import { parseSqlRuleFile } from '../rules/files/index.js';
import { RuleSet, RulesWorker, type SourcedRule } from '../rules/worker/index.js';
import { BENCH_BUCKET, type ServerStarted, type StartServer } from './actions-servers.js';
import { Child } from './child.js';
import { collectGarbage } from './gc.js';
import type { Benchmark, BenchResult } from './report.js';

const TARGET = 0.8;
/** Measured rounds after the warm-up, in alternating order; the best of each side counts. */
const ROUNDS = 2;
const DEVICES = 100;
const SITES = 20;
const logger = silentLogger();
const CREDENTIALS = {
  dynalite: { accessKeyId: 'kiot-bench', secretAccessKey: 'kiot-bench' },
  s3rver: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  kinesalite: { accessKeyId: 'kiot-bench', secretAccessKey: 'kiot-bench' },
};

/** One rule output: what `SELECT id, deviceId, seq, temperature, humidity, ts, topic(2) AS site` gives. */
interface Reading {
  readonly id: string;
  readonly deviceId: string;
  readonly seq: number;
  readonly temperature: number;
  readonly humidity: number;
  readonly ts: number;
  readonly site: string;
}

const SELECT = "SELECT id, deviceId, seq, temperature, humidity, ts, topic(2) AS site FROM 'factory/+/telemetry'";

function readings(count: number): Reading[] {
  return Array.from({ length: count }, (_, j) => ({
    id: `r${j}`,
    deviceId: `device-${j % DEVICES}`,
    seq: j,
    temperature: 60 + (j % 41) + (j % 10) / 10,
    humidity: 40 + (j % 7),
    ts: 1_600_000_000_000 + j,
    site: `site${j % SITES}`,
  }));
}

/** The digest both sides are checked against: every record's seq and temperature, in seq order. */
function digest(pairs: Iterable<readonly [number, number]>): string {
  const sorted = [...pairs].sort((a, b) => a[0] - b[0]);
  const hash = createHash('sha256');
  for (const [seq, t] of sorted) hash.update(`${seq}:${t}\n`);
  return hash.digest('hex').slice(0, 16);
}

/** A target as the benchmark drives it; `run` names a fresh destination (table, database, prefix). */
interface Target {
  /** Records per run (the slower targets write fewer). */
  readonly count: number;
  /** The kind's batch size, which the client's batches use too. */
  readonly batchSize: number;
  /** Creates the run's destination. */
  prepare(run: string): Promise<void>;
  /** The rule's DO clause for this run. */
  action(run: string): string;
  /** The target's own client writing one batch. */
  writeBatch(run: string, batch: readonly Reading[]): Promise<void>;
  /** What the destination holds: [seq, temperature] of every record. */
  readBack(run: string): Promise<[number, number][]>;
  /** The action deps' AWS settings this target needs. */
  readonly aws?: Partial<AwsActionSettings>;
  close(): Promise<void>;
}

interface TargetEntry {
  readonly name: string;
  /** Starts the server (or asks the child for it) and the client. */
  start(host: (name: string) => Promise<string>): Promise<Target>;
}

const TARGETS: readonly TargetEntry[] = [
  {
    name: 'postgres',
    async start() {
      const server = await startPostgres();
      const pg = await loadPg();
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      const columns = ['id', 'site', 'temperature', 'humidity', 'seq'];
      // The same statement the action sends: one multi-row INSERT, every value a text bind parameter.
      const insert = (run: string, rows: number) =>
        `INSERT INTO "b_${run}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${Array.from({ length: rows }, (_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ')}`;
      return {
        count: 100_000,
        batchSize: 500,
        prepare: async (run) => void (await client.query(`CREATE TABLE "b_${run}" (id text PRIMARY KEY, site text, temperature double precision, humidity integer, seq bigint)`)),
        action: (run) => `postgres(url = '${server.url}', table = 'b_${run}', columns = {id: '\${id}', site: '\${topic(2)}', temperature: '\${temperature}', humidity: '\${humidity}', seq: '\${seq}'})`,
        writeBatch: async (run, batch) => void (await client.query(insert(run, batch.length), batch.flatMap((r) => [r.id, r.site, String(r.temperature), String(r.humidity), String(r.seq)]))),
        readBack: async (run) => (await client.query<{ seq: string; temperature: number }>(`SELECT seq, temperature FROM "b_${run}"`)).rows.map((r) => [Number(r.seq), r.temperature]),
        close: async () => {
          await client.end();
          await server.close();
        },
      };
    },
  },
  {
    name: 'influxdb',
    async start() {
      const server = await startInfluxDb();
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const auth = `Basic ${Buffer.from(`${server.user}:${server.password}`).toString('base64')}`;
      const post = (url: string, body: string): Promise<void> =>
        new Promise((resolve, reject) => {
          const req = request(url, { method: 'POST', agent, headers: { authorization: auth, 'content-type': 'text/plain; charset=utf-8' } }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`InfluxDB ${res.statusCode}: ${text}`))));
          });
          req.on('error', reject);
          req.end(body);
        });
      // The same lines the action writes: tags sorted by key, fields in the rule's order.
      const line = (r: Reading) => `climate,device=${r.deviceId},site=${r.site} temperature=${r.temperature},humidity=${r.humidity}i,seq=${r.seq}i ${r.ts}`;
      return {
        count: 100_000,
        batchSize: 500,
        prepare: async (run) => void (await server.query(`CREATE DATABASE b_${run}`)),
        action: (run) =>
          `influxdb(url = '${server.url}', database = 'b_${run}', username = '${server.user}', password = '${server.password}', measurement = 'climate', tags = {site: '\${topic(2)}', device: '\${deviceId}'}, fields = {temperature: '\${temperature}', humidity: '\${humidity}i', seq: '\${seq}i'}, timestamp = '\${ts}')`,
        writeBatch: (run, batch) => post(`${server.url}/write?db=b_${run}&precision=ms`, batch.map((r) => `${line(r)}\n`).join('')),
        readBack: async (run) => {
          const [result] = await server.query('SELECT seq, temperature FROM climate', `b_${run}`);
          return (result?.series?.[0]?.values ?? []).map((v) => [Number(v[1]), Number(v[2])]);
        },
        close: async () => {
          agent.destroy();
          await server.close();
        },
      };
    },
  },
  {
    name: 'redis',
    async start() {
      const server = await startRedis();
      const { Redis } = await loadRedis();
      const client = new Redis(server.url);
      return {
        count: 100_000,
        batchSize: 500,
        prepare: async () => {},
        action: (run) => `redis(url = '${server.url}', command = 'SET', key = 'b:${run}:\${id}')`,
        // One pipeline per batch, as the action sends it: SET key <the output as JSON>.
        writeBatch: async (run, batch) => {
          const pipeline = client.pipeline();
          for (const r of batch) pipeline.set(`b:${run}:${r.id}`, JSON.stringify(r));
          await pipeline.exec();
        },
        readBack: async (run) => {
          const out: [number, number][] = [];
          let cursor = '0';
          do {
            const [next, keys] = await client.scan(cursor, 'MATCH', `b:${run}:*`, 'COUNT', 1000);
            cursor = next;
            if (keys.length > 0) for (const v of await client.mget(...keys)) out.push([JSON.parse(v!).seq, JSON.parse(v!).temperature]);
          } while (cursor !== '0');
          return out;
        },
        close: async () => {
          await client.quit();
          await server.close();
        },
      };
    },
  },
  {
    name: 'dynalite',
    async start(host) {
      const endpoint = await host('dynalite');
      const settings = { endpoint, region: 'us-east-1', credentials: CREDENTIALS.dynalite };
      const client = new DynamoDBClient(settings);
      return {
        count: 10_000,
        batchSize: 25,
        aws: { dynamodb: settings },
        prepare: async (run) => {
          await client.send(new CreateTableCommand({ TableName: `b_${run}`, KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }], BillingMode: 'PAY_PER_REQUEST' }));
          // A table takes writes once ACTIVE (dynalite, as DynamoDB, creates it in the background).
          while ((await client.send(new DescribeTableCommand({ TableName: `b_${run}` }))).Table?.TableStatus !== 'ACTIVE') await new Promise((r) => setTimeout(r, 20));
        },
        action: (run) => `dynamodbv2(table_name = 'b_${run}')`,
        writeBatch: async (run, batch) => {
          let items = batch.map((r) => ({ PutRequest: { Item: marshall(r) } }));
          // BatchWriteItem may leave items unprocessed; a careful client writes them again.
          while (items.length > 0) {
            const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [`b_${run}`]: items } }));
            items = (out.UnprocessedItems?.[`b_${run}`] ?? []) as typeof items;
          }
        },
        readBack: async (run) => {
          const out: [number, number][] = [];
          let start: Record<string, AttributeValue> | undefined;
          do {
            const page = await client.send(new ScanCommand({ TableName: `b_${run}`, ...(start ? { ExclusiveStartKey: start } : {}) }));
            for (const item of page.Items ?? []) {
              const r = unmarshall(item) as Reading;
              out.push([r.seq, r.temperature]);
            }
            start = page.LastEvaluatedKey;
          } while (start);
          return out;
        },
        close: async () => client.destroy(),
      };
    },
  },
  {
    name: 's3rver',
    async start(host) {
      const endpoint = await host('s3rver');
      const settings = { endpoint, region: 'us-east-1', credentials: CREDENTIALS.s3rver, forcePathStyle: true };
      const client = new S3Client(settings);
      /** The s3 action's batch and its puts in flight at once (actions/s3/s3-sink.ts). */
      const concurrency = 8;
      return {
        count: 960,
        batchSize: 64,
        aws: { s3: settings },
        prepare: async () => {},
        action: (run) => `s3(bucket_name = '${BENCH_BUCKET}', key = '${run}/\${id}.json')`,
        writeBatch: async (run, batch) => {
          let next = 0;
          const worker = async () => {
            for (let i = next++; i < batch.length; i = next++) {
              await client.send(new PutObjectCommand({ Bucket: BENCH_BUCKET, Key: `${run}/${batch[i]!.id}.json`, Body: JSON.stringify(batch[i]), ContentType: 'application/json' }));
            }
          };
          await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, worker));
        },
        readBack: async (run) => {
          // One page: s3rver fails any listing it has to truncate (its continuation token uses a
          // cipher OpenSSL 3 refuses), so a run stays under 1,000 objects.
          const page = await client.send(new ListObjectsV2Command({ Bucket: BENCH_BUCKET, Prefix: `${run}/` }));
          if (page.IsTruncated) throw new Error(`s3rver listing of ${run}/ is truncated`);
          const keys = (page.Contents ?? []).map((o) => o.Key!);
          const out: [number, number][] = [];
          for (let i = 0; i < keys.length; i += 16) {
            await Promise.all(
              keys.slice(i, i + 16).map(async (key) => {
                const r = JSON.parse(await (await client.send(new GetObjectCommand({ Bucket: BENCH_BUCKET, Key: key }))).Body!.transformToString()) as Reading;
                out.push([r.seq, r.temperature]);
              }),
            );
          }
          return out;
        },
        close: async () => client.destroy(),
      };
    },
  },
  {
    name: 'kinesalite',
    async start(host) {
      const endpoint = await host('kinesalite');
      const settings = { endpoint, region: 'us-east-1', credentials: CREDENTIALS.kinesalite };
      // HTTP/1.1, as the kinesis action's client is given (kinesalite does not speak HTTP/2).
      const client = new KinesisClient({ ...settings, requestHandler: new NodeHttpHandler() });
      const stream = (run: string) => `b_${run}`;
      return {
        count: 20_000,
        /** The kinesis kind's batch, PutRecords' 500-record limit (actions/kinesis/kinesis.ts). */
        batchSize: 500,
        aws: { services: settings },
        prepare: async (run) => {
          await client.send(new CreateStreamCommand({ StreamName: stream(run), ShardCount: 2 }));
          while ((await client.send(new DescribeStreamCommand({ StreamName: stream(run) }))).StreamDescription?.StreamStatus !== 'ACTIVE') await new Promise((r) => setTimeout(r, 20));
        },
        action: (run) => `kinesis(stream_name = '${stream(run)}', partition_key = '\${deviceId}')`,
        // One PutRecords per batch, as the action sends it (a batch of 500 is one request under
        // the 5 MiB limit): the output as JSON, partitioned by device; refused records again.
        writeBatch: async (run, batch) => {
          let records = batch.map((r) => ({ Data: Buffer.from(JSON.stringify(r)), PartitionKey: r.deviceId }));
          while (records.length > 0) {
            const out = await client.send(new PutRecordsCommand({ StreamName: stream(run), Records: records }));
            records = records.filter((_, i) => out.Records?.[i]?.ErrorCode);
          }
        },
        readBack: async (run) => {
          const out: [number, number][] = [];
          const shards = (await client.send(new DescribeStreamCommand({ StreamName: stream(run) }))).StreamDescription?.Shards ?? [];
          for (const shard of shards) {
            let iterator = (await client.send(new GetShardIteratorCommand({ StreamName: stream(run), ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
            while (iterator) {
              const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
              for (const rec of page.Records ?? []) {
                const r = JSON.parse(Buffer.from(rec.Data!).toString()) as Reading;
                out.push([r.seq, r.temperature]);
              }
              iterator = (page.Records ?? []).length === 0 ? undefined : page.NextShardIterator;
            }
          }
          return out;
        },
        close: async () => client.destroy(),
      };
    },
  },
];

/** The targets `KIOT_BENCH_ACTIONS` names (comma-separated), else all; an unknown name fails the run. */
function selectedTargets(): readonly TargetEntry[] {
  const names = (process.env['KIOT_BENCH_ACTIONS'] ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (names.length === 0) return TARGETS;
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length > 0) throw new Error(`KIOT_BENCH_ACTIONS: unknown target ${unknown.join(', ')} (known: ${TARGETS.map((t) => t.name).join(', ')})`);
  return TARGETS.filter((t) => names.includes(t.name));
}

/** Envelopes of the readings on `topic`, as devices publish them. */
async function fill(log: Log, topic: string, data: readonly Reading[]): Promise<void> {
  await log.ensureTopic({ name: topic, partitions: 4 });
  for (let i = 0; i < data.length; i += 1_000) {
    const batch: AppendRecord[] = data.slice(i, i + 1_000).map((r) => {
      const { site, ...payload } = r;
      return envelopeRecord(createEnvelope({ topic: `factory/${site}/telemetry`, clientId: r.deviceId, payload: Buffer.from(JSON.stringify(payload)) }));
    });
    await log.append(topic, batch);
  }
}

/** Polls until `done()`; resolves with the elapsed ms since `start`. */
async function until(done: () => boolean, start: number, timeoutMs = 300_000): Promise<number> {
  while (!done()) {
    if (performance.now() - start > timeoutMs) throw new Error('actions benchmark run timed out');
    await new Promise((r) => setTimeout(r, 1));
  }
  return performance.now() - start;
}

/** kiot: a rules worker with one rule whose action writes to the target; records/s. */
async function runKiot(log: Log, ingress: string, target: Target, run: string): Promise<number> {
  const text = `CREATE RULE bench_${run} AS ${SELECT} DO ${target.action(run)};`;
  const rules = new Map<string, SourcedRule>(parseSqlRuleFile(text, 'bench.sql').map((model) => [model.name, { model, origin: { kind: 'file', file: 'bench.sql', line: 1, column: 1 } }]));
  const deadLetter = new DeadLetterWriter(log, logger, DEFAULT_RETRY_POLICY);
  const aws: AwsActionSettings = { dynamodb: {}, s3: {}, elasticsearch: {}, ...target.aws };
  const sinkDeps = createActionDeps({ logger, clock: systemClock, log, aws });
  const ruleSet = new RuleSet({ registry: createActionRegistry(), sinkDeps, retry: DEFAULT_RETRY_POLICY, deadLetter, logger });
  ruleSet.apply(rules);
  const worker = new RulesWorker({ log, logger, rules: ruleSet, deadLetter, groupId: `bench-actions-${run}`, topic: ingress, startFrom: 'earliest' });
  try {
    // Warm, as the client is (its connection is open before its clock starts): the rule's action
    // is connected, as a rules worker's actions are when it starts (RuleSet.connect). The clock
    // runs from the worker's start: joining its group (in-process on the embedded log, well
    // under a millisecond) and its first read of the log are kiot's.
    await ruleSet.connect();
    const start = performance.now();
    await worker.start();
    const ms = await until(() => worker.stats().processed >= target.count && worker.stats().inFlight === 0, start);
    return (target.count * 1000) / ms;
  } finally {
    await worker.stop();
    await ruleSet.close();
    await deadLetter.close();
  }
}

/** The target's own client: the same records, the same batch size, one batch at a time. */
async function runClient(data: readonly Reading[], target: Target, run: string): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < data.length; i += target.batchSize) await target.writeBatch(run, data.slice(i, i + target.batchSize));
  return (data.length * 1000) / (performance.now() - start);
}

/** Reads the run's destination back; throws unless it holds exactly the records sent. */
async function verify(name: string, target: Target, run: string, expected: string): Promise<void> {
  const got = await target.readBack(run);
  const d = digest(got);
  if (got.length !== target.count || d !== expected) throw new Error(`${name} run ${run}: read back ${got.length} records (digest ${d}), expected ${target.count} (digest ${expected})`);
}

export const actionsBenchmark: Benchmark = {
  name: 'actions',
  summary: `records/s into ${TARGETS.map((t) => t.name).join(', ')} through the rules worker, each vs the target's own client (same records, same batch size)`,
  async run(progress) {
    const results: BenchResult[] = [];
    const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-actions-'));
    const servers = new Child<StartServer, ServerStarted>('actions-servers', [], { label: 'actions target servers', replyTimeoutMs: 60_000 });
    const host = async (name: string): Promise<string> => {
      servers.send({ type: 'start', name });
      return (await servers.next()).endpoint;
    };
    const log = await EmbeddedLog.open({ dataDir: dir, logger });
    try {
      for (const entry of selectedTargets()) {
        const target = await entry.start(host);
        try {
          const data = readings(target.count);
          const expected = digest(data.map((r) => [r.seq, r.temperature] as const));
          const ingress = `bench.actions.${entry.name}.${randomUUID().slice(0, 8)}`;
          await fill(log, ingress, data);
          progress(`${entry.name}: ${target.count} messages from ${DEVICES} devices on ${SITES} sites, batches of ${target.batchSize}`);
          const best = { kiot: 0, client: 0 };
          // Round 0 warms both sides up (a kiot that has run a while has its per-message path
          // compiled by V8; so has the client's loop) and is not counted.
          for (let round = 0; round <= ROUNDS; round++) {
            for (const which of round % 2 === 0 ? (['client', 'kiot'] as const) : (['kiot', 'client'] as const)) {
              const run = `${which}${round}_${randomUUID().slice(0, 6)}`;
              await target.prepare(run);
              // Each side pays for its own garbage, not for what the run before it left behind.
              collectGarbage();
              // This process's CPU (kiot or the client; the servers run elsewhere) per record:
              // steadier than the rate when other work shares the machine.
              const cpu = process.cpuUsage();
              const rate = which === 'kiot' ? await runKiot(log, ingress, target, run) : await runClient(data, target, run);
              const { user, system } = process.cpuUsage(cpu);
              await verify(entry.name, target, run, expected);
              if (round > 0) best[which] = Math.max(best[which], rate);
              const perRecord = ((user + system) / target.count).toFixed(1);
              progress(`${entry.name} ${round === 0 ? 'warm-up' : `round ${round}`}: ${which} ${Math.round(rate)} records/s, ${perRecord} µs CPU/record (read back: ${target.count} records, digest ${expected})`);
            }
          }
          const clientName = `${entry.name}: its own client`;
          results.push({ name: clientName, messagesPerSec: best.client });
          results.push({ name: `${entry.name}: kiot rules worker`, messagesPerSec: best.kiot, baseline: clientName, ratio: best.kiot / best.client, target: TARGET });
        } finally {
          await target.close();
        }
      }
    } finally {
      await log.close();
      await servers.stop();
      await rm(dir, { recursive: true, force: true });
    }
    return results;
  },
};
