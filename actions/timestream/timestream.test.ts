import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { timestreamService } from '../../core/testing/aws-services.js';
import { outcomeOf, problemsOf, serverSettings, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createTimestreamDefinition, type TimestreamConfig } from './timestream.js';

let server: AwsServiceServer;
const timestream = timestreamService();
beforeAll(async () => {
  server = await startAwsServices([timestream.spec]);
  timestream.createTable('iot', 'readings');
});
afterAll(() => server?.close());

const base: TimestreamConfig = { database_name: 'iot', table_name: 'readings', dimensions: [{ name: 'device', value: 'd7' }] };

describe('timestream', () => {
  test('each attribute is a measure record with the dimensions and the timestamp; types as AWS IoT infers them', async () => {
    const def = createTimestreamDefinition({ settings: serverSettings(server) });
    const p: TimestreamConfig = def.config.parse({ ...base, timestamp: { value: '${ts}', unit: 'SECONDS' } });
    const sink = def.create(p, testDeps());
    await sink.writeBatch([testRecord({ temperature: 21.5, count: 3, ok: true, site: 'oslo', tags: ['a'], gone: null }, { ...p, timestamp: { value: '1700000000', unit: 'SECONDS' } }, 0)], signal());
    const dims = [{ Name: 'device', Value: 'd7', DimensionValueType: 'VARCHAR' }];
    const at = { Time: '1700000000', TimeUnit: 'SECONDS', Dimensions: dims };
    expect(timestream.tables.get('iot.readings')).toEqual([
      { ...at, MeasureName: 'temperature', MeasureValue: '21.5', MeasureValueType: 'DOUBLE' },
      { ...at, MeasureName: 'count', MeasureValue: '3', MeasureValueType: 'BIGINT' },
      { ...at, MeasureName: 'ok', MeasureValue: 'true', MeasureValueType: 'BOOLEAN' },
      { ...at, MeasureName: 'site', MeasureValue: 'oslo', MeasureValueType: 'VARCHAR' },
      { ...at, MeasureName: 'tags', MeasureValue: '["a"]', MeasureValueType: 'VARCHAR' },
    ]);
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('records Timestream rejects fail their messages alone; a bad timestamp and a non-object output fail without a request', async () => {
    const def = createTimestreamDefinition({ settings: serverSettings(server) });
    const sink = def.create(base, testDeps());
    timestream.tables.set('iot.readings', []);
    const err = await outcomeOf(
      sink.writeBatch(
        [
          testRecord({ t: 1 }, base, 0),
          testRecord({ note: 'x'.repeat(3000) }, base, 1),
          testRecord({ t: 2 }, { ...base, timestamp: { value: 'soon' } }, 2),
          testRecord('text', base, 3),
          testRecord({ t: 4 }, base, 4),
        ],
        signal(),
      ),
    );
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [2, false], [3, false]]);
    expect(failures[0]!.message).toBe('timestream iot.readings: RejectedRecord: Measure value of type VARCHAR exceeds the maximum size of 2 KB.');
    expect(failures[1]!.message).toBe('timestream iot.readings: timestamp.value "soon" is not a whole number of milliseconds');
    expect(timestream.tables.get('iot.readings')!.map((r) => r.MeasureValue)).toEqual(['1', '4']);
    await sink.close();
  });

  test('the schema', () => {
    const def = createTimestreamDefinition();
    expect(problemsOf(def.config, { database_name: 'd', table_name: 't', dimensions: [] })).toEqual([expect.stringMatching(/^dimensions: /)]);
    expect(problemsOf(def.config, { ...base, timestamp: { value: '1', unit: 'HOURS' } })).toEqual([expect.stringMatching(/^timestamp\.unit: /)]);
  });
});
