import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { snsService } from '../../core/testing/aws-services.js';
import { outcomeOf, problemsOf, serverSettings, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createSnsDefinition, type SnsConfig } from './sns.js';

let server: AwsServiceServer;
const sns = snsService();
let topic: string;
let phone: string;
beforeAll(async () => {
  server = await startAwsServices([sns.spec]);
  topic = sns.createTopic('alerts');
  phone = sns.createPlatformEndpoint('app', 'phone-1');
});
afterAll(() => server?.close());

describe('sns', () => {
  test('RAW: a batch is PublishBatch requests of 10 over awsQuery; the message is the output as JSON', async () => {
    const def = createSnsDefinition({ settings: serverSettings(server) });
    const p: SnsConfig = def.config.parse({ target_arn: topic });
    const sink = def.create(p, testDeps());
    await sink.writeBatch(Array.from({ length: 14 }, (_, i) => testRecord({ n: i }, p, i)), signal());
    expect(sns.published.get(topic)!.map((m) => JSON.parse(m.message).n)).toEqual(Array.from({ length: 14 }, (_, i) => i));
    expect(sns.published.get(topic)![0]!.structure).toBeUndefined();
    expect(server.calls.filter((c) => c.operation === 'PublishBatch').map((c) => c.input['PublishBatchRequestEntries'].length).sort()).toEqual([10, 4]);
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('JSON: MessageStructure json; an output without a default message is refused by SNS and fails alone', async () => {
    const def = createSnsDefinition({ settings: serverSettings(server) });
    const p: SnsConfig = def.config.parse({ target_arn: topic, message_format: 'JSON' });
    const sink = def.create(p, testDeps());
    sns.published.set(topic, []);
    const push = { default: 'Overheat', GCM: JSON.stringify({ notification: { body: 'Overheat' } }) };
    const err = await outcomeOf(sink.writeBatch([testRecord(push, p, 0), testRecord({ text: 'no default' }, p, 1)], signal()));
    expect((err as SinkBatchError).failures).toEqual([{ index: 1, retriable: false, message: expect.stringMatching(/InvalidParameter: .*No default entry/) }]);
    expect(sns.published.get(topic)).toEqual([{ message: JSON.stringify(push), structure: 'json' }]);
    await sink.close();
  });

  test('a platform endpoint gets one Publish per record (PublishBatch takes topics only); a missing topic is NotFound', async () => {
    const def = createSnsDefinition({ settings: serverSettings(server) });
    const sink = def.create({ target_arn: phone }, testDeps());
    await sink.writeBatch([testRecord({ n: 1 }, { target_arn: phone }, 0), testRecord({ n: 2 }, { target_arn: phone }, 1)], signal());
    expect(sns.published.get(phone)!.map((m) => m.message)).toEqual(['{"n":1}', '{"n":2}']);
    const missing = `${topic}-gone`;
    const err = await outcomeOf(sink.writeBatch([testRecord({ n: 3 }, { target_arn: missing }, 0)], signal()));
    expect((err as SinkBatchError).failures).toEqual([{ index: 0, retriable: false, message: expect.stringMatching(/NotFoundException: Topic does not exist/) }]);
    await sink.close();
  });

  test('the schema', () => {
    expect(problemsOf(createSnsDefinition().config, { target_arn: 'a', message_format: 'XML' })).toEqual([expect.stringMatching(/^message_format: .*RAW.*JSON/)]);
  });
});
