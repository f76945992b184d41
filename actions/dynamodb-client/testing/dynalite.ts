/**
 * Test helper: dynalite (DynamoDB's wire API on an in-memory LevelDB) on a loopback port,
 * and an SDK-backed DynamoDbApi pointed at it. dynalite accepts any credentials.
 */
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import type { AwsClientSettings } from '../../aws/index.js';
import { createDynamoDbApi } from '../dynamodb-client.js';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  type AttributeValue,
  type KeySchemaElement,
  type AttributeDefinition,
} from '@aws-sdk/client-dynamodb';

export const TEST_CREDENTIALS = { accessKeyId: 'kiot-test', secretAccessKey: 'kiot-test' } as const;

export interface DynaliteServer {
  readonly endpoint: string;
  readonly settings: AwsClientSettings;
  /** A plain SDK client for setting up and reading back, independent of the code under test. */
  readonly client: DynamoDBClient;
  createTable(name: string, hashKey: { name: string; type: 'S' | 'N' }, rangeKey?: { name: string; type: 'S' | 'N' }): Promise<void>;
  putItem(table: string, item: Record<string, AttributeValue>): Promise<void>;
  scan(table: string): Promise<Record<string, AttributeValue>[]>;
  getItem(table: string, key: Record<string, AttributeValue>): Promise<Record<string, AttributeValue> | undefined>;
  close(): Promise<void>;
}

export async function startDynalite(): Promise<DynaliteServer> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const settings: AwsClientSettings = { endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS, requestTimeoutMs: 5_000 };
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS });
  return {
    endpoint,
    settings,
    client,
    async createTable(name, hashKey, rangeKey) {
      const keySchema: KeySchemaElement[] = [{ AttributeName: hashKey.name, KeyType: 'HASH' }];
      const defs: AttributeDefinition[] = [{ AttributeName: hashKey.name, AttributeType: hashKey.type }];
      if (rangeKey) {
        keySchema.push({ AttributeName: rangeKey.name, KeyType: 'RANGE' });
        defs.push({ AttributeName: rangeKey.name, AttributeType: rangeKey.type });
      }
      await client.send(new CreateTableCommand({ TableName: name, KeySchema: keySchema, AttributeDefinitions: defs, BillingMode: 'PAY_PER_REQUEST' }));
      // createTableMs: 0 makes the table ACTIVE at once; check rather than assume.
      const described = await client.send(new DescribeTableCommand({ TableName: name }));
      if (described.Table?.TableStatus !== 'ACTIVE') throw new Error(`table ${name} is ${described.Table?.TableStatus}`);
    },
    async putItem(table, item) {
      await client.send(new PutItemCommand({ TableName: table, Item: item }));
    },
    async scan(table) {
      const items: Record<string, AttributeValue>[] = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await client.send(new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start } : {}) }));
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      return items;
    },
    async getItem(table, key) {
      return (await client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
    },
    async close() {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export { createDynamoDbApi };
