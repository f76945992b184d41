import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { siteWiseService } from '../../core/testing/aws-services.js';
import { outcomeOf, problemsOf, serverSettings, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createIotSiteWiseDefinition, type IotSiteWiseConfig } from './iot-site-wise.js';

let server: AwsServiceServer;
const sitewise = siteWiseService();
beforeAll(async () => {
  server = await startAwsServices([sitewise.spec]);
  sitewise.createProperty('/plant/line1/temperature');
  sitewise.createProperty('asset-1/prop-rpm');
});
afterAll(() => server?.close());

const entries = (temperature: string, rpm: string, alias = '/plant/line1/temperature'): IotSiteWiseConfig => ({
  put_asset_property_value_entries: [
    { property_alias: alias, property_values: [{ value: { double_value: temperature }, timestamp: { time_in_seconds: '1700000000', offset_in_nanos: '5' }, quality: 'GOOD' }] },
    { asset_id: 'asset-1', property_id: 'prop-rpm', property_values: [{ value: { integer_value: rpm }, timestamp: { time_in_seconds: '1700000000' } }] },
  ],
});

describe('iot_site_wise', () => {
  test('each configured entry becomes a SiteWise entry with typed values; requests of 10 entries', async () => {
    const def = createIotSiteWiseDefinition({ settings: serverSettings(server) });
    const sink = def.create(def.config.parse(entries('${t}', '${rpm}')), testDeps());
    await sink.writeBatch(Array.from({ length: 6 }, (_, i) => testRecord({}, entries(String(20.5 + i), String(1000 + i)), i)), signal());
    expect(sitewise.properties.get('/plant/line1/temperature')![0]).toEqual({ value: { doubleValue: 20.5 }, timestamp: { timeInSeconds: 1700000000, offsetInNanos: 5 }, quality: 'GOOD' });
    expect(sitewise.properties.get('asset-1/prop-rpm')!.map((v) => v.value)).toEqual([1000, 1001, 1002, 1003, 1004, 1005].map((integerValue) => ({ integerValue })));
    expect(server.calls.map((c) => c.input['entries'].length)).toEqual([10, 2]);
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('an entry SiteWise refuses fails its message alone; a value that does not render to its type fails without a request', async () => {
    const def = createIotSiteWiseDefinition({ settings: serverSettings(server) });
    const sink = def.create(entries('1', '1'), testDeps());
    sitewise.properties.set('asset-1/prop-rpm', []);
    const err = await outcomeOf(sink.writeBatch([testRecord({}, entries('1', '7'), 0), testRecord({}, entries('1', '8', '/no/such'), 1), testRecord({}, entries('warm', '9'), 2)], signal()));
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [2, false]]);
    expect(failures[0]!.message).toBe('iot_site_wise properties: ResourceNotFoundException: Property /no/such not found');
    expect(failures[1]!.message).toBe('iot_site_wise properties: double_value "warm" is not a number');
    // The message that failed had another entry, which SiteWise took: at least once, as its retry would write it again.
    expect(sitewise.properties.get('asset-1/prop-rpm')!.map((v) => v.value)).toEqual([{ integerValue: 7 }, { integerValue: 8 }]);
    await sink.close();
  });

  test('the schema: an entry needs an alias or asset and property; a value exactly one variant', () => {
    const def = createIotSiteWiseDefinition();
    const v = { value: { string_value: 'a', double_value: '1' }, timestamp: { time_in_seconds: '1' } };
    expect(problemsOf(def.config, { put_asset_property_value_entries: [{ asset_id: 'a', property_values: [v] }] })).toEqual([
      'put_asset_property_value_entries[0]: expected property_alias, or asset_id and property_id',
      'put_asset_property_value_entries[0].property_values[0].value: expected exactly one of string_value, integer_value, double_value, boolean_value',
    ]);
    expect(problemsOf(def.config, {})).toEqual(['missing parameter put_asset_property_value_entries']);
  });
});
