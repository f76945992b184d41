/**
 * The rules role as `kiot up` runs it, on the main thread or on a worker thread (threads.ts):
 * a rules service whose get_dynamodb reads DynamoDB and whose get_thing_shadow reads a shadow
 * view of this thread (the shadow service's own when it runs here: no request to it). A view of
 * its own follows every shadow write, which most rule sets never read: it is opened by the first
 * get_thing_shadow call, which waits until the view has read the table.
 */
import { awsSettingsFromConfig, createDynamoDbReader } from '../actions/index.js';
import { PlatformError, type Config, type Log, type Logger } from '../core/index.js';
import type { SqlValue } from '../rules/sql/index.js';
import { createRulesService, type RulesService, type RulesServiceDeps } from '../rules/worker/index.js';
import { openShadowReader, type ShadowReader } from '../shadow/index.js';

export interface RulesRole {
  readonly service: RulesService;
  /** Stops the service, then what it read from. */
  stop(): Promise<void>;
}

export async function startRulesRole(
  config: Config,
  deps: { readonly log: Log; readonly logger: Logger; readonly shadows?: Pick<ShadowReader, 'document'>; readonly rulesTable?: RulesServiceDeps['rulesTable']; readonly consume?: boolean },
): Promise<RulesRole> {
  const { log, logger } = deps;
  const dynamoReader = createDynamoDbReader({ settings: awsSettingsFromConfig(config.rules).dynamodb });
  let opening: Promise<ShadowReader> | undefined;
  let stopped = false;
  const ownReader = (): Promise<ShadowReader> => {
    if (stopped) return Promise.reject(new PlatformError('LOG_CLOSED', 'the rules role has stopped'));
    // A failed open is not kept: the next call tries again.
    opening ??= openShadowReader({ log, logger }).catch((err: unknown) => {
      opening = undefined;
      throw err;
    });
    return opening;
  };
  const closeOwnReader = async () => {
    stopped = true;
    await opening?.then(
      (reader) => reader.close(),
      () => undefined,
    );
  };
  const getThingShadow = async (thingName: string, shadowName: string | undefined) => {
    const shadows: Pick<ShadowReader, 'document'> = deps.shadows ?? (await ownReader());
    return shadows.document({ thingName, ...(shadowName ? { shadowName } : {}) }) as SqlValue;
  };
  const service = createRulesService(config.rules, {
    log,
    logger,
    sqlServices: { getDynamoDb: dynamoReader.getDynamoDb, getThingShadow },
    ...(deps.rulesTable ? { rulesTable: deps.rulesTable } : {}),
    ...(deps.consume === false ? { options: { consume: false } } : {}),
  });
  try {
    await service.start();
  } catch (err) {
    await service.stop().catch(() => undefined);
    await closeOwnReader();
    await dynamoReader.close();
    throw err;
  }
  return {
    service,
    async stop() {
      await service.stop();
      await closeOwnReader();
      await dynamoReader.close();
    },
  };
}
