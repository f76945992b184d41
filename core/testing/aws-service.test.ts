/**
 * The local wire-protocol server is only worth testing against if it refuses what AWS refuses:
 * these cases drive it with the official clients and with raw requests.
 */
import { LocationClient, BatchUpdateDevicePositionCommand } from '@aws-sdk/client-location';
import { PublishBatchCommand, SNSClient } from '@aws-sdk/client-sns';
import { DeleteQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAwsServices, type AwsServiceServer } from './aws-service.js';
import { locationService, snsService, sqsService } from './aws-services.js';

let server: AwsServiceServer;
const sqs = sqsService();
const sns = snsService();
const location = locationService();
let queue: string;

beforeAll(async () => {
  server = await startAwsServices([sqs.spec, sns.spec, location.spec]);
  queue = sqs.createQueue('q', server.endpoint);
  sns.createTopic('t');
  location.createTracker('trucks');
});
afterAll(() => server?.close());

const options = (overrides: Record<string, unknown> = {}) => ({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1, ...overrides });
const errorOf = (p: Promise<unknown>): Promise<{ name: string; message: string; $metadata: { httpStatusCode?: number } }> => p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as never);

describe('the local AWS wire-protocol server', () => {
  test('takes a request the official client signs, and records it', async () => {
    const client = new SQSClient(options());
    const out = await client.send(new SendMessageBatchCommand({ QueueUrl: queue, Entries: [{ Id: 'a', MessageBody: 'hello' }] }));
    expect(out.Successful?.map((s) => s.Id)).toEqual(['a']);
    expect(server.calls.at(-1)).toEqual({ service: 'sqs', operation: 'SendMessageBatch', input: { QueueUrl: queue, Entries: [{ Id: 'a', MessageBody: 'hello' }] } });
    client.destroy();
  });

  test('refuses unsigned requests, a wrong secret, another region and an unknown key, as AWS words them', async () => {
    const unsigned = await fetch(server.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.SendMessageBatch' }, body: '{}' });
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toEqual({ __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' });
    const cases: [Record<string, unknown>, string][] = [
      [{ credentials: { ...server.credentials, secretAccessKey: 'wrong' } }, 'InvalidSignatureException'],
      [{ region: 'eu-west-1' }, 'InvalidSignatureException'],
      [{ credentials: { accessKeyId: 'AKIDOTHER', secretAccessKey: 'x' } }, 'UnrecognizedClientException'],
    ];
    for (const [overrides, name] of cases) {
      const client = new SQSClient(options(overrides));
      const err = await errorOf(client.send(new SendMessageBatchCommand({ QueueUrl: queue, Entries: [{ Id: 'a', MessageBody: 'x' }] })));
      expect(err.name).toBe(name);
      expect(err.$metadata.httpStatusCode).toBe(403);
      client.destroy();
    }
    expect(sqs.queues.get(queue)).toEqual(['hello']);
  });

  test('a missing required member is a ValidationException; errors come back in each protocol\'s shape', async () => {
    const client = new SQSClient(options());
    const missing = await errorOf(client.send(new SendMessageBatchCommand({ QueueUrl: queue } as never)));
    expect(missing.message).toMatch(/Value null at 'entries' failed to satisfy constraint: Member must not be null/);
    client.destroy();
    // awsQuery: <ErrorResponse> XML, which the SNS client turns into its modelled exception.
    const snsClient = new SNSClient(options());
    const notFound = await errorOf(snsClient.send(new PublishBatchCommand({ TopicArn: 'arn:aws:sns:us-east-1:000000000000:gone', PublishBatchRequestEntries: [{ Id: '1', Message: 'm' }] })));
    expect([notFound.name, notFound.$metadata.httpStatusCode]).toEqual(['NotFoundException', 404]);
    snsClient.destroy();
    // restJson1: x-amzn-ErrorType, which the Location client reads.
    const geo = new LocationClient(options({ disableHostPrefix: true }));
    const noTracker = await errorOf(geo.send(new BatchUpdateDevicePositionCommand({ TrackerName: 'gone', Updates: [{ DeviceId: 'd', Position: [1, 2], SampleTime: new Date() }] })));
    expect([noTracker.name, noTracker.$metadata.httpStatusCode]).toEqual(['ResourceNotFoundException', 404]);
    geo.destroy();
  });

  test('an operation the spec does not serve, or a service the server does not host, is refused and noted', async () => {
    const client = new SQSClient(options());
    const unknown = await errorOf(client.send(new DeleteQueueCommand({ QueueUrl: queue })));
    expect(unknown.message).toMatch(/X-Amz-Target AmazonSQS\.DeleteQueue is not an operation of sqs here/);
    client.destroy();
    const firehose = new FirehoseClient(options());
    const elsewhere = await errorOf(firehose.send(new PutRecordBatchCommand({ DeliveryStreamName: 's', Records: [{ Data: Buffer.from('x') }] })));
    expect(elsewhere.message).toMatch(/no service firehose here \(serving sqs, sns, geo\)/);
    firehose.destroy();
    expect(server.refused.slice(-2)).toEqual([expect.stringMatching(/^UnknownOperationException/), expect.stringMatching(/^UnrecognizedClientException/)]);
  });
});
