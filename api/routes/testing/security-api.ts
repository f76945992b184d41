/**
 * Test wiring for the certificate and policy operations: an EmbeddedLog in a temp dir, the
 * things registry, the security service, the API router on a real HTTP server, and an
 * `@aws-sdk/client-iot` client with the credentials kiot wrote. This is also the wiring the
 * composition root needs (see the report of issue 6).
 */
import { IoTClient, IoTServiceException } from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog, silentLogger } from '../../../core/index.js';
import { createSecurityService, thingsDirectory, type SecurityServices } from '../../../registry/index.js';
import type { ThingRegistry } from '../../../registry/index.js';
import { createApiService, openThingRegistry, type Api, type AwsOperation } from '../../index.js';
import { createHttpServer } from '../../server.js';
import { certificateOperations } from '../certificates.js';
import { policyOperations } from '../policies.js';

export interface SecurityApiKit {
  readonly dir: string;
  readonly endpoint: string;
  readonly client: IoTClient;
  readonly api: Api;
  readonly security: SecurityServices;
  close(): Promise<void>;
}

export const TEST_ACCOUNT = '123456789012';

/** `more` adds operations built on the same registry (e.g. the authorizers'). */
export async function startSecurityApi(more?: (services: { registry: ThingRegistry; security: SecurityServices }) => AwsOperation[]): Promise<SecurityApiKit> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-secapi-'));
  const logger = silentLogger();
  const log = await EmbeddedLog.open({ dataDir: dir, logger });
  const config = { dataDir: dir, region: undefined, accountId: TEST_ACCOUNT };
  const registry = await openThingRegistry(config, { log, logger });
  // One registry store, as `kiot up` wires it: DeleteThing sees the attachments.
  const service = createSecurityService(config, { log, logger, things: thingsDirectory(registry), registryStore: registry.store });
  const security = await service.start();
  const api = await createApiService(config, {
    log,
    logger,
    registry,
    operations: [...certificateOperations(security.certificates), ...policyOperations(security.policies), ...(more?.({ registry, security }) ?? [])],
  }).start();
  const http = createHttpServer({ logger, metrics: async () => '', health: () => ({}), routes: api.routes });
  const endpoint = `http://127.0.0.1:${await http.listen('127.0.0.1', 0)}`;
  const client = new IoTClient({ endpoint, region: 'us-east-1', credentials: fromIni({ filepath: join(dir, 'credentials'), profile: 'default' }), maxAttempts: 1 });
  return {
    dir,
    endpoint,
    client,
    api,
    security,
    async close() {
      client.destroy();
      await http.close();
      await api.stop();
      await service.stop();
      await registry.close();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Rejects with the SDK's exception; fails the test if the call succeeds. */
export async function awsError(promise: Promise<unknown>): Promise<IoTServiceException> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof IoTServiceException) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}
