/**
 * Bulk registration tasks (StartThingRegistrationTask): one JSON object of template parameters
 * per line of an input object, each applied with `applyTemplate`, results and errors written
 * back as JSON-lines report objects beside the input.
 *
 * Memory stays bounded: the input is streamed from the task's checkpointed byte, and lines are
 * taken `batchLines` at a time (`linesPerWrite` per registry command); the batch's report parts are
 * written, then the checkpoint (line, byte, counts, parts written) goes to the task's record on
 * `iot.provisioning`. A process killed mid-batch resumes from the checkpoint: lines of the
 * interrupted batch are applied again with the same `once` sequence number (registry/batch.ts),
 * so a line already applied writes nothing and returns what it made, and the batch's report
 * parts are rewritten whole under the same names. No thing, certificate or report line twice.
 */
import { PlatformError, type Logger } from '../core/index.js';
import type { ProvisionResult } from './apply.js';
import type { TaskCheckpoint, TaskRecord } from './model.js';

/** Where task inputs are read from and reports written to (S3, through cli/'s S3 client). */
export interface ObjectStore {
  /** The object's bytes from `start` to its end, streamed, and its whole size. @throws when it cannot be read. */
  read(bucket: string, key: string, start: number): Promise<{ body: AsyncIterable<Uint8Array>; size: number }>;
  write(bucket: string, key: string, body: string, contentType: string): Promise<void>;
  /** A link to the object, for ListThingRegistrationTaskReports. */
  link(bucket: string, key: string): string;
}

export type ReportType = 'RESULTS' | 'ERRORS';

/** Report objects: `<taskId>/<results|errors>-<part>.jsonl` in the input's bucket. */
export const reportKey = (taskId: string, type: ReportType, part: number): string => `${taskId}/${type === 'RESULTS' ? 'results' : 'errors'}-${String(part).padStart(6, '0')}.jsonl`;

/** Lines per checkpoint: what one kill may make the task apply again (idempotently). */
export const DEFAULT_BATCH_LINES = 500;
/** Lines per registry command: registry commands run one at a time, so each carries many devices. */
export const DEFAULT_LINES_PER_WRITE = 50;

export interface TaskRunnerDeps {
  readonly objects: ObjectStore;
  readonly logger: Logger;
  /**
   * Applies the template for several lines in one registry command, each idempotently under
   * (taskId, line); resolves with each line's result or its PlatformError.
   */
  apply(lines: readonly { readonly parameters: Record<string, unknown>; readonly line: number }[], keepFrom: number): Promise<(ProvisionResult | PlatformError)[]>;
  /** Records progress (and the end); resolves with the task as stored (to see Cancelling). */
  checkpoint(input: { checkpoint: TaskCheckpoint; inputBytes?: number; status?: 'Completed' | 'Failed' | 'Cancelled'; message?: string }): Promise<TaskRecord>;
  /** Checked before each batch: true stops the task where its last checkpoint left it (to resume later). */
  shouldStop?(): boolean;
  readonly batchLines?: number;
  readonly linesPerWrite?: number;
}

/** Splits a byte stream into lines, each with the byte offset where the next one starts. */
export async function* jsonLines(body: AsyncIterable<Uint8Array>, startByte: number): AsyncGenerator<{ text: string; end: number }> {
  let pending: Buffer = Buffer.alloc(0);
  let base = startByte; // the byte offset of pending[0]
  for await (const chunk of body) {
    pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
    let from = 0;
    for (let nl = pending.indexOf(10, from); nl >= 0; nl = pending.indexOf(10, from)) {
      yield { text: pending.subarray(from, nl).toString('utf8'), end: base + nl + 1 };
      from = nl + 1;
    }
    pending = pending.subarray(from);
    base += from;
  }
  if (pending.length > 0) yield { text: pending.toString('utf8'), end: base + pending.length };
}

/** AWS's report lines (developer guide, "Bulk registration"): one per input line, by its 0-based offset. */
const resultLine = (offset: number, r: ProvisionResult): string =>
  JSON.stringify({ offset, response: { ...(r.certificatePem !== undefined ? { CertificatePem: r.certificatePem } : {}), ResourceArns: r.resourceArns } });
const errorLine = (offset: number, err: unknown): string =>
  JSON.stringify({ offset, errorCode: err instanceof PlatformError ? err.code : 'INTERNAL', errorMessage: err instanceof PlatformError ? err.message : 'an unexpected error occurred' });

/**
 * Runs (or resumes) a task to its end, its cancellation, or a failure to read its input.
 * Resolves with the task as stored at the end (undefined when `shouldStop` stopped it). A failure to write a report or checkpoint
 * rejects (the task stays InProgress and resumes from its last checkpoint next time).
 */
export async function runTask(task: TaskRecord, deps: TaskRunnerDeps): Promise<TaskRecord | undefined> {
  const batchLines = deps.batchLines ?? DEFAULT_BATCH_LINES;
  const linesPerWrite = deps.linesPerWrite ?? DEFAULT_LINES_PER_WRITE;
  const logger = deps.logger.child({ module: 'provisioning.task', taskId: task.taskId });
  let cp = task.checkpoint;
  if (task.status === 'Cancelling') return deps.checkpoint({ checkpoint: cp, status: 'Cancelled' });
  let input: { body: AsyncIterable<Uint8Array>; size: number };
  try {
    input = await deps.objects.read(task.inputFileBucket, task.inputFileKey, cp.byte);
  } catch (err) {
    logger.warn({ err }, 'the input file of a thing registration task could not be read');
    return deps.checkpoint({ checkpoint: cp, status: 'Failed', message: `inputFile s3://${task.inputFileBucket}/${task.inputFileKey}: ${(err as Error).message}` });
  }
  const inputBytes = cp.byte + input.size;
  const lines = jsonLines(input.body, cp.byte);

  for (;;) {
    if (deps.shouldStop?.()) return undefined;
    const batch: { line: number; text: string }[] = [];
    let end = cp.byte;
    for (let next = batch.length < batchLines ? await lines.next() : undefined; next && !next.done; next = batch.length < batchLines ? await lines.next() : undefined) {
      batch.push({ line: cp.line + batch.length, text: next.value.text });
      end = next.value.end;
    }
    if (batch.length === 0) break;
    const results: (string | undefined)[] = new Array(batch.length);
    const errors: (string | undefined)[] = new Array(batch.length);
    const keepFrom = cp.line;
    const todo: { index: number; line: number; parameters: Record<string, unknown> }[] = [];
    batch.forEach(({ line, text }, index) => {
      if (text.trim() === '') return; // blank lines (a trailing newline) are not devices
      try {
        const parameters: unknown = JSON.parse(text);
        if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) throw new PlatformError('REGISTRY_INVALID', `line ${line + 1}: expected a JSON object of template parameters`);
        todo.push({ index, line, parameters: parameters as Record<string, unknown> });
      } catch (err) {
        errors[index] = errorLine(line, err instanceof SyntaxError ? new PlatformError('REGISTRY_INVALID', `line ${line + 1}: not JSON (${err.message})`) : err);
      }
    });
    for (let at = 0; at < todo.length; at += linesPerWrite) {
      const chunk = todo.slice(at, at + linesPerWrite);
      const outcomes = await deps.apply(chunk, keepFrom);
      chunk.forEach(({ index, line }, i) => {
        const outcome = outcomes[i]!;
        if (outcome instanceof PlatformError) errors[index] = errorLine(line, outcome);
        else results[index] = resultLine(line, outcome);
      });
    }
    const ok = results.filter((r): r is string => r !== undefined);
    const failed = errors.filter((e): e is string => e !== undefined);
    const parts = { ...cp.parts };
    if (ok.length > 0) await deps.objects.write(task.inputFileBucket, reportKey(task.taskId, 'RESULTS', parts.RESULTS++), `${ok.join('\n')}\n`, 'application/x-ndjson');
    if (failed.length > 0) await deps.objects.write(task.inputFileBucket, reportKey(task.taskId, 'ERRORS', parts.ERRORS++), `${failed.join('\n')}\n`, 'application/x-ndjson');
    cp = { line: cp.line + batch.length, byte: end, successCount: cp.successCount + ok.length, failureCount: cp.failureCount + failed.length, parts };
    const stored = await deps.checkpoint({ checkpoint: cp, inputBytes });
    if (stored.status === 'Cancelling') return deps.checkpoint({ checkpoint: cp, status: 'Cancelled' });
    if (stored.status !== 'InProgress') return stored;
  }
  return deps.checkpoint({ checkpoint: cp, inputBytes, status: 'Completed' });
}
