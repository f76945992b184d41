/**
 * `lambda`: invokes a function asynchronously with the rule's output (AWS IoT,
 * lambda-rule-action), through the Lambda Invoke API at the configured endpoint
 * (`--lambda-endpoint`, e.g. LocalStack). Parameter: `function_arn` (template): an ARN or a
 * function name, passed as the Invoke API's FunctionName. 429 and 5xx are retried, other
 * statuses fail the record.
 */
import { z } from 'zod';
import { PlatformError, endBatch, type ActionRecord, type RecordFailure, type Sink, type SinkDefinition } from '../../core/index.js';
import { outputBytes, type ActionDeps } from '../runtime/deps.js';
import { paramsSchema } from '../runtime/params.js';
import { invokeLambda, isRetriableStatus, type LambdaTarget } from './lambda-client.js';

/** Invocations one action keeps in flight at once. */
export const LAMBDA_CONCURRENCY = 32;

const config = paramsSchema({ function_arn: z.string().min(1) });

export type LambdaActionConfig = ReturnType<typeof config.parse>;

class LambdaSink implements Sink<LambdaActionConfig> {
  constructor(
    private readonly target: LambdaTarget | undefined,
    private readonly timeoutMs: number | undefined,
  ) {}

  async connect(): Promise<void> {
    if (!this.target) {
      throw new PlatformError('CONFIG_INVALID', 'lambda: no Lambda endpoint is configured (--lambda-endpoint, KIOT_LAMBDA_ENDPOINT)');
    }
  }

  async writeBatch(records: readonly ActionRecord<LambdaActionConfig>[], signal: AbortSignal): Promise<void> {
    const target = this.target;
    if (!target) return this.connect();
    const failures: RecordFailure[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < records.length) {
        const index = next++;
        const r = records[index]!;
        const fn = r.params.function_arn;
        try {
          const res = await invokeLambda(target, fn, outputBytes(r.output), 'Event', signal, this.timeoutMs);
          if (res.status < 200 || res.status >= 300) failures.push({ index, message: `lambda ${fn}: HTTP ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`, retriable: isRetriableStatus(res.status) });
        } catch (err) {
          failures.push({ index, message: (err as Error).message, retriable: err instanceof PlatformError ? err.retriable : false });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(LAMBDA_CONCURRENCY, records.length) }, worker));
    endBatch('lambda', failures, records.length);
  }

  async close(): Promise<void> {}
}

export interface LambdaSinkOptions {
  /** Replaces the Invoke API of ActionDeps (tests). */
  readonly target?: LambdaTarget;
  /** Longest wait for one invocation (default DEFAULT_LAMBDA_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

export function createLambdaDefinition(options: LambdaSinkOptions = {}): SinkDefinition<LambdaActionConfig, Pick<ActionDeps, 'lambda'>> {
  return {
    type: 'lambda',
    awsKey: 'lambda',
    summary: 'invoke a function through the Lambda Invoke API (AWS, LocalStack or compatible)',
    config,
    resourceParams: ['function_arn'],
    maxBatchSize: 100,
    create: (_c, deps) => new LambdaSink(options.target ?? deps.lambda, options.timeoutMs),
  };
}

export const lambdaAction = createLambdaDefinition();
