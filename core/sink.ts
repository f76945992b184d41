import { PlatformError } from './errors.js';
import type { Logger } from './logger.js';

/** Anything with a `parse` that returns the typed config or throws; zod schemas fit. */
export interface ConfigSchema<T> {
  parse(raw: unknown): T;
}

export interface Clock {
  now(): number;
}

export interface SinkDeps {
  readonly logger: Logger;
  readonly clock: Clock;
}

/**
 * One record for an action: the rule's output for one message, plus what the action needs to
 * render its substitution templates and to report failures.
 */
export interface ActionRecord {
  /** The rule's output (the SELECT result). */
  readonly output: unknown;
  /** Action parameters with substitution templates already rendered for this message. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly ruleName: string;
  readonly topic: string;
  readonly clientId: string | undefined;
  readonly messageId: string;
  /** The message's original payload bytes. */
  readonly payload: Buffer;
  readonly receivedAt: number;
}

/** Writes rule output to one external system. */
export interface Sink {
  /** Runs before the first write and again after SINK_UNAVAILABLE; the caller retries it with backoff. */
  connect(signal: AbortSignal): Promise<void>;
  /**
   * Resolves once every record is durable in the target; rejects with SinkBatchError when only
   * some failed (only those are retried or sent to the error action), or with a PlatformError
   * (retriable or not) when the whole batch failed.
   */
  writeBatch(records: readonly ActionRecord[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface SinkDefinition<C> {
  /** As written in rule files: "dynamodbv2", "s3", "republish". */
  readonly type: string;
  readonly summary: string;
  /** Validates the action's parameters (AWS's field names in snake_case). */
  readonly config: ConfigSchema<C>;
  /** Largest batch the target takes in one write (e.g. 25 for DynamoDB BatchWriteItem). */
  readonly maxBatchSize?: number;
  create(config: C, deps: SinkDeps): Sink;
}

export interface RecordFailure {
  /** Index into the batch handed to `writeBatch`. */
  readonly index: number;
  readonly message: string;
  readonly retriable: boolean;
}

/** Some records of a batch failed; the rest are durable. */
export class SinkBatchError extends PlatformError {
  constructor(
    readonly failures: readonly RecordFailure[],
    message = `${failures.length} record(s) of the batch failed`,
  ) {
    super('SINK_UNAVAILABLE', message, { retriable: failures.some((f) => f.retriable), details: { failures } });
  }
}

/**
 * Ends a `writeBatch` that sent every record: returns when nothing failed; throws a retriable
 * SINK_UNAVAILABLE when every record failed retriably (the target is down, so the caller
 * reconnects and retries the whole batch), else a SinkBatchError listing the failed indexes.
 */
export function throwIfFailed(failures: RecordFailure[], total: number): void {
  if (failures.length === 0) return;
  if (failures.length === total && failures.every((f) => f.retriable)) {
    throw new PlatformError('SINK_UNAVAILABLE', failures[0]!.message, { retriable: true });
  }
  throw new SinkBatchError(failures.sort((a, b) => a.index - b.index));
}

export const systemClock: Clock = { now: () => Date.now() };
