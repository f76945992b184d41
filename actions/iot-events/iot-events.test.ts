import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { iotEventsService } from '../../core/testing/aws-services.js';
import { outcomeOf, problemsOf, serverSettings, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createIotEventsDefinition, type IotEventsConfig } from './iot-events.js';

let server: AwsServiceServer;
const events = iotEventsService();
beforeAll(async () => {
  server = await startAwsServices([events.spec]);
  events.createInput('pressure');
});
afterAll(() => server?.close());

describe('iot_events', () => {
  test('BatchPutMessage requests of 10 with the rendered message id; a missing input fails its records alone', async () => {
    const def = createIotEventsDefinition({ settings: serverSettings(server) });
    const p = (input_name: string, i: number): IotEventsConfig => ({ input_name, message_id: `msg-${i}` });
    const sink = def.create(def.config.parse({ input_name: 'pressure', message_id: '${newuuid()}' }), testDeps());
    const records = Array.from({ length: 12 }, (_, i) => testRecord({ psi: 30 + i }, p(i === 5 ? 'nope' : 'pressure', i), i));
    const err = await outcomeOf(sink.writeBatch(records, signal()));
    expect((err as SinkBatchError).failures).toEqual([{ index: 5, retriable: false, message: 'iot_events inputs: ResourceNotFoundException: Input nope does not exist' }]);
    expect(events.inputs.get('pressure')!.map((m) => [m.messageId, JSON.parse(m.payload).psi])).toEqual(records.filter((_, i) => i !== 5).map((r) => [r.params.message_id, (r.output as { psi: number }).psi]));
    expect(server.calls.map((c) => c.input['messages'].length)).toEqual([10, 2]);
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('batch_mode: one message per element, each with a new UUID; message_id is refused with it', async () => {
    const def = createIotEventsDefinition({ settings: serverSettings(server) });
    const p: IotEventsConfig = def.config.parse({ input_name: 'pressure', batch_mode: true });
    const sink = def.create(p, testDeps());
    events.inputs.set('pressure', []);
    await sink.writeBatch([testRecord([{ psi: 1 }, { psi: 2 }], p, 0)], signal());
    expect(events.inputs.get('pressure')!.map((m) => JSON.parse(m.payload).psi)).toEqual([1, 2]);
    expect(events.inputs.get('pressure')!.every((m) => /^[0-9a-f-]{36}$/.test(m.messageId))).toBe(true);
    expect(problemsOf(def.config, { input_name: 'i', batch_mode: true, message_id: 'x' })).toEqual(['message_id cannot be set with batch_mode = true (each message gets a new UUID)']);
    expect(problemsOf(def.config, {})).toEqual(['missing parameter input_name']);
    await sink.close();
  });
});
