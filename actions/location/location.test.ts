import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { locationService } from '../../core/testing/aws-services.js';
import { outcomeOf, problemsOf, serverSettings, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createLocationDefinition, type LocationConfig } from './location.js';

let server: AwsServiceServer;
const location = locationService();
beforeAll(async () => {
  server = await startAwsServices([location.spec]);
  location.createTracker('trucks');
});
afterAll(() => server?.close());

const at = (device_id: string, latitude: string, longitude: string, tracker_name = 'trucks'): LocationConfig => ({ tracker_name, device_id, latitude, longitude, timestamp: { value: '1700000000000' } });

describe('location', () => {
  test('positions go as [longitude, latitude] in BatchUpdateDevicePosition requests of 10, under the tracker\'s path', async () => {
    const def = createLocationDefinition({ settings: serverSettings(server) });
    const sink = def.create(def.config.parse({ tracker_name: 'trucks', device_id: '${clientid()}', latitude: '${lat}', longitude: '${lon}' }), testDeps());
    const records = Array.from({ length: 11 }, (_, i) => testRecord({}, at(`truck-${i}`, String(59.9 + i / 100), '10.75'), i));
    await sink.writeBatch(records, signal());
    const updates = location.trackers.get('trucks')!;
    expect(updates).toHaveLength(11);
    expect(updates[3]).toEqual({ DeviceId: 'truck-3', Position: [10.75, 59.93], SampleTime: '2023-11-14T22:13:20Z' });
    expect(server.calls.map((c) => c.input['Updates'].length)).toEqual([10, 1]);
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('a position out of range fails alone with Location\'s error; coordinates that are not numbers fail without a request', async () => {
    const def = createLocationDefinition({ settings: serverSettings(server) });
    const sink = def.create(at('a', '0', '0'), testDeps());
    location.trackers.set('trucks', []);
    const err = await outcomeOf(sink.writeBatch([testRecord({}, at('ok', '1', '2'), 0), testRecord({}, at('far', '95', '2'), 1), testRecord({}, at('nan', 'north', '2'), 2), testRecord({}, at('x', '1', '2', 'nope'), 3)], signal()));
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [2, false], [3, false]]);
    expect(failures[0]!.message).toMatch(/^location trucks: ValidationError: Position \[2,95\]/);
    expect(failures[1]!.message).toBe('location trucks: latitude and longitude must render to numbers, got "north", "2"');
    expect(failures[2]!.message).toMatch(/^location nope: ResourceNotFoundException/);
    expect(location.trackers.get('trucks')!.map((u) => u.DeviceId)).toEqual(['ok']);
    expect(problemsOf(def.config, { tracker_name: 't', device_id: 'd', latitude: '1' })).toEqual(['missing parameter longitude']);
    await sink.close();
  });
});
