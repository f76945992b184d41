/**
 * Test helper: s3rver (a fake S3 on the file system) on a loopback port, with a plain SDK
 * client to read objects back independently of the code under test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import type { AwsClientSettings } from '../../aws/index.js';

const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3rverServer {
  readonly settings: AwsClientSettings;
  getObject(bucket: string, key: string): Promise<{ body: Buffer; contentType: string | undefined }>;
  listKeys(bucket: string): Promise<string[]>;
  close(): Promise<void>;
}

export async function startS3rver(buckets: string[]): Promise<S3rverServer> {
  const directory = await mkdtemp(join(tmpdir(), 'kiot-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const settings: AwsClientSettings = { endpoint, region: 'us-east-1', credentials: CREDENTIALS, forcePathStyle: true, requestTimeoutMs: 5_000 };
  const client = new S3Client({ endpoint, region: 'us-east-1', credentials: CREDENTIALS, forcePathStyle: true });
  return {
    settings,
    async getObject(bucket, key) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return { body: Buffer.from(await out.Body!.transformToByteArray()), contentType: out.ContentType };
    },
    async listKeys(bucket) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }));
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.NextContinuationToken;
      } while (token);
      return keys.sort();
    },
    async close() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
