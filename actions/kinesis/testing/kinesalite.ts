/**
 * Test helper: kinesalite (Kinesis's wire API on an in-memory LevelDB) on a loopback port, with
 * a plain SDK client to create streams and read records back, independently of the code under
 * test. kinesalite accepts any credentials.
 */
import type { AddressInfo } from 'node:net';
import { CreateStreamCommand, DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import kinesalite from 'kinesalite';
import type { AwsClientSettings } from '../../aws/index.js';

export const KINESIS_TEST_CREDENTIALS = { accessKeyId: 'kiot-test', secretAccessKey: 'kiot-test' } as const;

export interface KinesaliteServer {
  readonly endpoint: string;
  readonly settings: AwsClientSettings;
  readonly client: KinesisClient;
  createStream(name: string, shards?: number): Promise<void>;
  /** Every record of the stream, over all shards, as data text with its partition key. */
  records(stream: string): Promise<{ data: string; partitionKey: string }[]>;
  close(): Promise<void>;
}

export async function startKinesalite(): Promise<KinesaliteServer> {
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const settings: AwsClientSettings = { endpoint, region: 'us-east-1', credentials: KINESIS_TEST_CREDENTIALS, requestTimeoutMs: 5_000 };
  // HTTP/1.1: the Kinesis client's default is HTTP/2, which kinesalite does not speak.
  const client = new KinesisClient({ endpoint, region: 'us-east-1', credentials: KINESIS_TEST_CREDENTIALS, requestHandler: new NodeHttpHandler() });
  return {
    endpoint,
    settings,
    client,
    async createStream(name, shards = 2) {
      await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
      for (;;) {
        const d = await client.send(new DescribeStreamCommand({ StreamName: name }));
        if (d.StreamDescription?.StreamStatus === 'ACTIVE') return;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async records(stream) {
      const d = await client.send(new DescribeStreamCommand({ StreamName: stream }));
      const out: { data: string; partitionKey: string }[] = [];
      for (const shard of d.StreamDescription?.Shards ?? []) {
        let iterator = (await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
        while (iterator) {
          const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
          for (const r of page.Records ?? []) out.push({ data: Buffer.from(r.Data!).toString(), partitionKey: r.PartitionKey! });
          if ((page.Records ?? []).length === 0) break;
          iterator = page.NextShardIterator;
        }
      }
      return out;
    },
    async close() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
