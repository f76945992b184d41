/**
 * The jobs data plane over HTTP inside `kiot up`: requests signed for `iot-jobs-data` as
 * `@aws-sdk/client-iot-jobs-data-plane` signs them (that client is not installed here, so the
 * requests are built by hand with the same SigV4 signer), on the paths the data plane shares
 * with the control plane and its own. The control plane's answers on the shared paths stay, and
 * a key held to a device's policy reaches only its own thing.
 */
import { CreateJobCommand, CreateThingCommand, DescribeJobExecutionCommand, IoTClient, ListJobExecutionsForThingCommand } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signRequest } from '../actions/index.js';
import { startTestPlatform, type TestPlatform } from '../cli/testing.js';

let kiot: TestPlatform;
let iot: IoTClient;

beforeAll(async () => {
  kiot = await startTestPlatform();
  iot = kiot.client(IoTClient);
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

test('GetPendingJobExecutions, StartNextPendingJobExecution, UpdateJobExecution and DescribeJobExecution as the data plane answers them', async () => {
  const pending = await dataPlane('GET', '/things/meter-1/jobs');
  expect(pending.status).toBe(200);
  expect(pending.body).toEqual({ inProgressJobs: [], queuedJobs: [expect.objectContaining({ jobId: 'read-1', versionNumber: 1, executionNumber: 1 }), expect.objectContaining({ jobId: 'read-2', executionNumber: 2 })] });

  const next = await dataPlane('GET', '/things/meter-1/jobs/$next');
  expect(next.body.execution).toMatchObject({ jobId: 'read-1', thingName: 'meter-1', status: 'QUEUED', statusDetails: {}, jobDocument: '{"op":"read"}' });

  const started = await dataPlane('PUT', '/things/meter-1/jobs/$next', { statusDetails: { phase: 'reading' }, stepTimeoutInMinutes: 5 });
  expect(started.body.execution).toMatchObject({ jobId: 'read-1', status: 'IN_PROGRESS', versionNumber: 2, statusDetails: { phase: 'reading' }, jobDocument: '{"op":"read"}' });
  expect(started.body.execution.approximateSecondsBeforeTimedOut).toBeGreaterThan(250);

  const stale = await dataPlane('POST', '/things/meter-1/jobs/read-1', { status: 'SUCCEEDED', expectedVersion: 1 });
  expect([stale.status, stale.type]).toEqual([409, 'InvalidStateTransitionException']);
  const done = await dataPlane('POST', '/things/meter-1/jobs/read-1', { status: 'SUCCEEDED', expectedVersion: 2, includeJobExecutionState: true, includeJobDocument: true });
  expect(done.body).toEqual({ executionState: { status: 'SUCCEEDED', statusDetails: { phase: 'reading' }, versionNumber: 3 }, jobDocument: '{"op":"read"}' });
  const again = await dataPlane('POST', '/things/meter-1/jobs/read-1', { status: 'IN_PROGRESS' });
  expect([again.status, again.type]).toEqual([409, 'InvalidStateTransitionException']);
  expect((await dataPlane('POST', '/things/meter-1/jobs/read-2', { status: 'DONE' })).type).toBe('InvalidRequestException');
  expect((await dataPlane('POST', '/things/meter-1/jobs/nope', { status: 'IN_PROGRESS' })).type).toBe('ResourceNotFoundException');

  const described = await dataPlane('GET', '/things/meter-1/jobs/read-1?includeJobDocument=false');
  expect(described.body.execution).toMatchObject({ jobId: 'read-1', status: 'SUCCEEDED', statusDetails: { phase: 'reading' } });
  expect(described.body.execution.jobDocument).toBeUndefined();
  expect((await dataPlane('GET', '/things/meter-1/jobs')).body).toEqual({ inProgressJobs: [], queuedJobs: [expect.objectContaining({ jobId: 'read-2' })] });
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
