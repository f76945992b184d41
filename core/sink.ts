import { PlatformError } from './errors.js';
import type { Logger } from './logger.js';

/** Anything with a `parse` that returns the typed config or throws; zod schemas fit. */
export interface ConfigSchema<T> {
  parse(raw: unknown): T;
}

/**
 * An action's parameter schema: `parse` validates and normalises the parameters as a rule file
 * or a TopicRulePayload gives them (AWS's field names in snake_case, templates unrendered);
 * `params` and `required` list them, for docs and `kiot rules check`.
 */
export interface ParamsSchema<T> extends ConfigSchema<T> {
  readonly params: readonly string[];
  readonly required: readonly string[];
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
 * render its substitution templates and to report failures. `P` is the action's parameter
 * type: the parsed parameters with every template rendered for this message.
 */
export interface ActionRecord<P = Readonly<Record<string, unknown>>> {
  /** The rule's output (the SELECT result). */
  readonly output: unknown;
  /** The action's parsed parameters, substitution templates rendered for this message. */
  readonly params: P;
  readonly ruleName: string;
  readonly topic: string;
  readonly clientId: string | undefined;
  readonly messageId: string;
  /** The message's original payload bytes. */
  readonly payload: Buffer;
  readonly receivedAt: number;
}

/** Writes rule output to one external system. */
export interface Sink<P = Readonly<Record<string, unknown>>> {
  /**
   * Runs before the first write and again after a SINK_UNAVAILABLE; rejects with a retriable
   * SINK_UNAVAILABLE while the target cannot be reached (the caller retries it with backoff),
   * or a non-retriable PlatformError for a setup problem.
   */
  connect(signal: AbortSignal): Promise<void>;
  /**
   * Writes a batch and ends in one of three ways, all through {@link endBatch}: resolves once
   * every record is durable in the target; rejects with a retriable SINK_UNAVAILABLE when every
   * record failed retriably (the target is down or stalled: the caller reconnects and retries
   * the whole batch); else rejects with SinkBatchError naming the failed records (the others are
   * durable; only the retriable ones may be retried). Never waits longer than the sink's
   * request timeout for a target that does not answer. Retrying a batch is safe: writes are
   * at least once.
   */
  writeBatch(records: readonly ActionRecord<P>[], signal: AbortSignal): Promise<void>;
  /** Releases clients and connections. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * An action kind: everything kiot knows about it, in one object in the kind's own folder.
 * `D` is what the kind needs at run time (the rules service passes the wider ActionDeps).
 */
export interface SinkDefinition<C, D = SinkDeps> {
  /** As written in rule files: "dynamodbv2", "s3", "republish". */
  readonly type: string;
  /**
   * The key of AWS's `Action` object in a TopicRulePayload (`dynamoDBv2`); the error action's
   * `failedAction` is derived from it (`DynamoDBv2Action`).
   */
  readonly awsKey: string;
  readonly summary: string;
  /** Validates and normalises the action's parameters (AWS's field names in snake_case). */
  readonly config: ParamsSchema<C>;
  /** The parameters that name the target (`table_name`), in order: the error message's `failedResource`. */
  readonly resourceParams: readonly string[];
  /** Largest batch the target takes in one write (e.g. 25 for DynamoDB BatchWriteItem). */
  readonly maxBatchSize?: number;
  /** Builds a sink; called once per action of a rule. Throws CONFIG_INVALID for a setup problem. */
  create(config: C, deps: D): Sink<C>;
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
 * The one way a `writeBatch` ends once every record was tried. Returns when nothing failed;
 * throws a retriable SINK_UNAVAILABLE when every record failed retriably (the target is down:
 * the caller reconnects and retries the whole batch; `unavailable` is that error when the sink
 * has a better one than the first failure), else a SinkBatchError listing the failed indexes
 * in order. `target` names the target in messages (`DynamoDB`, `republish`).
 */
export function endBatch(target: string, failures: RecordFailure[], total: number, unavailable?: PlatformError): void {
  if (failures.length === 0) return;
  const first = failures.reduce((a, b) => (b.index < a.index ? b : a));
  if (failures.length === total && failures.every((f) => f.retriable)) {
    throw unavailable ?? new PlatformError('SINK_UNAVAILABLE', first.message, { retriable: true, details: { target } });
  }
  failures.sort((a, b) => a.index - b.index);
  throw new SinkBatchError(failures, `${target}: ${failures.length} of ${total} record(s) failed: ${first.message}`);
}

/** The whole-batch rejection for a target that does not answer: retriable SINK_UNAVAILABLE. */
export function sinkUnavailable(target: string, detail: string, cause?: unknown): PlatformError {
  return new PlatformError('SINK_UNAVAILABLE', `${target} is unavailable: ${detail}`, { retriable: true, cause, details: { target } });
}

export const systemClock: Clock = { now: () => Date.now() };
