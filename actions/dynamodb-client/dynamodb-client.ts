/**
 * The one place that imports `@aws-sdk/client-dynamodb`. The dynamodb and dynamodbv2 actions
 * and get_dynamodb depend on the narrow {@link DynamoDbApi} below, so that a test can wrap it
 * (for example to withhold items as UnprocessedItems) while still writing to a real server.
 */
import type { AttributeValue, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import { sdkClientOptions, unavailable, type AwsClientSettings } from '../aws/index.js';

type DynamoDbSdk = typeof import('@aws-sdk/client-dynamodb');
let sdk: Promise<DynamoDbSdk> | undefined;
/**
 * The SDK loads on first use: importing it costs about half a second, which every `kiot`
 * command would pay through the action catalogue even when no rule writes to DynamoDB.
 */
const loadSdk = (): Promise<DynamoDbSdk> => (sdk ??= import('@aws-sdk/client-dynamodb'));

export type { AttributeValue, WriteRequest };
export type Item = Record<string, AttributeValue>;

/** The DynamoDB operations kiot uses; each rejects with the SDK's error (see classifyAwsError). */
export interface DynamoDbApi {
  /** BatchWriteItem (at most 25 requests); resolves with the requests DynamoDB did not process. */
  batchWrite(requestItems: Record<string, WriteRequest[]>, signal?: AbortSignal): Promise<Record<string, WriteRequest[]>>;
  /** UpdateItem that sets the given attributes on the item with `key` (creating it if absent). */
  updateItem(table: string, key: Item, set: Item, signal?: AbortSignal): Promise<void>;
  /** GetItem; undefined when there is no such item. */
  getItem(table: string, key: Item, signal?: AbortSignal): Promise<Item | undefined>;
  /** A cheap request whose only purpose is to reach the endpoint (ListTables, Limit 1). */
  probe(signal?: AbortSignal): Promise<void>;
  destroy(): void;
}

export function createDynamoDbApi(settings: AwsClientSettings = {}): DynamoDbApi {
  let ready: Promise<{ m: DynamoDbSdk; client: DynamoDBClient }> | undefined;
  let destroyed = false;
  const client = () =>
    (ready ??= loadSdk().then((m) => {
      const c = new m.DynamoDBClient(sdkClientOptions(settings));
      if (destroyed) c.destroy();
      return { m, client: c };
    }));
  const opts = (signal?: AbortSignal) => (signal ? { abortSignal: signal } : {});
  return {
    async batchWrite(requestItems, signal) {
      const { m, client: c } = await client();
      const out = await c.send(new m.BatchWriteItemCommand({ RequestItems: requestItems }), opts(signal));
      return out.UnprocessedItems ?? {};
    },
    async updateItem(table, key, set, signal) {
      const { m, client: c } = await client();
      const names: Record<string, string> = {};
      const values: Item = {};
      const assignments = Object.keys(set).map((attr, i) => {
        names[`#a${i}`] = attr;
        values[`:v${i}`] = set[attr]!;
        return `#a${i} = :v${i}`;
      });
      await c.send(
        new m.UpdateItemCommand({
          TableName: table,
          Key: key,
          ...(assignments.length > 0
            ? { UpdateExpression: `SET ${assignments.join(', ')}`, ExpressionAttributeNames: names, ExpressionAttributeValues: values }
            : {}),
        }),
        opts(signal),
      );
    },
    async getItem(table, key, signal) {
      const { m, client: c } = await client();
      const out = await c.send(new m.GetItemCommand({ TableName: table, Key: key }), opts(signal));
      return out.Item;
    },
    async probe(signal) {
      const { m, client: c } = await client();
      await c.send(new m.ListTablesCommand({ Limit: 1 }), opts(signal));
    },
    destroy() {
      destroyed = true;
      void ready?.then(({ client: c }) => c.destroy());
    },
  };
}

/**
 * For Sink.connect: reaches the endpoint and rejects with a retriable SINK_UNAVAILABLE when it
 * does not answer. Any answer, even AccessDenied for ListTables, means it is up.
 */
export async function probeDynamoDb(api: DynamoDbApi, signal: AbortSignal): Promise<void> {
  try {
    await api.probe(signal);
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === undefined || status >= 500) throw unavailable('DynamoDB', err);
  }
}
