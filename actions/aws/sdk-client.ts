/**
 * One AWS SDK v3 client, built on first use from a module that is itself imported on first use,
 * so that `kiot` commands which write to none of the AWS targets never load their SDKs. Each
 * kind's folder passes its own `import('@aws-sdk/client-...')`: this file imports no SDK.
 */
import { sdkClientOptions, type AwsClientSettings } from './aws-settings.js';

/** What every AWS SDK v3 client has. */
export interface SdkClient {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  destroy(): void;
}

export interface LazySdkClient<M, C extends SdkClient> {
  /** The SDK module and the client, loading and building them on the first call. */
  get(): Promise<{ readonly sdk: M; readonly client: C }>;
  /** Destroys the client if it was built; safe to call twice or before first use. */
  destroy(): void;
}

/**
 * `load` imports the SDK module; `make` builds its client from the options kiot's settings give
 * (region, endpoint, credentials, timeouts, one attempt) plus `extra` (e.g. `disableHostPrefix`).
 */
export function lazySdkClient<M, C extends SdkClient>(
  load: () => Promise<M>,
  make: (sdk: M, options: Record<string, unknown>) => C,
  settings: AwsClientSettings,
  extra: Record<string, unknown> = {},
): LazySdkClient<M, C> {
  let ready: Promise<{ sdk: M; client: C }> | undefined;
  let destroyed = false;
  return {
    get: () =>
      (ready ??= load().then((sdk) => {
        const client = make(sdk, { ...sdkClientOptions(settings), ...extra });
        if (destroyed) client.destroy();
        return { sdk, client };
      })),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      void ready?.then(({ client }) => client.destroy(), () => {});
    },
  };
}
