/**
 * The one definition shape of the entry-list AWS kinds (kinesis, sqs, firehose, sns,
 * step_functions, cloudwatch_alarm, cloudwatch_logs, iot_events, iot_analytics, timestream,
 * location, iot_site_wise). A kind gives what is its own: its name and parameters, the import of
 * its SDK and how it builds the client, and its request (how a record becomes entries and how one
 * request is sent, {@link AwsRequest}). This file makes the rest the same for all of them: the
 * SDK imported once per kind on first use, one lazily built client per action, the client
 * settings (the kind's `settings` option, else `--aws-endpoint`'s `deps.aws.services`, else the
 * SDK's own), and the {@link AwsBatchSink} that batches, sends and fails entries alone.
 */
import type { ActionRecord, SinkDefinition } from '../../core/index.js';
import type { ActionDeps } from '../runtime/deps.js';
import type { AwsClientSettings } from './aws-settings.js';
import { AwsBatchSink, type AwsBatchWriter, type EntryError } from './batch-sink.js';
import { lazySdkClient, type SdkClient } from './sdk-client.js';

/** The batch kinds take when they name none: the runtime's batches, cut into requests by the API's limits. */
export const DEFAULT_AWS_BATCH_SIZE = 100;

/** The SDK module and the action's client, as a request is sent with them. */
export interface AwsApi<M, C> {
  readonly sdk: M;
  readonly client: C;
}

/** A kind's request: {@link AwsBatchWriter} less what the definition fills in, `send` given the client. */
export interface AwsRequest<P, E, M, C> extends Omit<AwsBatchWriter<P, E>, 'type' | 'send' | 'close'> {
  /** Sends one request with `api` (see {@link AwsBatchWriter.send}). */
  send(api: AwsApi<M, C>, record: ActionRecord<P>, entries: readonly E[], signal: AbortSignal): Promise<readonly (EntryError | undefined)[]>;
}

/** A kind: its definition's own fields (`create` and a default `maxBatchSize` are filled in), its SDK and its request. */
export interface AwsActionKind<P, E, M, C extends SdkClient> extends Omit<SinkDefinition<P, Pick<ActionDeps, 'aws'>>, 'create'> {
  /** Imports the kind's SDK: the one place it is imported. Called once, on first use. */
  load(): Promise<M>;
  /** Builds the client from the options kiot's settings give (region, endpoint, credentials, timeouts, one attempt). */
  client(sdk: M, options: Record<string, unknown>): C;
  /** Client options of the kind's own (`disableHostPrefix`). */
  readonly clientOptions?: Record<string, unknown>;
  /** The request, built once per action (state such as looked-up ARNs lives in it). */
  request(): AwsRequest<P, E, M, C>;
}

/** Options of every AWS kind's definition. */
export interface AwsActionOptions {
  /** Region, endpoint, credentials, timeouts; unset, kiot's AWS settings (`--aws-endpoint`), then the SDK's. */
  readonly settings?: AwsClientSettings;
}

/** The kind's definition factory: `create...Definition(options)`. */
export function awsAction<P, E, M, C extends SdkClient>(kind: AwsActionKind<P, E, M, C>): (options?: AwsActionOptions) => SinkDefinition<P, Pick<ActionDeps, 'aws'>> {
  let sdk: Promise<M> | undefined;
  const load = (): Promise<M> => (sdk ??= kind.load());
  const { load: _load, client, clientOptions, request: _request, ...definition } = kind;
  return (options = {}) => ({
    ...definition,
    maxBatchSize: kind.maxBatchSize ?? DEFAULT_AWS_BATCH_SIZE,
    create: (_config, deps) => {
      const api = lazySdkClient(load, client, options.settings ?? deps.aws.services ?? {}, clientOptions);
      const { send, ...request } = kind.request();
      const writer: AwsBatchWriter<P, E> = {
        ...request,
        type: kind.type,
        send: async (record, entries, signal) => send(await api.get(), record, entries, signal),
        open: async () => void (await api.get()),
        close: () => api.destroy(),
      };
      return new AwsBatchSink(writer);
    },
  });
}
