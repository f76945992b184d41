/**
 * The sink both DynamoDB actions are: each record becomes one write (or the reason it cannot be
 * one, which fails that record alone), and the batch goes out through `writeToDynamoDb`.
 */
import type { ActionRecord, RecordFailure, Sink } from '../../core/index.js';
import { writeToDynamoDb, type DynamoDbSinkOptions, type WriteOp } from './batch-writer.js';
import { createDynamoDbApi, probeDynamoDb } from './dynamodb-client.js';

/** `kind` prefixes each record's failure message; `toOp` returns the record's write or why there is none. */
export function createDynamoDbSink<C>(kind: string, options: DynamoDbSinkOptions, toOp: (record: ActionRecord<C>, index: number) => WriteOp | string): Sink<C> {
  const api = (options.api ?? createDynamoDbApi)(options.settings ?? {});
  let closed = false;
  return {
    connect: (signal) => probeDynamoDb(api, signal),
    async writeBatch(records, signal) {
      const ops: WriteOp[] = [];
      const failed: RecordFailure[] = [];
      records.forEach((record, index) => {
        const op = toOp(record, index);
        if (typeof op === 'string') failed.push({ index, message: `${kind}: ${op}`, retriable: false });
        else ops.push(op);
      });
      await writeToDynamoDb(api, records.length, ops, failed, signal);
    },
    async close() {
      if (closed) return;
      closed = true;
      api.destroy();
    },
  };
}
