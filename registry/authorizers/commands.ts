/**
 * Authorizer writes as registry commands (they run one at a time with every other registry
 * command, on the owner of `iot.registry`). Inputs are validated by `authorizer-service.ts`
 * first; each command checks only what depends on the store's current state.
 */
import { PlatformError, type StateView } from '../../core/index.js';
import { registryCommand, type RegistryCommand } from '../commands.js';
import type { RegistryValue } from '../store.js';
import { AUTHORIZER_KEYS, type AuthorizerRecord, type AuthorizerStatus, type DefaultAuthorizerRecord } from './model.js';

export const AUTHORIZER_COMMANDS = {
  create: 'authorizer.create',
  update: 'authorizer.update',
  delete: 'authorizer.delete',
  setDefault: 'authorizer.setDefault',
  clearDefault: 'authorizer.clearDefault',
} as const;

/** The fields CreateAuthorizer sets; UpdateAuthorizer sends the ones it changes. */
export interface AuthorizerFields {
  readonly authorizerFunctionArn: string;
  readonly tokenKeyName?: string | undefined;
  readonly tokenSigningPublicKeys?: Readonly<Record<string, string>> | undefined;
  readonly status: AuthorizerStatus;
  readonly signingDisabled: boolean;
  readonly enableCachingForHttp: boolean;
}

export type AuthorizerUpdate = Partial<Omit<AuthorizerFields, 'signingDisabled'>>;

/** Checks that hold for a whole record, after an update merged its fields. */
export type RecordCheck = (record: AuthorizerRecord) => void;

export function authorizerCommands(check: RecordCheck): RegistryCommand<any, any>[] {
  return [
    registryCommand(AUTHORIZER_COMMANDS.create, (state, input: { name: string; arn: string; fields: AuthorizerFields }, ctx) => {
      const key = AUTHORIZER_KEYS.authorizer(input.name);
      if (state.has(key)) {
        throw new PlatformError('REGISTRY_ALREADY_EXISTS', `authorizer ${input.name} already exists`, { details: { resourceId: input.name, resourceArn: input.arn } });
      }
      const record: AuthorizerRecord = compactRecord({ authorizerName: input.name, ...input.fields, createdAt: ctx.now, updatedAt: ctx.now, generationId: ctx.newId() });
      check(record);
      return { result: record, writes: [{ key, value: record }] };
    }),

    registryCommand(AUTHORIZER_COMMANDS.update, (state, input: { name: string; update: AuthorizerUpdate }, ctx) => {
      const current = authorizerOf(state, input.name);
      const record = compactRecord({ ...current, ...definedOnly(input.update), updatedAt: ctx.now, generationId: ctx.newId() });
      check(record);
      return { result: record, writes: [{ key: AUTHORIZER_KEYS.authorizer(input.name), value: record }] };
    }),

    // AWS IoT: an authorizer is set INACTIVE before it is deleted, and the default one is cleared first.
    registryCommand(AUTHORIZER_COMMANDS.delete, (state, input: { name: string }) => {
      const current = authorizerOf(state, input.name);
      if (current.status === 'ACTIVE') {
        throw new PlatformError('REGISTRY_DELETE_CONFLICT', `authorizer ${input.name} is ACTIVE; set its status to INACTIVE (UpdateAuthorizer) before deleting it`);
      }
      const pointer = state.get(AUTHORIZER_KEYS.defaultAuthorizer) as DefaultAuthorizerRecord | undefined;
      if (pointer?.authorizerName === input.name) {
        throw new PlatformError('REGISTRY_DELETE_CONFLICT', `authorizer ${input.name} is the default authorizer; clear it (ClearDefaultAuthorizer) before deleting it`);
      }
      return { result: undefined, writes: [{ key: AUTHORIZER_KEYS.authorizer(input.name), value: null }] };
    }),

    registryCommand(AUTHORIZER_COMMANDS.setDefault, (state, input: { name: string }) => {
      authorizerOf(state, input.name);
      const pointer = state.get(AUTHORIZER_KEYS.defaultAuthorizer) as DefaultAuthorizerRecord | undefined;
      if (pointer?.authorizerName === input.name) return { result: undefined, writes: [] };
      if (pointer) {
        throw new PlatformError('REGISTRY_ALREADY_EXISTS', `the default authorizer is already ${pointer.authorizerName}; clear it (ClearDefaultAuthorizer) first`, {
          details: { resourceId: pointer.authorizerName },
        });
      }
      return { result: undefined, writes: [{ key: AUTHORIZER_KEYS.defaultAuthorizer, value: { authorizerName: input.name } }] };
    }),

    registryCommand(AUTHORIZER_COMMANDS.clearDefault, (state) => {
      if (!state.has(AUTHORIZER_KEYS.defaultAuthorizer)) return { result: undefined, writes: [] };
      return { result: undefined, writes: [{ key: AUTHORIZER_KEYS.defaultAuthorizer, value: null }] };
    }),
  ];
}

export function authorizerOf(state: StateView<RegistryValue>, name: string): AuthorizerRecord {
  const record = state.get(AUTHORIZER_KEYS.authorizer(name)) as AuthorizerRecord | undefined;
  if (!record) throw new PlatformError('REGISTRY_NOT_FOUND', `authorizer ${name} does not exist`, { details: { resourceId: name } });
  return record;
}

const definedOnly = <T extends object>(value: T): Partial<T> => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;

/** Drops undefined optional fields, so the record passes its schema and compares by value. */
const compactRecord = (record: AuthorizerRecord): AuthorizerRecord => definedOnly(record) as AuthorizerRecord;
