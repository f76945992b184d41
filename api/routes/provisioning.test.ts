/**
 * Provisioning templates, RegisterThing and bulk registration tasks through
 * `@aws-sdk/client-iot` and the AWS CLI against the real API on an EmbeddedLog, with task
 * inputs and reports on s3rver.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateProvisioningTemplateCommand,
  CreateProvisioningTemplateVersionCommand,
  CreateThingGroupCommand,
  DeleteProvisioningTemplateCommand,
  DeleteProvisioningTemplateVersionCommand,
  DescribeProvisioningTemplateCommand,
  DescribeProvisioningTemplateVersionCommand,
  DescribeThingCommand,
  DescribeThingRegistrationTaskCommand,
  IoTClient,
  ListProvisioningTemplatesCommand,
  ListProvisioningTemplateVersionsCommand,
  ListThingPrincipalsCommand,
  ListThingRegistrationTaskReportsCommand,
  ListThingRegistrationTasksCommand,
  ListThingsCommand,
  RegisterThingCommand,
  StartThingRegistrationTaskCommand,
  StopThingRegistrationTaskCommand,
  UpdateProvisioningTemplateCommand,
} from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createS3Api } from '../../actions/index.js';
import { startS3rver, type S3rverServer } from '../../actions/s3/testing/s3rver.js';
import { EmbeddedLog, silentLogger } from '../../core/index.js';
import { createProvisioningService, type ObjectStore, type ProvisioningService } from '../../provisioning/index.js';
import { makeCsr } from '../../provisioning/testing/csr.js';
import { createSecurityService, thingsDirectory, type SecurityService, type ThingRegistry } from '../../registry/index.js';
import { createApiService, openThingRegistry, type ApiService } from '../index.js';
import { createHttpServer } from '../server.js';
import { policyOperations } from './policies.js';
import { provisioningOperations } from './provisioning.js';

const ACCOUNT = '123456789012';
const BUCKET = 'bulk';
const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] });
const TEMPLATE = JSON.stringify({
  Parameters: { ThingName: { Type: 'String' }, SerialNumber: { Type: 'String' }, CSR: { Type: 'String', Default: '' } },
  Conditions: { HasCsr: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'CSR' }, ''] }] } },
  Resources: {
    thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'ThingName' }, AttributePayload: { serial: { Ref: 'SerialNumber' } }, ThingGroups: ['lamps'] } },
    certificate: { Type: 'AWS::IoT::Certificate', Condition: 'HasCsr', Properties: { CertificateSigningRequest: { Ref: 'CSR' }, Status: 'ACTIVE' } },
    policy: { Type: 'AWS::IoT::Policy', Condition: 'HasCsr', Properties: { PolicyDocument: POLICY } },
  },
});

let dir: string;
let log: EmbeddedLog;
let registry: ThingRegistry;
let securityService: SecurityService;
let provisioningService: ProvisioningService;
let apiService: ApiService;
let s3: S3rverServer;
let client: IoTClient;
let endpoint: string;
let closeHttp: () => Promise<void>;
const s3Api = () => createS3Api(s3.settings);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-provisioning-api-'));
  s3 = await startS3rver([BUCKET]);
  const logger = silentLogger();
  log = await EmbeddedLog.open({ dataDir: dir, logger });
  const config = { dataDir: dir, region: undefined, accountId: ACCOUNT };
  registry = await openThingRegistry(config, { log, logger });
  securityService = createSecurityService(config, { log, logger, things: thingsDirectory(registry), registryStore: registry.store });
  const security = await securityService.start();
  const objectApi = s3Api();
  const objects: ObjectStore = {
    read: (bucket, key, start) => objectApi.getObjectStream({ bucket, key, start }),
    write: (bucket, key, body, contentType) => objectApi.putObject({ bucket, key, body: Buffer.from(body), contentType }, AbortSignal.timeout(10_000)),
    link: (bucket, key) => `${s3.settings.endpoint}/${bucket}/${key}`,
  };
  provisioningService = createProvisioningService({ region: 'us-east-1', accountId: ACCOUNT }, { log, logger, registry: registry.store, certificates: security.certificates, policies: security.policies, objects, taskBatchLines: 7 });
  const provisioning = await provisioningService.start();
  apiService = createApiService(config, { log, logger, registry, operations: [...provisioningOperations(provisioning), ...policyOperations(security.policies)] });
  const api = await apiService.start();
  const http = createHttpServer({ logger, metrics: async () => '', health: () => ({}), routes: api.routes });
  endpoint = `http://127.0.0.1:${await http.listen('127.0.0.1', 0)}`;
  closeHttp = () => http.close();
  client = new IoTClient({ endpoint, region: 'us-east-1', credentials: fromIni({ filepath: join(dir, 'credentials'), profile: 'default' }), maxAttempts: 1 });
  await client.send(new CreateThingGroupCommand({ thingGroupName: 'lamps' }));
}, 60_000);

afterAll(async () => {
  client?.destroy();
  await closeHttp?.();
  await apiService?.stop();
  await provisioningService?.stop();
  await securityService?.stop();
  await registry?.close();
  await log?.close();
  await s3?.close();
  await rm(dir, { recursive: true, force: true });
});

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: { name: string; message: string; $metadata: { httpStatusCode?: number } }) => err,
  );

describe('provisioning templates', () => {
  test('create, describe, list, update, versions and delete, with AWS\'s shapes', async () => {
    const created = await client.send(new CreateProvisioningTemplateCommand({ templateName: 'lamps', templateBody: TEMPLATE, provisioningRoleArn: 'arn:aws:iam::123456789012:role/prov', enabled: true, description: 'lamps' }));
    expect(created).toMatchObject({ templateArn: `arn:aws:iot:us-east-1:${ACCOUNT}:provisioningtemplate/lamps`, templateName: 'lamps', defaultVersionId: 1 });
    const described = await client.send(new DescribeProvisioningTemplateCommand({ templateName: 'lamps' }));
    expect(described).toMatchObject({ templateName: 'lamps', templateBody: TEMPLATE, enabled: true, description: 'lamps', type: 'FLEET_PROVISIONING', defaultVersionId: 1, provisioningRoleArn: 'arn:aws:iam::123456789012:role/prov' });
    expect(described.creationDate).toBeInstanceOf(Date);
    const again = await failure(client.send(new CreateProvisioningTemplateCommand({ templateName: 'lamps', templateBody: TEMPLATE, provisioningRoleArn: 'r' })));
    expect(again.name).toBe('ResourceAlreadyExistsException');

    const v2 = await client.send(new CreateProvisioningTemplateVersionCommand({ templateName: 'lamps', templateBody: TEMPLATE.replace('"lamps"', '"lamps2"').replace("'lamps'", "'lamps2'"), setAsDefault: true }));
    expect(v2).toMatchObject({ versionId: 2, isDefaultVersion: true });
    const version = await client.send(new DescribeProvisioningTemplateVersionCommand({ templateName: 'lamps', versionId: 1 }));
    expect(version).toMatchObject({ versionId: 1, isDefaultVersion: false, templateBody: TEMPLATE });
    const conflict = await failure(client.send(new DeleteProvisioningTemplateVersionCommand({ templateName: 'lamps', versionId: 2 })));
    expect(conflict.name).toBe('DeleteConflictException');
    await client.send(new UpdateProvisioningTemplateCommand({ templateName: 'lamps', defaultVersionId: 1, enabled: false, preProvisioningHook: { targetArn: 'arn:aws:lambda:us-east-1:123456789012:function:hook' } }));
    expect(await client.send(new DescribeProvisioningTemplateCommand({ templateName: 'lamps' }))).toMatchObject({ defaultVersionId: 1, enabled: false, preProvisioningHook: { targetArn: 'arn:aws:lambda:us-east-1:123456789012:function:hook', payloadVersion: '2020-04-01' } });
    await client.send(new DeleteProvisioningTemplateVersionCommand({ templateName: 'lamps', versionId: 2 }));
    for (let i = 0; i < 4; i++) await client.send(new CreateProvisioningTemplateVersionCommand({ templateName: 'lamps', templateBody: TEMPLATE }));
    const limit = await failure(client.send(new CreateProvisioningTemplateVersionCommand({ templateName: 'lamps', templateBody: TEMPLATE })));
    expect(limit.name).toBe('VersionsLimitExceededException');
    const versions = await client.send(new ListProvisioningTemplateVersionsCommand({ templateName: 'lamps' }));
    expect(versions.versions?.map((v) => [v.versionId, v.isDefaultVersion])).toEqual([[1, true], [3, false], [4, false], [5, false], [6, false]]);

    await client.send(new CreateProvisioningTemplateCommand({ templateName: 'jitp', templateBody: TEMPLATE, provisioningRoleArn: 'r', type: 'JITP' }));
    const listed = await client.send(new ListProvisioningTemplatesCommand({ maxResults: 1 }));
    expect(listed.templates?.map((t) => t.templateName)).toEqual(['jitp']);
    const next = await client.send(new ListProvisioningTemplatesCommand({ maxResults: 1, nextToken: listed.nextToken }));
    expect(next.templates?.map((t) => [t.templateName, t.enabled, t.type])).toEqual([['lamps', false, 'FLEET_PROVISIONING']]);

    await client.send(new DeleteProvisioningTemplateCommand({ templateName: 'jitp' }));
    const gone = await failure(client.send(new DescribeProvisioningTemplateCommand({ templateName: 'jitp' })));
    expect([gone.name, gone.$metadata.httpStatusCode]).toEqual(['ResourceNotFoundException', 404]);
  });

  test('a malformed template is one InvalidRequestException naming the JSON path, and nothing is stored', async () => {
    const bad = JSON.stringify({ Resources: { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Join': ['-', [{ Ref: 'Missing' }]] } } } } });
    const err = await failure(client.send(new CreateProvisioningTemplateCommand({ templateName: 'bad', templateBody: bad, provisioningRoleArn: 'r' })));
    expect(err.name).toBe('InvalidRequestException');
    expect(err.message).toBe("templateBody: $.Resources.thing.Properties.ThingName['Fn::Join'][1][0].Ref: Ref names \"Missing\", which is not a declared parameter");
    expect((await failure(client.send(new DescribeProvisioningTemplateCommand({ templateName: 'bad' })))).name).toBe('ResourceNotFoundException');
    const badName = await failure(client.send(new CreateProvisioningTemplateCommand({ templateName: 'has space', templateBody: TEMPLATE, provisioningRoleArn: 'r' })));
    expect(badName.name).toBe('InvalidRequestException');
    const badVersion = await failure(client.send(new CreateProvisioningTemplateVersionCommand({ templateName: 'lamps', templateBody: '{"Resources":{}}' })));
    expect(badVersion.message).toBe('templateBody: $.Resources: expected an object with at least one resource, received an object');
  });
});

describe('RegisterThing', () => {
  test('provisions a thing, a certificate from a CSR and a policy, attached', async () => {
    const out = await client.send(new RegisterThingCommand({ templateBody: TEMPLATE, parameters: { ThingName: 'lamp-1', SerialNumber: 'S1', CSR: await makeCsr('lamp-1') } }));
    expect(new X509Certificate(out.certificatePem!).subject).toContain('CN=lamp-1');
    expect(out.resourceArns).toMatchObject({ thing: `arn:aws:iot:us-east-1:${ACCOUNT}:thing/lamp-1`, certificate: expect.stringMatching(/:cert\/[0-9a-f]{64}$/), policy: expect.stringMatching(/:policy\//) });
    expect((await client.send(new DescribeThingCommand({ thingName: 'lamp-1' }))).attributes).toEqual({ serial: 'S1' });
    expect((await client.send(new ListThingPrincipalsCommand({ thingName: 'lamp-1' }))).principals).toEqual([out.resourceArns!['certificate']]);
  });

  test('bad parameters and a bad CSR are InvalidRequestException / CertificateValidationException, with nothing left behind', async () => {
    const before = (await client.send(new ListThingsCommand({}))).things?.length;
    const missing = await failure(client.send(new RegisterThingCommand({ templateBody: TEMPLATE, parameters: { ThingName: 'lamp-x' } })));
    expect([missing.name, missing.message]).toEqual(['InvalidRequestException', 'parameters.SerialNumber: required by the template and not given (it has no Default)']);
    const csr = await failure(client.send(new RegisterThingCommand({ templateBody: TEMPLATE, parameters: { ThingName: 'lamp-x', SerialNumber: '1', CSR: 'forged' } })));
    expect(csr.name).toBe('CertificateValidationException');
    const body = await failure(client.send(new RegisterThingCommand({ templateBody: '{"Resources":', parameters: {} })));
    expect(body.name).toBe('InvalidRequestException');
    expect((await client.send(new ListThingsCommand({}))).things?.length).toBe(before);
  });
});

describe('bulk registration tasks', () => {
  const waitFor = async (taskId: string, done: (status: string | undefined) => boolean) => {
    for (let i = 0; i < 400; i++) {
      const t = await client.send(new DescribeThingRegistrationTaskCommand({ taskId }));
      if (done(t.status)) return t;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`task ${taskId} did not finish`);
  };

  test('reads JSON lines from S3, provisions each, and writes result and error reports back', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ ThingName: `bulk-${i}`, SerialNumber: `N${i}` }));
    lines[5] = '{not json';
    lines[11] = JSON.stringify({ ThingName: 'bad name!', SerialNumber: 'x' });
    await s3Api().putObject({ bucket: BUCKET, key: 'in/devices.jsonl', body: Buffer.from(`${lines.join('\n')}\n`), contentType: 'application/x-ndjson' }, AbortSignal.timeout(5_000));
    const { taskId } = await client.send(new StartThingRegistrationTaskCommand({ templateBody: TEMPLATE, inputFileBucket: BUCKET, inputFileKey: 'in/devices.jsonl', roleArn: 'arn:aws:iam::123456789012:role/bulk' }));
    const task = await waitFor(taskId!, (s) => s === 'Completed');
    expect(task).toMatchObject({ taskId, status: 'Completed', successCount: 18, failureCount: 2, percentageProgress: 100, inputFileBucket: BUCKET, inputFileKey: 'in/devices.jsonl' });
    expect((await client.send(new DescribeThingCommand({ thingName: 'bulk-19' }))).attributes).toEqual({ serial: 'N19' });

    const results = await client.send(new ListThingRegistrationTaskReportsCommand({ taskId, reportType: 'RESULTS' }));
    expect(results.reportType).toBe('RESULTS');
    const read = async (links: string[]) => (await Promise.all(links.map((l) => s3.getObject(BUCKET, l.slice(`${s3.settings.endpoint}/${BUCKET}/`.length))))).flatMap((o) => o.body.toString().trim().split('\n').map((x) => JSON.parse(x)));
    const ok = await read(results.resourceLinks!);
    expect(ok.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(ok[0].response.ResourceArns.thing).toBe(`arn:aws:iot:us-east-1:${ACCOUNT}:thing/bulk-0`);
    const errors = await read((await client.send(new ListThingRegistrationTaskReportsCommand({ taskId, reportType: 'ERRORS' }))).resourceLinks!);
    expect(errors.map((e) => e.offset)).toEqual([5, 11]);
    expect(errors[0].errorMessage).toMatch(/^line 6: not JSON/);
    expect(errors[1].errorMessage).toMatch(/thingName/);

    const listed = await client.send(new ListThingRegistrationTasksCommand({ status: 'Completed' }));
    expect(listed.taskIds).toContain(taskId);
    const notRunning = await failure(client.send(new StopThingRegistrationTaskCommand({ taskId })));
    expect(notRunning.name).toBe('InvalidRequestException');
  });

  test('an input that does not exist fails the task with a message; a missing task is ResourceNotFoundException', async () => {
    const { taskId } = await client.send(new StartThingRegistrationTaskCommand({ templateBody: TEMPLATE, inputFileBucket: BUCKET, inputFileKey: 'nope.jsonl', roleArn: 'r' }));
    const task = await waitFor(taskId!, (s) => s === 'Failed');
    expect(task.message).toMatch(/^inputFile s3:\/\/bulk\/nope.jsonl: /);
    expect((await failure(client.send(new DescribeThingRegistrationTaskCommand({ taskId: 'no-such-task' })))).name).toBe('ResourceNotFoundException');
    const badTemplate = await failure(client.send(new StartThingRegistrationTaskCommand({ templateBody: '{}', inputFileBucket: BUCKET, inputFileKey: 'x', roleArn: 'r' })));
    expect(badTemplate.message).toBe('templateBody: $.Resources: expected an object with at least one resource, received nothing');
  });

  test('StopThingRegistrationTask cancels a task in progress', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ ThingName: `stop-${i}`, SerialNumber: `${i}` }));
    await s3Api().putObject({ bucket: BUCKET, key: 'in/stop.jsonl', body: Buffer.from(lines.join('\n')), contentType: 'application/x-ndjson' }, AbortSignal.timeout(5_000));
    const { taskId } = await client.send(new StartThingRegistrationTaskCommand({ templateBody: TEMPLATE, inputFileBucket: BUCKET, inputFileKey: 'in/stop.jsonl', roleArn: 'r' }));
    await client.send(new StopThingRegistrationTaskCommand({ taskId }));
    const task = await waitFor(taskId!, (s) => s === 'Cancelled');
    expect(task.successCount! + task.failureCount!).toBeLessThan(3000);
  });
});

describe('AWS CLI', () => {
  test('aws iot provisioning template commands and register-thing work against kiot', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'), AWS_CONFIG_FILE: join(dir, 'no-config'), AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' };
    const aws = async (...args: string[]) => JSON.parse((await run('aws', ['iot', ...args, '--endpoint-url', endpoint, '--output', 'json'], { env })).stdout || '{}');
    try {
      await run('aws', ['--version'], { env });
    } catch {
      throw new Error('the AWS CLI is not installed: install it (e.g. `pip install awscli`) to run this test');
    }
    const created = await aws('create-provisioning-template', '--template-name', 'cli', '--template-body', TEMPLATE, '--provisioning-role-arn', 'arn:aws:iam::123456789012:role/p', '--enabled');
    expect(created.templateName).toBe('cli');
    const listed = await aws('list-provisioning-templates');
    expect(listed.templates.map((t: { templateName: string }) => t.templateName)).toContain('cli');
    const out = await aws('register-thing', '--template-body', TEMPLATE, '--parameters', JSON.stringify({ ThingName: 'cli-lamp', SerialNumber: 'C1' }));
    expect(out.resourceArns.thing).toBe(`arn:aws:iot:us-east-1:${ACCOUNT}:thing/cli-lamp`);
    await aws('delete-provisioning-template', '--template-name', 'cli');
  }, 60_000);
});
