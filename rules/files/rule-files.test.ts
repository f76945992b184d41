import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkRules, checkRuleText, formatProblem } from './check.js';
import { compileRule } from './compile-rule.js';
import { parseJsonRuleFile, parseSqlRuleFile, topicRulePayloadOf } from './rule-files.js';

const DESIGN_EXAMPLE = `CREATE RULE overheat
  DESCRIPTION 'Alert when a machine runs hot'
AS SELECT deviceId, temperature, topic(2) AS site, timestamp() AS ts
   FROM 'factory/+/telemetry'
   WHERE temperature > 80
DO dynamodbv2(table_name = 'alerts'),
   republish(topic = 'alerts/\${topic(2)}', qos = 1)
ERROR DO kafka(topic = 'rule-errors');
`;

describe('CREATE RULE files', () => {
  test('the DESIGN.md example', () => {
    const [rule, ...rest] = parseSqlRuleFile(DESIGN_EXAMPLE, 'rules/alerts.sql');
    expect(rest).toEqual([]);
    expect(rule).toMatchObject({
      name: 'overheat',
      description: 'Alert when a machine runs hot',
      sql: "SELECT deviceId, temperature, topic(2) AS site, timestamp() AS ts\n   FROM 'factory/+/telemetry'\n   WHERE temperature > 80",
      sqlVersion: '2016-03-23',
      enabled: true,
      actions: [
        { type: 'dynamodbv2', params: { table_name: 'alerts' } },
        { type: 'republish', params: { topic: 'alerts/${topic(2)}', qos: 1 } },
      ],
      errorAction: { type: 'kafka', params: { topic: 'rule-errors' } },
      source: { file: 'rules/alerts.sql', line: 1, column: 1 },
      sqlSource: { line: 3, column: 4 },
    });
    expect(checkRuleText(DESIGN_EXAMPLE, 'rules/alerts.sql').problems).toEqual([]);
  });

  test('several rules, WITH options, keywords in any case', () => {
    const text = `create rule a with (sql_version = '2015-10-08', enabled = false) as select * from 'x' do lambda(function_arn = 'arn');\nCREATE RULE b AS SET @x = 1 SELECT @x AS y FROM 'y/#' DO republish(topic = 't');`;
    const rules = parseSqlRuleFile(text, 'f.sql');
    expect(rules.map((r) => [r.name, r.sqlVersion, r.enabled, r.sql])).toEqual([
      ['a', '2015-10-08', false, "select * from 'x'"],
      ['b', '2016-03-23', true, "SET @x = 1 SELECT @x AS y FROM 'y/#'"],
    ]);
  });

  test('problems carry file:line:column', () => {
    const text = [
      "CREATE RULE r1 AS SELECT nope(a) FROM 'a' DO republish(topic = 'x');",
      "CREATE RULE r2 AS SELECT a FROM 'a' DO smtp(to = 'x');",
      "CREATE RULE r3 AS SELECT a FROM 'a' DO republish(topik = 'x', topic = 'y/${topic(}');",
      "CREATE RULE r4 AS SELECT a FROM 'a' DO republish(qos = 1);",
    ].join('\n');
    const problems = checkRuleText(text, 'r.sql').problems.map(formatProblem);
    expect(problems[0]).toBe('r.sql:1:26: unknown function nope()');
    expect(problems[1]).toMatch(/^r\.sql:2:40: unknown action smtp \(known: republish, kafka/);
    expect(problems[2]).toMatch(/^r\.sql:3:50: republish: unknown parameter topik/);
    expect(problems[3]).toMatch(/^r\.sql:3:63: republish: topic: bad substitution template: expected/);
    expect(problems[4]).toBe('r.sql:4:40: republish: missing parameter topic');
  });

  test('postgres and redis: unknown and missing parameters, bad names and bad templates, each at its parameter', () => {
    const text = [
      "CREATE RULE p1 AS SELECT a FROM 'a' DO postgres(url = 'postgres://127.0.0.1/db', tabel = 't', columns = {a: '${a}'});",
      "CREATE RULE p2 AS SELECT a FROM 'a' DO postgres(table = 'x; DROP TABLE y', columns = {a: '${a(}'});",
      "CREATE RULE p3 AS SELECT a FROM 'a' DO postgres(sql = 'INSERT INTO t VALUES ($1, $2)', values = ['${a}']);",
      "CREATE RULE r1 AS SELECT a FROM 'a' DO redis(command = 'SET');",
      "CREATE RULE r2 AS SELECT a FROM 'a' DO redis(command = 'HSET', key = 'k', fields = {t: '${upper(}'}, ttl = 3);",
    ].join('\n');
    const problems = checkRuleText(text, 's.sql').problems.map(formatProblem);
    expect(problems).toEqual([
      's.sql:1:82: postgres: unknown parameter tabel (known: url, host, port, database, user, password, table, columns, sql, values, on_conflict)',
      expect.stringMatching(/^s\.sql:2:49: postgres: table: expected a table name or schema\.table/),
      expect.stringMatching(/^s\.sql:2:76: postgres: columns\.a: bad substitution template: /),
      's.sql:3:88: postgres: sql uses 2 bind parameter(s) ($1..$2), values gives 1',
      's.sql:4:40: redis: missing parameter key',
      expect.stringMatching(/^s\.sql:5:75: redis: fields\.t: bad substitution template: /),
      expect.stringMatching(/^s\.sql:5:102: redis: unknown parameter ttl \(known: /),
    ]);
  });

  test('mqtt: unknown and missing parameters, a bad url and a bad template, each at its parameter', () => {
    const text = [
      "CREATE RULE m1 AS SELECT a FROM 'a' DO mqtt(url = 'mqtt://127.0.0.1:1883', topic = 't', qos = 1, retian = true);",
      "CREATE RULE m2 AS SELECT a FROM 'a' DO mqtt(url = 'http://127.0.0.1', topic = 'a/${upper(}');",
      "CREATE RULE m3 AS SELECT a FROM 'a' DO mqtt(topic = 't');",
    ].join('\n');
    const problems = checkRuleText(text, 'm.sql').problems.map(formatProblem);
    expect(problems).toEqual([
      expect.stringMatching(/^m\.sql:1:98: mqtt: unknown parameter retian \(known: url, topic, qos, retain, /),
      'm.sql:2:45: mqtt: url: expected mqtt://host:port or mqtts://host:port',
      expect.stringMatching(/^m\.sql:2:71: mqtt: topic: bad substitution template: /),
      'm.sql:3:40: mqtt: missing parameter url',
    ]);
  });

  test('the AWS-API kinds: unknown and missing parameters and bad values, each at its parameter', () => {
    const text = [
      "CREATE RULE k AS SELECT a FROM 'a' DO kinesis(stream_name = 's', partitionkey = '${topic()}');",
      "CREATE RULE q AS SELECT a FROM 'a' DO sqs(use_base64 = true);",
      "CREATE RULE f AS SELECT a FROM 'a' DO firehose(delivery_stream_name = 'd', separator = ';');",
      "CREATE RULE n AS SELECT a FROM 'a' DO sns(target_arn = 'arn:aws:sns:us-east-1:1:t', message_format = 'XML');",
      "CREATE RULE s AS SELECT a FROM 'a' DO step_functions(execution_name_prefix = 'x');",
      "CREATE RULE c AS SELECT a FROM 'a' DO cloudwatch_alarm(alarm_name = 'a', state_reason = 'r', state_value = 'RED');",
      "CREATE RULE l AS SELECT a FROM 'a' DO cloudwatch_logs(log_group_name = 'g', batch = true);",
      "CREATE RULE e AS SELECT a FROM 'a' DO iot_events(input_name = 'i', batch_mode = true, message_id = '${a}');",
      "CREATE RULE y AS SELECT a FROM 'a' DO iot_analytics(batch_mode = true);",
      "CREATE RULE t AS SELECT a FROM 'a' DO timestream(database_name = 'd', table_name = 't', dimensions = [{name: 'device', value: '${upper(}'}]);",
      "CREATE RULE o AS SELECT a FROM 'a' DO location(tracker_name = 't', device_id = 'd', latitude = '${lat}');",
      "CREATE RULE w AS SELECT a FROM 'a' DO iot_site_wise(put_asset_property_value_entries = [{asset_id: 'a', property_values: []}]);",
    ].join('\n');
    const problems = checkRuleText(text, 'aws.sql').problems.map(formatProblem);
    expect(problems).toEqual([
      'aws.sql:1:66: kinesis: unknown parameter partitionkey (known: stream_name, partition_key, role_arn)',
      'aws.sql:2:39: sqs: missing parameter queue_url',
      'aws.sql:3:76: firehose: separator: expected one of "\\n", "\\t", "\\r\\n", ","',
      expect.stringMatching(/^aws\.sql:4:85: sns: message_format: .*RAW.*JSON/),
      'aws.sql:5:39: step_functions: missing parameter state_machine_name',
      'aws.sql:6:94: cloudwatch_alarm: state_value: expected OK, ALARM, INSUFFICIENT_DATA or a substitution template',
      expect.stringMatching(/^aws\.sql:7:77: cloudwatch_logs: unknown parameter batch \(known: /),
      'aws.sql:8:87: iot_events: message_id cannot be set with batch_mode = true (each message gets a new UUID)',
      'aws.sql:9:39: iot_analytics: missing parameter channel_name (or the deprecated channel_arn)',
      expect.stringMatching(/^aws\.sql:10:89: timestream: dimensions\[0\]\.value: bad substitution template: /),
      'aws.sql:11:39: location: missing parameter longitude',
      expect.stringMatching(/^aws\.sql:12:53: iot_site_wise: put_asset_property_value_entries/),
    ]);
  });

  test('a TopicRulePayload with every AWS-API action, as AWS spells it (camelCase), checks clean and maps back', () => {
    const payload = {
      sql: "SELECT * FROM 'plant/+/kiln'",
      actions: [
        { kinesis: { streamName: 'telemetry', partitionKey: '${topic(2)}', roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        { sqs: { queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/alerts', useBase64: true, roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        { firehose: { deliveryStreamName: 'archive', separator: '\n', batchMode: false, roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        { sns: { targetArn: 'arn:aws:sns:eu-west-1:123456789012:alerts', messageFormat: 'RAW', roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        { stepFunctions: { stateMachineName: 'cool-down', executionNamePrefix: 'iot-', roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        { cloudwatchAlarm: { alarmName: 'kiln', stateReason: 'hot', stateValue: 'ALARM', roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        { cloudwatchLogs: { logGroupName: '/iot/kilns', batchMode: false, roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        { iotEvents: { inputName: 'kiln_input', messageId: '${newuuid()}', batchMode: false, roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        { iotAnalytics: { channelName: 'telemetry', batchMode: false, roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        { timestream: { databaseName: 'iot', tableName: 'kilns', dimensions: [{ name: 'kiln', value: '${topic(2)}' }], timestamp: { value: '${timestamp()}', unit: 'MILLISECONDS' }, roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        { location: { trackerName: 'kilns', deviceId: '${topic(2)}', latitude: '${lat}', longitude: '${lon}', timestamp: { value: '${timestamp()}', unit: 'MILLISECONDS' }, roleArn: 'arn:aws:iam::123456789012:role/iot' } },
        {
          iotSiteWise: {
            putAssetPropertyValueEntries: [
              { entryId: 'e1', propertyAlias: '/plant/kiln/temperature', propertyValues: [{ value: { doubleValue: '${t}' }, timestamp: { timeInSeconds: '${floor(timestamp() / 1000)}', offsetInNanos: '0' }, quality: 'GOOD' }] },
            ],
            roleArn: 'arn:aws:iam::123456789012:role/iot',
          },
        },
      ],
    };
    const text = JSON.stringify(payload, null, 2);
    expect(checkRuleText(text, 'kilns.rule.json').problems.map(formatProblem)).toEqual([]);
    const model = parseJsonRuleFile(text, 'kilns.rule.json');
    expect(model.actions.map((a) => a.type)).toEqual(['kinesis', 'sqs', 'firehose', 'sns', 'step_functions', 'cloudwatch_alarm', 'cloudwatch_logs', 'iot_events', 'iot_analytics', 'timestream', 'location', 'iot_site_wise']);
    expect(model.actions[11]!.params['put_asset_property_value_entries']).toEqual([
      { entry_id: 'e1', property_alias: '/plant/kiln/temperature', property_values: [{ value: { double_value: '${t}' }, timestamp: { time_in_seconds: '${floor(timestamp() / 1000)}', offset_in_nanos: '0' }, quality: 'GOOD' }] },
    ]);
    // GetTopicRule answers the same payload back.
    expect(topicRulePayloadOf(model).actions).toEqual(payload.actions);
  });

  test('salesforce and machinelearning_predict are refused with one line naming the retired AWS feature', () => {
    const sql = checkRuleText("CREATE RULE r AS SELECT a FROM 'a'\nDO salesforce(url = 'https://x', token = 't')\nERROR DO machinelearning_predict(model_id = 'm');", 'old.sql').problems.map(formatProblem);
    expect(sql).toEqual([
      expect.stringMatching(/^old\.sql:2:4: action salesforce is not supported: .*Salesforce IoT/),
      expect.stringMatching(/^old\.sql:3:10: error action machinelearning_predict is not supported: .*Amazon Machine Learning, which AWS has retired/),
    ]);
    const json = checkRuleText(JSON.stringify({ sql: "SELECT * FROM 'a'", actions: [{ salesforce: { url: 'https://x', token: 't' } }] }), 'old.rule.json').problems.map(formatProblem);
    expect(json).toEqual([expect.stringMatching(/^old\.rule\.json:1:\d+: action salesforce is not supported: .*retired/)]);
  });

  test('a syntax error is one line with the position', () => {
    const problems = checkRuleText("CREATE RULE r AS SELECT a FROM 'a'\nWHERE a > DO republish(topic = 'x');", 'bad.sql').problems.map(formatProblem);
    expect(problems).toEqual(["bad.sql:2:11: expected an expression, found 'DO'"]);
  });
});

describe('TopicRulePayload files', () => {
  const json = JSON.stringify(
    {
      sql: "SELECT *, timestamp() AS timestamp FROM 'my/iot/topic'",
      description: 'republish',
      ruleDisabled: false,
      awsIotSqlVersion: '2016-03-23',
      actions: [{ republish: { topic: '${topic()}/republish', roleArn: 'arn:aws:iam::123456789012:role/my-iot-role' } }, { dynamoDBv2: { roleArn: 'r', putItem: { tableName: 'alerts' } } }],
      errorAction: { cloudwatchMetric: { metricNamespace: 'n', metricName: 'm', metricValue: '1', metricUnit: 'Count', roleArn: 'r' } },
    },
    null,
    2,
  );
  test('maps to the same rule model with snake_case parameters', () => {
    const rule = parseJsonRuleFile(json, 'rules/republish.rule.json');
    expect(rule).toMatchObject({
      name: 'republish',
      sql: "SELECT *, timestamp() AS timestamp FROM 'my/iot/topic'",
      sqlVersion: '2016-03-23',
      enabled: true,
      actions: [
        { type: 'republish', params: { topic: '${topic()}/republish', role_arn: 'arn:aws:iam::123456789012:role/my-iot-role' } },
        { type: 'dynamodbv2', params: { role_arn: 'r', table_name: 'alerts' } },
      ],
      errorAction: { type: 'cloudwatch_metric', params: { metric_namespace: 'n', metric_name: 'm', metric_value: '1', metric_unit: 'Count', role_arn: 'r' } },
    });
    expect(checkRuleText(json, 'rules/republish.rule.json').problems).toEqual([]);
  });
  test('an SQL error points into the file', () => {
    const text = '{\n  "sql": "SELECT nope() FROM \'a\'",\n  "actions": [{"republish": {"topic": "t"}}]\n}';
    expect(checkRuleText(text, 'x.rule.json').problems.map(formatProblem)).toEqual(['x.rule.json:2:18: unknown function nope()']);
  });
});

describe('compileRule honours the rule file\'s SQL version', () => {
  // SQL 2015-10-08 keeps 10.0 a Decimal, 2016-03-23 reads it as the Int 10 (iot-sql-data-types).
  const input = { topic: 'a/b', payload: '{"x": 10}' };
  test('WITH (sql_version = ...) in a .sql file', () => {
    const [v1, v2] = parseSqlRuleFile(
      "CREATE RULE v1 WITH (sql_version = '2015-10-08') AS SELECT x / 4.0 AS q, sql_version() AS v FROM 'a/+' DO republish(topic = 't');\n" +
        "CREATE RULE v2 AS SELECT x / 4.0 AS q, sql_version() AS v FROM 'a/+' DO republish(topic = 't');",
      'v.sql',
    );
    expect(compileRule(v1!).evaluate(input)).toEqual({ q: 2.5, v: '2015-10-08' });
    expect(compileRule(v2!).evaluate(input)).toEqual({ q: 2, v: '2016-03-23' });
  });
  test('awsIotSqlVersion in a .rule.json file', () => {
    const doc = (version: string) => JSON.stringify({ sql: "SELECT x / 4.0 AS q FROM 'a/+'", awsIotSqlVersion: version, actions: [{ republish: { topic: 't' } }] });
    expect(compileRule(parseJsonRuleFile(doc('2015-10-08'), 'v1.rule.json')).evaluate(input)).toEqual({ q: 2.5 });
    expect(compileRule(parseJsonRuleFile(doc('2016-03-23'), 'v2.rule.json')).evaluate(input)).toEqual({ q: 2 });
  });
  test('a feature the version lacks is a problem at its position; so is an unknown version', () => {
    const text = "CREATE RULE old WITH (sql_version = '2015-10-08')\nAS SELECT [1, 2] AS a FROM 'a' DO republish(topic = 't');";
    expect(checkRuleText(text, 'old.sql').problems.map(formatProblem)).toEqual(['old.sql:2:11: array literals need SQL version 2016-03-23 (this rule uses 2015-10-08)']);
    const bad = JSON.stringify({ sql: "SELECT * FROM 'a'", awsIotSqlVersion: '2020-01-01', actions: [{ republish: { topic: 't' } }] });
    expect(checkRuleText(bad, 'bad.rule.json').problems[0]!.message).toContain('sql_version: expected one of 2016-03-23, 2015-10-08, beta');
  });
});

describe('checkRules over a directory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiot-rules-'));
    await writeFile(join(dir, 'a.sql'), DESIGN_EXAMPLE);
    await writeFile(join(dir, 'overheat.rule.json'), JSON.stringify({ sql: "SELECT * FROM 'a'", actions: [{ lambda: { functionArn: 'x' } }] }));
    await writeFile(join(dir, 'notes.txt'), 'ignored');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  test('finds both formats and reports a duplicate name', async () => {
    const { rules, problems } = await checkRules([dir]);
    expect(rules.map((r) => r.name)).toEqual(['overheat', 'overheat']);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toContain('rule overheat is also defined at');
  });
  test('a missing path is a problem, not a crash', async () => {
    const { problems } = await checkRules([join(dir, 'missing')]);
    expect(problems[0]!.message).toContain('cannot read: ENOENT');
  });
});
