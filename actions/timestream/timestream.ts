/**
 * `timestream`: writes each attribute of the rule output as a Timestream measure record (AWS IoT
 * developer guide, timestream-rule-action; API reference, TimestreamAction): `database_name`,
 * `table_name`, `dimensions` (`[{name, value}]`, values templates, 1 to 128), `timestamp`
 * (`{value, unit}`; default: when the message arrived, in milliseconds). The measure's type comes
 * from the value as AWS IoT infers it: integers BIGINT, other numbers DOUBLE, booleans BOOLEAN,
 * strings VARCHAR; objects and arrays are written as their JSON text (VARCHAR), null and
 * Undefined attributes are left out. A batch is WriteRecords requests of 100 records per table;
 * records Timestream rejects (RejectedRecordsException) fail their messages alone, and the others
 * are written, as Timestream writes them. This is the one place that imports `@aws-sdk/client-timestream-write`.
 */
import type { _Record, TimestreamWriteClient, TimeUnit, MeasureValueType } from '@aws-sdk/client-timestream-write';
import { z } from 'zod';
import { awsAction, renderTimestamp, timestampParam, toJsonSafe, type EntryError } from '../aws/index.js';
import { paramsSchema } from '../runtime/params.js';

/** WriteRecords takes at most 100 records (Timestream API reference). */
export const TIMESTREAM_MAX_RECORDS = 100;

const schema = paramsSchema({
  database_name: z.string().min(1),
  table_name: z.string().min(1),
  dimensions: z.array(z.strictObject({ name: z.string().min(1), value: z.string() })).min(1).max(128),
  timestamp: timestampParam.optional(),
  role_arn: z.string().optional(),
});

export type TimestreamConfig = ReturnType<typeof schema.parse>;

/** One attribute as a measure: its value as text and its Timestream type, or undefined to leave it out. */
function measure(value: unknown): { value: string; type: MeasureValueType } | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number') return Number.isInteger(value) ? { value: String(value), type: 'BIGINT' } : { value: String(value), type: 'DOUBLE' };
  if (typeof value === 'boolean') return { value: String(value), type: 'BOOLEAN' };
  if (typeof value === 'string') return { value, type: 'VARCHAR' };
  return { value: JSON.stringify(toJsonSafe(value)), type: 'VARCHAR' };
}

type Sdk = typeof import('@aws-sdk/client-timestream-write');

export const createTimestreamDefinition = awsAction<TimestreamConfig, _Record, Sdk, TimestreamWriteClient>({
  type: 'timestream',
  awsKey: 'timestream',
  summary: 'write each output attribute as a Timestream measure record (WriteRecords)',
  config: schema,
  resourceParams: ['database_name', 'table_name'],
  load: () => import('@aws-sdk/client-timestream-write'),
  client: (m, options) => new m.TimestreamWriteClient(options) as TimestreamWriteClient,
  request: () => ({
    target: 'Timestream',
    maxEntries: TIMESTREAM_MAX_RECORDS,
    group: (r) => `${r.params.database_name}.${r.params.table_name}`,
    entries(record) {
      const p = record.params;
      const output = record.output;
      if (output === null || typeof output !== 'object' || Array.isArray(output) || Buffer.isBuffer(output)) return 'the rule output must be an object: each attribute is a measure';
      const time = renderTimestamp(p.timestamp, record.receivedAt);
      if (typeof time === 'string') return time;
      const dimensions = p.dimensions.map((d) => ({ Name: d.name, Value: d.value, DimensionValueType: 'VARCHAR' as const }));
      const records: _Record[] = [];
      for (const [name, value] of Object.entries(output)) {
        const m = measure(value);
        if (m) records.push({ Dimensions: dimensions, MeasureName: name, MeasureValue: m.value, MeasureValueType: m.type, Time: time.value, TimeUnit: time.unit as TimeUnit });
      }
      if (records.length === 0) return 'the rule output has no attribute to write as a measure';
      return records;
    },
    async send({ sdk: m, client }, { params }, records, signal) {
      try {
        await client.send(new m.WriteRecordsCommand({ DatabaseName: params.database_name, TableName: params.table_name, Records: [...records] }), { abortSignal: signal });
        return records.map(() => undefined);
      } catch (err) {
        // Timestream writes the records it did not reject and lists the others by index.
        if (!(err instanceof m.RejectedRecordsException)) throw err;
        const results: (EntryError | undefined)[] = records.map(() => undefined);
        for (const r of err.RejectedRecords ?? []) results[r.RecordIndex!] = { code: 'RejectedRecord', message: r.Reason ?? 'rejected', retriable: false };
        return results;
      }
    },
  }),
});

export const timestreamAction = createTimestreamDefinition();
