/**
 * core/testing/run-sink-suite.ts on every action kind in the catalogue, each against its real
 * target or stand-in, and each kind's own sink in every case: the embedded log (republish,
 * kafka; for down and stalled, each over a KafkaLog on a closed or silent port: the cluster
 * kiot runs on for republish, the action's cluster for kafka), loopback HTTP servers (http,
 * lambda), dynalite (dynamodb, dynamodbv2), s3rver (s3), @elastic/elasticsearch-mock and real
 * HTTP (elasticsearch, opensearch), throw-away PostgreSQL, Redis and InfluxDB servers (postgres, redis, influxdb) and a
 * Mosquitto broker read back by an mqtt.js subscriber (mqtt), kinesalite (kinesis), and the local AWS wire-protocol server
 * (core/testing/aws-service.ts) for sqs, firehose, sns, step_functions, cloudwatch_alarm, cloudwatch_logs,
 * iot_events, iot_analytics, timestream, location and iot_site_wise.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BaseConnection } from '@elastic/elasticsearch';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { decodeEnvelope, EmbeddedLog, KafkaLog, silentLogger, systemClock, TOPICS, type Log, type LogRecord, type Sink, type SinkDefinition } from '../core/index.js';
import { runSinkSuite, type SinkHarness } from '../core/testing/run-sink-suite.js';
import { blackHole, closedPort, testRecord } from './aws/testing/records.js';
import { cloudwatchMetricAction } from './cloudwatch-metric/cloudwatch-metric.js';
import { fromItem } from './dynamodb-client/index.js';
import { startDynalite, TEST_CREDENTIALS, type DynaliteServer } from './dynamodb-client/testing/dynalite.js';
import { createDynamoDbDefinition } from './dynamodb/index.js';
import { createDynamoDbV2Definition } from './dynamodbv2/index.js';
import { createElasticsearchDefinition, createOpenSearchDefinition } from './elasticsearch/index.js';
import { httpAction } from './http/http.js';
import { ACTION_DEFINITIONS } from './index.js';
import { createKafkaDefinition } from './kafka/kafka.js';
import { createLambdaDefinition } from './lambda/lambda.js';
import { createRepublishDefinition, republishAction } from './republish/republish.js';
import { createActionDeps, type ActionDeps } from './runtime/deps.js';
import { createS3Definition } from './s3/index.js';
import { startS3rver, type S3rverServer } from './s3/testing/s3rver.js';
import { serveLoopback } from '../core/testing/http-server.js';
import { startPostgres, type PostgresServer } from '../core/testing/postgres.js';
import { startRedis, type RedisServer } from '../core/testing/redis.js';
import { createPostgresDefinition } from './postgres/index.js';
import { createRedisDefinition } from './redis/index.js';
import { startInfluxDb, type InfluxDbServer } from '../core/testing/influxdb.js';
import { createInfluxDbDefinition } from './influxdb/index.js';
import pg from 'pg';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { startMosquitto, type Mosquitto } from '../core/testing/mosquitto.js';
import { createMqttDefinition } from './mqtt/index.js';
import { createKinesisDefinition } from './kinesis/index.js';
import { startKinesalite, type KinesaliteServer } from './kinesis/testing/kinesalite.js';
import { startAwsServices, type AwsServiceServer } from '../core/testing/aws-service.js';
import { allAwsServices } from '../core/testing/aws-services.js';
import { createIotEventsDefinition } from './iot-events/index.js';
import { createIotAnalyticsDefinition } from './iot-analytics/index.js';
import { createTimestreamDefinition } from './timestream/index.js';
import { createLocationDefinition } from './location/index.js';
import { createIotSiteWiseDefinition } from './iot-site-wise/index.js';
import { createSqsDefinition } from './sqs/index.js';
import { createFirehoseDefinition } from './firehose/index.js';
import { createSnsDefinition } from './sns/index.js';
import { createStepFunctionsDefinition } from './step-functions/index.js';
import { createCloudwatchAlarmDefinition } from './cloudwatch-alarm/index.js';
import { createCloudwatchLogsDefinition } from './cloudwatch-logs/index.js';

type Doc = Record<string, unknown>;
const logger = silentLogger();
const output = (i: number): Doc => ({ n: i, id: `r${i}`, nested: { ok: i % 2 === 0 } });

let db: DynaliteServer;
let s3: S3rverServer;
let postgres: PostgresServer;
let redis: RedisServer;
let mosquitto: Mosquitto;
let influx: InfluxDbServer;
let kinesis: KinesaliteServer;
/** The local wire-protocol server, hosting every AWS service no emulator installs for. */
let aws: AwsServiceServer;
const { sqs, firehose, sns, sfn, cloudwatch, logs, iotEvents, iotAnalytics, timestream, location, sitewise, specs: awsSpecs } = allAwsServices();
beforeAll(async () => {
  [db, s3, postgres, redis, mosquitto, influx, kinesis, aws] = await Promise.all([
    startDynalite(), startS3rver(['contract']), startPostgres(), startRedis(), startMosquitto(), startInfluxDb(), startKinesalite(), startAwsServices(awsSpecs),
  ]);
  await db.createTable('contract', { name: 'device', type: 'S' });
}, 60_000);
afterAll(async () => {
  await Promise.all([db?.close(), s3?.close(), postgres?.close(), redis?.close(), mosquitto?.close(), influx?.close(), kinesis?.close(), aws?.close()]);
});

/** A fresh embedded log and the deps over it. */
async function embedded(): Promise<{ log: Log; deps: ActionDeps; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-sink-contract-'));
  const log = await EmbeddedLog.open({ dataDir: dir, logger });
  const deps = createActionDeps({ log, logger });
  return {
    log,
    deps,
    stop: async () => {
      await deps.kafka.close();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Reads `topic` from the start until `want` records match, returning those. */
async function readTopic(log: Log, topic: string, match: (r: LogRecord) => boolean, want: number): Promise<LogRecord[]> {
  const found: LogRecord[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const consumer = log.consumer({
    groupId: `contract-${randomUUID()}`,
    topics: [topic],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      for (const r of batch.records) if (match(r)) found.push(r);
      if (found.length >= want) done();
    },
  });
  await consumer.start();
  try {
    await Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error(`read ${found.length} of ${want} from ${topic}`)), 10_000))]);
  } finally {
    await consumer.stop();
  }
  return found;
}

/** A KafkaLog-backed kafka action whose cluster is down (closed port) or silent (accepts, never answers). */
async function kafkaFaulty<P>(deps: ActionDeps, port: number, config: P, def = createKafkaDefinition({ appendTimeoutMs: 2_000 })) {
  return def.create(def.config.parse({ ...config, client_properties: { 'bootstrap.servers': `127.0.0.1:${port}` } }), deps);
}

/** The republish action over a log on a cluster that is down (closed port) or silent (accepts, never answers). */
function republishFaulty(deps: ActionDeps, port: number) {
  const log = new KafkaLog({ brokers: [`127.0.0.1:${port}`], logger });
  const def = createRepublishDefinition({ appendTimeoutMs: 2_000 });
  return { sink: def.create(def.config.parse({ topic: 'contract/faulty', qos: 1 }), { ...deps, log }), close: () => log.close() };
}

/** A loopback HTTP server that records bodies by path and answers 400 for paths with "reject". */
async function httpTarget(): Promise<{ url: string; bodies: Map<string, string>; close(): Promise<void> }> {
  const bodies = new Map<string, string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.includes('reject')) return void res.writeHead(400).end('rejected');
      bodies.set(decodeURIComponent(req.url ?? ''), Buffer.concat(chunks).toString());
      res.writeHead(req.headers['x-amz-invocation-type'] === 'Event' ? 202 : 200).end();
    });
  });
  return { ...(await serveLoopback(server)), bodies };
}

const notAnswering = async <P>(make: (endpoint: string) => ReturnType<SinkDefinition<P, never>['create']>) => {
  const hole = await blackHole();
  return { sink: make(`http://127.0.0.1:${hole.port}`), close: hole.close };
};
const nothingListening = async <P>(make: (endpoint: string) => ReturnType<SinkDefinition<P, never>['create']>) => ({
  sink: make(`http://127.0.0.1:${await closedPort()}`),
  close: async () => {},
});

const harnesses: Record<string, () => Promise<SinkHarness<any>>> = {
  async republish() {
    const e = await embedded();
    await e.log.ensureTopic({ name: TOPICS.egress });
    const params = (i: number, topic = `contract/${i}`) => republishAction.config.parse({ topic, qos: 1 });
    return {
      sink: () => republishAction.create(params(0), e.deps),
      record: (i) => testRecord(output(i), params(i), i),
      badRecord: (i) => testRecord(output(i), { ...params(i), topic: `contract/+/${i}` }, i),
      async readBack(records) {
        const topics = records.map((r) => r.params.topic);
        const found = (await readTopic(e.log, TOPICS.egress, (r) => topics.includes(decodeEnvelope(r.value!).topic), records.length)).map((r) => decodeEnvelope(r.value!));
        return topics.map((t) => JSON.parse(found.find((env) => env.topic === t)!.payload.toString()));
      },
      // republish writes to the log kiot runs on; on Kafka that log can be down or stall like any cluster.
      down: async () => republishFaulty(e.deps, await closedPort()),
      stalled: async () => {
        const hole = await blackHole();
        const faulty = republishFaulty(e.deps, hole.port);
        return {
          sink: faulty.sink,
          // The hole first: a KafkaLog closing against a silent broker waits for it.
          close: async () => {
            await hole.close();
            await faulty.close();
          },
        };
      },
      stop: e.stop,
    };
  },

  async kafka() {
    const e = await embedded();
    const def = createKafkaDefinition();
    const topic = `contract.${randomUUID().slice(0, 8)}`;
    const params = (i: number) => def.config.parse({ topic, key: `k${i}`, headers: [{ key: 'h', value: `v${i}` }] });
    return {
      sink: () => def.create(params(0), e.deps),
      record: (i) => testRecord(output(i), params(i), i),
      badRecord: (i) => testRecord(output(i), { ...params(i), partition: 'x' }, i),
      async readBack(records) {
        const keys = records.map((r) => r.params.key);
        const found = await readTopic(e.log, topic, (r) => keys.includes(r.key?.toString()), records.length);
        return keys.map((k) => JSON.parse(found.find((r) => r.key?.toString() === k)!.value!.toString()));
      },
      down: async () => ({ sink: await kafkaFaulty(e.deps, await closedPort(), { topic }), close: async () => {} }),
      stalled: async () => {
        const hole = await blackHole();
        return { sink: await kafkaFaulty(e.deps, hole.port, { topic }), close: hole.close };
      },
      stop: e.stop,
    };
  },

  async http() {
    const target = await httpTarget();
    const deps = { logger, clock: systemClock };
    const params = (url: string) => httpAction.config.parse({ url, headers: [{ key: 'x-test', value: '1' }] });
    /** The url is a per-record parameter: records written through this sink go to `url` instead. */
    const at = (url: string): Sink<any> => {
      const sink = httpAction.create(params(url), deps);
      return { connect: (sig) => sink.connect(sig), close: () => sink.close(), writeBatch: (rs, sig) => sink.writeBatch(rs.map((r) => ({ ...r, params: params(`${url}/x`) })), sig) };
    };
    return {
      sink: () => httpAction.create(params(target.url), deps),
      record: (i) => testRecord(output(i), params(`${target.url}/in/${i}`), i),
      badRecord: (i) => testRecord(output(i), params(`${target.url}/reject/${i}`), i),
      readBack: async (records) => records.map((r) => JSON.parse(target.bodies.get(new URL(r.params.url).pathname)!)),
      down: () => nothingListening(at),
      // HTTP_TIMEOUT_MS (5 s) bounds a request to a target that never answers.
      stalled: () => notAnswering(at),
      stop: target.close,
    };
  },

  async lambda() {
    const target = await httpTarget();
    const deps = { lambda: { endpoint: target.url } };
    const def = createLambdaDefinition();
    const params = (fn: string) => def.config.parse({ function_arn: fn });
    const withTarget = (endpoint: string) => createLambdaDefinition({ target: { endpoint }, timeoutMs: 300 }).create(params('f'), { lambda: undefined });
    return {
      sink: () => def.create(params('f'), deps),
      record: (i) => testRecord(output(i), params(`fn-${i}`), i),
      badRecord: (i) => testRecord(output(i), params(`reject-${i}`), i),
      readBack: async (records) => records.map((r) => JSON.parse(target.bodies.get(`/2015-03-31/functions/${r.params.function_arn}/invocations`)!)),
      down: () => nothingListening(withTarget),
      stalled: () => notAnswering(withTarget),
      stop: target.close,
    };
  },

  async cloudwatch_metric() {
    const e = await embedded();
    const params = (i: number) => cloudwatchMetricAction.config.parse({ metric_namespace: 'contract', metric_name: `m${i}`, metric_value: String(i), metric_unit: 'Count' });
    return {
      sink: () => cloudwatchMetricAction.create(params(0), e.deps),
      record: (i) => testRecord({ value: i }, params(i), i),
      // As `metric_value = '${reading}'` renders for a message whose reading is not a number.
      badRecord: (i) => testRecord({ value: i }, { ...params(i), metric_value: 'not a number' }, i),
      readBack: async (records) => Promise.all(records.map(async (r) => ({ value: await e.deps.metrics.last('contract', r.params.metric_name, 'Count') }))),
      stop: e.stop,
    };
  },

  async dynamodb() {
    const deps = { aws: { dynamodb: db.settings, s3: {}, elasticsearch: {} } };
    const def = createDynamoDbDefinition();
    const params = (i: number) => def.config.parse({ table_name: 'contract', hash_key_field: 'device', hash_key_value: `v1-${i}`, payload_field: 'data' });
    const elsewhere = (endpoint: string) => createDynamoDbDefinition({ settings: { endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS, requestTimeoutMs: 300 } }).create(params(0), deps);
    return {
      sink: () => def.create(params(0), deps),
      record: (i) => testRecord(output(i), params(i), i),
      badRecord: (i) => testRecord(output(i), { ...params(i), hash_key_type: 'NUMBER' }, i),
      readBack: async (records) => Promise.all(records.map(async (r) => fromItem((await db.getItem('contract', { device: { S: r.params.hash_key_value } }))!)['data'])),
      down: () => nothingListening(elsewhere),
      stalled: () => notAnswering(elsewhere),
      stop: async () => {},
    };
  },

  async dynamodbv2() {
    const deps = { aws: { dynamodb: db.settings, s3: {}, elasticsearch: {} } };
    const def = createDynamoDbV2Definition();
    const params = def.config.parse({ put_item: { table_name: 'contract' } });
    const elsewhere = (endpoint: string) => createDynamoDbV2Definition({ settings: { endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS, requestTimeoutMs: 300 } }).create(params, deps);
    const item = (i: number) => ({ device: `v2-${i}`, ...output(i) });
    return {
      sink: () => def.create(params, deps),
      record: (i) => testRecord(item(i), params, i),
      // No hash key in the output: DynamoDB rejects the item (ValidationException).
      badRecord: (i) => testRecord(output(i), params, i),
      readBack: async (records) => Promise.all(records.map(async (r) => fromItem((await db.getItem('contract', { device: { S: (r.output as Doc)['device'] as string } }))!))),
      down: () => nothingListening(elsewhere),
      stalled: () => notAnswering(elsewhere),
      stop: async () => {},
    };
  },

  async s3() {
    const deps = { aws: { dynamodb: {}, s3: s3.settings, elasticsearch: {} } };
    const def = createS3Definition();
    const run = randomUUID().slice(0, 8);
    const params = (i: number, bucket = 'contract') => def.config.parse({ bucket_name: bucket, key: `${run}/${i}.json` });
    const elsewhere = (endpoint: string) =>
      createS3Definition({ settings: { ...s3.settings, endpoint, requestTimeoutMs: 300 } }).create(params(0), deps);
    return {
      sink: () => def.create(params(0), deps),
      record: (i) => testRecord(output(i), params(i), i),
      badRecord: (i) => testRecord(output(i), params(i, 'no-such-bucket'), i),
      readBack: async (records) => Promise.all(records.map(async (r) => JSON.parse((await s3.getObject('contract', r.params.key)).body.toString()))),
      down: () => nothingListening(elsewhere),
      stalled: () => notAnswering(elsewhere),
      stop: async () => {},
    };
  },

  async postgres() {
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    const table = `contract_${randomUUID().slice(0, 8)}`;
    await client.query(`CREATE TABLE ${table} (id text PRIMARY KEY, n integer NOT NULL, doc jsonb)`);
    const def = createPostgresDefinition();
    const params = (i: number, n = String(i), url = postgres.url) => def.config.parse({ url, table, columns: { id: `r${i}`, n, doc: JSON.stringify(output(i)) } });
    const elsewhere = (endpoint: string) => createPostgresDefinition({ timeoutMs: 300 }).create(params(0, '0', endpoint.replace('http:', 'postgres:')), { logger });
    return {
      sink: () => def.create(params(0), { logger }),
      record: (i) => testRecord(output(i), params(i), i),
      // As `n = '${n}'` renders for a message whose n is not a number: PostgreSQL refuses it (22P02).
      badRecord: (i) => testRecord(output(i), params(i, 'not a number'), i),
      async readBack(records) {
        const ids = records.map((r) => r.params.columns!['id']);
        const { rows } = await client.query<{ id: string; doc: unknown }>(`SELECT id, doc FROM ${table} WHERE id = ANY($1)`, [ids]);
        return ids.map((id) => rows.find((r) => r.id === id)?.doc);
      },
      down: () => nothingListening(elsewhere),
      stalled: () => notAnswering(elsewhere),
      stop: () => client.end(),
    };
  },

  async redis() {
    const client = new Redis(redis.url);
    const run = randomUUID().slice(0, 8);
    // A key that holds a string: HSET on it is refused by Redis itself (WRONGTYPE).
    await client.set(`${run}:string`, 'x');
    const def = createRedisDefinition();
    const params = (i: number, url = redis.url) => def.config.parse({ url, command: 'SET', key: `${run}:r${i}`, ttl_seconds: '600' });
    const elsewhere = (endpoint: string) => createRedisDefinition({ timeoutMs: 300 }).create(params(0, endpoint.replace('http:', 'redis:')), { logger });
    return {
      sink: () => def.create(params(0), { logger }),
      record: (i) => testRecord(output(i), params(i), i),
      badRecord: (i) => testRecord(output(i), redisParams.parse({ url: redis.url, command: 'HSET', key: `${run}:string`, fields: { i: String(i) } }), i),
      readBack: async (records) => Promise.all(records.map(async (r) => JSON.parse((await client.get(r.params.key))!))),
      down: () => nothingListening(elsewhere),
      stalled: () => notAnswering(elsewhere),
      stop: async () => void (await client.quit()),
    };
  },

  async influxdb() {
    const database = `contract_${randomUUID().slice(0, 8)}`;
    await influx.query(`CREATE DATABASE ${database}`);
    const def = createInfluxDbDefinition();
    // The output as a string field; n is an integer field, so a string n is refused (type conflict).
    const params = (i: number, n = `${i}i`, url = influx.url) => def.config.parse({ url, database, username: influx.user, password: influx.password, measurement: 'contract', tags: { id: `r${i}` }, fields: { n, doc: `"${JSON.stringify(output(i))}"` } });
    const elsewhere = (endpoint: string) => createInfluxDbDefinition({ timeoutMs: 300 }).create(params(0, '0i', endpoint), { logger });
    return {
      sink: () => def.create(params(0), { logger }),
      record: (i) => testRecord(output(i), params(i), i),
      badRecord: (i) => testRecord(output(i), params(i, '"not a number"'), i),
      async readBack(records) {
        const [result] = await influx.query('SELECT doc FROM contract GROUP BY id', database);
        const docs = new Map((result?.series ?? []).map((s) => [s.tags!['id'], JSON.parse(String(s.values[0]![1]))]));
        return records.map((r) => docs.get(r.params.tags!['id']!));
      },
      down: () => nothingListening(elsewhere),
      stalled: () => notAnswering(elsewhere),
      stop: async () => void (await influx.query(`DROP DATABASE ${database}`)),
    };
  },
  async mqtt() {
    const run = randomUUID().slice(0, 8);
    const received = new Map<string, unknown>();
    const subscriber = await mqtt.connectAsync(mosquitto.url);
    subscriber.on('message', (topic, payload) => received.set(topic, JSON.parse(payload.toString())));
    await subscriber.subscribeAsync(`${run}/#`, { qos: 1 });
    const def = createMqttDefinition();
    const params = (i: number, url = mosquitto.url, topic = `${run}/r${i}`) => def.config.parse({ url, topic });
    const elsewhere = (endpoint: string) => createMqttDefinition({ timeoutMs: 300 }).create(params(0, endpoint.replace('http:', 'mqtt:')), { logger });
    return {
      sink: () => def.create(params(0), { logger }),
      record: (i) => testRecord(output(i), params(i), i),
      // As `${run}/${device}` renders for a message whose device is `+`: not a topic name.
      badRecord: (i) => testRecord(output(i), params(i, mosquitto.url, `${run}/+`), i),
      async readBack(records) {
        await vi.waitFor(() => expect(records.every((r) => received.has(r.params.topic))).toBe(true), { timeout: 5_000 });
        return records.map((r) => received.get(r.params.topic));
      },
      down: () => nothingListening(elsewhere),
      stalled: () => notAnswering(elsewhere),
      stop: () => subscriber.endAsync(),
    };
  },

  async kinesis() {
    const stream = `contract-${randomUUID().slice(0, 8)}`;
    await kinesis.createStream(stream, 2);
    const def = createKinesisDefinition();
    const deps = { aws: { dynamodb: {}, s3: {}, elasticsearch: {}, services: kinesis.settings } };
    const params = (i: number) => def.config.parse({ stream_name: stream, partition_key: `r${i}` });
    const elsewhere = (endpoint: string) => createKinesisDefinition({ settings: { ...kinesis.settings, endpoint, requestTimeoutMs: 300 } }).create(params(0), deps);
    return {
      sink: () => def.create(params(0), deps),
      record: (i) => testRecord(output(i), params(i), i),
      // Over Kinesis's 1 MiB record limit: kinesalite refuses it (ValidationException), as Kinesis does.
      badRecord: (i) => testRecord({ ...output(i), blob: 'x'.repeat(1024 * 1024) }, params(i), i),
      async readBack(records) {
        const found = await kinesis.records(stream);
        return records.map((r) => JSON.parse(found.find((f) => f.partitionKey === r.params.partition_key)!.data));
      },
      down: () => nothingListening(elsewhere),
      stalled: () => notAnswering(elsewhere),
      stop: async () => {},
    };
  },

  async sqs() {
    const queue = sqs.createQueue(`contract-${randomUUID().slice(0, 8)}`, aws.endpoint);
    const def = createSqsDefinition();
    const params = def.config.parse({ queue_url: queue });
    return {
      ...awsFaults((settings) => createSqsDefinition({ settings }).create(params, awsDeps)),
      sink: () => def.create(params, awsDeps),
      record: (i) => testRecord(output(i), params, i),
      // A NUL byte is outside SQS's allowed characters: SQS lists the entry as Failed (InvalidMessageContents).
      badRecord: (i) => testRecord(Buffer.from([0, i]), params, i),
      readBack: async (records) => records.map((r) => JSON.parse(sqs.queues.get(queue)!.find((b) => JSON.parse(b).id === (r.output as Doc)['id'])!)),
    };
  },

  async firehose() {
    const stream = `contract-${randomUUID().slice(0, 8)}`;
    firehose.createDeliveryStream(stream);
    const def = createFirehoseDefinition();
    const params = def.config.parse({ delivery_stream_name: stream });
    return {
      ...awsFaults((settings) => createFirehoseDefinition({ settings }).create(params, awsDeps)),
      sink: () => def.create(params, awsDeps),
      record: (i) => testRecord(output(i), params, i),
      // Over Firehose's 1,000 KiB record limit: ValidationException.
      badRecord: (i) => testRecord({ ...output(i), blob: 'x'.repeat(1_024_000) }, params, i),
      readBack: async (records) => records.map((r) => JSON.parse(firehose.streams.get(stream)!.find((b) => JSON.parse(b.toString()).id === (r.output as Doc)['id'])!.toString())),
    };
  },

  async sns() {
    const topic = sns.createTopic(`contract-${randomUUID().slice(0, 8)}`);
    const def = createSnsDefinition();
    const params = def.config.parse({ target_arn: topic });
    return {
      ...awsFaults((settings) => createSnsDefinition({ settings }).create(params, awsDeps)),
      sink: () => def.create(params, awsDeps),
      record: (i) => testRecord(output(i), params, i),
      // Over SNS's 256 KiB message limit: InvalidParameter.
      badRecord: (i) => testRecord({ ...output(i), blob: 'x'.repeat(262_144) }, params, i),
      readBack: async (records) => records.map((r) => JSON.parse(sns.published.get(topic)!.find((m) => JSON.parse(m.message).id === (r.output as Doc)['id'])!.message)),
    };
  },

  async step_functions() {
    const name = `contract-${randomUUID().slice(0, 8)}`;
    const arn = sfn.createStateMachine(name);
    const def = createStepFunctionsDefinition();
    const params = def.config.parse({ state_machine_name: name, execution_name_prefix: 'contract-' });
    return {
      ...awsFaults((settings) => createStepFunctionsDefinition({ settings }).create(params, awsDeps)),
      sink: () => def.create(params, awsDeps),
      record: (i) => testRecord(output(i), params, i),
      // Over Step Functions' 256 KiB input limit.
      badRecord: (i) => testRecord({ ...output(i), blob: 'x'.repeat(262_144) }, params, i),
      readBack: async (records) => records.map((r) => JSON.parse(sfn.machines.get(arn)!.find((e) => JSON.parse(e.input).id === (r.output as Doc)['id'])!.input)),
    };
  },

  async cloudwatch_alarm() {
    const run = randomUUID().slice(0, 8);
    const def = createCloudwatchAlarmDefinition();
    // As `state_reason = '${...}'` renders: here the output itself, so that it can be read back.
    const params = (i: number, state_value = 'ALARM') => {
      cloudwatch.createAlarm(`${run}-${i}`);
      return def.config.parse({ alarm_name: `${run}-${i}`, state_value, state_reason: JSON.stringify(output(i)) });
    };
    return {
      ...awsFaults((settings) => createCloudwatchAlarmDefinition({ settings }).create(params(0), awsDeps)),
      sink: () => def.create(params(0), awsDeps),
      record: (i) => testRecord(output(i), params(i), i),
      // As `state_value = '${state}'` renders for a message whose state is no alarm state.
      badRecord: (i) => testRecord(output(i), { ...params(i), state_value: 'HOT' }, i),
      readBack: async (records) => records.map((r) => JSON.parse(cloudwatch.alarms.get(r.params.alarm_name)!.at(-1)!.reason)),
    };
  },

  async cloudwatch_logs() {
    const group = `contract-${randomUUID().slice(0, 8)}`;
    logs.createLogGroup(group);
    const def = createCloudwatchLogsDefinition();
    const params = def.config.parse({ log_group_name: group });
    // Events are timed when their message arrived: now (CloudWatch Logs refuses events over 14 days old).
    const recent = <R extends { receivedAt: number }>(r: R): R => ({ ...r, receivedAt: Date.now() });
    return {
      ...awsFaults((settings) => createCloudwatchLogsDefinition({ settings }).create(params, awsDeps)),
      sink: () => def.create(params, awsDeps),
      record: (i) => recent(testRecord(output(i), params, i)),
      // Over the 256 KiB event limit: InvalidParameterException.
      badRecord: (i) => recent(testRecord({ ...output(i), blob: 'x'.repeat(262_144) }, params, i)),
      readBack: async (records) => records.map((r) => JSON.parse(logs.groups.get(group)!.get(r.ruleName)!.find((e) => JSON.parse(e.message).id === (r.output as Doc)['id'])!.message)),
    };
  },

  async iot_events() {
    const input = `contract-${randomUUID().slice(0, 8)}`;
    iotEvents.createInput(input);
    const def = createIotEventsDefinition();
    const params = (i: number) => def.config.parse({ input_name: input, message_id: `${input}-${i}` });
    return {
      ...awsFaults((settings) => createIotEventsDefinition({ settings }).create(params(0), awsDeps)),
      sink: () => def.create(params(0), awsDeps),
      record: (i) => testRecord(output(i), params(i), i),
      // IoT Events takes JSON object payloads only: the entry comes back in BatchPutMessageErrorEntries.
      badRecord: (i) => testRecord(Buffer.from('not json'), params(i), i),
      readBack: async (records) => records.map((r) => JSON.parse(iotEvents.inputs.get(input)!.find((m) => m.messageId === r.params.message_id)!.payload)),
    };
  },

  async iot_analytics() {
    const channel = `contract_${randomUUID().slice(0, 8)}`;
    iotAnalytics.createChannel(channel);
    const def = createIotAnalyticsDefinition();
    const params = def.config.parse({ channel_name: channel });
    return {
      ...awsFaults((settings) => createIotAnalyticsDefinition({ settings }).create(params, awsDeps)),
      sink: () => def.create(params, awsDeps),
      record: (i) => testRecord(output(i), params, i),
      // Over IoT Analytics' 128 KiB message limit.
      badRecord: (i) => testRecord({ ...output(i), blob: 'x'.repeat(128 * 1024) }, params, i),
      readBack: async (records) => records.map((r) => JSON.parse(iotAnalytics.channels.get(channel)!.find((m) => JSON.parse(m.payload).id === (r.output as Doc)['id'])!.payload)),
    };
  },

  async timestream() {
    const table = `contract_${randomUUID().slice(0, 8)}`;
    timestream.createTable('iot', table);
    const def = createTimestreamDefinition();
    const params = (i: number) => def.config.parse({ database_name: 'iot', table_name: table, dimensions: [{ name: 'record', value: `r${i}` }] });
    return {
      ...awsFaults((settings) => createTimestreamDefinition({ settings }).create(params(0), awsDeps)),
      sink: () => def.create(params(0), awsDeps),
      record: (i) => testRecord(output(i), params(i), i),
      // A VARCHAR measure over Timestream's 2 KB: RejectedRecordsException names it.
      badRecord: (i) => testRecord({ ...output(i), blob: 'x'.repeat(3000) }, params(i), i),
      // Each attribute was one measure record; put them back together, by the record's dimension.
      readBack: async (records) =>
        records.map((r) => {
          const measures = timestream.tables.get(`iot.${table}`)!.filter((m) => m.Dimensions[0]!.Value === r.params.dimensions[0]!.value);
          const typed = (m: (typeof measures)[number]) => (m.MeasureValueType === 'BIGINT' || m.MeasureValueType === 'DOUBLE' ? Number(m.MeasureValue) : m.MeasureValue.startsWith('{') ? JSON.parse(m.MeasureValue) : m.MeasureValue);
          return Object.fromEntries(measures.map((m) => [m.MeasureName, typed(m)]));
        }),
    };
  },

  async location() {
    const tracker = `contract-${randomUUID().slice(0, 8)}`;
    location.createTracker(tracker);
    const def = createLocationDefinition();
    // As `latitude = '${lat}'` and `longitude = '${lon}'` render for an output {lat, lon}.
    const at = (i: number, lat = i) => ({ lat, lon: i / 2 });
    const params = (i: number, lat = i) => def.config.parse({ tracker_name: tracker, device_id: `r${i}`, latitude: String(at(i, lat).lat), longitude: String(at(i, lat).lon) });
    return {
      ...awsFaults((settings) => createLocationDefinition({ settings }).create(params(0), awsDeps)),
      sink: () => def.create(params(0), awsDeps),
      record: (i) => testRecord(at(i), params(i), i),
      // Latitude 95 is off the globe: Location lists the update in Errors.
      badRecord: (i) => testRecord(at(i, 95), params(i, 95), i),
      readBack: async (records) =>
        records.map((r) => {
          const [lon, lat] = location.trackers.get(tracker)!.find((u) => u.DeviceId === r.params.device_id)!.Position;
          return { lat, lon };
        }),
    };
  },

  async iot_site_wise() {
    const alias = `/contract/${randomUUID().slice(0, 8)}`;
    sitewise.createProperty(alias);
    const def = createIotSiteWiseDefinition();
    // As `string_value = '${...}'` renders: here the output as JSON, so that it can be read back.
    const params = (i: number, propertyAlias = alias) =>
      def.config.parse({ put_asset_property_value_entries: [{ property_alias: propertyAlias, property_values: [{ value: { string_value: JSON.stringify(output(i)) }, timestamp: { time_in_seconds: String(1_700_000_000 + i) } }] }] });
    return {
      ...awsFaults((settings) => createIotSiteWiseDefinition({ settings }).create(params(0), awsDeps)),
      sink: () => def.create(params(0), awsDeps),
      record: (i) => testRecord(output(i), params(i), i),
      // No such property alias: SiteWise lists the entry in errorEntries.
      badRecord: (i) => testRecord(output(i), params(i, `${alias}/missing`), i),
      readBack: async (records) => records.map((r) => JSON.parse(sitewise.properties.get(alias)!.find((v) => v.timestamp.timeInSeconds === 1_700_000_000 + Number(r.messageId.slice(1)))!.value['stringValue'] as string)),
    };
  },

  elasticsearch: () => searchHarness('elasticsearch'),
  opensearch: () => searchHarness('opensearch'),
};

/** The part of @elastic/elasticsearch-mock used here (CommonJS, loaded as what it is). */
interface ClientMock {
  add(pattern: { method: string | string[]; path: string }, resolver: (params: { body?: unknown }) => unknown): ClientMock;
  getConnection(): typeof BaseConnection;
}
const redisParams = createRedisDefinition().config;
const Mock = createRequire(import.meta.url)('@elastic/elasticsearch-mock') as new () => ClientMock;

async function searchHarness(flavor: 'elasticsearch' | 'opensearch'): Promise<SinkHarness<any>> {
  const create = flavor === 'opensearch' ? createOpenSearchDefinition : createElasticsearchDefinition;
  const mock = new Mock();
  const store = new Map<string, Doc>();
  mock.add({ method: 'HEAD', path: '/' }, () => '');
  mock.add({ method: ['POST', 'PUT'], path: '/_bulk' }, ({ body }) => {
    const lines = body as Doc[];
    const items = [];
    for (let i = 0; i < lines.length; i += 2) {
      const { _index, _id } = (lines[i] as { index: { _index: string; _id: string } }).index;
      const doc = lines[i + 1] as Doc;
      if (doc['reject']) items.push({ index: { _index, _id, status: 400, error: { type: 'mapper_parsing_exception', reason: 'rejected' } } });
      else items.push({ index: { _index, _id, status: 201 } }), store.set(`${_index}/${_id}`, doc);
    }
    return { took: 1, errors: items.some((i) => i.index.status >= 300), items };
  });
  const MockConnection = mock.getConnection();
  // The mock's Connection has no close(), which Client.close() calls.
  const connection = class extends MockConnection {
    override async close(): Promise<void> {}
  };
  const deps = { aws: { dynamodb: {}, s3: {}, elasticsearch: {} } };
  const params = (i: number, endpoint = 'http://127.0.0.1:9200') => create().config.parse({ endpoint, index: 'contract', id: `d${i}` });
  const elsewhere = (endpoint: string) => create({ settings: { endpoint, requestTimeoutMs: 300 } }).create(params(0, endpoint), deps);
  return {
    sink: () => create({ connection }).create(params(0), deps),
    record: (i) => testRecord(output(i), params(i), i),
    badRecord: (i) => testRecord({ ...output(i), reject: true }, params(i), i),
    readBack: async (records) => records.map((r) => store.get(`contract/${r.params.id}`)),
    down: () => nothingListening(elsewhere),
    stalled: () => notAnswering(elsewhere),
    stop: async () => {},
  };
}

/** The deps of the kinds served by the wire-protocol server: kiot's one AWS endpoint setting. */
const awsDeps = {
  get aws() {
    return { dynamodb: {}, s3: {}, elasticsearch: {}, services: { endpoint: aws.endpoint, region: aws.region, credentials: aws.credentials, requestTimeoutMs: 5_000 } };
  },
};
/** down, stalled and stop for a kind served by the wire-protocol server; `make` builds its sink for other settings. */
function awsFaults<P>(make: (settings: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string }; requestTimeoutMs: number }) => Sink<P>) {
  const elsewhere = (endpoint: string) => make({ endpoint, region: aws.region, credentials: aws.credentials, requestTimeoutMs: 300 });
  return { down: () => nothingListening(elsewhere), stalled: () => notAnswering(elsewhere), stop: async () => {} };
}

test('every kind in the catalogue runs the sink contract', () => {
  expect(Object.keys(harnesses).sort()).toEqual(ACTION_DEFINITIONS.map((d) => d.type).sort());
});

// s3rver checks signatures against its own fixed key pair; the SDK chain reads them from here.
vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');

for (const [kind, start] of Object.entries(harnesses)) {
  runSinkSuite(kind, start, kind === 'cloudwatch_metric' ? { inProcess: 'the metric store lives in kiot and is exported on /metrics' } : {});
}
