/**
 * The shape every registry command has: a `CommandDefinition` of the registry store
 * (`store.ts`) that locks one key for all of them.
 *
 * Every registry key lives in the one partition of `iot.registry` (core/topics.ts), so one
 * owner runs every registry command anyway; locking one key as well runs them one at a time,
 * as the thing registry's promise queue did, so a command's checks that span kinds (DeleteThing
 * looks at attachments, AttachThingPrincipal at things) see every write before it.
 */
import type { CommandContext, CommandDefinition, Change, StateView } from '../core/index.js';
import type { RegistryValue } from './store.js';

/** The key every registry command locks (and routes by). */
export const REGISTRY_LOCK_KEY = 'registry';

export type RegistryCommand<I, R> = CommandDefinition<RegistryValue, I, R>;

/** A registry command: `run` reads the store and returns its writes; it does no I/O. */
export function registryCommand<I, R>(name: string, run: (state: StateView<RegistryValue>, input: I, ctx: CommandContext) => Change<RegistryValue, R>): RegistryCommand<I, R> {
  return { name, keys: () => [REGISTRY_LOCK_KEY], run };
}
