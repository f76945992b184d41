/**
 * The jobs device MQTT API inside `kiot up` (in-process, embedded log): a device on mqtt.js
 * asks for its pending jobs, starts the next one, reports progress and the outcome, and follows
 * `notify` / `notify-next` while the control plane (`@aws-sdk/client-iot`) creates and cancels
 * jobs; then the AWS IoT Device SDK v2's request-response jobs client does the same. Replies
 * and errors as the AWS IoT developer guide's "Jobs device MQTT API".
 */
import { CancelJobCommand, CreateJobCommand, CreateThingCommand, DescribeJobExecutionCommand, IoTClient } from '@aws-sdk/client-iot';
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../cli/testing.js';
import { waitUntil } from '../core/testing/run-log-suite.js';

const require = createRequire(import.meta.url);

let kiot: TestPlatform;
let iot: IoTClient;
let device: mqtt.MqttClient;
let arn = '';
/** Every message the device received, in order. */
const received: { topic: string; body: Record<string, any> }[] = [];
const BASE = '$aws/things/pump-1/jobs';

beforeAll(async () => {
  kiot = await startTestPlatform();
  iot = kiot.client(IoTClient);
  arn = (await iot.send(new CreateThingCommand({ thingName: 'pump-1' }))).thingArn!;
  device = await mqtt.connectAsync(`mqtt://127.0.0.1:${kiot.platform.listeners.get('mqtt')}`, { clientId: 'pump-1', protocolVersion: 5, reconnectPeriod: 0 });
  // The device also receives its own requests (it subscribes to jobs/#); one of them is not JSON.
  device.on('message', (topic, payload) => received.push({ topic, body: parseOrText(payload.toString()) }));
  await device.subscribeAsync(`${BASE}/#`, { qos: 1 });
}, 60_000);

afterAll(async () => {
  await device?.endAsync();
  await kiot?.stop();
});

function parseOrText(text: string): Record<string, any> {
  try {
    return JSON.parse(text) as Record<string, any>;
  } catch {
    return { text };
  }
}

/** The first message on `topic` after the `from`th received (waits for it). */
async function next(topic: string, from: number): Promise<Record<string, any>> {
  let found: { body: Record<string, any> } | undefined;
  await waitUntil(() => (found = received.slice(from).find((m) => m.topic === topic)) !== undefined, `a message on ${topic}`, 15_000);
  return found!.body;
}

/** Publishes a request and resolves with the reply on its `/accepted` or `/rejected` topic. */
async function ask(topic: string, body: unknown): Promise<{ accepted: boolean; body: Record<string, any> }> {
  const from = received.length;
  await device.publishAsync(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
  let reply: { topic: string; body: Record<string, any> } | undefined;
  await waitUntil(() => (reply = received.slice(from).find((m) => m.topic === `${topic}/accepted` || m.topic === `${topic}/rejected`)) !== undefined, `a reply to ${topic}`, 15_000);
  return { accepted: reply!.topic.endsWith('/accepted'), body: reply!.body };
}

test('a device follows its jobs over MQTT from queued to succeeded', async () => {
  let from = received.length;
  await iot.send(new CreateJobCommand({ jobId: 'fw-1', targets: [arn], document: '{"op":"install","version":"1.2"}' }));
  const notify = await next(`${BASE}/notify`, from);
  expect(notify.jobs).toEqual({ QUEUED: [expect.objectContaining({ jobId: 'fw-1', versionNumber: 1, executionNumber: 1 })] });
  const notifyNext = await next(`${BASE}/notify-next`, from);
  expect(notifyNext.execution).toMatchObject({ jobId: 'fw-1', thingName: 'pump-1', status: 'QUEUED', jobDocument: { op: 'install', version: '1.2' }, versionNumber: 1 });
  expect(Number.isInteger(notifyNext.timestamp)).toBe(true);

  const pending = await ask(`${BASE}/get`, { clientToken: 't1' });
  expect(pending).toMatchObject({ accepted: true, body: { clientToken: 't1', inProgressJobs: [], queuedJobs: [{ jobId: 'fw-1', executionNumber: 1, versionNumber: 1 }] } });

  // A second job: the list changes, the next one does not.
  from = received.length;
  await iot.send(new CreateJobCommand({ jobId: 'cfg-1', targets: [arn], document: '{"op":"configure"}' }));
  expect((await next(`${BASE}/notify`, from)).jobs.QUEUED.map((e: { jobId: string }) => e.jobId)).toEqual(['fw-1', 'cfg-1']);

  const started = await ask(`${BASE}/start-next`, { clientToken: 't2', statusDetails: { step: 'download' }, stepTimeoutInMinutes: 10 });
  expect(started).toMatchObject({ accepted: true, body: { clientToken: 't2', execution: { jobId: 'fw-1', status: 'IN_PROGRESS', versionNumber: 2, statusDetails: { step: 'download' }, jobDocument: { op: 'install', version: '1.2' } } } });
  expect(started.body.execution.approximateSecondsBeforeTimedOut).toBeGreaterThan(500);
  // Asked again, start-next answers the execution in progress as it is.
  expect((await ask(`${BASE}/start-next`, {})).body.execution).toMatchObject({ jobId: 'fw-1', versionNumber: 2 });

  const stale = await ask(`${BASE}/fw-1/update`, { status: 'SUCCEEDED', expectedVersion: 1, clientToken: 't3' });
  expect(stale).toMatchObject({ accepted: false, body: { code: 'VersionMismatch', clientToken: 't3', executionState: { status: 'IN_PROGRESS', versionNumber: 2, statusDetails: { step: 'download' } } } });

  from = received.length;
  const done = await ask(`${BASE}/fw-1/update`, { status: 'SUCCEEDED', expectedVersion: 2, statusDetails: { result: 'ok' }, includeJobExecutionState: true, includeJobDocument: true, clientToken: 't4' });
  expect(done).toMatchObject({ accepted: true, body: { clientToken: 't4', executionState: { status: 'SUCCEEDED', versionNumber: 3, statusDetails: { result: 'ok' } }, jobDocument: { op: 'install', version: '1.2' } } });
  expect((await next(`${BASE}/notify-next`, from)).execution).toMatchObject({ jobId: 'cfg-1', status: 'QUEUED' });
  expect((await iot.send(new DescribeJobExecutionCommand({ jobId: 'fw-1', thingName: 'pump-1' }))).execution).toMatchObject({ status: 'SUCCEEDED', versionNumber: 3 });

  // DescribeJobExecution over MQTT: $next, a terminal execution, one that does not exist.
  expect((await ask(`${BASE}/$next/get`, { clientToken: 't5' })).body).toMatchObject({ clientToken: 't5', execution: { jobId: 'cfg-1', jobDocument: { op: 'configure' } } });
  expect((await ask(`${BASE}/cfg-1/get`, { includeJobDocument: false })).body.execution.jobDocument).toBeUndefined();
  expect(await ask(`${BASE}/fw-1/get`, {})).toMatchObject({ accepted: false, body: { code: 'TerminalStateReached' } });
  expect(await ask(`${BASE}/nope/get`, {})).toMatchObject({ accepted: false, body: { code: 'ResourceNotFound' } });
});

test('refusals over MQTT carry the jobs API error codes and the clientToken', async () => {
  expect(await ask(`${BASE}/fw-1/update`, { status: 'IN_PROGRESS', clientToken: 'a' })).toMatchObject({ accepted: false, body: { code: 'InvalidStateTransition', clientToken: 'a' } });
  expect(await ask(`${BASE}/cfg-1/update`, { status: 'DONE' })).toMatchObject({ accepted: false, body: { code: 'InvalidRequest' } });
  expect(await ask(`${BASE}/cfg-1/update`, { status: 'IN_PROGRESS', expectedVersion: 'one' })).toMatchObject({ accepted: false, body: { code: 'InvalidRequest' } });
  expect(await ask(`${BASE}/cfg-1/update`, {})).toMatchObject({ accepted: false, body: { code: 'InvalidRequest' } });
  expect(await ask(`${BASE}/get`, '{not json')).toMatchObject({ accepted: false, body: { code: 'InvalidJson' } });
  expect(await ask(`${BASE}/cfg-1/update`, { status: 'IN_PROGRESS', statusDetails: { 'bad key': 'x' } })).toMatchObject({ accepted: false, body: { code: 'InvalidRequest' } });
});

test('CancelJob empties the pending list: notify lists nothing and notify-next carries no execution', async () => {
  const from = received.length;
  await iot.send(new CancelJobCommand({ jobId: 'cfg-1' }));
  expect((await next(`${BASE}/notify`, from)).jobs).toEqual({});
  const notifyNext = await next(`${BASE}/notify-next`, from);
  expect(notifyNext.execution).toBeUndefined();
  expect(Number.isInteger(notifyNext.timestamp)).toBe(true);
  expect((await ask(`${BASE}/start-next`, { clientToken: 'z' })).body).toEqual({ clientToken: 'z', timestamp: expect.any(Number) });
  expect((await ask(`${BASE}/get`, {})).body).toMatchObject({ inProgressJobs: [], queuedJobs: [] });
});

test('the AWS IoT Device SDK v2 jobs client: pending list, next-changed stream, start-next, update, describe', async () => {
  const { mqtt: crtMqtt, io, iotjobs } = require('aws-iot-device-sdk-v2') as typeof import('aws-iot-device-sdk-v2');
  await iot.send(new CreateThingCommand({ thingName: 'sdk-pump' }));
  const sdkArn = `${arn.slice(0, arn.lastIndexOf('/'))}/sdk-pump`;
  const connection = new crtMqtt.MqttClient().new_connection({
    client_id: 'sdk-pump',
    host_name: '127.0.0.1',
    port: Number(kiot.platform.listeners.get('mqtt')),
    clean_session: true,
    keep_alive: 30,
    socket_options: new io.SocketOptions(io.SocketType.STREAM, io.SocketDomain.IPV4, 5000),
  });
  await connection.connect();
  const jobs = iotjobs.IotJobsClientv2.newFromMqtt311(connection, { maxRequestResponseSubscriptions: 4, maxStreamingSubscriptions: 2, operationTimeoutInSeconds: 10 });
  try {
    const nextChanged: { execution?: { jobId?: string } }[] = [];
    const stream = jobs.createNextJobExecutionChangedStream({ thingName: 'sdk-pump' });
    const subscribed = new Promise<void>((resolve) => stream.on('subscriptionStatus', (e: { type: number }) => e.type === 0 && resolve()));
    stream.on('incomingPublish', (e: { message: { execution?: { jobId?: string } } }) => nextChanged.push(e.message));
    stream.open();
    await subscribed;

    await iot.send(new CreateJobCommand({ jobId: 'sdk-1', targets: [sdkArn], document: '{"op":"blink"}' }));
    await expect.poll(() => nextChanged.length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(nextChanged[0]!.execution).toMatchObject({ jobId: 'sdk-1', status: 'QUEUED', jobDocument: { op: 'blink' } });

    const pending = await jobs.getPendingJobExecutions({ thingName: 'sdk-pump' });
    expect(pending.queuedJobs?.map((j) => j.jobId)).toEqual(['sdk-1']);
    // Epoch seconds, as the jobs MQTT API sends them.
    expect(Math.abs(Number(pending.queuedJobs![0]!.queuedAt) - Date.now() / 1000)).toBeLessThan(60);

    const started = await jobs.startNextPendingJobExecution({ thingName: 'sdk-pump', statusDetails: { phase: 'blinking' } });
    expect(started.execution).toMatchObject({ jobId: 'sdk-1', status: 'IN_PROGRESS', versionNumber: 2, jobDocument: { op: 'blink' } });

    const updated = await jobs.updateJobExecution({ thingName: 'sdk-pump', jobId: 'sdk-1', status: iotjobs.model.JobStatus.SUCCEEDED, expectedVersion: 2, includeJobExecutionState: true });
    expect(updated.executionState).toMatchObject({ status: 'SUCCEEDED', versionNumber: 3 });
    await expect(jobs.updateJobExecution({ thingName: 'sdk-pump', jobId: 'sdk-1', status: iotjobs.model.JobStatus.IN_PROGRESS })).rejects.toThrow();
    await expect(jobs.describeJobExecution({ thingName: 'sdk-pump', jobId: 'nope' })).rejects.toThrow();
    stream.close();
  } finally {
    jobs.close();
    await connection.disconnect();
  }
}, 60_000);
