import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { cloudWatchLogsService } from '../../core/testing/aws-services.js';
import { outcomeOf, problemsOf, serverSettings, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createCloudwatchLogsDefinition, type CloudwatchLogsConfig } from './cloudwatch-logs.js';

let server: AwsServiceServer;
const logs = cloudWatchLogsService();
beforeAll(async () => {
  server = await startAwsServices([logs.spec]);
  logs.createLogGroup('devices');
});
afterAll(() => server?.close());

describe('cloudwatch_logs', () => {
  test('one event per output in the rule\'s log stream, created on first use; events sorted by time', async () => {
    const def = createCloudwatchLogsDefinition({ settings: serverSettings(server) });
    const p: CloudwatchLogsConfig = def.config.parse({ log_group_name: 'devices' });
    const sink = def.create(p, testDeps());
    // The event's time is when the message arrived (CloudWatch Logs refuses events over 14 days old).
    const now = Date.now();
    const at = (i: number) => ({ ...testRecord({ n: i }, p, i), receivedAt: now + i });
    await sink.writeBatch([at(2), at(0), at(1)], signal());
    await sink.writeBatch([at(3)], signal());
    expect(logs.groups.get('devices')!.get('test_rule')).toEqual([0, 1, 2, 3].map((i) => ({ timestamp: now + i, message: JSON.stringify({ n: i }) })));
    expect(server.calls.filter((c) => c.operation === 'CreateLogStream')).toHaveLength(1);
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('batch_mode: each {timestamp, message} is an event; a bad element, an oversized and a too-old event fail their records alone', async () => {
    const def = createCloudwatchLogsDefinition({ settings: serverSettings(server) });
    const p: CloudwatchLogsConfig = def.config.parse({ log_group_name: 'devices', batch_mode: true });
    const sink = def.create(p, testDeps());
    const now = Date.now();
    const err = await outcomeOf(
      sink.writeBatch(
        [
          testRecord([{ timestamp: now, message: 'boot' }, { timestamp: now + 1, message: 'ready' }], p, 0),
          testRecord([{ timestamp: now, text: 'no message' }], p, 1),
          testRecord([{ timestamp: now + 2, message: 'x'.repeat(262_144) }], p, 2),
          testRecord([{ timestamp: now - 30 * 86_400_000, message: 'old' }], p, 3),
        ].map((r) => ({ ...r, ruleName: 'batched' })),
        signal(),
      ),
    );
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [2, false], [3, false]]);
    expect(failures[0]!.message).toBe('cloudwatch_logs devices:batched: batch_mode: element 0 is not {"timestamp": <ms>, "message": "<text>"}');
    expect(failures[1]!.message).toMatch(/InvalidParameterException: Log event too large/);
    expect(failures[2]!.message).toMatch(/TooOldLogEvent/);
    expect(logs.groups.get('devices')!.get('batched')!.map((e) => e.message)).toEqual(['boot', 'ready']);
    await sink.close();
  });

  test('the schema', () => {
    expect(problemsOf(createCloudwatchLogsDefinition().config, { log_group: 'g' })).toEqual(['missing parameter log_group_name', expect.stringMatching(/^unknown parameter log_group /)]);
  });
});
