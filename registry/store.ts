/**
 * The registry store: one `StateStore` over the compacted `iot.registry` topic holding every
 * registry record (things, thing types, thing groups, certificates, CA certificates, the kiot
 * CA, the registration code, policies and attachments, custom authorizers), with every registry command.
 *
 * Opened once per process and shared: `ThingRegistry.open` opens it, and the security service
 * takes it (`createSecurityService(config, { registryStore: registry.store })`). Reads come
 * from its view (`state`, and `security` for the attachment indexes); every write is a command
 * (`things/commands.ts`, `policies/commands.ts`, `certificates/commands.ts`) that runs on the
 * owner of the topic's partition, one at a time (`commands.ts`).
 *
 * Record layout: key `<kind>/<name>` (see `things/model.ts` and `principals/store.ts`), value a
 * state frame (`core/state/codec.ts`) around the record as JSON, checked on decode with the
 * schema of its key prefix.
 *   schema version 1  the records as they are now
 *   schema version 0  plain JSON with no frame, written before the state store existed; the
 *                     records had the same shape, so they are read as they are
 */
import { z } from 'zod';
import {
  StateStore,
  TOPICS,
  jsonCodec,
  topicSpec,
  type Log,
  type Logger,
  type StateCodec,
} from '../core/index.js';
import { checkRecord as checkAuthorizerRecord } from './authorizers/authorizer-service.js';
import { authorizerCommands } from './authorizers/commands.js';
import { AUTHORIZER_SCHEMAS, type AuthorizerValue } from './authorizers/model.js';
import { ONCE_PREFIX, batchCommand, forgetOnceCommand, onceRecordSchema, type OnceRecord } from './batch.js';
import { certificateCommands } from './certificates/commands.js';
import { assertThingHasNoPrincipals, policyCommands } from './policies/commands.js';
import { SECURITY_SCHEMAS, SecurityStore, type SecurityRecord } from './principals/store.js';
import { DEFAULT_THING_TYPE_DELETE_DELAY_MS, thingCommands } from './things/commands.js';
import { THING_SCHEMAS, createArns, type Arns, type RegistryRecord } from './things/model.js';

/** Every value the registry store holds. */
export type RegistryValue = RegistryRecord | SecurityRecord | AuthorizerValue | OnceRecord;

/** The schema of every key kind; entries ending in `/` are prefixes, the others whole keys. */
const SCHEMAS: readonly (readonly [string, z.ZodType<RegistryValue>])[] = [
  ...THING_SCHEMAS,
  ...SECURITY_SCHEMAS,
  ...AUTHORIZER_SCHEMAS,
  [ONCE_PREFIX, onceRecordSchema as z.ZodType<RegistryValue>],
];
const UNKNOWN_KEY = z.never({
  error:
    'the key has no registry record kind (expected one of thing/, thingType/, thingGroup/, kiot/ca, kiot/registration-code, kiot/default-authorizer, kiot/once/, cert/, ca/, policy/, attach/, authorizer/)',
});

export function registrySchemaFor(key: string): z.ZodType<RegistryValue> {
  for (const [pattern, schema] of SCHEMAS) {
    if (pattern.endsWith('/') ? key.startsWith(pattern) : key === pattern) return schema;
  }
  return UNKNOWN_KEY;
}

export const registryCodec: StateCodec<RegistryValue> = jsonCodec<RegistryValue>({ name: 'registry record', version: 1, schema: registrySchemaFor });


export interface RegistryStoreOptions {
  readonly log: Log;
  readonly logger: Logger;
  /** Region and account in ARNs and events. */
  readonly region: string;
  readonly accountId: string;
  /** The time commands see (`ctx.now`). Default `Date.now`. */
  readonly clock?: () => number;
  /** Append registry events to `iot.ingress`. Default true. */
  readonly publishEvents?: boolean;
  /** Default {@link DEFAULT_THING_TYPE_DELETE_DELAY_MS}. */
  readonly thingTypeDeleteDelayMs?: number;
}

export class RegistryStore {
  readonly arns: Arns;
  #closing: Promise<void> | undefined;

  private constructor(
    /** Every registry record; read it, write only through `execute`. */
    readonly state: StateStore<RegistryValue>,
    /** The security records, with the attachment indexes the commands read too. */
    readonly security: SecurityStore,
    arns: Arns,
  ) {
    this.arns = arns;
  }

  /**
   * Ensures `iot.registry` and `iot.ingress` (registry events), then opens the store; resolves
   * once it has caught up with the topic. Records that fail their schema are logged and skipped
   * by the store's table.
   */
  static async open(options: RegistryStoreOptions): Promise<RegistryStore> {
    await options.log.ensureTopic(topicSpec(TOPICS.ingress));
    const arns = createArns(options.region, options.accountId);
    let security: SecurityStore | undefined;
    const state = await StateStore.open<RegistryValue>({
      log: options.log,
      logger: options.logger,
      topic: topicSpec(TOPICS.registry),
      codec: registryCodec,
      ...(options.clock ? { clock: options.clock } : {}),
      commands: (store) => {
        const view = new SecurityStore(store);
        security = view;
        const commands = [
          ...thingCommands({
            arns,
            publishEvents: options.publishEvents ?? true,
            thingTypeDeleteDelayMs: options.thingTypeDeleteDelayMs ?? DEFAULT_THING_TYPE_DELETE_DELAY_MS,
            assertThingDeletable: (thing) => assertThingHasNoPrincipals(view, thing.thingName),
          }),
          ...policyCommands(view),
          ...certificateCommands(view),
          ...authorizerCommands(checkAuthorizerRecord),
        ];
        // registry.batch runs any of the above as steps of one all-or-nothing change (batch.ts).
        return [...commands, batchCommand(commands), forgetOnceCommand];
      },
    });
    return new RegistryStore(state, security!, arns);
  }

  /**
   * Runs a registry command (its name from `THING_COMMANDS`, `POLICY_COMMANDS`,
   * `CERTIFICATE_COMMANDS` or `REGISTRY_BATCH_COMMAND`) on the owner of `iot.registry`; resolves with its result once this
   * process's view has its writes.
   * @throws PlatformError what the command threw (its rule's code); STATE_UNAVAILABLE
   *   (retriable) when no owner answered in time.
   */
  execute<R>(command: string, input: unknown): Promise<R> {
    return this.state.execute<unknown, R>(command, input);
  }

  /** Lets commands in flight finish, then stops following the topic. Safe twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.state.close();
      this.security.close();
    })();
    return this.#closing;
  }
}
