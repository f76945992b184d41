/**
 * Jobs events inside `kiot up` (in-process, embedded log): UpdateEventConfigurations turns JOB
 * and JOB_EXECUTION on (`@aws-sdk/client-iot`), devices on mqtt.js finish their executions, and
 * an observer on mqtt.js gets `$aws/events/job/...` and `$aws/events/jobExecution/...` with the
 * payloads of the developer guide's "Jobs events", each once; a rule on
 * `$aws/events/jobExecution/+/succeeded` republishes what it sees.
 */
import {
  CancelJobCommand,
  CreateJobCommand,
  CreateThingCommand,
  DeleteJobCommand,
  DescribeEventConfigurationsCommand,
  IoTClient,
  UpdateEventConfigurationsCommand,
} from '@aws-sdk/client-iot';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../cli/testing.js';
import { waitUntil } from '../core/testing/run-log-suite.js';

const RULES = {
  'job-events.sql': "CREATE RULE succeeded AS SELECT topic(4) AS job, thingArn, status FROM '$aws/events/jobExecution/+/succeeded' DO republish(topic = 'watch/succeeded/${topic(4)}', qos = 1);\n",
};

let kiot: TestPlatform;
let iot: IoTClient;
let observer: mqtt.MqttClient;
let device: mqtt.MqttClient;
const arns: Record<string, string> = {};
const received: { topic: string; body: Record<string, any> }[] = [];

beforeAll(async () => {
  kiot = await startTestPlatform(RULES);
  iot = kiot.client(IoTClient);
  for (const name of ['ev-1', 'ev-2']) arns[name] = (await iot.send(new CreateThingCommand({ thingName: name }))).thingArn!;
  const url = `mqtt://127.0.0.1:${kiot.platform.listeners.get('mqtt')}`;
  observer = await mqtt.connectAsync(url, { clientId: 'observer', protocolVersion: 5, reconnectPeriod: 0 });
  observer.on('message', (topic, payload) => received.push({ topic, body: JSON.parse(payload.toString()) as Record<string, any> }));
  await observer.subscribeAsync(['$aws/events/job/#', '$aws/events/jobExecution/#', 'watch/#'], { qos: 1 });
  device = await mqtt.connectAsync(url, { clientId: 'ev-devices', protocolVersion: 5, reconnectPeriod: 0 });
  device.on('message', (topic, payload) => received.push({ topic, body: JSON.parse(payload.toString()) as Record<string, any> }));
  await device.subscribeAsync(['$aws/things/+/jobs/+/update/accepted', '$aws/things/+/jobs/notify'], { qos: 1 });
}, 60_000);

afterAll(async () => {
  await observer?.endAsync();
  await device?.endAsync();
  await kiot?.stop();
});

const on = (topic: string) => received.filter((m) => m.topic === topic);

async function one(topic: string): Promise<Record<string, any>> {
  await waitUntil(() => on(topic).length > 0, `a message on ${topic}`, 15_000);
  return on(topic)[0]!.body;
}

/** A device reports an execution's status and waits for the update to be accepted. */
async function report(thing: string, jobId: string, status: string, statusDetails?: Record<string, string>) {
  const topic = `$aws/things/${thing}/jobs/${jobId}/update`;
  const from = on(`${topic}/accepted`).length;
  await device.publishAsync(topic, JSON.stringify({ status, ...(statusDetails ? { statusDetails } : {}) }), { qos: 1 });
  await waitUntil(() => on(`${topic}/accepted`).length > from, `${topic} accepted`, 15_000);
}

/** Waits until the thing's pending list names the job (its execution is queued). */
const queued = (thing: string, jobId: string) =>
  waitUntil(() => on(`$aws/things/${thing}/jobs/notify`).some((m) => (m.body.jobs?.QUEUED ?? []).some((e: { jobId: string }) => e.jobId === jobId)), `${jobId} queued on ${thing}`, 15_000);

test('no jobs events until UpdateEventConfigurations enables them; registry events cannot be turned off', async () => {
  const before = await iot.send(new DescribeEventConfigurationsCommand({}));
  expect(before.eventConfigurations).toMatchObject({ JOB: { Enabled: false }, JOB_EXECUTION: { Enabled: false }, THING: { Enabled: true } });
  await iot.send(new CreateJobCommand({ jobId: 'quiet', targets: [arns['ev-1']!], document: '{"op":"noop"}' }));
  await queued('ev-1', 'quiet');
  await report('ev-1', 'quiet', 'SUCCEEDED');

  await iot.send(new UpdateEventConfigurationsCommand({ eventConfigurations: { JOB: { Enabled: true }, JOB_EXECUTION: { Enabled: true }, THING: { Enabled: true } } }));
  const after = await iot.send(new DescribeEventConfigurationsCommand({}));
  expect(after.eventConfigurations).toMatchObject({ JOB: { Enabled: true }, JOB_EXECUTION: { Enabled: true } });
  expect(after.lastModifiedDate).toBeInstanceOf(Date);
  const refused = await iot.send(new UpdateEventConfigurationsCommand({ eventConfigurations: { THING: { Enabled: false } } })).catch((err: { name: string }) => err);
  expect((refused as { name: string }).name).toBe('InvalidRequestException');
});

test('terminal executions, the completed job, CancelJob and DeleteJob publish AWS-shaped events that rules act on', async () => {
  const created = Date.now();
  await iot.send(new CreateJobCommand({ jobId: 'ev-job', targets: [arns['ev-1']!, arns['ev-2']!], document: '{"op":"install"}', description: 'firmware' }));
  await queued('ev-1', 'ev-job');
  await queued('ev-2', 'ev-job');
  await report('ev-1', 'ev-job', 'IN_PROGRESS');
  await report('ev-1', 'ev-job', 'SUCCEEDED', { result: 'ok' });
  await report('ev-2', 'ev-job', 'FAILED');

  const succeeded = await one('$aws/events/jobExecution/ev-job/succeeded');
  expect(succeeded).toEqual({
    eventType: 'JOB_EXECUTION',
    eventId: expect.any(String),
    timestamp: expect.any(Number),
    operation: 'succeeded',
    jobId: 'ev-job',
    thingArn: arns['ev-1'],
    status: 'SUCCEEDED',
    statusDetails: { result: 'ok' },
  });
  expect(succeeded.timestamp).toBeLessThan(1e11); // seconds
  expect(await one('$aws/events/jobExecution/ev-job/failed')).toMatchObject({ operation: 'failed', thingArn: arns['ev-2'], status: 'FAILED' });
  // The rule saw the succeeded event and republished what it selected.
  expect(await one('watch/succeeded/ev-job')).toEqual({ job: 'ev-job', thingArn: arns['ev-1'], status: 'SUCCEEDED' });

  const completed = await one('$aws/events/job/ev-job/completed');
  expect(completed).toEqual({
    eventType: 'JOB',
    eventId: expect.any(String),
    timestamp: expect.any(Number),
    operation: 'completed',
    jobId: 'ev-job',
    status: 'SUCCEEDED',
    targetSelection: 'SNAPSHOT',
    targets: [arns['ev-1'], arns['ev-2']],
    description: 'firmware',
    completedAt: expect.any(Number),
    createdAt: expect.any(Number),
    lastUpdatedAt: expect.any(Number),
    jobProcessDetails: { numberOfCanceledThings: 0, numberOfRejectedThings: 0, numberOfFailedThings: 1, numberOfRemovedThings: 0, numberOfSucceededThings: 1, numberOfTimedOutThings: 0 },
  });
  expect(completed.createdAt).toBeGreaterThanOrEqual(created - 1000); // ms
  expect(completed.completedAt).toBeGreaterThanOrEqual(completed.createdAt);

  // CancelJob: cancellation_in_progress, the execution canceled, then canceled.
  await iot.send(new CreateJobCommand({ jobId: 'ev-cancel', targets: [arns['ev-2']!], document: '{"op":"configure"}' }));
  await queued('ev-2', 'ev-cancel');
  await iot.send(new CancelJobCommand({ jobId: 'ev-cancel', reasonCode: 'oops', comment: 'wrong config' }));
  expect(await one('$aws/events/job/ev-cancel/cancellation_in_progress')).toMatchObject({ eventType: 'JOB', operation: 'cancellation_in_progress', status: 'CANCELLATION_IN_PROGRESS', comment: 'wrong config' });
  expect(await one('$aws/events/jobExecution/ev-cancel/canceled')).toMatchObject({ operation: 'canceled', thingArn: arns['ev-2'], status: 'CANCELED' });
  expect(await one('$aws/events/job/ev-cancel/canceled')).toMatchObject({
    operation: 'canceled',
    status: 'CANCELED',
    forceCanceled: false,
    jobProcessDetails: expect.objectContaining({ numberOfCanceledThings: 1 }),
  });

  // A device rejects a job.
  await iot.send(new CreateJobCommand({ jobId: 'ev-reject', targets: [arns['ev-1']!], document: '{"op":"reboot"}' }));
  await queued('ev-1', 'ev-reject');
  await report('ev-1', 'ev-reject', 'REJECTED', { why: 'busy' });
  expect(await one('$aws/events/jobExecution/ev-reject/rejected')).toMatchObject({ status: 'REJECTED', statusDetails: { why: 'busy' } });

  // DeleteJob: deletion_in_progress, each execution deleted (with the status it had), then deleted.
  await iot.send(new DeleteJobCommand({ jobId: 'ev-job' }));
  expect(await one('$aws/events/job/ev-job/deletion_in_progress')).toMatchObject({ operation: 'deletion_in_progress', status: 'DELETION_IN_PROGRESS' });
  await waitUntil(() => on('$aws/events/jobExecution/ev-job/deleted').length === 2, 'two executions deleted', 15_000);
  expect(on('$aws/events/jobExecution/ev-job/deleted').map((m) => `${m.body.thingArn}:${m.body.status}`).sort()).toEqual([`${arns['ev-1']}:SUCCEEDED`, `${arns['ev-2']}:FAILED`]);
  const deleted = await one('$aws/events/job/ev-job/deleted');
  expect(deleted).toMatchObject({ operation: 'deleted', status: 'DELETED', targets: [arns['ev-1'], arns['ev-2']] });
  expect(deleted.jobProcessDetails).toBeUndefined();

  // Each event once; no execution event of the job that ran while events were off (its
  // `completed` may or may not have been due before they were turned on: it is not asserted).
  const counts = new Map<string, number>();
  for (const m of received) if (m.topic.startsWith('$aws/events/')) counts.set(m.topic, (counts.get(m.topic) ?? 0) + 1);
  expect([...counts].filter(([topic, n]) => n !== (topic === '$aws/events/jobExecution/ev-job/deleted' ? 2 : 1))).toEqual([]);
  expect([...counts.keys()].filter((t) => t.startsWith('$aws/events/jobExecution/quiet/'))).toEqual([]);
});
