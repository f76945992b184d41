/**
 * The jobs data plane over HTTP inside `kiot up`, called by `@aws-sdk/client-iot-jobs-data-plane`
 * on the paths it shares with the control plane and its own. The control plane's answers on the
 * shared paths stay, and a key held to a device's policy reaches only its own thing (those
 * requests are signed by hand, to sign one path for either plane with one key).
 */
import { CreateJobCommand, CreateThingCommand, DescribeJobExecutionCommand, IoTClient, ListJobExecutionsForThingCommand } from '@aws-sdk/client-iot';
import {
  DescribeJobExecutionCommand as DescribeDataPlaneExecutionCommand,
  GetPendingJobExecutionsCommand,
  IoTJobsDataPlaneClient,
  StartNextPendingJobExecutionCommand,
  UpdateJobExecutionCommand,
} from '@aws-sdk/client-iot-jobs-data-plane';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signRequest } from '../actions/index.js';
import { startTestPlatform, type TestPlatform } from '../cli/testing.js';

let kiot: TestPlatform;
let iot: IoTClient;
let jobsData: IoTJobsDataPlaneClient;

beforeAll(async () => {
  kiot = await startTestPlatform();
  iot = kiot.client(IoTClient);
  jobsData = kiot.client(IoTJobsDataPlaneClient);
  const { thingArn } = await iot.send(new CreateThingCommand({ thingName: 'meter-1' }));
  await iot.send(new CreateJobCommand({ jobId: 'read-1', targets: [thingArn!], document: '{"op":"read"}' }));
  await iot.send(new CreateJobCommand({ jobId: 'read-2', targets: [thingArn!], document: '{"op":"read","again":true}' }));
}, 60_000);

afterAll(async () => {
  await kiot?.stop();
});

type Credentials = { accessKeyId: string; secretAccessKey: string };

/** A call signed for `service` (the data plane's `iot-jobs-data` by default): its status, exception type (if any) and JSON body. */
async function dataPlane(method: string, path: string, body?: unknown, credentials: Credentials = kiot.credentials, service = 'iot-jobs-data'): Promise<{ status: number; type: string | null; body: Record<string, any> }> {
  const url = `${kiot.http()}${path}`;
  const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = await signRequest({ method, url, headers: { 'content-type': 'application/json' }, ...(bytes ? { body: bytes } : {}) }, { service, region: 'us-east-1', credentials });
  const res = await fetch(url, { method, headers, ...(bytes ? { body: bytes } : {}) });
  return { status: res.status, type: res.headers.get('x-amzn-errortype'), body: (await res.json()) as Record<string, any> };
}

test('GetPendingJobExecutions, StartNextPendingJobExecution, UpdateJobExecution and DescribeJobExecution through @aws-sdk/client-iot-jobs-data-plane', async () => {
  const pending = await jobsData.send(new GetPendingJobExecutionsCommand({ thingName: 'meter-1' }));
  expect(pending.inProgressJobs).toEqual([]);
  expect(pending.queuedJobs).toEqual([expect.objectContaining({ jobId: 'read-1', versionNumber: 1, executionNumber: 1 }), expect.objectContaining({ jobId: 'read-2', executionNumber: 2 })]);

  const next = await jobsData.send(new DescribeDataPlaneExecutionCommand({ thingName: 'meter-1', jobId: '$next', includeJobDocument: true }));
  expect(next.execution).toMatchObject({ jobId: 'read-1', thingName: 'meter-1', status: 'QUEUED', statusDetails: {}, jobDocument: '{"op":"read"}' });

  const started = await jobsData.send(new StartNextPendingJobExecutionCommand({ thingName: 'meter-1', statusDetails: { phase: 'reading' }, stepTimeoutInMinutes: 5 }));
  expect(started.execution).toMatchObject({ jobId: 'read-1', status: 'IN_PROGRESS', versionNumber: 2, statusDetails: { phase: 'reading' }, jobDocument: '{"op":"read"}' });
  expect(started.execution!.approximateSecondsBeforeTimedOut).toBeGreaterThan(250);

  const refused = (command: UpdateJobExecutionCommand) => jobsData.send(command).then(
    () => expect.unreachable('accepted'),
    (err: { name: string; $metadata: { httpStatusCode?: number } }) => [err.$metadata.httpStatusCode, err.name],
  );
  expect(await refused(new UpdateJobExecutionCommand({ thingName: 'meter-1', jobId: 'read-1', status: 'SUCCEEDED', expectedVersion: 1 }))).toEqual([409, 'InvalidStateTransitionException']);
  const done = await jobsData.send(new UpdateJobExecutionCommand({ thingName: 'meter-1', jobId: 'read-1', status: 'SUCCEEDED', expectedVersion: 2, includeJobExecutionState: true, includeJobDocument: true }));
  expect(done.executionState).toEqual({ status: 'SUCCEEDED', statusDetails: { phase: 'reading' }, versionNumber: 3 });
  expect(done.jobDocument).toBe('{"op":"read"}');
  expect(await refused(new UpdateJobExecutionCommand({ thingName: 'meter-1', jobId: 'read-1', status: 'IN_PROGRESS' }))).toEqual([409, 'InvalidStateTransitionException']);
  expect((await refused(new UpdateJobExecutionCommand({ thingName: 'meter-1', jobId: 'read-2', status: 'DONE' as never })))[1]).toBe('InvalidRequestException');
  expect((await refused(new UpdateJobExecutionCommand({ thingName: 'meter-1', jobId: 'nope', status: 'IN_PROGRESS' })))[1]).toBe('ResourceNotFoundException');

  const described = await jobsData.send(new DescribeDataPlaneExecutionCommand({ thingName: 'meter-1', jobId: 'read-1', includeJobDocument: false }));
  expect(described.execution).toMatchObject({ jobId: 'read-1', status: 'SUCCEEDED', statusDetails: { phase: 'reading' } });
  expect(described.execution!.jobDocument).toBeUndefined();
  const after = await jobsData.send(new GetPendingJobExecutionsCommand({ thingName: 'meter-1' }));
  expect([after.inProgressJobs, after.queuedJobs!.map((j) => j.jobId)]).toEqual([[], ['read-2']]);
});

test('the control plane still answers its own shapes on the shared paths', async () => {
  const listed = await iot.send(new ListJobExecutionsForThingCommand({ thingName: 'meter-1' }));
  expect(listed.executionSummaries!.map((e) => e.jobId)).toEqual(['read-1', 'read-2']);
  const described = (await iot.send(new DescribeJobExecutionCommand({ thingName: 'meter-1', jobId: 'read-1' }))).execution!;
  expect(described.statusDetails).toEqual({ detailsMap: { phase: 'reading' } });
  await expect(iot.send(new DescribeJobExecutionCommand({ thingName: 'meter-1', jobId: '$next' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
});

test("a key held to a device's policy reaches its own thing's executions on the data plane, and nothing else", async () => {
  const policyDocument = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['iot:GetPendingJobExecutions', 'iot:DescribeJobExecution', 'iot:UpdateJobExecution', 'iot:StartNextPendingJobExecution'], Resource: ['arn:aws:iot:*:*:thing/meter-1'] }],
  };
  const created = await dataPlane('POST', '/kiot/access-keys', { policyDocument, description: 'meter-1' }, kiot.credentials, 'iot');
  expect(created.status).toBe(200);
  const device: Credentials = { accessKeyId: created.body.accessKeyId, secretAccessKey: created.body.secretAccessKey };
  expect((await dataPlane('GET', '/things/meter-1/jobs', undefined, device)).status).toBe(200);
  expect((await dataPlane('GET', '/things/meter-1/jobs/read-2', undefined, device)).body.execution).toMatchObject({ jobId: 'read-2' });
  const other = await dataPlane('GET', '/things/meter-2/jobs', undefined, device);
  expect([other.status, other.type]).toEqual([403, 'ForbiddenException']);
  expect((await dataPlane('POST', '/things/meter-2/jobs/read-2', { status: 'IN_PROGRESS' }, device)).status).toBe(403);
  // The same key on the control plane's operation of the shared path: not in its policy.
  const control = await dataPlane('GET', '/things/meter-1/jobs', undefined, device, 'iot');
  expect([control.status, control.type]).toEqual([403, 'AccessDeniedException']);
});
