import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { cloudWatchService } from '../../core/testing/aws-services.js';
import { outcomeOf, problemsOf, serverSettings, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createCloudwatchAlarmDefinition, type CloudwatchAlarmConfig } from './cloudwatch-alarm.js';

let server: AwsServiceServer;
const cloudwatch = cloudWatchService();
beforeAll(async () => {
  server = await startAwsServices([cloudwatch.spec]);
  cloudwatch.createAlarm('kiln-temperature');
});
afterAll(() => server?.close());

describe('cloudwatch_alarm', () => {
  test('SetAlarmState with the rendered state and reason, over CloudWatch\'s JSON protocol', async () => {
    const def = createCloudwatchAlarmDefinition({ settings: serverSettings(server) });
    const p: CloudwatchAlarmConfig = def.config.parse({ alarm_name: 'kiln-temperature', state_value: '${state}', state_reason: 'reading ${t}' });
    const sink = def.create(p, testDeps());
    await sink.writeBatch([testRecord({ t: 990 }, { ...p, state_value: 'ALARM', state_reason: 'reading 990' }, 0)], signal());
    expect(cloudwatch.alarms.get('kiln-temperature')).toEqual([{ value: 'ALARM', reason: 'reading 990' }]);
    expect(server.calls.at(-1)).toMatchObject({ service: 'monitoring', operation: 'SetAlarmState' });
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('a state that renders to no alarm state, and an alarm that does not exist, fail alone', async () => {
    const def = createCloudwatchAlarmDefinition({ settings: serverSettings(server) });
    const p = (alarm_name: string, state_value: string): CloudwatchAlarmConfig => ({ alarm_name, state_value, state_reason: 'r' });
    const sink = def.create(p('kiln-temperature', 'OK'), testDeps());
    const err = await outcomeOf(sink.writeBatch([testRecord({}, p('kiln-temperature', 'OK'), 0), testRecord({}, p('kiln-temperature', 'HOT'), 1), testRecord({}, p('nope', 'OK'), 2)], signal()));
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [2, false]]);
    expect(failures[0]!.message).toBe('cloudwatch_alarm kiln-temperature: state_value "HOT" is not one of OK, ALARM, INSUFFICIENT_DATA');
    expect(failures[1]!.message).toMatch(/^cloudwatch_alarm nope: ResourceNotFound/);
    expect(cloudwatch.alarms.get('kiln-temperature')!.at(-1)).toEqual({ value: 'OK', reason: 'r' });
    await sink.close();
  });

  test('the schema', () => {
    expect(problemsOf(createCloudwatchAlarmDefinition().config, { alarm_name: 'a', state_reason: 'r', state_value: 'RED' })).toEqual([expect.stringMatching(/^state_value: expected OK, ALARM, INSUFFICIENT_DATA/)]);
  });
});
