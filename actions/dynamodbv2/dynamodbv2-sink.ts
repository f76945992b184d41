/**
 * `dynamodbv2`: writes the rule's output object as one DynamoDB item, each top-level field a
 * column (AWS IoT developer guide, "DynamoDBv2"). The output must hold the table's key
 * attributes. AWS nests the table as `putItem.tableName`; rule files flatten it to
 * `table_name`, and the nested `put_item: { table_name }` form is accepted too.
 */
import { z } from 'zod';
import type { ActionRecord, SinkDefinition } from '../../core/index.js';
import { paramsSchema, type ParamsSchema } from '../runtime/params.js';
import type { ActionDeps } from '../runtime/deps.js';
import {
  createDynamoDbSink,
  toItem,
  DYNAMODB_BATCH_LIMIT,
  type DynamoDbSinkOptions,
  type WriteOp,
} from '../dynamodb-client/index.js';

const params = paramsSchema({
  /** Table name; may be a substitution template. */
  table_name: z.string().min(1),
  /** Accepted for AWS compatibility; kiot uses its own credentials (the AWS SDK's chain). */
  role_arn: z.string().optional(),
});

const schema: ParamsSchema<DynamoDbV2Config> = {
  params: params.params,
  required: params.required,
  // {"put_item": {"table_name": "t"}} (AWS's nesting, snake_cased) -> {"table_name": "t"}
  parse(raw) {
    if (raw && typeof raw === 'object' && !Array.isArray(raw) && 'put_item' in raw) {
      const { put_item: putItem, ...rest } = raw as Record<string, unknown>;
      if (putItem && typeof putItem === 'object' && !Array.isArray(putItem)) return params.parse({ ...rest, ...putItem });
    }
    return params.parse(raw);
  },
};

export type DynamoDbV2Config = ReturnType<typeof params.parse>;

export function createDynamoDbV2Definition(options: DynamoDbSinkOptions = {}): SinkDefinition<DynamoDbV2Config, Pick<ActionDeps, 'aws'>> {
  return {
    type: 'dynamodbv2',
    // AWS nests the table under putItem; kiot flattens it (`put_item.table_name` -> `table_name`).
    awsKey: 'dynamoDBv2',
    summary: 'Writes the rule output as one DynamoDB item, a column per top-level field (BatchWriteItem, 25 per request)',
    config: schema,
    resourceParams: ['table_name'],
    maxBatchSize: DYNAMODB_BATCH_LIMIT,
    create: (_config, deps) => createDynamoDbSink('dynamodbv2', { ...options, settings: options.settings ?? deps.aws.dynamodb }, writeOp),
  };
}

/** The definition with the AWS SDK's own settings (environment, credentials chain). */
export const dynamodbv2Action = createDynamoDbV2Definition();

/** A record's write: the output object as the item, a column per top-level field. */
function writeOp(record: ActionRecord<DynamoDbV2Config>, index: number): WriteOp | string {
  const table = record.params.table_name;
  const output = record.output;
  if (!table) return 'table_name rendered empty';
  if (output === null || typeof output !== 'object' || Array.isArray(output) || Buffer.isBuffer(output)) {
    return 'the rule output is not a JSON object, so it has no columns to write';
  }
  try {
    return { index, table, request: { PutRequest: { Item: toItem(output as Record<string, unknown>) } } };
  } catch (err) {
    return `the output cannot be stored as an item: ${(err as Error).message}`;
  }
}
