/**
 * What action kinds need at run time besides their parameters. The rules service builds one
 * ActionDeps (through {@link createActionDeps}) and the registry hands it to every definition's
 * `create`; each definition declares the part it uses (`Pick<ActionDeps, 'log'>`), so nothing is
 * looked up or downcast at run time.
 */
import { systemClock, type Clock, type Log, type Logger, type SinkDeps } from '../../core/index.js';
import type { AwsActionSettings } from '../aws/aws-settings.js';
import { MetricStore } from '../cloudwatch-metric/metric-store.js';
import { KafkaProducers } from '../kafka/producers.js';
import type { LambdaTarget } from '../lambda/lambda-client.js';

export interface ActionDeps extends SinkDeps {
  /** The log kiot runs on: republish writes `iot.egress` here, kafka its default cluster. */
  readonly log: Log;
  /** Producers for Kafka clusters named by a kafka action's `bootstrap.servers`. */
  readonly kafka: KafkaProducers;
  /** Where cloudwatch_metric puts its data points (exported on `/metrics`). */
  readonly metrics: MetricStore;
  /** An AWS Lambda compatible Invoke API; undefined when none is configured (lambda actions then fail to connect). */
  readonly lambda: LambdaTarget | undefined;
  /** Overrides of the AWS SDK's endpoints and region for dynamodb, dynamodbv2, s3 and elasticsearch. */
  readonly aws: AwsActionSettings;
}

export interface ActionDepsInit {
  readonly log: Log;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly kafka?: KafkaProducers;
  readonly metrics?: MetricStore;
  readonly lambda?: LambdaTarget;
  readonly aws?: AwsActionSettings;
}

/** ActionDeps with defaults: the AWS SDK's own settings, a fresh metric store, producers over `log`. */
export function createActionDeps(init: ActionDepsInit): ActionDeps {
  return {
    log: init.log,
    logger: init.logger,
    clock: init.clock ?? systemClock,
    kafka: init.kafka ?? new KafkaProducers(init.log, init.logger),
    metrics: init.metrics ?? new MetricStore(),
    lambda: init.lambda,
    aws: init.aws ?? { dynamodb: {}, s3: {}, elasticsearch: {} },
  };
}

/**
 * A rule's output as message bytes: a Buffer (`SELECT *` of a binary payload) as is, anything
 * else as JSON, with Buffers nested inside written as base64 strings.
 */
export function outputBytes(output: unknown): Buffer {
  const text = outputText(output);
  return typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
}

/**
 * {@link outputBytes} before the copy into a Buffer: the Buffer of a binary output, else the
 * JSON text. For clients that write strings themselves (ioredis encodes a command whose
 * arguments are all strings as one string, and takes a slower path for any Buffer argument).
 */
export function outputText(output: unknown): string | Buffer {
  if (Buffer.isBuffer(output)) return output;
  if (output === undefined) return '';
  try {
    // A replacer takes JSON.stringify off V8's fast path (a call per value): only outputs that
    // hold a Buffer need it, and most outputs are plain JSON.
    return (holdsBuffer(output, 0) ? JSON.stringify(output, bufferAsBase64) : JSON.stringify(output)) ?? '';
  } catch (err) {
    // JSON.parse accepts nesting that JSON.stringify cannot write back (V8's recursion limit).
    if (err instanceof RangeError) throw new Error('the output is nested too deeply to write as JSON', { cause: err });
    throw err;
  }
}

/** Nesting past which {@link holdsBuffer} gives up and says yes (the replacer path then decides, and reports a too deep output). */
const BUFFER_SCAN_DEPTH = 64;

/** Whether a Buffer is anywhere in `value` (which rule outputs are: JSON values and Buffers). */
function holdsBuffer(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Buffer.isBuffer(value) || depth > BUFFER_SCAN_DEPTH) return true;
  if (Array.isArray(value)) {
    for (const v of value) if (holdsBuffer(v, depth + 1)) return true;
    return false;
  }
  for (const k in value) if (holdsBuffer((value as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

function bufferAsBase64(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  return Buffer.isBuffer(original) ? original.toString('base64') : value;
}
