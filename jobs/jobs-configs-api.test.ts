/**
 * CONTINUOUS jobs, rollout rates, abort criteria and retries through `@aws-sdk/client-iot`
 * against a real kiot (every role, embedded log) in this process: group membership changed
 * with the registry's own operations reaches the jobs service; a device's reports go through a
 * second jobs service on the same log (as jobs-api.test.ts does), or over MQTT (mqtt.js) for a retry.
 */
import {
  AddThingToThingGroupCommand,
  AssociateTargetsWithJobCommand,
  CreateJobCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  DeleteThingCommand,
  DeleteThingGroupCommand,
  DescribeJobCommand,
  DescribeJobExecutionCommand,
  IoTClient,
  ListJobExecutionsForJobCommand,
  ListJobExecutionsForThingCommand,
  ListJobsCommand,
  RemoveThingFromThingGroupCommand,
} from '@aws-sdk/client-iot';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { waitUntil } from '../core/testing/run-log-suite.js';
import { startTestPlatform, type TestPlatform } from '../cli/testing.js';
import { awsError } from '../api/routes/testing/security-api.js';
import { silentLogger } from '../core/index.js';
import { createJobsService, type Jobs } from './index.js';

let kiot: TestPlatform;
let iot: IoTClient;
let device: Jobs;
let stopDevice: () => Promise<void>;
let account = '';

const groupArn = (name: string) => `arn:aws:iot:us-east-1:${account}:thinggroup/${name}`;

beforeAll(async () => {
  kiot = await startTestPlatform();
  iot = kiot.client(IoTClient);
  const service = createJobsService({}, { log: kiot.platform.log, logger: silentLogger() });
  device = await service.start();
  stopDevice = () => service.stop();
  const created = await iot.send(new CreateThingCommand({ thingName: 'probe' }));
  account = created.thingArn!.split(':')[4]!;
}, 60_000);

afterAll(async () => {
  await stopDevice?.();
  await kiot?.stop();
});

const thingsIn = async (group: string, things: string[]) => {
  for (const thingName of things) {
    await iot.send(new CreateThingCommand({ thingName }));
    await iot.send(new AddThingToThingGroupCommand({ thingName, thingGroupName: group }));
  }
};
const statusOf = async (jobId: string, thingName: string) => {
  try {
    return (await iot.send(new DescribeJobExecutionCommand({ jobId, thingName }))).execution?.status;
  } catch {
    return undefined;
  }
};

test('CONTINUOUS: things added to the group or a nested group later get the job, removed ones have it REMOVED; the job stays IN_PROGRESS', async () => {
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'line' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'line-a', parentGroupName: 'line' }));
  await thingsIn('line', ['press-1']);
  await iot.send(new CreateJobCommand({ jobId: 'watch', targets: [groupArn('line')], document: '{"op":"watch"}', targetSelection: 'CONTINUOUS' }));
  expect(await statusOf('watch', 'press-1')).toBe('QUEUED');

  await thingsIn('line-a', ['press-2', 'press-3']);
  await expect.poll(() => statusOf('watch', 'press-3'), { timeout: 10_000 }).toBe('QUEUED');
  expect(await statusOf('watch', 'press-2')).toBe('QUEUED');
  await iot.send(new RemoveThingFromThingGroupCommand({ thingName: 'press-2', thingGroupName: 'line-a' }));
  await expect.poll(() => statusOf('watch', 'press-2'), { timeout: 10_000 }).toBe('REMOVED');
  await iot.send(new DeleteThingCommand({ thingName: 'press-3' }));
  await expect.poll(() => statusOf('watch', 'press-3'), { timeout: 10_000 }).toBe('REMOVED');
  // Deleting a nested group takes its things out of the job's groups too.
  await thingsIn('line-a', ['press-4']);
  await expect.poll(() => statusOf('watch', 'press-4'), { timeout: 10_000 }).toBe('QUEUED');
  await iot.send(new DeleteThingGroupCommand({ thingGroupName: 'line-a' }));
  await expect.poll(() => statusOf('watch', 'press-4'), { timeout: 10_000 }).toBe('REMOVED');

  await device.updateExecution({ thingName: 'press-1', jobId: 'watch', status: 'SUCCEEDED' });
  const { job } = await iot.send(new DescribeJobCommand({ jobId: 'watch' }));
  expect(job).toMatchObject({ status: 'IN_PROGRESS', targetSelection: 'CONTINUOUS' });
  expect(job!.jobProcessDetails).toMatchObject({ numberOfSucceededThings: 1, numberOfRemovedThings: 3, numberOfQueuedThings: 0 });
  expect((await iot.send(new ListJobsCommand({ targetSelection: 'CONTINUOUS' }))).jobs!.map((j) => j.jobId)).toEqual(['watch']);
});

test('AssociateTargetsWithJob adds thing groups to a CONTINUOUS job: their things get it, now and later; other jobs refuse it', async () => {
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'line-b' }));
  await thingsIn('line-b', ['belt-1']);
  const answer = await iot.send(new AssociateTargetsWithJobCommand({ jobId: 'watch', targets: [groupArn('line-b')], comment: 'line b too' }));
  expect(answer).toMatchObject({ jobId: 'watch', jobArn: expect.stringContaining(':job/watch') });
  expect(await statusOf('watch', 'belt-1')).toBe('QUEUED');
  await thingsIn('line-b', ['belt-2']);
  await expect.poll(() => statusOf('watch', 'belt-2'), { timeout: 10_000 }).toBe('QUEUED');
  const { job } = await iot.send(new DescribeJobCommand({ jobId: 'watch' }));
  expect(job).toMatchObject({ targets: [groupArn('line'), groupArn('line-b')], comment: 'line b too' });
  expect((await iot.send(new ListJobsCommand({ thingGroupName: 'line-b' }))).jobs!.map((j) => j.jobId)).toEqual(['watch']);

  await iot.send(new CreateJobCommand({ jobId: 'once', targets: [groupArn('line-b')], document: '{}' }));
  expect((await awsError(iot.send(new AssociateTargetsWithJobCommand({ jobId: 'once', targets: [groupArn('line')] })))).name).toBe('InvalidRequestException');
  expect((await awsError(iot.send(new AssociateTargetsWithJobCommand({ jobId: 'watch', targets: [groupArn('nope')] })))).name).toBe('ResourceNotFoundException');
  expect((await awsError(iot.send(new AssociateTargetsWithJobCommand({ jobId: 'nope', targets: [groupArn('line')] })))).name).toBe('ResourceNotFoundException');
});

test('jobExecutionsRolloutConfig: CreateJob returns with the first minute released; DescribeJob shows the rollout still processing', async () => {
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'slow' }));
  await thingsIn('slow', ['s-1', 's-2', 's-3']);
  await iot.send(new CreateJobCommand({ jobId: 'staged', targets: [groupArn('slow')], document: '{}', jobExecutionsRolloutConfig: { maximumPerMinute: 1 } }));
  const { job } = await iot.send(new DescribeJobCommand({ jobId: 'staged' }));
  expect(job).toMatchObject({ status: 'IN_PROGRESS', jobExecutionsRolloutConfig: { maximumPerMinute: 1 } });
  expect(job!.jobProcessDetails).toMatchObject({ processingTargets: [groupArn('slow')], numberOfQueuedThings: 1 });
  expect((await iot.send(new ListJobExecutionsForJobCommand({ jobId: 'staged' }))).executionSummaries).toHaveLength(1);
});

test('jobExecutionsRetryConfig and abortConfig: a FAILED execution is retried (retryAttempt 1), and failures past the threshold cancel the job', async () => {
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'flaky' }));
  await thingsIn('flaky', ['f-1', 'f-2', 'f-3', 'f-4']);
  await iot.send(
    new CreateJobCommand({
      jobId: 'risky',
      targets: [groupArn('flaky')],
      document: '{}',
      jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 1 }] },
      abortConfig: { criteriaList: [{ failureType: 'ALL', action: 'CANCEL', thresholdPercentage: 50, minNumberOfExecutedThings: 4 }] },
    }),
  );
  await device.updateExecution({ thingName: 'f-1', jobId: 'risky', status: 'FAILED' });
  const listed = (await iot.send(new ListJobExecutionsForThingCommand({ thingName: 'f-1' }))).executionSummaries!;
  expect(listed.find((e) => e.jobId === 'risky')!.jobExecutionSummary).toMatchObject({ status: 'QUEUED', retryAttempt: 1, executionNumber: 2 });
  // The retried attempt fails for good, a second thing rejects: 2 of 4 notified failed.
  await device.updateExecution({ thingName: 'f-1', jobId: 'risky', status: 'FAILED' });
  await device.updateExecution({ thingName: 'f-2', jobId: 'risky', status: 'IN_PROGRESS' });
  await device.updateExecution({ thingName: 'f-3', jobId: 'risky', status: 'REJECTED' });
  await expect.poll(async () => (await iot.send(new DescribeJobCommand({ jobId: 'risky' }))).job?.status, { timeout: 10_000 }).toBe('CANCELED');
  const { job } = await iot.send(new DescribeJobCommand({ jobId: 'risky' }));
  expect(job).toMatchObject({ reasonCode: 'ABORT_CRITERIA_MET', forceCanceled: false });
  expect(job!.comment).toContain('2 of 4 notified things');
  await expect.poll(() => statusOf('risky', 'f-4'), { timeout: 10_000 }).toBe('CANCELED');
  expect(await statusOf('risky', 'f-2')).toBe('IN_PROGRESS');
});

test('over MQTT: a device that reports FAILED is answered FAILED, then told of the retry by notify-next', async () => {
  await iot.send(new CreateThingCommand({ thingName: 'mqtt-1' }));
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${kiot.platform.listeners.get('mqtt')}`, { clientId: 'mqtt-1', protocolVersion: 5, reconnectPeriod: 0 });
  try {
    const received: { topic: string; body: Record<string, any> }[] = [];
    device.on('message', (topic, payload) => received.push({ topic, body: JSON.parse(payload.toString()) as Record<string, any> }));
    const base = '$aws/things/mqtt-1/jobs';
    await device.subscribeAsync([`${base}/notify-next`, `${base}/+/update/accepted`, `${base}/start-next/accepted`], { qos: 1 });
    const nextOn = async (topic: string, from: number) => {
      let found: Record<string, any> | undefined;
      await waitUntil(() => (found = received.slice(from).find((m) => m.topic === topic)?.body) !== undefined, `a message on ${topic}`, 15_000);
      return found!;
    };
    let from = received.length;
    await iot.send(new CreateJobCommand({ jobId: 'flash', targets: [`arn:aws:iot:us-east-1:${account}:thing/mqtt-1`], document: '{"op":"flash"}', jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'ALL', numberOfRetries: 2 }] } }));
    expect((await nextOn(`${base}/notify-next`, from)).execution).toMatchObject({ jobId: 'flash', executionNumber: 1 });
    await device.publishAsync(`${base}/start-next`, '{}', { qos: 1 });
    expect((await nextOn(`${base}/start-next/accepted`, from)).execution).toMatchObject({ jobId: 'flash', status: 'IN_PROGRESS' });
    from = received.length;
    await device.publishAsync(`${base}/flash/update`, JSON.stringify({ status: 'FAILED', includeJobExecutionState: true }), { qos: 1 });
    expect((await nextOn(`${base}/flash/update/accepted`, from)).executionState).toMatchObject({ status: 'FAILED' });
    expect((await nextOn(`${base}/notify-next`, from)).execution).toMatchObject({ jobId: 'flash', status: 'QUEUED', executionNumber: 2, versionNumber: 1 });
  } finally {
    await device.endAsync();
  }
});
