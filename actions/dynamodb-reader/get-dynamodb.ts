/**
 * The DynamoDB side of IoT SQL's `get_dynamodb(tableName, partitionKeyName, partitionKeyValue,
 * [sortKeyName, sortKeyValue,] roleArn)`: one GetItem against the configured endpoint, the item
 * returned as a plain object (numbers as numbers, binary as Buffers, sets as arrays), and
 * Undefined when there is no such item. It plugs into the rules engine as the `getDynamoDb`
 * member of `SqlServices` (rules/sql/functions/types.ts).
 *
 * Key values: a string is an S key, a number an N key, a Buffer a B key (DynamoDB's three key
 * types); the value's SQL type must match the table's key type, as with GetItem. Failures
 * reject with a PlatformError: SINK_UNAVAILABLE (retriable) when DynamoDB does not answer or is
 * busy, RULES_SQL_RUNTIME otherwise (missing table, wrong key type, bad key value); either way
 * the rule's evaluation fails for that message and it goes to the rule's error action.
 */
import { PlatformError } from '../../core/index.js';
import { classifyAwsError, type AwsClientSettings } from '../aws/index.js';
import { createDynamoDbApi, fromItem, type AttributeValue, type DocValue, type DynamoDbApi, type Item } from '../dynamodb-client/index.js';

/** A GetItem that takes longer than this fails the evaluation rather than stalling the rule. */
export const DEFAULT_GET_DYNAMODB_TIMEOUT_MS = 5_000;

export interface DynamoDbReaderOptions {
  readonly settings?: AwsClientSettings;
  readonly api?: (settings: AwsClientSettings) => DynamoDbApi;
  readonly timeoutMs?: number;
}

/** Structurally the `getDynamoDb` member of SqlServices, plus a way to release the client. */
export interface DynamoDbReader {
  getDynamoDb(
    tableName: string,
    partitionKeyName: string,
    partitionKeyValue: DocValue,
    sortKeyName: string | undefined,
    sortKeyValue: DocValue,
    roleArn: string,
  ): Promise<DocValue>;
  /** Releases the HTTP client; safe to call twice. */
  close(): Promise<void>;
}

export function createDynamoDbReader(options: DynamoDbReaderOptions = {}): DynamoDbReader {
  const api = (options.api ?? createDynamoDbApi)(options.settings ?? {});
  const timeoutMs = options.timeoutMs ?? DEFAULT_GET_DYNAMODB_TIMEOUT_MS;
  let closed = false;
  return {
    async getDynamoDb(tableName, partitionKeyName, partitionKeyValue, sortKeyName, sortKeyValue) {
      // roleArn is accepted for AWS compatibility; kiot reads with its own credentials.
      const key: Item = { [partitionKeyName]: keyAttribute(partitionKeyName, partitionKeyValue) };
      if (sortKeyName !== undefined) key[sortKeyName] = keyAttribute(sortKeyName, sortKeyValue);
      let item: Item | undefined;
      try {
        item = await api.getItem(tableName, key, AbortSignal.timeout(timeoutMs));
      } catch (err) {
        const c = classifyAwsError(err);
        const message = `get_dynamodb(${tableName}): ${c.kind === 'aborted' ? `no answer within ${timeoutMs} ms` : c.message}`;
        const transient = c.retriable || c.kind === 'aborted';
        throw new PlatformError(transient ? 'SINK_UNAVAILABLE' : 'RULES_SQL_RUNTIME', message, {
          retriable: transient,
          cause: err,
          details: { function: 'get_dynamodb', table: tableName },
        });
      }
      return item === undefined ? undefined : fromItem(item);
    },
    async close() {
      if (closed) return;
      closed = true;
      api.destroy();
    },
  };
}

function keyAttribute(name: string, value: DocValue): AttributeValue {
  if (typeof value === 'string' && value !== '') return { S: value };
  if (typeof value === 'number' && Number.isFinite(value)) return { N: String(value) };
  if (Buffer.isBuffer(value) && value.length > 0) return { B: value };
  throw new PlatformError('RULES_SQL_RUNTIME', `get_dynamodb: key ${name} must be a non-empty String, a Number or Binary, got ${describe(value)}`, {
    details: { function: 'get_dynamodb', key: name },
  });
}

const describe = (v: DocValue): string => (Buffer.isBuffer(v) ? 'empty Binary' : (JSON.stringify(v) ?? 'Undefined'));
