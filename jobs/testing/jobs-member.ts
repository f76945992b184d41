/**
 * One `jobs` process on Kafka for the multi-process test (`node --import tsx jobs-member.ts
 * '<json>'`), so that the test can SIGKILL it. argv: `{"brokers":[...],"create"?:{"jobId","things"}}`.
 * It writes `ready` on stdout once it serves its partitions; with `create`, it then runs CreateJob
 * on things `dev-0` ... (streamed, as the API streams them from the registry) and writes
 * `created`. Each `stats` line on stdin is answered with the store's command counts as JSON.
 */
import { createInterface } from 'node:readline';
import { silentLogger } from '../../core/index.js';
import { KafkaLog } from '../../core/log/kafka/kafka-log.js';
import { createJobsService } from '../service.js';

const { brokers, create } = JSON.parse(process.argv[process.argv.length - 1]!) as { brokers: string[]; create?: { jobId: string; things: number } };
const log = new KafkaLog({ brokers, logger: silentLogger(), sessionTimeoutMs: 4_000, heartbeatIntervalMs: 400, maxWaitTimeMs: 100, retryPauseMs: 200 });
const jobs = await createJobsService({}, { log, logger: silentLogger(), timerIntervalMs: 200 }).start();
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'stats') process.stdout.write(`${JSON.stringify(jobs.stats())}\n`);
});
process.stdout.write('ready\n');

function* things(n: number): Generator<string> {
  for (let i = 0; i < n; i++) yield `dev-${i}`;
}

if (create) {
  const arn = 'arn:aws:iot:us-east-1:123456789012:thinggroup/fleet';
  await jobs.createJob({ jobId: create.jobId, targets: [arn], targetSelection: 'SNAPSHOT', document: '{"op":"update"}', thingGroupNames: ['fleet'], configs: {} }, things(create.things));
  process.stdout.write('created\n');
}
