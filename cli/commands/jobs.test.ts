/** `kiot jobs` against a real kiot started in this process (embedded log). */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AddThingToThingGroupCommand, CreateThingCommand, CreateThingGroupCommand, IoTClient } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runCommand, startTestPlatform, type TestPlatform } from '../testing.js';
import { register } from './jobs.js';

let kiot: TestPlatform;

beforeAll(async () => {
  kiot = await startTestPlatform();
  const iot = kiot.client(IoTClient);
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'valves' }));
  for (const thing of ['valve-1', 'valve-2', 'gauge-1']) await iot.send(new CreateThingCommand({ thingName: thing }));
  for (const thing of ['valve-1', 'valve-2']) await iot.send(new AddThingToThingGroupCommand({ thingName: thing, thingGroupName: 'valves' }));
}, 60_000);

afterAll(async () => {
  await kiot?.stop();
});

const kiotJobs = (...args: string[]) => runCommand(register, 'jobs', kiot, args);

test('kiot jobs create, list, describe, cancel and delete', async () => {
  const document = join(kiot.dir, 'close.json');
  await writeFile(document, '{"op":"close"}');
  const created = await kiotJobs('create', 'close-1', '--group', 'valves', '--thing', 'gauge-1', '--document', document, '--description', 'close the valves');
  expect(created).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/^created arn:aws:iot:us-east-1:\d+:job\/close-1\n$/) });
  expect((await kiotJobs('create', 'open-1', '--thing', 'valve-1', '--document', '{"op":"open"}')).exitCode).toBe(0);

  const listed = (await kiotJobs('list')).stdout.trim().split('\n');
  expect(listed[0]).toMatch(/^JOB\s+STATUS\s+SELECTION\s+CREATED$/);
  expect(listed.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
    ['close-1', 'IN_PROGRESS', 'SNAPSHOT'],
    ['open-1', 'IN_PROGRESS', 'SNAPSHOT'],
  ]);

  const described = (await kiotJobs('describe', 'close-1')).stdout.trim().split('\n');
  expect(described[0]).toMatch(/^close-1 {2}IN_PROGRESS {2}SNAPSHOT {2}created \d{4}-/);
  expect(described[1]).toBe('executions: Queued 3');
  expect(described.slice(3).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
    ['gauge-1', 'QUEUED', '1'],
    ['valve-1', 'QUEUED', '1'],
    ['valve-2', 'QUEUED', '1'],
  ]);
  const json = JSON.parse((await kiotJobs('describe', 'close-1', '--json')).stdout) as { job: { description: string }; executions: unknown[] };
  expect([json.job.description, json.executions.length]).toEqual(['close the valves', 3]);

  expect(await kiotJobs('cancel', 'close-1', '--reason-code', 'WRONG')).toMatchObject({ exitCode: 0, stdout: 'canceled close-1\n' });
  expect((await kiotJobs('list', '--status', 'CANCELED')).stdout).toContain('close-1');
  expect(await kiotJobs('delete', 'open-1')).toMatchObject({ exitCode: 1, stderr: expect.stringContaining('kiot jobs delete: HTTP 409 InvalidStateTransitionException') });
  expect(await kiotJobs('delete', 'open-1', '--force')).toMatchObject({ exitCode: 0, stdout: 'deleted open-1\n' });
  expect((await kiotJobs('list')).stdout).not.toContain('open-1');
});

test('kiot jobs refusals are one line and exit code 1', async () => {
  expect(await kiotJobs('create', 'x-1', '--thing', 'nope', '--document', '{}')).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/^kiot jobs create: HTTP 404 ResourceNotFoundException: .*nope.*\n$/) });
  expect(await kiotJobs('create', 'x-2', '--document', '{}')).toMatchObject({ exitCode: 1, stderr: 'kiot jobs create: name at least one --thing or --group\n' });
  expect(await kiotJobs('describe', 'nope')).toMatchObject({ exitCode: 1, stderr: expect.stringContaining('HTTP 404 ResourceNotFoundException') });
});
