/**
 * `dynamodb`: writes one item per message with a hash key (and optional range key) from
 * substitution templates and the rule's output in one column, `payload_field` (default
 * `payload`) (AWS IoT developer guide, "DynamoDB"). A JSON output is stored as a Map, a
 * non-JSON payload as Binary, as AWS does. `operation` (a template) picks INSERT (the default:
 * PutItem, batched), UPDATE (UpdateItem setting the payload column, keeping other columns) or
 * DELETE (DeleteItem on the key, batched).
 */
import { z } from 'zod';
import { PlatformError, type ActionRecord, type SinkDefinition } from '../../core/index.js';
import { paramsSchema, type ParamsSchema } from '../runtime/params.js';
import type { ActionDeps } from '../runtime/deps.js';
import {
  canonical,
  createDynamoDbSink,
  toAttribute,
  DYNAMODB_BATCH_LIMIT,
  type AttributeValue,
  type DynamoDbSinkOptions,
  type Item,
  type WriteOp,
} from '../dynamodb-client/index.js';

/** AWS: "If you don't specify this parameter, the name of the DynamoDB column is payload." */
export const DEFAULT_PAYLOAD_FIELD = 'payload';

const params = paramsSchema({
  table_name: z.string().min(1),
  hash_key_field: z.string().min(1),
  hash_key_value: z.string().min(1),
  /** STRING or NUMBER; may be a template, so it is checked per message. */
  hash_key_type: z.string().optional(),
  range_key_field: z.string().min(1).optional(),
  range_key_value: z.string().min(1).optional(),
  range_key_type: z.string().optional(),
  /** INSERT, UPDATE or DELETE; may be a template such as `${operation}`. */
  operation: z.string().optional(),
  payload_field: z.string().min(1).optional(),
  /** Accepted for AWS compatibility; kiot uses its own credentials (the AWS SDK's chain). */
  role_arn: z.string().optional(),
});

export type DynamoDbConfig = ReturnType<typeof params.parse>;

const schema: ParamsSchema<DynamoDbConfig> = {
  params: params.params,
  required: params.required,
  parse(raw) {
    const config = params.parse(raw);
    if ((config.range_key_field === undefined) !== (config.range_key_value === undefined)) {
      const param = config.range_key_field === undefined ? 'range_key_field' : 'range_key_value';
      const message = `missing parameter ${param} (range_key_field and range_key_value go together)`;
      throw new PlatformError('CONFIG_INVALID', message, { details: { problems: [{ param, message }] } });
    }
    return config;
  },
};

export function createDynamoDbDefinition(options: DynamoDbSinkOptions = {}): SinkDefinition<DynamoDbConfig, Pick<ActionDeps, 'aws'>> {
  return {
    type: 'dynamodb',
    awsKey: 'dynamoDB',
    summary: 'Writes one DynamoDB item per message: hash/range key from templates, the output in payload_field',
    config: schema,
    resourceParams: ['table_name'],
    maxBatchSize: DYNAMODB_BATCH_LIMIT,
    create: (_config, deps) => createDynamoDbSink('dynamodb', { ...options, settings: options.settings ?? deps.aws.dynamodb }, writeOp),
  };
}

/** The definition with the AWS SDK's own settings (environment, credentials chain). */
export const dynamodbAction = createDynamoDbDefinition();

const NUMBER_TEXT = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/** A key attribute, or the reason it cannot be one. */
function keyAttribute(field: string, value: string | undefined, type: string | undefined): AttributeValue | string {
  if (value === undefined || value === '') return `${field}: the key value rendered empty`;
  const t = (type ?? 'STRING').toUpperCase();
  if (t === 'STRING') return { S: value };
  if (t === 'NUMBER') return NUMBER_TEXT.test(value.trim()) ? { N: value.trim() } : `${field}: expected a number for key type NUMBER, got ${JSON.stringify(value)}`;
  return `${field}: key type must be STRING or NUMBER, got ${JSON.stringify(type)}`;
}

/** A record's write: its key from the key fields, the output under `payload_field` (INSERT, UPDATE) or none (DELETE). */
function writeOp(record: ActionRecord<DynamoDbConfig>, index: number): WriteOp | string {
  const p = record.params;
  const table = p.table_name;
  const hashField = p.hash_key_field;
  if (!table) return 'table_name rendered empty';
  if (!hashField) return 'hash_key_field rendered empty';
  const key: Item = {};
  const hash = keyAttribute(hashField, p.hash_key_value, p.hash_key_type);
  if (typeof hash === 'string') return hash;
  key[hashField] = hash;
  const rangeField = p.range_key_field;
  if (rangeField) {
    const range = keyAttribute(rangeField, p.range_key_value, p.range_key_type);
    if (typeof range === 'string') return range;
    key[rangeField] = range;
  }
  const operation = (p.operation || 'INSERT').toUpperCase();
  if (operation === 'DELETE') return { index, table, request: { DeleteRequest: { Key: key } }, key: canonical(key) };
  if (operation !== 'INSERT' && operation !== 'UPDATE') return `operation must be INSERT, UPDATE or DELETE, got ${JSON.stringify(p.operation)}`;
  const payloadField = p.payload_field || DEFAULT_PAYLOAD_FIELD;
  const columns: Item = {};
  if (record.output !== undefined) {
    try {
      columns[payloadField] = toAttribute(record.output);
    } catch (err) {
      return `the output cannot be stored in ${payloadField}: ${(err as Error).message}`;
    }
  }
  if (operation === 'UPDATE') return { index, table, update: { key, set: columns } };
  return { index, table, request: { PutRequest: { Item: { ...columns, ...key } } }, key: canonical(key) };
}

