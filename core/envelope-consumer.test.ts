import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { createEnvelope, envelopeRecord, type Envelope } from './envelope.js';
import { createEnvelopeConsumer } from './envelope-consumer.js';
import { EmbeddedLog } from './log/embedded/embedded-log.js';
import type { TopicPartitionOffset } from './log/log.js';
import { silentLogger } from './logger.js';
import { recordingCommits } from './testing/recording-log.js';
import { waitUntil } from './testing/run-log-suite.js';

let dir: string;
let log: EmbeddedLog;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-envelope-consumer-'));
  log = await EmbeddedLog.open({ dataDir: join(dir, 'data'), logger: silentLogger() });
  await log.ensureTopic({ name: 'in', partitions: 1 });
});
afterEach(async () => {
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

const send = (n: number) => log.append('in', [envelopeRecord(createEnvelope({ topic: `dev/${n}`, payload: Buffer.from(String(n)), qos: 1, clientId: 'd' }))]);

test("a commit held back by the interval is made once the interval has passed, so a quiet partition's offset catches up", async () => {
  const commits: TopicPartitionOffset[] = [];
  const delivered: Envelope[] = [];
  const consumer = createEnvelopeConsumer({ log: recordingCommits(log, commits), logger: silentLogger(), groupId: 'g', topics: ['in'], commitIntervalMs: 400, deliver: (e) => void delivered.push(e) });
  await consumer.start();
  await send(0);
  await waitUntil(() => delivered.length === 1 && commits.length === 1, 'the first record delivered and committed', 5_000);
  await send(1);
  await send(2);
  await waitUntil(() => delivered.length === 3, 'the next records delivered', 5_000);
  // Within the interval of the first commit: held back.
  expect(commits.map((c) => c.offset)).toEqual([1]);
  await waitUntil(() => commits.at(-1)?.offset === 3, 'the held-back commit made', 5_000);
  expect(commits.length).toBe(2);
  await consumer.stop();
});
