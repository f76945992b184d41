/**
 * End to end through the real rules worker on an EmbeddedLog, for the AWS-API kinds without an
 * endpoint setting of their own: an envelope on `iot.ingress` -> a rule -> the kind's sink ->
 * the target. kinesis goes to kinesalite through the AWS SDK's own `AWS_ENDPOINT_URL_KINESIS`;
 * the others go to the local wire-protocol server (core/testing/aws-service.ts) through kiot's
 * one `--aws-endpoint` setting, as they would to LocalStack. Credentials come from the AWS SDK's
 * chain (environment variables here), and the server checks every SigV4 signature with them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { loadConfig, silentLogger, TOPICS, type Log } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { allAwsServices } from '../../core/testing/aws-services.js';
import { startKinesalite, type KinesaliteServer } from '../../actions/kinesis/testing/kinesalite.js';
import { createRulesService, type RulesService } from './index.js';
import { closeTestLog, envelopesOf, openTestLog, publish, readN, waitFor } from './test-helpers.js';

const { sqs, firehose, sns, sfn, cloudwatch, logs, iotEvents, iotAnalytics, timestream, location, sitewise, specs: awsSpecs } = allAwsServices();

let aws: AwsServiceServer;
let kinesis: KinesaliteServer;

beforeAll(async () => {
  [aws, kinesis] = await Promise.all([
    startAwsServices(awsSpecs),
    startKinesalite(),
  ]);
  await kinesis.createStream('telemetry', 2);
  // No credentials in kiot's Config: the SDK's chain reads them from the environment, as in production.
  vi.stubEnv('AWS_ACCESS_KEY_ID', aws.credentials.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', aws.credentials.secretAccessKey);
  vi.stubEnv('AWS_ENDPOINT_URL_KINESIS', kinesis.endpoint);
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([aws?.close(), kinesis?.close()]);
});

let dir: string;
let log: Log;
let cleanups: (() => Promise<void>)[];
beforeEach(async () => ({ dir, log, cleanups } = await openTestLog('kiot-rules-aws-services-')));
afterEach(() => closeTestLog({ dir, log, cleanups }));

const FAST_RETRY = { retries: 1, initialBackoffMs: 30, maxBackoffMs: 100 };

async function start(rules: string, flags: Record<string, string> = { awsEndpoint: '' }): Promise<RulesService> {
  const rulesDir = join(dir, 'rules');
  await mkdir(rulesDir, { recursive: true });
  await writeFile(join(rulesDir, 'rules.sql'), rules);
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), rulesDir, awsRegion: aws.region, ...flags }, env: {} });
  const service = createRulesService(config.rules, { log, logger: silentLogger(), options: { groupId: 'kiot-rules', retry: FAST_RETRY, useTable: false } });
  cleanups.push(() => service.stop());
  await service.start();
  expect(service.list().rules.filter((r) => r.state !== 'enabled')).toEqual([]);
  return service;
}

const okCount = (service: RulesService): number => service.list().rules.reduce((n, r) => n + r.counters.actionsOk, 0);

describe('AWS-API kinds end to end (rules worker on the embedded log)', () => {
  test('kinesis: the partition key template renders per message; kinesalite holds the records', async () => {
    const service = await start(`CREATE RULE k AS SELECT temperature, topic(2) AS device FROM 'k/+' DO kinesis(stream_name = 'telemetry', partition_key = '\${topic(2)}');`, {});
    await publish(log, [
      { topic: 'k/dev-a', clientId: 'a', payload: Buffer.from('{"temperature": 20}') },
      { topic: 'k/dev-b', clientId: 'b', payload: Buffer.from('{"temperature": 30}') },
    ]);
    await waitFor(() => okCount(service) === 2, 15_000, 'two records');
    const records = (await kinesis.records('telemetry')).sort((x, y) => x.partitionKey.localeCompare(y.partitionKey));
    expect(records).toEqual([
      { partitionKey: 'dev-a', data: '{"temperature":20,"device":"dev-a"}' },
      { partitionKey: 'dev-b', data: '{"temperature":30,"device":"dev-b"}' },
    ]);
  });

  test('every kind the wire-protocol server hosts, from one rule file, through kiot\'s one AWS endpoint', async () => {
    const queue = sqs.createQueue('alerts', aws.endpoint);
    firehose.createDeliveryStream('archive');
    const topic = sns.createTopic('alerts');
    const machine = sfn.createStateMachine('cool-down');
    cloudwatch.createAlarm('kiln');
    logs.createLogGroup('/iot/devices');
    iotEvents.createInput('kiln_input');
    iotAnalytics.createChannel('telemetry');
    timestream.createTable('iot', 'readings');
    location.createTracker('trucks');
    sitewise.createProperty('/kiln/temperature');
    const service = await start(
      [
        `CREATE RULE q AS SELECT * FROM 'e/+' DO sqs(queue_url = '${queue}', use_base64 = true);`,
        `CREATE RULE f AS SELECT * FROM 'e/+' DO firehose(delivery_stream_name = 'archive', separator = '\\n');`,
        `CREATE RULE n AS SELECT * FROM 'e/+' DO sns(target_arn = '${topic}', message_format = 'RAW');`,
        `CREATE RULE s AS SELECT * FROM 'e/+' DO step_functions(state_machine_name = 'cool-down', execution_name_prefix = '\${topic(2)}-');`,
        `CREATE RULE c AS SELECT t FROM 'e/+' WHERE t > 900 DO cloudwatch_alarm(alarm_name = 'kiln', state_value = 'ALARM', state_reason = 'reading \${t}');`,
        `CREATE RULE l AS SELECT * FROM 'e/+' DO cloudwatch_logs(log_group_name = '/iot/devices');`,
        `CREATE RULE e AS SELECT * FROM 'e/+' DO iot_events(input_name = 'kiln_input', message_id = '\${topic(2)}-\${t}');`,
        `CREATE RULE a AS SELECT * FROM 'e/+' DO iot_analytics(channel_name = 'telemetry');`,
        `CREATE RULE t AS SELECT t FROM 'e/+' DO timestream(database_name = 'iot', table_name = 'readings', dimensions = [{name: 'kiln', value: '\${topic(2)}'}], timestamp = {value: '\${ts}', unit: 'SECONDS'});`,
        `CREATE RULE o AS SELECT * FROM 'e/+' DO location(tracker_name = 'trucks', device_id = '\${topic(2)}', latitude = '\${lat}', longitude = '\${lon}');`,
        `CREATE RULE w AS SELECT * FROM 'e/+' DO iot_site_wise(put_asset_property_value_entries = [{property_alias: '/kiln/temperature', property_values: [{value: {double_value: '\${t}'}, timestamp: {time_in_seconds: '\${ts}'}}]}]);`,
      ].join('\n'),
      { awsEndpoint: aws.endpoint },
    );
    await publish(log, [{ topic: 'e/kiln-1', clientId: 'kiln-1', payload: Buffer.from('{"t": 950.5, "ts": 1700000000, "lat": 59.9, "lon": 10.7}') }]);
    expect(service.list().rules).toHaveLength(11);
    await waitFor(() => okCount(service) === 11, 20_000, 'eleven actions');
    const message = { t: 950.5, ts: 1700000000, lat: 59.9, lon: 10.7 };
    expect(sqs.queues.get(queue)!.map((b) => JSON.parse(Buffer.from(b, 'base64').toString()))).toEqual([message]);
    expect(Buffer.concat(firehose.streams.get('archive')!).toString()).toBe(`${JSON.stringify(message)}\n`);
    expect(sns.published.get(topic)!.map((m) => JSON.parse(m.message))).toEqual([message]);
    expect(sfn.machines.get(machine)!.map((e) => [e.name.slice(0, 7), JSON.parse(e.input)])).toEqual([['kiln-1-', message]]);
    expect(cloudwatch.alarms.get('kiln')).toEqual([{ value: 'ALARM', reason: 'reading 950.5' }]);
    expect(logs.groups.get('/iot/devices')!.get('l')!.map((e) => JSON.parse(e.message))).toEqual([message]);
    expect(iotEvents.inputs.get('kiln_input')).toEqual([{ messageId: 'kiln-1-950.5', payload: JSON.stringify(message) }]);
    expect(iotAnalytics.channels.get('telemetry')!.map((m) => JSON.parse(m.payload))).toEqual([message]);
    expect(timestream.tables.get('iot.readings')).toEqual([
      { Dimensions: [{ Name: 'kiln', Value: 'kiln-1', DimensionValueType: 'VARCHAR' }], MeasureName: 't', MeasureValue: '950.5', MeasureValueType: 'DOUBLE', Time: '1700000000', TimeUnit: 'SECONDS' },
    ]);
    expect(location.trackers.get('trucks')).toEqual([{ DeviceId: 'kiln-1', Position: [10.7, 59.9], SampleTime: expect.stringMatching(/^\d{4}-/) }]);
    expect(sitewise.properties.get('/kiln/temperature')).toEqual([{ value: { doubleValue: 950.5 }, timestamp: { timeInSeconds: 1700000000, offsetInNanos: 0 } }]);
    expect(aws.refused).toEqual([]);
    expect(new Set(aws.calls.map((c) => c.service))).toEqual(new Set(['sqs', 'firehose', 'sns', 'states', 'monitoring', 'logs', 'ioteventsdata', 'iotanalytics', 'timestream', 'geo', 'iotsitewise']));
  });

  test('an oversized record gets the target\'s own error in the error action (AWS\'s error message shape); the other record is written', async () => {
    const queue = sqs.createQueue('big', aws.endpoint);
    const service = await start(
      [
        `CREATE RULE big_k AS SELECT * FROM 'big/+' DO kinesis(stream_name = 'telemetry', partition_key = 'big') ERROR DO republish(topic = 'errors/kinesis');`,
        `CREATE RULE big_q AS SELECT * FROM 'big/+' DO sqs(queue_url = '${queue}') ERROR DO republish(topic = 'errors/sqs');`,
      ].join('\n'),
      {},
    );
    const large = Buffer.from(JSON.stringify({ blob: 'x'.repeat(1024 * 1024 + 10) }));
    await publish(log, [
      { topic: 'big/dev', clientId: 'dev', payload: large },
      { topic: 'big/dev', clientId: 'dev', payload: Buffer.from('{"small": true}') },
    ]);
    const errors = envelopesOf(await readN(log, TOPICS.egress, 2, 20_000)).map((e) => ({ topic: e.topic, body: JSON.parse(e.payload.toString()) }));
    const byTopic = Object.fromEntries(errors.map((e) => [e.topic, e.body]));
    expect(byTopic['errors/kinesis']).toMatchObject({
      ruleName: 'big_k',
      topic: 'big/dev',
      clientId: 'dev',
      failures: [{ failedAction: 'KinesisAction', failedResource: 'telemetry', errorMessage: expect.stringMatching(/ValidationException: .*1048576/) }],
    });
    expect(byTopic['errors/sqs']).toMatchObject({
      ruleName: 'big_q',
      failures: [{ failedAction: 'SqsAction', failedResource: queue, errorMessage: expect.stringMatching(/InvalidParameterValue: .*Message must be shorter than 1048576 bytes/) }],
    });
    await waitFor(() => okCount(service) === 2, 15_000, 'the small message written by both');
    expect(sqs.queues.get(queue)).toEqual(['{"small":true}']);
    expect((await kinesis.records('telemetry')).filter((r) => r.partitionKey === 'big').map((r) => r.data)).toEqual(['{"small":true}']);
  });
});
