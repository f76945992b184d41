/**
 * The HTTP API against the official `@aws-sdk/client-iot`, on a real HTTP server over
 * loopback, with an EmbeddedLog in a temp dir and the credentials kiot writes on first start.
 */
import {
  AddThingToThingGroupCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  CreateThingTypeCommand,
  CreateTopicRuleCommand,
  DeleteThingCommand,
  DeleteThingGroupCommand,
  DeleteThingTypeCommand,
  DeleteTopicRuleCommand,
  DeprecateThingTypeCommand,
  DescribeThingCommand,
  DescribeThingGroupCommand,
  DescribeThingTypeCommand,
  DisableTopicRuleCommand,
  EnableTopicRuleCommand,
  GetTopicRuleCommand,
  IoTClient,
  ListThingGroupsCommand,
  type ListThingGroupsCommandInput,
  ListThingGroupsForThingCommand,
  ListThingsCommand,
  ListThingsInThingGroupCommand,
  ListThingTypesCommand,
  ListTopicRulesCommand,
  RemoveThingFromThingGroupCommand,
  ReplaceTopicRuleCommand,
  UpdateThingCommand,
  UpdateThingGroupCommand,
  paginateListThings,
} from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EmbeddedLog, TOPICS, decodeEnvelope, decodeFrame, silentLogger, type Log } from '../core/index.js';
import { topicRuleCodec } from '../rules/worker/index.js';
import { parseCredentialsFile } from './access-keys.js';
import { createApiService, type Api } from './index.js';
import { awsError } from './routes/testing/security-api.js';
import { createHttpServer, type HttpServer } from './server.js';

const ACCOUNT = '123456789012';
let dir: string;
let log: Log;
let api: Api;
let http: HttpServer;
let endpoint: string;
let client: IoTClient;
let clockOffsetMs = 0;
const announced: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-api-'));
  log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  api = await createApiService({ dataDir: dir, region: undefined, accountId: ACCOUNT }, { log, logger: silentLogger(), announce: (l) => announced.push(l), clock: () => Date.now() + clockOffsetMs }).start();
  http = createHttpServer({ logger: silentLogger(), metrics: async () => '', health: () => ({ status: 'ok' }), routes: api.routes });
  endpoint = `http://127.0.0.1:${await http.listen('127.0.0.1', 0)}`;
  client = new IoTClient({ endpoint, region: 'eu-west-1', credentials: fromIni({ filepath: join(dir, 'credentials'), profile: 'default' }), maxAttempts: 1 });
}, 30_000);

afterAll(async () => {
  client?.destroy();
  await http?.close();
  await api?.stop();
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('credentials file', () => {
  test('is written once on first start, mode 0600, profile default, and announced', async () => {
    const path = join(dir, 'credentials');
    expect(announced).toEqual([`credentials ${path}`]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const profile = parseCredentialsFile(await readFile(path, 'utf8')).get('default');
    expect(profile?.get('aws_access_key_id')).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(api.accessKeys.secretFor(profile!.get('aws_access_key_id')!)).toBe(profile?.get('aws_secret_access_key'));
  });

  test('a second start with the same data dir keeps the file and the key', async () => {
    const before = await readFile(join(dir, 'credentials'), 'utf8');
    const lines: string[] = [];
    const again = await createApiService({ dataDir: dir, region: undefined, accountId: ACCOUNT }, { log, logger: silentLogger(), announce: (l) => lines.push(l) }).start();
    await again.stop();
    expect(lines).toEqual([]);
    expect(await readFile(join(dir, 'credentials'), 'utf8')).toBe(before);
    expect(api.accessKeys.list()).toHaveLength(1);
  });
});

describe('things', () => {
  test('create, describe, idempotent create, and a conflicting create', async () => {
    const created = await client.send(new CreateThingCommand({ thingName: 'lamp-1', attributePayload: { attributes: { room: 'kitchen' } } }));
    expect(created.thingArn).toBe(`arn:aws:iot:us-east-1:${ACCOUNT}:thing/lamp-1`);
    expect(created.thingId).toMatch(/^[0-9a-f-]{36}$/);
    const described = await client.send(new DescribeThingCommand({ thingName: 'lamp-1' }));
    expect(described).toMatchObject({ thingName: 'lamp-1', defaultClientId: 'lamp-1', thingId: created.thingId, attributes: { room: 'kitchen' }, version: 1 });
    const again = await client.send(new CreateThingCommand({ thingName: 'lamp-1', attributePayload: { attributes: { room: 'kitchen' } } }));
    expect(again.thingId).toBe(created.thingId);
    const conflict = await awsError(client.send(new CreateThingCommand({ thingName: 'lamp-1', attributePayload: { attributes: { room: 'hall' } } })));
    expect(conflict.name).toBe('ResourceAlreadyExistsException');
    expect(conflict.$metadata.httpStatusCode).toBe(409);
    expect((conflict as unknown as { resourceArn: string }).resourceArn).toBe(created.thingArn);
  });

  test('missing things, bad names and too many untyped attributes', async () => {
    const missing = await awsError(client.send(new DescribeThingCommand({ thingName: 'nope' })));
    expect(missing.name).toBe('ResourceNotFoundException');
    expect(missing.$metadata.httpStatusCode).toBe(404);
    expect(missing.message).toContain('nope');
    const badName = await awsError(client.send(new CreateThingCommand({ thingName: 'bad name!' })));
    expect(badName.name).toBe('InvalidRequestException');
    expect(badName.$metadata.httpStatusCode).toBe(400);
    const tooMany = await awsError(client.send(new CreateThingCommand({ thingName: 'crowded', attributePayload: { attributes: { a: '1', b: '2', c: '3', d: '4' } } })));
    expect(tooMany.name).toBe('InvalidRequestException');
    expect((await awsError(client.send(new UpdateThingCommand({ thingName: 'nope', attributePayload: { attributes: { a: '1' } } })))).name).toBe('ResourceNotFoundException');
  });

  test('update merges or replaces attributes, checks expectedVersion, and bumps the version', async () => {
    await client.send(new CreateThingCommand({ thingName: 'sensor-1', attributePayload: { attributes: { a: '1', b: '2' } } }));
    await client.send(new UpdateThingCommand({ thingName: 'sensor-1', attributePayload: { attributes: { b: '', c: '3' }, merge: true }, expectedVersion: 1 }));
    let thing = await client.send(new DescribeThingCommand({ thingName: 'sensor-1' }));
    expect(thing.attributes).toEqual({ a: '1', c: '3' });
    expect(thing.version).toBe(2);
    const conflict = await awsError(client.send(new UpdateThingCommand({ thingName: 'sensor-1', attributePayload: { attributes: { z: '9' } }, expectedVersion: 1 })));
    expect(conflict.name).toBe('VersionConflictException');
    expect(conflict.$metadata.httpStatusCode).toBe(409);
    await client.send(new UpdateThingCommand({ thingName: 'sensor-1', attributePayload: { attributes: { z: '9' } } }));
    thing = await client.send(new DescribeThingCommand({ thingName: 'sensor-1' }));
    expect(thing.attributes).toEqual({ z: '9' });
    expect(thing.version).toBe(3);
  });

  test('delete checks expectedVersion, deletes, and deleting again succeeds', async () => {
    await client.send(new CreateThingCommand({ thingName: 'doomed' }));
    expect((await awsError(client.send(new DeleteThingCommand({ thingName: 'doomed', expectedVersion: 5 })))).name).toBe('VersionConflictException');
    await client.send(new DeleteThingCommand({ thingName: 'doomed', expectedVersion: 1 }));
    expect((await awsError(client.send(new DescribeThingCommand({ thingName: 'doomed' })))).name).toBe('ResourceNotFoundException');
    await client.send(new DeleteThingCommand({ thingName: 'doomed' }));
  });

  test('list filters by attribute and type, and pages with nextToken/maxResults', async () => {
    await client.send(new CreateThingTypeCommand({ thingTypeName: 'Pump' }));
    for (let i = 0; i < 5; i++) {
      await client.send(new CreateThingCommand({ thingName: `pump-${i}`, thingTypeName: 'Pump', attributePayload: { attributes: { site: i < 3 ? 'north-1' : 'south-1' } } }));
    }
    const bySite = await client.send(new ListThingsCommand({ attributeName: 'site', attributeValue: 'north-1' }));
    expect(bySite.things?.map((t) => t.thingName)).toEqual(['pump-0', 'pump-1', 'pump-2']);
    const byPrefix = await client.send(new ListThingsCommand({ attributeName: 'site', attributeValue: 'south', usePrefixAttributeValue: true }));
    expect(byPrefix.things?.map((t) => t.thingName)).toEqual(['pump-3', 'pump-4']);
    const byType = await client.send(new ListThingsCommand({ thingTypeName: 'Pump', maxResults: 2 }));
    expect(byType.things?.map((t) => t.thingName)).toEqual(['pump-0', 'pump-1']);
    expect(byType.things?.[0]).toMatchObject({ thingTypeName: 'Pump', version: 1, thingArn: `arn:aws:iot:us-east-1:${ACCOUNT}:thing/pump-0` });
    expect(byType.nextToken).toBeTruthy();
    const names: string[] = [];
    for await (const page of paginateListThings({ client, pageSize: 2 }, { thingTypeName: 'Pump' })) names.push(...(page.things ?? []).map((t) => t.thingName!));
    expect(names).toEqual(['pump-0', 'pump-1', 'pump-2', 'pump-3', 'pump-4']);
    expect((await awsError(client.send(new ListThingsCommand({ nextToken: 'garbage' })))).name).toBe('InvalidRequestException');
    expect((await awsError(client.send(new ListThingsCommand({ maxResults: 251 })))).name).toBe('InvalidRequestException');
  });
});

describe('thing types', () => {
  test('create, describe, list, deprecate (and undo), then delete once deprecated long enough and unused', async () => {
    const created = await client.send(new CreateThingTypeCommand({ thingTypeName: 'Valve', thingTypeProperties: { thingTypeDescription: 'a valve', searchableAttributes: ['line'] } }));
    expect(created.thingTypeArn).toBe(`arn:aws:iot:us-east-1:${ACCOUNT}:thingtype/Valve`);
    const described = await client.send(new DescribeThingTypeCommand({ thingTypeName: 'Valve' }));
    expect(described.thingTypeProperties).toEqual({ thingTypeDescription: 'a valve', searchableAttributes: ['line'] });
    expect(described.thingTypeMetadata?.deprecated).toBe(false);
    expect(described.thingTypeMetadata?.creationDate).toBeInstanceOf(Date);
    expect(Math.abs(described.thingTypeMetadata!.creationDate!.getTime() - Date.now())).toBeLessThan(60_000);
    const listed = await client.send(new ListThingTypesCommand({ thingTypeName: 'Valve' }));
    expect(listed.thingTypes?.map((t) => t.thingTypeName)).toEqual(['Valve']);
    expect((await awsError(client.send(new CreateThingTypeCommand({ thingTypeName: 'Valve', thingTypeProperties: { thingTypeDescription: 'other' } })))).name).toBe('ResourceAlreadyExistsException');
    expect((await awsError(client.send(new CreateThingTypeCommand({ thingTypeName: 'Wide', thingTypeProperties: { searchableAttributes: ['a', 'b', 'c', 'd'] } })))).name).toBe('InvalidRequestException');

    await client.send(new CreateThingCommand({ thingName: 'valve-1', thingTypeName: 'Valve', attributePayload: { attributes: { a: '1', b: '2', c: '3', d: '4' } } }));
    expect((await awsError(client.send(new DeleteThingTypeCommand({ thingTypeName: 'Valve' })))).name).toBe('InvalidRequestException');
    await client.send(new DeprecateThingTypeCommand({ thingTypeName: 'Valve' }));
    expect((await client.send(new DescribeThingTypeCommand({ thingTypeName: 'Valve' }))).thingTypeMetadata?.deprecated).toBe(true);
    expect((await awsError(client.send(new CreateThingCommand({ thingName: 'valve-2', thingTypeName: 'Valve' })))).name).toBe('InvalidRequestException');
    await client.send(new DeprecateThingTypeCommand({ thingTypeName: 'Valve', undoDeprecate: true }));
    await client.send(new CreateThingCommand({ thingName: 'valve-2', thingTypeName: 'Valve' }));
    await client.send(new DeprecateThingTypeCommand({ thingTypeName: 'Valve' }));

    const tooSoon = await awsError(client.send(new DeleteThingTypeCommand({ thingTypeName: 'Valve' })));
    expect(tooSoon.name).toBe('InvalidRequestException');
    clockOffsetMs = 6 * 60_000; // the API's clock only: requests are still signed with real time
    try {
      const inUse = await awsError(client.send(new DeleteThingTypeCommand({ thingTypeName: 'Valve' })));
      expect(inUse.message).toContain('valve-');
      // A typed thing with 4 attributes cannot drop its type (untyped things have at most 3).
      expect((await awsError(client.send(new UpdateThingCommand({ thingName: 'valve-1', removeThingType: true })))).name).toBe('InvalidRequestException');
      await client.send(new DeleteThingCommand({ thingName: 'valve-1' }));
      await client.send(new UpdateThingCommand({ thingName: 'valve-2', removeThingType: true }));
      expect((await client.send(new DescribeThingCommand({ thingName: 'valve-2' }))).thingTypeName).toBeUndefined();
      await client.send(new DeleteThingTypeCommand({ thingTypeName: 'Valve' }));
    } finally {
      clockOffsetMs = 0;
    }
    expect((await awsError(client.send(new DescribeThingTypeCommand({ thingTypeName: 'Valve' })))).name).toBe('ResourceNotFoundException');
  });
});

describe('thing groups', () => {
  test('hierarchy, describe, update with expectedVersion, list filters', async () => {
    await client.send(new CreateThingGroupCommand({ thingGroupName: 'factory', thingGroupProperties: { thingGroupDescription: 'all', attributePayload: { attributes: { country: 'de' } } } }));
    await client.send(new CreateThingGroupCommand({ thingGroupName: 'hall-a', parentGroupName: 'factory' }));
    await client.send(new CreateThingGroupCommand({ thingGroupName: 'line-1', parentGroupName: 'hall-a' }));
    const line = await client.send(new DescribeThingGroupCommand({ thingGroupName: 'line-1' }));
    expect(line.thingGroupMetadata?.parentGroupName).toBe('hall-a');
    expect(line.thingGroupMetadata?.rootToParentThingGroups).toEqual([
      { groupName: 'factory', groupArn: `arn:aws:iot:us-east-1:${ACCOUNT}:thinggroup/factory` },
      { groupName: 'hall-a', groupArn: `arn:aws:iot:us-east-1:${ACCOUNT}:thinggroup/hall-a` },
    ]);
    expect((await awsError(client.send(new CreateThingGroupCommand({ thingGroupName: 'orphan', parentGroupName: 'nope' })))).name).toBe('ResourceNotFoundException');

    const updated = await client.send(new UpdateThingGroupCommand({ thingGroupName: 'factory', thingGroupProperties: { attributePayload: { attributes: { city: 'bonn' }, merge: true } }, expectedVersion: 1 }));
    expect(updated.version).toBe(2);
    expect((await client.send(new DescribeThingGroupCommand({ thingGroupName: 'factory' }))).thingGroupProperties).toEqual({ thingGroupDescription: 'all', attributePayload: { attributes: { country: 'de', city: 'bonn' } } });
    expect((await awsError(client.send(new UpdateThingGroupCommand({ thingGroupName: 'factory', thingGroupProperties: {}, expectedVersion: 1 })))).name).toBe('VersionConflictException');

    const names = async (input: ListThingGroupsCommandInput): Promise<string[]> => ((await client.send(new ListThingGroupsCommand(input))).thingGroups ?? []).map((g) => g.groupName!);
    expect(await names({ parentGroup: 'factory' })).toEqual(['hall-a']);
    expect(await names({ parentGroup: 'factory', recursive: true })).toEqual(['hall-a', 'line-1']);
    expect(await names({ namePrefixFilter: 'hall' })).toEqual(['hall-a']);
    expect(await names({})).toEqual(expect.arrayContaining(['factory', 'hall-a', 'line-1']));
  });

  test('depth is limited to 7 levels', async () => {
    await client.send(new CreateThingGroupCommand({ thingGroupName: 'd1' }));
    for (let i = 2; i <= 7; i++) await client.send(new CreateThingGroupCommand({ thingGroupName: `d${i}`, parentGroupName: `d${i - 1}` }));
    const tooDeep = await awsError(client.send(new CreateThingGroupCommand({ thingGroupName: 'd8', parentGroupName: 'd7' })));
    expect(tooDeep.name).toBe('LimitExceededException');
    expect(tooDeep.$metadata.httpStatusCode).toBe(410);
  });

  test('membership: one group per hierarchy, at most 10 groups, recursive listing, removal and group deletion', async () => {
    await client.send(new CreateThingCommand({ thingName: 'robot' }));
    await client.send(new AddThingToThingGroupCommand({ thingName: 'robot', thingGroupName: 'line-1' }));
    await client.send(new AddThingToThingGroupCommand({ thingName: 'robot', thingGroupName: 'line-1' })); // again: no-op
    const sameTree = await awsError(client.send(new AddThingToThingGroupCommand({ thingName: 'robot', thingGroupName: 'factory' })));
    expect(sameTree.name).toBe('InvalidRequestException');
    expect(sameTree.message).toContain('same hierarchy');

    const direct = await client.send(new ListThingsInThingGroupCommand({ thingGroupName: 'factory' }));
    expect(direct.things).toEqual([]);
    const recursive = await client.send(new ListThingsInThingGroupCommand({ thingGroupName: 'factory', recursive: true }));
    expect(recursive.things).toEqual(['robot']);

    for (let i = 0; i < 9; i++) {
      await client.send(new CreateThingGroupCommand({ thingGroupName: `solo-${i}` }));
      await client.send(new AddThingToThingGroupCommand({ thingArn: `arn:aws:iot:us-east-1:${ACCOUNT}:thing/robot`, thingGroupArn: `arn:aws:iot:us-east-1:${ACCOUNT}:thinggroup/solo-${i}` }));
    }
    await client.send(new CreateThingGroupCommand({ thingGroupName: 'solo-9' }));
    const eleventh = await awsError(client.send(new AddThingToThingGroupCommand({ thingName: 'robot', thingGroupName: 'solo-9' })));
    expect(eleventh.name).toBe('LimitExceededException');
    const groups = await client.send(new ListThingGroupsForThingCommand({ thingName: 'robot', maxResults: 250 }));
    expect(groups.thingGroups).toHaveLength(10);
    expect(groups.thingGroups).toContainEqual({ groupName: 'line-1', groupArn: `arn:aws:iot:us-east-1:${ACCOUNT}:thinggroup/line-1` });

    await client.send(new RemoveThingFromThingGroupCommand({ thingName: 'robot', thingGroupName: 'solo-0' }));
    await client.send(new DeleteThingGroupCommand({ thingGroupName: 'solo-1' }));
    await client.send(new AddThingToThingGroupCommand({ thingName: 'robot', thingGroupName: 'solo-9' }));
    const after = (await client.send(new ListThingGroupsForThingCommand({ thingName: 'robot' }))).thingGroups!.map((g) => g.groupName);
    expect(after).not.toContain('solo-0');
    expect(after).not.toContain('solo-1');
    expect(after).toContain('solo-9');

    const withChildren = await awsError(client.send(new DeleteThingGroupCommand({ thingGroupName: 'hall-a' })));
    expect(withChildren.name).toBe('InvalidRequestException');
    await client.send(new DeleteThingGroupCommand({ thingGroupName: 'line-1' }));
    expect((await client.send(new ListThingsInThingGroupCommand({ thingGroupName: 'factory', recursive: true }))).things).toEqual([]);
    expect((await awsError(client.send(new ListThingsInThingGroupCommand({ thingGroupName: 'line-1' })))).name).toBe('ResourceNotFoundException');
    expect((await awsError(client.send(new ListThingGroupsForThingCommand({ thingName: 'ghost' })))).name).toBe('ResourceNotFoundException');
  });
});

describe('registry events', () => {
  test('creating a thing and adding it to a group publish AWS-shaped events on iot.ingress', async () => {
    await client.send(new CreateThingCommand({ thingName: 'evented', attributePayload: { attributes: { k: 'v' } } }));
    await client.send(new CreateThingGroupCommand({ thingGroupName: 'evented-group' }));
    await client.send(new AddThingToThingGroupCommand({ thingName: 'evented', thingGroupName: 'evented-group' }));
    const events = await readIngress(log);
    const created = events.find((e) => e.topic === '$aws/events/thing/evented/created');
    expect(created?.payload).toMatchObject({ eventType: 'THING_EVENT', operation: 'CREATED', accountId: ACCOUNT, thingName: 'evented', versionNumber: 1, thingTypeName: null, attributes: { k: 'v' } });
    const member = events.find((e) => e.topic === '$aws/events/thingGroupMembership/thingGroup/evented-group/thing/evented/added');
    expect(member?.payload).toMatchObject({ eventType: 'THING_GROUP_MEMBERSHIP_EVENT', operation: 'ADDED', thingArn: `arn:aws:iot:us-east-1:${ACCOUNT}:thing/evented`, groupArn: `arn:aws:iot:us-east-1:${ACCOUNT}:thinggroup/evented-group` });
    expect(events.some((e) => e.topic === '$aws/events/thingGroup/evented-group/created')).toBe(true);
  });
});

describe('topic rules', () => {
  const payload = {
    sql: "SELECT temperature FROM 'factory/+/telemetry' WHERE temperature > 80",
    description: 'hot',
    actions: [{ republish: { topic: 'alerts/${topic(2)}', roleArn: 'arn:aws:iam::123456789012:role/x', qos: 1 } }],
  };

  test('create, get, list, disable, enable, replace, delete; stored as the rule-file model on iot.rules', async () => {
    await client.send(new CreateTopicRuleCommand({ ruleName: 'overheat', topicRulePayload: payload }));
    const got = await client.send(new GetTopicRuleCommand({ ruleName: 'overheat' }));
    expect(got.ruleArn).toBe(`arn:aws:iot:us-east-1:${ACCOUNT}:rule/overheat`);
    expect(got.rule).toMatchObject({ ruleName: 'overheat', sql: payload.sql, description: 'hot', ruleDisabled: false, awsIotSqlVersion: '2016-03-23', actions: payload.actions });
    expect(got.rule?.createdAt).toBeInstanceOf(Date);

    const stored = api.topicRules.get('overheat')!;
    expect(stored).toMatchObject({ name: 'overheat', enabled: true, sqlVersion: '2016-03-23', actions: [{ type: 'republish', params: { topic: 'alerts/${topic(2)}', role_arn: 'arn:aws:iam::123456789012:role/x', qos: 1 } }] });
    // What the rules workers read: the same record through the topic's codec.
    const onLog = await log.openTable(TOPICS.rules, { decode: (v, key) => decodeFrame(topicRuleCodec, v, key).value });
    expect(onLog.get('overheat')).toMatchObject({ name: 'overheat', sql: payload.sql });
    await onLog.close();

    expect((await awsError(client.send(new CreateTopicRuleCommand({ ruleName: 'overheat', topicRulePayload: payload })))).name).toBe('ResourceAlreadyExistsException');

    await client.send(new DisableTopicRuleCommand({ ruleName: 'overheat' }));
    expect((await client.send(new GetTopicRuleCommand({ ruleName: 'overheat' }))).rule?.ruleDisabled).toBe(true);
    expect(api.topicRules.get('overheat')?.enabled).toBe(false);
    const disabledList = await client.send(new ListTopicRulesCommand({ ruleDisabled: true }));
    expect(disabledList.rules?.map((r) => r.ruleName)).toEqual(['overheat']);
    await client.send(new EnableTopicRuleCommand({ ruleName: 'overheat' }));

    const listed = await client.send(new ListTopicRulesCommand({ topic: 'factory/+/telemetry' }));
    expect(listed.rules).toEqual([expect.objectContaining({ ruleName: 'overheat', topicPattern: 'factory/+/telemetry', ruleDisabled: false })]);
    expect((await client.send(new ListTopicRulesCommand({ topic: 'other/topic' }))).rules).toEqual([]);

    await client.send(new ReplaceTopicRuleCommand({ ruleName: 'overheat', topicRulePayload: { ...payload, sql: "SELECT * FROM 'plant/#'", ruleDisabled: true } }));
    const replaced = await client.send(new GetTopicRuleCommand({ ruleName: 'overheat' }));
    expect(replaced.rule).toMatchObject({ sql: "SELECT * FROM 'plant/#'", ruleDisabled: true });
    expect(replaced.rule?.createdAt?.getTime()).toBe(got.rule?.createdAt?.getTime());
    // ?topic= lists the rules that fire for the topic, matched as rules match: 'plant/#' is
    // not fired by its parent 'plant'.
    const forTopic = async (topic: string) => (await client.send(new ListTopicRulesCommand({ topic }))).rules?.map((r) => r.ruleName);
    expect(await forTopic('plant/line/1')).toEqual(['overheat']);
    expect(await forTopic('plant')).toEqual([]);

    await client.send(new DeleteTopicRuleCommand({ ruleName: 'overheat' }));
    expect((await awsError(client.send(new GetTopicRuleCommand({ ruleName: 'overheat' })))).name).toBe('ResourceNotFoundException');
    expect((await awsError(client.send(new ReplaceTopicRuleCommand({ ruleName: 'overheat', topicRulePayload: payload })))).name).toBe('ResourceNotFoundException');
  });

  test('bad SQL, unknown actions and bad names are refused', async () => {
    const badSql = await awsError(client.send(new CreateTopicRuleCommand({ ruleName: 'broken', topicRulePayload: { ...payload, sql: "SELECT FROM WHERE 'x'" } })));
    expect(badSql.name).toBe('SqlParseException');
    expect(badSql.$metadata.httpStatusCode).toBe(400);
    expect(badSql.message).toMatch(/^sql:1:\d+/);
    const unknownFn = await awsError(client.send(new CreateTopicRuleCommand({ ruleName: 'broken', topicRulePayload: { ...payload, sql: "SELECT no_such_function() FROM 'a/b'" } })));
    expect(unknownFn.name).toBe('SqlParseException');
    const badAction = await awsError(client.send(new CreateTopicRuleCommand({ ruleName: 'broken', topicRulePayload: { ...payload, actions: [{ republish: { qos: 1 } } as never] } })));
    expect(badAction.name).toBe('InvalidRequestException');
    expect(badAction.message).toContain('topic');
    // AWS IoT's salesforce action, through the official client: refused with the retired feature named.
    const retired = await awsError(client.send(new CreateTopicRuleCommand({ ruleName: 'broken', topicRulePayload: { ...payload, actions: [{ salesforce: { url: 'https://iot.example.com/x', token: 't' } }] } })));
    expect(retired.name).toBe('InvalidRequestException');
    expect(retired.message).toMatch(/^topicRulePayload: action salesforce is not supported: .*Salesforce has retired Salesforce IoT/);
    expect((await awsError(client.send(new CreateTopicRuleCommand({ ruleName: 'bad-name', topicRulePayload: payload })))).name).toBe('InvalidRequestException');
    expect(api.topicRules.get('broken')).toBeUndefined();
  });
});

describe('request authentication', () => {
  const countThings = (): number => [...api.registry.things()].length;

  test('an unsigned request gets 403 MissingAuthenticationTokenException and changes nothing', async () => {
    const before = countThings();
    const res = await fetch(`${endpoint}/things/unsigned`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    expect(await res.json()).toEqual({ message: 'Missing Authentication Token' });
    expect(countThings()).toBe(before);
  });

  test('a wrong secret, an unknown key and a stale signature are refused and change nothing', async () => {
    const key = parseCredentialsFile(await readFile(join(dir, 'credentials'), 'utf8')).get('default')!;
    const accessKeyId = key.get('aws_access_key_id')!;
    const secretAccessKey = key.get('aws_secret_access_key')!;
    const make = (credentials: { accessKeyId: string; secretAccessKey: string }, systemClockOffset = 0): IoTClient =>
      new IoTClient({ endpoint, region: 'ap-south-1', credentials, maxAttempts: 1, systemClockOffset });
    const before = countThings();

    const wrongSecret = make({ accessKeyId, secretAccessKey: `${secretAccessKey.slice(0, -1)}x` });
    const bad = await awsError(wrongSecret.send(new CreateThingCommand({ thingName: 'intruder' })));
    expect(bad.name).toBe('InvalidSignatureException');
    expect(bad.$metadata.httpStatusCode).toBe(403);
    expect(bad.message).toContain('signature we calculated does not match');

    const unknown = make({ accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey });
    const unknownErr = await awsError(unknown.send(new CreateThingCommand({ thingName: 'intruder' })));
    expect(unknownErr.name).toBe('UnrecognizedClientException');
    expect(unknownErr.$metadata.httpStatusCode).toBe(403);

    const stale = make({ accessKeyId, secretAccessKey }, -20 * 60_000);
    const staleErr = await awsError(stale.send(new CreateThingCommand({ thingName: 'intruder' })));
    expect(staleErr.name).toBe('InvalidSignatureException');
    expect(staleErr.message).toContain('Signature expired');

    const future = make({ accessKeyId, secretAccessKey }, 20 * 60_000);
    expect((await awsError(future.send(new CreateThingCommand({ thingName: 'intruder' })))).message).toContain('not yet current');

    for (const c of [wrongSecret, unknown, stale, future]) c.destroy();
    expect(countThings()).toBe(before);
    expect(api.registry.thing('intruder')).toBeUndefined();

    // Any region is accepted when none is configured (this client signs for ap-south-1).
    const good = make({ accessKeyId, secretAccessKey });
    await good.send(new CreateThingCommand({ thingName: 'welcome' }));
    good.destroy();
    expect(api.registry.thing('welcome')).toBeDefined();
  });

  test('a configured region is the only one accepted, and ARNs name it', async () => {
    const regionDir = await mkdtemp(join(tmpdir(), 'kiot-api-region-'));
    const regionLog = await EmbeddedLog.open({ dataDir: regionDir, logger: silentLogger() });
    const regional = await createApiService({ dataDir: regionDir, region: 'eu-central-1', accountId: ACCOUNT }, { log: regionLog, logger: silentLogger() }).start();
    const server = createHttpServer({ logger: silentLogger(), metrics: async () => '', health: () => ({}), routes: regional.routes });
    const url = `http://127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
    const credentials = fromIni({ filepath: join(regionDir, 'credentials') });
    const wrong = new IoTClient({ endpoint: url, region: 'us-west-2', credentials, maxAttempts: 1 });
    const right = new IoTClient({ endpoint: url, region: 'eu-central-1', credentials, maxAttempts: 1 });
    try {
      expect((await awsError(wrong.send(new CreateThingCommand({ thingName: 'x' })))).name).toBe('InvalidSignatureException');
      const created = await right.send(new CreateThingCommand({ thingName: 'x' }));
      expect(created.thingArn).toBe(`arn:aws:iot:eu-central-1:${ACCOUNT}:thing/x`);
    } finally {
      wrong.destroy();
      right.destroy();
      await server.close();
      await regional.stop();
      await regionLog.close();
      await rm(regionDir, { recursive: true, force: true });
    }
  });
});

describe('AWS CLI', () => {
  test('aws iot works against kiot with the generated credentials file', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'), AWS_CONFIG_FILE: join(dir, 'no-config'), AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' };
    const aws = (...args: string[]) => run('aws', ['iot', ...args, '--endpoint-url', endpoint, '--output', 'json'], { env });
    try {
      await run('aws', ['--version'], { env });
    } catch {
      throw new Error('the AWS CLI is not installed: install it (e.g. `pip install awscli`) to run this test');
    }
    const created = JSON.parse((await aws('create-thing', '--thing-name', 'cli-thing', '--attribute-payload', '{"attributes":{"via":"cli"}}')).stdout) as { thingArn: string };
    expect(created.thingArn).toBe(`arn:aws:iot:us-east-1:${ACCOUNT}:thing/cli-thing`);
    const listed = JSON.parse((await aws('list-things', '--attribute-name', 'via', '--attribute-value', 'cli')).stdout) as { things: { thingName: string }[] };
    expect(listed.things.map((t) => t.thingName)).toEqual(['cli-thing']);
    const missing = await aws('describe-thing', '--thing-name', 'not-there').then(
      () => undefined,
      (err: { stderr: string }) => err.stderr,
    );
    expect(missing).toContain('ResourceNotFoundException');
  }, 60_000);
});

/** Every envelope on iot.ingress so far, payloads parsed as JSON. */
async function readIngress(source: Log): Promise<{ topic: string; payload: Record<string, unknown> }[]> {
  const ends = await source.offsets(TOPICS.ingress);
  const wanted = ends.reduce((n, p) => n + (p.high - p.low), 0);
  const out: { topic: string; payload: Record<string, unknown> }[] = [];
  let done!: () => void;
  const complete = new Promise<void>((resolve) => (done = resolve));
  const consumer = source.consumer({
    groupId: `test-${Math.random().toString(36).slice(2)}`,
    topics: [TOPICS.ingress],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      for (const record of batch.records) {
        const envelope = decodeEnvelope(record.value!);
        out.push({ topic: envelope.topic, payload: JSON.parse(envelope.payload.toString('utf8')) as Record<string, unknown> });
      }
      if (out.length >= wanted) done();
    },
  });
  await consumer.start();
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`read ${out.length} of ${wanted} ingress records`)), 10_000));
  await Promise.race([complete, timeout]);
  await consumer.stop();
  return out;
}
