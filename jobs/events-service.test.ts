/**
 * Jobs events through the service on the Kafka mock, with two services sharing the owners: both
 * watch for a job's completion and ask the job's owner, which publishes `completed` once; each
 * execution's terminal event is published once, by the owner of its thing.
 */
import { afterEach, expect, test } from 'vitest';
import { TOPICS, decodeEnvelope, readRange, silentLogger, type Log } from '../core/index.js';
import { KafkaLog } from '../core/log/kafka/kafka-log.js';
import { startKafkaMock } from '../core/testing/kafka-mock.js';
import { createJobsService, type CreateJobInput, type Jobs } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startJobs(log: Log): Promise<Jobs> {
  const service = createJobsService({ arns: { region: 'eu-west-1', accountId: '123456789012' } }, { log, logger: silentLogger() });
  const jobs = await service.start();
  cleanups.push(() => service.stop());
  return jobs;
}

const job = (jobId: string): CreateJobInput => ({ jobId, targets: ['arn:aws:iot:eu-west-1:123456789012:thinggroup/all'], targetSelection: 'SNAPSHOT', document: '{"op":"x"}', thingGroupNames: ['all'], configs: {} });

/** The `$aws/events/...` messages on iot.ingress, by topic. */
async function eventCounts(log: Log): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const r of await readRange(log, { topic: TOPICS.ingress })) {
    const topic = decodeEnvelope(Buffer.from(r.value!)).topic;
    if (topic.startsWith('$aws/events/')) counts.set(topic, (counts.get(topic) ?? 0) + 1);
  }
  return counts;
}

test('Kafka mock: two services, one completed event and one event per terminal execution', async () => {
  const mock = await startKafkaMock();
  cleanups.push(() => mock.stop());
  const openLog = () => {
    const log = new KafkaLog({ brokers: mock.brokers, logger: silentLogger(), sessionTimeoutMs: 4_000, heartbeatIntervalMs: 400, maxWaitTimeMs: 100, retryPauseMs: 200 });
    cleanups.push(() => log.close());
    return log;
  };
  const logA = openLog();
  const a = await startJobs(logA);
  const b = await startJobs(openLog());
  await a.updateEventConfigurations({ JOB: true, JOB_EXECUTION: true });
  const things = Array.from({ length: 12 }, (_, i) => `dev-${i}`);
  await a.createJob(job('fw'), things);
  await expect.poll(() => b.progress('fw').counts.QUEUED, { timeout: 20_000 }).toBe(12);
  // Half the things report through each service; the last ones concurrently.
  await Promise.all(things.map((thingName, i) => (i % 2 === 0 ? a : b).updateExecution({ thingName, jobId: 'fw', status: i === 3 ? 'FAILED' : 'SUCCEEDED' })));
  await expect.poll(() => a.job('fw')?.completedAt !== undefined && b.job('fw')?.completedAt !== undefined, { timeout: 20_000 }).toBe(true);
  await expect.poll(async () => (await eventCounts(logA)).get('$aws/events/job/fw/completed'), { timeout: 20_000 }).toBe(1);
  const counts = await eventCounts(logA);
  expect(Object.fromEntries(counts)).toEqual({
    '$aws/events/jobExecution/fw/succeeded': 11,
    '$aws/events/jobExecution/fw/failed': 1,
    '$aws/events/job/fw/completed': 1,
  });
}, 90_000);
