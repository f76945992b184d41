/**
 * `npm run bench -- log` (Kafka half): append-then-consume throughput of 200-byte records
 * through KafkaLog on librdkafka's mock cluster, against raw kafkajs doing the same work the
 * same way in the same run (idempotent producer, acks=all, the same batches and keys, one
 * consumer group member reading everything with eachBatch). Target: KafkaLog ≥ 0.9× raw.
 *
 * Each run appends every batch (awaiting each, as a caller waiting for durability does), then
 * starts a fresh group and reads the records back. Joining a group on the mock always takes
 * 3 s (its initial rebalance delay), so the consume phase is timed from the first record
 * delivered to the last; the reported rate is records / (append time + consume time).
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { KafkaLog, silentLogger } from '../core/index.js';
import { startKafkaMock } from '../core/testing/kafka-mock.js';
import type { Benchmark, BenchResult } from './report.js';

const { Kafka, logLevel, Partitioners } = kafkajs;

const RECORDS = 60_000;
const RECORD_BYTES = 200;
const BATCH = 500;
const KEYS = 100;
const ROUNDS = 2;
const TARGET = 0.9;
/** Same group timings for both sides; short so idle fetches do not hide the end of the run. */
const SESSION_TIMEOUT_MS = 10_000;
const HEARTBEAT_MS = 1_000;
const MAX_WAIT_MS = 100;

interface Timing {
  appendMs: number;
  consumeMs: number;
}

const payload = Buffer.alloc(RECORD_BYTES, 'x');
const batches = (): { key: string; value: Buffer }[][] => {
  const out: { key: string; value: Buffer }[][] = [];
  for (let i = 0; i < RECORDS; i += BATCH) {
    out.push(Array.from({ length: Math.min(BATCH, RECORDS - i) }, (_, j) => ({ key: `device-${(i + j) % KEYS}`, value: payload })));
  }
  return out;
};

/** Resolves when `count` records were seen; times from the first delivery to the last. */
class Counter {
  seen = 0;
  firstAt = 0;
  #done: () => void = () => undefined;
  readonly done: Promise<number>;
  constructor(readonly count: number) {
    this.done = new Promise((resolve) => {
      this.#done = () => resolve(performance.now() - this.firstAt);
    });
  }
  add(n: number): void {
    if (this.seen === 0) this.firstAt = performance.now();
    this.seen += n;
    if (this.seen >= this.count) this.#done();
  }
}

async function runKafkaLog(brokers: string[]): Promise<Timing> {
  const log = new KafkaLog({
    brokers,
    logger: silentLogger(),
    clientId: 'bench-kiot',
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    heartbeatIntervalMs: HEARTBEAT_MS,
    maxWaitTimeMs: MAX_WAIT_MS,
  });
  try {
    const topic = `bench-kiot-${randomUUID().slice(0, 8)}`;
    await log.ensureTopic({ name: topic });
    const work = batches();
    const started = performance.now();
    for (const batch of work) await log.append(topic, batch);
    const appendMs = performance.now() - started;

    const counter = new Counter(RECORDS);
    const consumer = log.consumer({
      groupId: `bench-kiot-${randomUUID()}`,
      topics: [topic],
      startFrom: 'earliest',
      eachBatch: async (batch) => counter.add(batch.records.length),
    });
    await consumer.start();
    const consumeMs = await counter.done;
    await consumer.stop();
    return { appendMs, consumeMs };
  } finally {
    await log.close();
  }
}

async function runRawKafkaJs(brokers: string[]): Promise<Timing> {
  const kafka = new Kafka({ brokers, clientId: 'bench-raw', logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  try {
    const topic = `bench-raw-${randomUUID().slice(0, 8)}`;
    await producer.send({ topic, acks: -1, messages: [{ key: 'warm', value: payload }] }); // creates the topic, like ensureTopic
    const work = batches();
    const started = performance.now();
    for (const batch of work) await producer.send({ topic, acks: -1, messages: batch });
    const appendMs = performance.now() - started;

    const counter = new Counter(RECORDS + 1);
    const consumer = kafka.consumer({
      groupId: `bench-raw-${randomUUID()}`,
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_MS,
      maxWaitTimeInMs: MAX_WAIT_MS,
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => counter.add(batch.messages.length),
    });
    const consumeMs = await counter.done;
    await consumer.disconnect();
    return { appendMs, consumeMs };
  } finally {
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  }
}

const rate = (ms: number) => RECORDS / (ms / 1000);
const mb = (ms: number) => (RECORDS * RECORD_BYTES) / 1e6 / (ms / 1000);
const best = (timings: Timing[]): Timing =>
  timings.reduce((a, b) => (a.appendMs + a.consumeMs <= b.appendMs + b.consumeMs ? a : b));

export const kafkaLogBenchmark: Benchmark = {
  name: 'log-kafka',
  summary: 'KafkaLog append-then-consume on the Kafka mock cluster vs raw kafkajs',
  async run(progress) {
    progress('starting the Kafka mock cluster');
    const mock = await startKafkaMock();
    try {
      progress('warm-up');
      await runRawKafkaJs(mock.brokers);
      await runKafkaLog(mock.brokers);
      const kiot: Timing[] = [];
      const raw: Timing[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        raw.push(await runRawKafkaJs(mock.brokers));
        progress(`round ${round}/${ROUNDS}: raw kafkajs ${Math.round(rate(total(raw.at(-1)!)))} msgs/s`);
        kiot.push(await runKafkaLog(mock.brokers));
        progress(`round ${round}/${ROUNDS}: KafkaLog ${Math.round(rate(total(kiot.at(-1)!)))} msgs/s`);
      }
      const k = best(kiot);
      const r = best(raw);
      const row = (name: string, ms: number, baseline?: { name: string; ms: number }, target?: number): BenchResult => ({
        name,
        messagesPerSec: rate(ms),
        mbPerSec: mb(ms),
        ...(baseline ? { baseline: baseline.name, ratio: rate(ms) / rate(baseline.ms) } : {}),
        ...(target !== undefined ? { target } : {}),
      });
      return [
        row('kafkajs raw append+consume', total(r)),
        row('KafkaLog append+consume', total(k), { name: 'kafkajs raw append+consume', ms: total(r) }, TARGET),
        row('kafkajs raw append', r.appendMs),
        row('KafkaLog append', k.appendMs, { name: 'kafkajs raw append', ms: r.appendMs }),
        row('kafkajs raw consume', r.consumeMs),
        row('KafkaLog consume', k.consumeMs, { name: 'kafkajs raw consume', ms: r.consumeMs }),
      ];
    } finally {
      await mock.stop();
    }
  },
};

const total = (t: Timing) => t.appendMs + t.consumeMs;
