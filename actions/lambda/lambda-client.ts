/**
 * The AWS Lambda Invoke API over plain HTTP (Lambda API reference, Invoke):
 * `POST {endpoint}/2015-03-31/functions/{FunctionName}/invocations`, with
 * `X-Amz-Invocation-Type: Event` (asynchronous, 202) for the lambda action and
 * `RequestResponse` (200, the function's JSON result) for the SQL function `aws_lambda`. A
 * function that threw answers 200 with an `X-Amz-Function-Error` header. The endpoint is
 * configurable so that LocalStack or any compatible runtime serves it. With a signing region
 * (`--lambda-signing-region`, needed for AWS itself) requests are signed with SigV4 and the AWS
 * SDK's default credentials; without one they go unsigned, as LocalStack accepts.
 */
import { PlatformError } from '../../core/index.js';
import { post, type PostAnswer } from '../http/post.js';
import { defaultCredentials, signRequest, type AwsCredentials } from '../http/sigv4.js';

/** Where Invoke calls go. */
export interface LambdaTarget {
  /** Base URL of the Invoke API. */
  readonly endpoint: string;
  /** Sign requests with SigV4 for this region (AWS itself); unsigned when undefined. */
  readonly signingRegion?: string | undefined;
}

let awsCredentials: (() => Promise<AwsCredentials>) | undefined;

/** How long one invocation may take before it counts as failed (Lambda's own default is 3 s). */
export const DEFAULT_LAMBDA_TIMEOUT_MS = 10_000;

export type InvocationType = 'Event' | 'RequestResponse';

export interface InvokeResult {
  readonly status: number;
  readonly body: Buffer;
  /** `Handled` / `Unhandled` when the function threw. */
  readonly functionError: string | undefined;
}

/** `{endpoint}/2015-03-31/functions/{name or ARN}/invocations`. */
export function invokeUrl(endpoint: string, functionName: string): string {
  return `${endpoint.replace(/\/+$/, '')}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`;
}

/** True for answers worth retrying: throttling (429) and server errors (5xx). */
export const isRetriableStatus = (status: number): boolean => status === 429 || status >= 500;

/**
 * Calls Invoke once. Rejects with SINK_UNAVAILABLE (retriable) when the endpoint cannot be
 * reached or times out; any HTTP answer resolves, the caller judges its status.
 */
export async function invokeLambda(target: LambdaTarget, functionName: string, payload: Buffer, type: InvocationType, signal?: AbortSignal, timeoutMs = DEFAULT_LAMBDA_TIMEOUT_MS): Promise<InvokeResult> {
  const url = invokeUrl(target.endpoint, functionName);
  let res: PostAnswer;
  try {
    let headers: Record<string, string> = { 'content-type': 'application/json', 'x-amz-invocation-type': type };
    if (target.signingRegion) {
      headers = await signRequest({ method: 'POST', url, headers, body: payload }, { service: 'lambda', region: target.signingRegion, credentials: (awsCredentials ??= defaultCredentials()) });
    }
    res = await post(url, headers, payload, timeoutMs, signal);
  } catch (err) {
    throw new PlatformError('SINK_UNAVAILABLE', `lambda ${functionName}: ${url} unreachable: ${(err as Error).message}`, { retriable: true, cause: err });
  }
  const functionError = res.headers['x-amz-function-error'];
  return { status: res.status, body: res.body, functionError: Array.isArray(functionError) ? functionError[0] : functionError };
}

/**
 * `aws_lambda(functionArn, input)` for the SQL function library: a RequestResponse invoke
 * whose JSON result becomes the function's value. Structurally a part of rules/sql's
 * SqlServices (actions/ does not import rules/).
 */
export function createLambdaSqlService<V = unknown>(target: LambdaTarget): { invokeLambda(functionArn: string, input: V): Promise<V> } {
  return {
    async invokeLambda(functionArn, input) {
      const payload = Buffer.from(JSON.stringify(input === undefined ? null : input) ?? 'null');
      const res = await invokeLambda(target, functionArn, payload, 'RequestResponse');
      const text = res.body.toString('utf8');
      if (res.status < 200 || res.status >= 300 || res.functionError) {
        throw new PlatformError('RULES_SQL_RUNTIME', `aws_lambda(${functionArn}): ${res.functionError ? `function error (${res.functionError})` : `HTTP ${res.status}`}: ${text.slice(0, 200)}`, {
          retriable: isRetriableStatus(res.status),
          details: { status: res.status },
        });
      }
      if (text.trim() === '') return null as V;
      try {
        return JSON.parse(text) as V;
      } catch {
        return text as V;
      }
    },
  };
}
