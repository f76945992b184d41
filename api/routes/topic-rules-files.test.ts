/**
 * Rules from the rules dir seen through the topic-rule API of `kiot up`: listed beside the API's
 * own (the AWS CLI sees every rule kiot runs), answered by GetTopicRule as AWS's payload, and
 * read-only: a change is refused with the file to edit.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CreateTopicRuleCommand, DeleteTopicRuleCommand, DisableTopicRuleCommand, GetTopicRuleCommand, IoTClient, ListTopicRulesCommand } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../../cli/testing.js';

const run = promisify(execFile);
let kiotUp: TestPlatform;
let iot: IoTClient;
const http = () => kiotUp.http();

beforeAll(async () => {
  kiotUp = await startTestPlatform({
    'alerts.sql': "CREATE RULE hot DESCRIPTION 'too hot' AS SELECT * FROM 'site/+/temp' WHERE t > 50 DO republish(topic = 'alerts/${topic(2)}', qos = 1) ERROR DO kafka(topic = 'rule-errors');\n",
  });
  iot = kiotUp.client(IoTClient);
}, 60_000);

afterAll(async () => kiotUp?.stop());

test('a file rule is listed with the API rules, answered as a TopicRulePayload, and read-only', async () => {
  await iot.send(new CreateTopicRuleCommand({ ruleName: 'fromApi', topicRulePayload: { sql: "SELECT * FROM 'x/y'", actions: [{ republish: { topic: 'z', roleArn: 'arn:aws:iam::000000000000:role/r' } }] } }));
  const listed = await iot.send(new ListTopicRulesCommand({}));
  expect(listed.rules?.map((r) => [r.ruleName, r.topicPattern, r.ruleDisabled])).toEqual([
    ['fromApi', 'x/y', false],
    ['hot', 'site/+/temp', false],
  ]);

  const got = await iot.send(new GetTopicRuleCommand({ ruleName: 'hot' }));
  expect(got.rule).toMatchObject({
    ruleName: 'hot',
    sql: "SELECT * FROM 'site/+/temp' WHERE t > 50",
    description: expect.stringMatching(/^\[read-only: .*alerts\.sql:1:1\] too hot$/),
    actions: [{ republish: { topic: 'alerts/${topic(2)}', qos: 1 } }],
    errorAction: { kafka: { topic: 'rule-errors' } },
    ruleDisabled: false,
  });

  for (const change of [
    () => iot.send(new DeleteTopicRuleCommand({ ruleName: 'hot' })),
    () => iot.send(new DisableTopicRuleCommand({ ruleName: 'hot' })),
    () => iot.send(new CreateTopicRuleCommand({ ruleName: 'hot', topicRulePayload: { sql: "SELECT * FROM 'a'", actions: [] } })),
  ]) {
    await expect(change()).rejects.toMatchObject({ name: 'ConflictingResourceUpdateException', $metadata: { httpStatusCode: 409 }, message: expect.stringContaining('edit the file') });
  }

  // The AWS CLI sees every rule kiot runs.
  const env = { ...process.env, AWS_ACCESS_KEY_ID: kiotUp.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: kiotUp.credentials.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' };
  const { stdout } = await run('aws', ['iot', 'list-topic-rules', '--endpoint-url', http()], { env });
  expect((JSON.parse(stdout) as { rules: { ruleName: string }[] }).rules.map((r) => r.ruleName)).toEqual(['fromApi', 'hot']);
}, 60_000);
