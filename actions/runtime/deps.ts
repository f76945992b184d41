/**
 * What action kinds need at run time besides their parameters. The registry hands every
 * definition's `create` a `SinkDeps`; the rules service passes this wider object, and each kind
 * takes what it needs through {@link actionDepsOf}.
 */
import { PlatformError, type Config, type Log, type SinkDeps } from '../../core/index.js';
import type { KafkaProducers } from '../kafka/producers.js';
import type { MetricStore } from '../cloudwatch-metric/metric-store.js';

export interface ActionDeps extends SinkDeps {
  /** The log kiot runs on: republish writes `iot.egress` here, kafka its default cluster. */
  readonly log: Log;
  /** Producers for Kafka clusters named by a kafka action's `bootstrap.servers`. */
  readonly kafka?: KafkaProducers;
  /** Base URL of an AWS Lambda compatible Invoke API (`http://127.0.0.1:4566` for LocalStack). */
  readonly lambdaEndpoint?: string;
  /** Where cloudwatch_metric puts its data points (exported on `/metrics`). */
  readonly metrics?: MetricStore;
  /** The process configuration, for kinds that read endpoints or credentials from it. */
  readonly config?: Config;
}

/** The ActionDeps behind `deps`; throws CONFIG_INVALID when the caller did not pass them. */
export function actionDepsOf(deps: SinkDeps, type: string): ActionDeps {
  if (!('log' in deps) || !(deps as Partial<ActionDeps>).log) {
    throw new PlatformError('CONFIG_INVALID', `action "${type}" needs the log: build it through the rules service's ActionDeps`);
  }
  return deps as ActionDeps;
}

/**
 * A rule's output as message bytes: a Buffer (`SELECT *` of a binary payload) as is, anything
 * else as JSON, with Buffers nested inside written as base64 strings.
 */
export function outputBytes(output: unknown): Buffer {
  if (Buffer.isBuffer(output)) return output;
  if (output === undefined) return Buffer.alloc(0);
  try {
    return Buffer.from(JSON.stringify(output, bufferAsBase64) ?? '', 'utf8');
  } catch (err) {
    // JSON.parse accepts nesting that JSON.stringify cannot write back (V8's recursion limit).
    if (err instanceof RangeError) throw new Error('the output is nested too deeply to write as JSON', { cause: err });
    throw err;
  }
}

function bufferAsBase64(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  return Buffer.isBuffer(original) ? original.toString('base64') : value;
}
