import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { iotAnalyticsService } from '../../core/testing/aws-services.js';
import { outcomeOf, problemsOf, serverSettings, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createIotAnalyticsDefinition, type IotAnalyticsConfig } from './iot-analytics.js';

let server: AwsServiceServer;
const analytics = iotAnalyticsService();
beforeAll(async () => {
  server = await startAwsServices([analytics.spec]);
  analytics.createChannel('telemetry');
});
afterAll(() => server?.close());

describe('iot_analytics', () => {
  test('one BatchPutMessage per channel; a payload over 128 KiB gets IoT Analytics\' error alone', async () => {
    const def = createIotAnalyticsDefinition({ settings: serverSettings(server) });
    const p: IotAnalyticsConfig = def.config.parse({ channel_name: 'telemetry' });
    const sink = def.create(p, testDeps());
    const err = await outcomeOf(sink.writeBatch([testRecord({ n: 0 }, p, 0), testRecord({ x: 'x'.repeat(128 * 1024) }, p, 1), testRecord({ n: 2 }, p, 2)], signal()));
    expect((err as SinkBatchError).failures).toEqual([{ index: 1, retriable: false, message: expect.stringMatching(/^iot_analytics telemetry: InvalidRequestException: Message payload exceeds/) }]);
    expect(analytics.channels.get('telemetry')!.map((m) => JSON.parse(m.payload).n)).toEqual([0, 2]);
    expect(server.calls).toHaveLength(1);
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('the deprecated channel_arn names the channel; batch_mode splits an array; a missing channel fails non-retriable', async () => {
    const def = createIotAnalyticsDefinition({ settings: serverSettings(server) });
    const p: IotAnalyticsConfig = def.config.parse({ channel_arn: 'arn:aws:iotanalytics:us-east-1:000000000000:channel/telemetry', batch_mode: true });
    const sink = def.create(p, testDeps());
    analytics.channels.set('telemetry', []);
    const err = await outcomeOf(sink.writeBatch([testRecord([{ n: 1 }, { n: 2 }], p, 0), testRecord([{ n: 3 }], { channel_name: 'gone' }, 1)], signal()));
    expect((err as SinkBatchError).failures).toEqual([{ index: 1, retriable: false, message: expect.stringMatching(/^iot_analytics gone: ResourceNotFoundException/) }]);
    expect(analytics.channels.get('telemetry')!.map((m) => JSON.parse(m.payload).n)).toEqual([1, 2]);
    expect(problemsOf(def.config, { batch_mode: true })).toEqual(['missing parameter channel_name (or the deprecated channel_arn)']);
    await sink.close();
  });
});
