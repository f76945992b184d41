/**
 * The jobs control plane through `@aws-sdk/client-iot` against a real kiot (every role, embedded
 * log) started in this process: targets resolved from the registry (things, nested static
 * groups), the executions' lifecycle, counts, paging, and AWS's exceptions.
 */
import {
  AddThingToThingGroupCommand,
  CancelJobCommand,
  CancelJobExecutionCommand,
  CreateJobCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  DeleteJobCommand,
  DeleteJobExecutionCommand,
  DescribeJobCommand,
  DescribeJobExecutionCommand,
  GetJobDocumentCommand,
  IoTClient,
  UpdateJobCommand,
  CreateJobTemplateCommand,
  DeleteJobTemplateCommand,
  DescribeJobTemplateCommand,
  ListJobTemplatesCommand,
  ListJobExecutionsForJobCommand,
  ListJobExecutionsForThingCommand,
  ListJobsCommand,
} from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../cli/testing.js';
import { awsError } from '../api/routes/testing/security-api.js';
import { silentLogger } from '../core/index.js';
import { createJobsService, type Jobs } from './index.js';

let kiot: TestPlatform;
let iot: IoTClient;
/** A second jobs service on the same log: what a device's updates go through until the MQTT API exists. */
let device: Jobs;
let stopDevice: () => Promise<void>;
/** The account kiot puts in ARNs (read from the first thing created). */
let account = '';

const thingArn = (name: string) => `arn:aws:iot:us-east-1:${account}:thing/${name}`;
const groupArn = (name: string) => `arn:aws:iot:us-east-1:${account}:thinggroup/${name}`;

beforeAll(async () => {
  kiot = await startTestPlatform();
  iot = kiot.client(IoTClient);
  const service = createJobsService({}, { log: kiot.platform.log, logger: silentLogger() });
  device = await service.start();
  stopDevice = () => service.stop();
  const created = await iot.send(new CreateThingCommand({ thingName: 'probe' }));
  account = created.thingArn!.split(':')[4]!;
  // fleet > fleet-north > fleet-north-a, and a group of its own.
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'fleet' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'fleet-north', parentGroupName: 'fleet' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'fleet-north-a', parentGroupName: 'fleet-north' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'lab' }));
  for (const [thing, group] of [
    ['pump-1', 'fleet'],
    ['pump-2', 'fleet-north'],
    ['pump-3', 'fleet-north-a'],
    ['pump-4', 'lab'],
  ] as const) {
    await iot.send(new CreateThingCommand({ thingName: thing }));
    await iot.send(new AddThingToThingGroupCommand({ thingName: thing, thingGroupName: group }));
  }
}, 60_000);

afterAll(async () => {
  await stopDevice?.();
  await kiot?.stop();
});

describe('CreateJob', () => {
  test('targets a thing group with its nested groups, and a thing; DescribeJob counts the executions', async () => {
    const document = JSON.stringify({ operation: 'install', url: 'https://example.com/fw.bin' });
    const created = await iot.send(new CreateJobCommand({ jobId: 'fw-1', targets: [groupArn('fleet-north'), thingArn('pump-4'), thingArn('pump-4')], document, description: 'firmware 1', timeoutConfig: { inProgressTimeoutInMinutes: 30 } }));
    expect(created).toMatchObject({ jobId: 'fw-1', jobArn: `arn:aws:iot:us-east-1:${account}:job/fw-1`, description: 'firmware 1' });

    const { job } = await iot.send(new DescribeJobCommand({ jobId: 'fw-1' }));
    expect(job).toMatchObject({ jobId: 'fw-1', status: 'IN_PROGRESS', targetSelection: 'SNAPSHOT', targets: [groupArn('fleet-north'), thingArn('pump-4'), thingArn('pump-4')], description: 'firmware 1', forceCanceled: false, timeoutConfig: { inProgressTimeoutInMinutes: 30 } });
    expect(job!.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(job!.createdAt!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(job!.jobProcessDetails).toMatchObject({ numberOfQueuedThings: 3, numberOfInProgressThings: 0, numberOfSucceededThings: 0 });
    expect(job!.jobProcessDetails!.processingTargets).toBeUndefined();
    expect((await iot.send(new GetJobDocumentCommand({ jobId: 'fw-1' }))).document).toBe(document);

    const executions = await iot.send(new ListJobExecutionsForJobCommand({ jobId: 'fw-1' }));
    expect(executions.executionSummaries!.map((e) => e.thingArn)).toEqual([thingArn('pump-2'), thingArn('pump-3'), thingArn('pump-4')]);
    expect(executions.executionSummaries![0]!.jobExecutionSummary).toMatchObject({ status: 'QUEUED', executionNumber: 1 });
  });

  test('refusals: an existing id, a missing thing or group, bad ids, documents and targets', async () => {
    const ok = { targets: [thingArn('pump-1')], document: '{}' };
    expect((await awsError(iot.send(new CreateJobCommand({ jobId: 'fw-1', ...ok })))).name).toBe('ResourceAlreadyExistsException');
    const missingThing = await awsError(iot.send(new CreateJobCommand({ jobId: 'x1', ...ok, targets: [thingArn('nope')] })));
    expect([missingThing.name, missingThing.$metadata.httpStatusCode]).toEqual(['ResourceNotFoundException', 404]);
    expect((await awsError(iot.send(new CreateJobCommand({ jobId: 'x2', ...ok, targets: [groupArn('nope')] })))).name).toBe('ResourceNotFoundException');
    for (const bad of [
      { jobId: 'bad id', ...ok },
      { jobId: 'x3', ...ok, document: 'not json' },
      { jobId: 'x4', ...ok, document: '{"big":"' + 'x'.repeat(33_000) + '"}' },
      { jobId: 'x5', ...ok, targets: ['arn:aws:iot:us-east-1:1:policy/p'] },
      { jobId: 'x6', ...ok, targets: [] },
      { jobId: 'x7', targets: ok.targets },
      { jobId: 'x8', ...ok, jobExecutionsRolloutConfig: { maximumPerMinute: 0 } },
      { jobId: 'x9', ...ok, targetSelection: 'SOMETIMES' as never },
      // documentSource must be an S3 URL (reading one: documentSource in jobs-s3.test.ts).
      { jobId: 'x10', targets: ok.targets, documentSource: 'ftp://example.com/doc.json' },
      { jobId: 'x12', ...ok, documentSource: 'https://s3.amazonaws.com/bucket/doc.json' },
      { jobId: 'x13', ...ok, presignedUrlConfig: { expiresInSec: 30 } },
      { jobId: 'x11', ...ok, timeoutConfig: { inProgressTimeoutInMinutes: 0 } },
      { jobId: 'x12', ...ok, abortConfig: { criteriaList: [{ failureType: 'FAILED' as const, action: 'CANCEL' as const, thresholdPercentage: 101, minNumberOfExecutedThings: 1 }] } },
      { jobId: 'x13', ...ok, jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'ALL' as const, numberOfRetries: 11 }] } },
    ]) {
      const err = await awsError(iot.send(new CreateJobCommand(bad)));
      expect([bad.jobId, err.name, err.$metadata.httpStatusCode]).toEqual([bad.jobId, 'InvalidRequestException', 400]);
    }
    const listed = await iot.send(new ListJobsCommand({}));
    expect(listed.jobs!.map((j) => j.jobId)).toEqual(['fw-1']);
  });
});

describe('the execution lifecycle', () => {
  test('a device takes an execution to SUCCEEDED; versions, statusDetails and terminal states as AWS', async () => {
    await iot.send(new CreateJobCommand({ jobId: 'reboot-1', targets: [thingArn('pump-1')], document: '{"op":"reboot"}' }));
    const queued = (await iot.send(new DescribeJobExecutionCommand({ jobId: 'reboot-1', thingName: 'pump-1' }))).execution!;
    expect(queued).toMatchObject({ jobId: 'reboot-1', status: 'QUEUED', versionNumber: 1, thingArn: thingArn('pump-1'), forceCanceled: false });
    expect(queued.startedAt).toBeUndefined();

    await device.updateExecution({ thingName: 'pump-1', jobId: 'reboot-1', status: 'IN_PROGRESS', statusDetails: { step: 'rebooting' }, expectedVersion: 1, stepTimeoutInMinutes: 5 });
    const running = (await iot.send(new DescribeJobExecutionCommand({ jobId: 'reboot-1', thingName: 'pump-1', executionNumber: queued.executionNumber }))).execution!;
    expect(running).toMatchObject({ status: 'IN_PROGRESS', versionNumber: 2, statusDetails: { detailsMap: { step: 'rebooting' } } });
    expect(running.startedAt).toBeInstanceOf(Date);
    expect(running.approximateSecondsBeforeTimedOut).toBeGreaterThan(250);

    // A stale version is refused with AWS's exception and changes nothing.
    await expect(device.updateExecution({ thingName: 'pump-1', jobId: 'reboot-1', status: 'SUCCEEDED', expectedVersion: 1 })).rejects.toMatchObject({ details: { awsErrorType: 'VersionConflictException' } });
    const cancelRunning = await awsError(iot.send(new CancelJobExecutionCommand({ jobId: 'reboot-1', thingName: 'pump-1' })));
    expect([cancelRunning.name, cancelRunning.$metadata.httpStatusCode]).toEqual(['InvalidStateTransitionException', 409]);
    const deleteRunning = await awsError(iot.send(new DeleteJobExecutionCommand({ jobId: 'reboot-1', thingName: 'pump-1', executionNumber: queued.executionNumber })));
    expect(deleteRunning.name).toBe('InvalidStateTransitionException');
    expect((await awsError(iot.send(new CancelJobExecutionCommand({ jobId: 'reboot-1', thingName: 'pump-1', force: true, expectedVersion: 1 })))).name).toBe('VersionConflictException');

    await device.updateExecution({ thingName: 'pump-1', jobId: 'reboot-1', status: 'SUCCEEDED' });
    const done = (await iot.send(new DescribeJobExecutionCommand({ jobId: 'reboot-1', thingName: 'pump-1' }))).execution!;
    expect(done).toMatchObject({ status: 'SUCCEEDED', versionNumber: 3, statusDetails: { detailsMap: { step: 'rebooting' } } });
    expect(done.approximateSecondsBeforeTimedOut).toBeUndefined();
    await expect(device.updateExecution({ thingName: 'pump-1', jobId: 'reboot-1', status: 'IN_PROGRESS' })).rejects.toMatchObject({ details: { awsErrorType: 'InvalidStateTransitionException' } });
    expect((await awsError(iot.send(new CancelJobExecutionCommand({ jobId: 'reboot-1', thingName: 'pump-1', force: true })))).name).toBe('InvalidStateTransitionException');

    const { job } = await iot.send(new DescribeJobCommand({ jobId: 'reboot-1' }));
    expect(job).toMatchObject({ status: 'COMPLETED', jobProcessDetails: { numberOfSucceededThings: 1, numberOfQueuedThings: 0 } });
    expect(job!.completedAt).toBeInstanceOf(Date);
    expect((await awsError(iot.send(new CancelJobCommand({ jobId: 'reboot-1' })))).name).toBe('InvalidStateTransitionException');

    // A terminal execution may be deleted; then it is gone.
    expect((await awsError(iot.send(new DeleteJobExecutionCommand({ jobId: 'reboot-1', thingName: 'pump-1', executionNumber: 99 })))).name).toBe('ResourceNotFoundException');
    await iot.send(new DeleteJobExecutionCommand({ jobId: 'reboot-1', thingName: 'pump-1', executionNumber: done.executionNumber }));
    expect((await awsError(iot.send(new DescribeJobExecutionCommand({ jobId: 'reboot-1', thingName: 'pump-1' })))).name).toBe('ResourceNotFoundException');
  });

  test('CancelJobExecution cancels a QUEUED execution, with statusDetails', async () => {
    await iot.send(new CreateJobCommand({ jobId: 'calibrate-1', targets: [thingArn('pump-2'), thingArn('pump-3')], document: '{}' }));
    await iot.send(new CancelJobExecutionCommand({ jobId: 'calibrate-1', thingName: 'pump-2', expectedVersion: 1, statusDetails: { why: 'offline' } }));
    const canceled = (await iot.send(new DescribeJobExecutionCommand({ jobId: 'calibrate-1', thingName: 'pump-2' }))).execution!;
    expect(canceled).toMatchObject({ status: 'CANCELED', versionNumber: 2, forceCanceled: false, statusDetails: { detailsMap: { why: 'offline' } } });
    const bad = await awsError(iot.send(new CancelJobExecutionCommand({ jobId: 'calibrate-1', thingName: 'pump-3', statusDetails: { 'bad key': 'x' } })));
    expect(bad.name).toBe('InvalidRequestException');
    expect((await awsError(iot.send(new CancelJobExecutionCommand({ jobId: 'calibrate-1', thingName: 'pump-9' })))).name).toBe('ResourceNotFoundException');
  });
});

describe('CancelJob and DeleteJob', () => {
  test('CancelJob cancels QUEUED executions and leaves IN_PROGRESS ones until force; DeleteJob needs force while IN_PROGRESS', async () => {
    await iot.send(new CreateJobCommand({ jobId: 'config-1', targets: [groupArn('fleet')], document: '{"op":"configure"}' }));
    await device.updateExecution({ thingName: 'pump-1', jobId: 'config-1', status: 'IN_PROGRESS' });
    const canceled = await iot.send(new CancelJobCommand({ jobId: 'config-1', reasonCode: 'WRONG_CONFIG', comment: 'superseded' }));
    expect(canceled).toMatchObject({ jobId: 'config-1', jobArn: `arn:aws:iot:us-east-1:${account}:job/config-1` });
    let { job } = await iot.send(new DescribeJobCommand({ jobId: 'config-1' }));
    expect(job).toMatchObject({ status: 'CANCELED', reasonCode: 'WRONG_CONFIG', comment: 'superseded', forceCanceled: false, jobProcessDetails: { numberOfCanceledThings: 2, numberOfInProgressThings: 1 } });
    expect((await awsError(iot.send(new CancelJobCommand({ jobId: 'config-1' })))).name).toBe('InvalidStateTransitionException');

    // The device may still finish what it started... until the job is canceled with force.
    await iot.send(new CancelJobCommand({ jobId: 'config-1', force: true }));
    ({ job } = await iot.send(new DescribeJobCommand({ jobId: 'config-1' })));
    expect(job).toMatchObject({ status: 'CANCELED', forceCanceled: true, jobProcessDetails: { numberOfCanceledThings: 3, numberOfInProgressThings: 0 } });
    expect((await iot.send(new DescribeJobExecutionCommand({ jobId: 'config-1', thingName: 'pump-1' }))).execution).toMatchObject({ status: 'CANCELED', forceCanceled: true });

    await iot.send(new CreateJobCommand({ jobId: 'config-2', targets: [thingArn('pump-4')], document: '{}' }));
    const inProgress = await awsError(iot.send(new DeleteJobCommand({ jobId: 'config-2' })));
    expect([inProgress.name, inProgress.$metadata.httpStatusCode]).toEqual(['InvalidStateTransitionException', 409]);
    await iot.send(new DeleteJobCommand({ jobId: 'config-2', force: true }));
    await iot.send(new DeleteJobCommand({ jobId: 'config-1' }));
    for (const jobId of ['config-1', 'config-2']) {
      expect((await awsError(iot.send(new DescribeJobCommand({ jobId })))).name).toBe('ResourceNotFoundException');
      expect((await awsError(iot.send(new GetJobDocumentCommand({ jobId })))).name).toBe('ResourceNotFoundException');
      expect((await awsError(iot.send(new ListJobExecutionsForJobCommand({ jobId })))).name).toBe('ResourceNotFoundException');
    }
    const pump4 = await iot.send(new ListJobExecutionsForThingCommand({ thingName: 'pump-4' }));
    expect(pump4.executionSummaries!.map((e) => e.jobId)).toEqual(['fw-1']);
    // The id is free again once the job is gone.
    await iot.send(new CreateJobCommand({ jobId: 'config-2', targets: [thingArn('pump-4')], document: '{}' }));
    expect((await iot.send(new ListJobExecutionsForThingCommand({ thingName: 'pump-4' }))).executionSummaries!.map((e) => e.jobId)).toEqual(['fw-1', 'config-2']);
  });
});

describe('UpdateJob', () => {
  test('replaces the description and the configs it is given, keeps the others; refuses what AWS refuses', async () => {
    await iot.send(new UpdateJobCommand({ jobId: 'fw-1', description: 'firmware 1, take 2', abortConfig: { criteriaList: [{ failureType: 'FAILED', action: 'CANCEL', thresholdPercentage: 50, minNumberOfExecutedThings: 1 }] } }));
    const { job } = await iot.send(new DescribeJobCommand({ jobId: 'fw-1' }));
    expect(job).toMatchObject({ description: 'firmware 1, take 2', timeoutConfig: { inProgressTimeoutInMinutes: 30 }, abortConfig: { criteriaList: [{ failureType: 'FAILED', thresholdPercentage: 50 }] } });
    expect((await awsError(iot.send(new UpdateJobCommand({ jobId: 'nope', description: 'x' })))).name).toBe('ResourceNotFoundException');
    expect((await awsError(iot.send(new UpdateJobCommand({ jobId: 'fw-1', timeoutConfig: { inProgressTimeoutInMinutes: 20_000 } })))).name).toBe('InvalidRequestException');
  });
});

describe('job templates', () => {
  test('CreateJobTemplate (inline or from a job), DescribeJobTemplate, ListJobTemplates, CreateJob from a template, DeleteJobTemplate', async () => {
    const created = await iot.send(new CreateJobTemplateCommand({ jobTemplateId: 'reboot', description: 'reboot a pump', document: '{"op":"reboot"}', timeoutConfig: { inProgressTimeoutInMinutes: 15 } }));
    expect(created).toEqual(expect.objectContaining({ jobTemplateId: 'reboot', jobTemplateArn: `arn:aws:iot:us-east-1:${account}:jobtemplate/reboot` }));
    const copied = await iot.send(new CreateJobTemplateCommand({ jobTemplateId: 'fw-again', description: 'as fw-1', jobArn: `arn:aws:iot:us-east-1:${account}:job/fw-1` }));
    const described = await iot.send(new DescribeJobTemplateCommand({ jobTemplateId: 'fw-again' }));
    expect(described).toMatchObject({ jobTemplateArn: copied.jobTemplateArn, description: 'as fw-1', timeoutConfig: { inProgressTimeoutInMinutes: 30 } });
    expect(JSON.parse(described.document!)).toEqual({ operation: 'install', url: 'https://example.com/fw.bin' });
    expect(described.createdAt).toBeInstanceOf(Date);
    expect((await iot.send(new ListJobTemplatesCommand({}))).jobTemplates!.map((t) => t.jobTemplateId)).toEqual(['fw-again', 'reboot']);

    await iot.send(new CreateJobCommand({ jobId: 'reboot-7', targets: [thingArn('pump-4')], jobTemplateArn: created.jobTemplateArn, timeoutConfig: { inProgressTimeoutInMinutes: 5 } }));
    const { job } = await iot.send(new DescribeJobCommand({ jobId: 'reboot-7' }));
    expect(job).toMatchObject({ jobTemplateArn: created.jobTemplateArn, timeoutConfig: { inProgressTimeoutInMinutes: 5 } });
    expect((await iot.send(new GetJobDocumentCommand({ jobId: 'reboot-7' }))).document).toBe('{"op":"reboot"}');
    await iot.send(new CancelJobCommand({ jobId: 'reboot-7' }));

    expect((await awsError(iot.send(new CreateJobTemplateCommand({ jobTemplateId: 'reboot', description: 'again', document: '{}' })))).name).toBe('ResourceAlreadyExistsException');
    expect((await awsError(iot.send(new CreateJobTemplateCommand({ jobTemplateId: 'x', description: 'no document' })))).name).toBe('InvalidRequestException');
    expect((await awsError(iot.send(new CreateJobTemplateCommand({ jobTemplateId: 'y', description: 'from nothing', jobArn: `arn:aws:iot:us-east-1:${account}:job/nope` })))).name).toBe('ResourceNotFoundException');
    expect((await awsError(iot.send(new CreateJobCommand({ jobId: 'from-nothing', targets: [thingArn('pump-4')], jobTemplateArn: `arn:aws:iot:us-east-1:${account}:jobtemplate/nope` })))).name).toBe('ResourceNotFoundException');
    await iot.send(new DeleteJobTemplateCommand({ jobTemplateId: 'reboot' }));
    await iot.send(new DeleteJobTemplateCommand({ jobTemplateId: 'fw-again' }));
    expect((await awsError(iot.send(new DescribeJobTemplateCommand({ jobTemplateId: 'reboot' })))).name).toBe('ResourceNotFoundException');
    expect((await awsError(iot.send(new DeleteJobTemplateCommand({ jobTemplateId: 'reboot' })))).name).toBe('ResourceNotFoundException');
    expect((await iot.send(new ListJobTemplatesCommand({}))).jobTemplates).toEqual([]);
  });
});

describe('lists', () => {
  test('ListJobs filters by status, target selection and thing group, and pages', async () => {
    const all = (await iot.send(new ListJobsCommand({}))).jobs!;
    expect(all.map((j) => j.jobId).sort()).toEqual(['calibrate-1', 'config-2', 'fw-1', 'reboot-1', 'reboot-7']);
    expect((await iot.send(new ListJobsCommand({ status: 'CANCELED' }))).jobs!.map((j) => j.jobId)).toEqual(['reboot-7']);
    expect((await iot.send(new ListJobsCommand({ status: 'COMPLETED' }))).jobs!.map((j) => j.jobId)).toEqual(['reboot-1']);
    expect((await iot.send(new ListJobsCommand({ thingGroupName: 'fleet-north' }))).jobs!.map((j) => j.jobId)).toEqual(['fw-1']);
    expect((await iot.send(new ListJobsCommand({ thingGroupName: 'fleet-north' }))).jobs![0]!.thingGroupId).toBeTruthy();
    expect((await iot.send(new ListJobsCommand({ targetSelection: 'CONTINUOUS' }))).jobs).toEqual([]);
    const seen: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await iot.send(new ListJobsCommand({ maxResults: 3, ...(nextToken ? { nextToken } : {}) }));
      expect(page.jobs!.length).toBeLessThanOrEqual(3);
      seen.push(...page.jobs!.map((j) => j.jobId!));
      nextToken = page.nextToken;
    } while (nextToken);
    expect(seen).toEqual(all.map((j) => j.jobId));
    expect((await awsError(iot.send(new ListJobsCommand({ status: 'DONE' as never })))).name).toBe('InvalidRequestException');
    expect((await awsError(iot.send(new ListJobsCommand({ maxResults: 0 })))).name).toBe('InvalidRequestException');
  });

  test('ListJobExecutionsForThing and ForJob filter by status and page', async () => {
    const pump3 = await iot.send(new ListJobExecutionsForThingCommand({ thingName: 'pump-3' }));
    expect(pump3.executionSummaries!.map((e) => [e.jobId, e.jobExecutionSummary!.status])).toEqual([
      ['fw-1', 'QUEUED'],
      ['calibrate-1', 'QUEUED'],
    ]);
    expect((await iot.send(new ListJobExecutionsForThingCommand({ thingName: 'pump-3', status: 'QUEUED', maxResults: 1 }))).nextToken).toBeTruthy();
    expect((await iot.send(new ListJobExecutionsForThingCommand({ thingName: 'pump-2', status: 'CANCELED' }))).executionSummaries!.map((e) => e.jobId)).toEqual(['calibrate-1']);
    expect((await iot.send(new ListJobExecutionsForThingCommand({ thingName: 'nobody' }))).executionSummaries).toEqual([]);
    const first = await iot.send(new ListJobExecutionsForJobCommand({ jobId: 'fw-1', maxResults: 2 }));
    const rest = await iot.send(new ListJobExecutionsForJobCommand({ jobId: 'fw-1', maxResults: 2, nextToken: first.nextToken! }));
    expect([...first.executionSummaries!, ...rest.executionSummaries!].map((e) => e.thingArn)).toEqual([thingArn('pump-2'), thingArn('pump-3'), thingArn('pump-4')]);
    expect(rest.nextToken).toBeUndefined();
    expect((await iot.send(new ListJobExecutionsForJobCommand({ jobId: 'calibrate-1', status: 'CANCELED' }))).executionSummaries!.map((e) => e.thingArn)).toEqual([thingArn('pump-2')]);
    expect((await awsError(iot.send(new ListJobExecutionsForJobCommand({ jobId: 'fw-1', status: 'DONE' as never })))).name).toBe('InvalidRequestException');
  });
});
