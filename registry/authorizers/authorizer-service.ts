/**
 * CreateAuthorizer, DescribeAuthorizer, ListAuthorizers, UpdateAuthorizer, DeleteAuthorizer,
 * SetDefaultAuthorizer, DescribeDefaultAuthorizer and ClearDefaultAuthorizer over the registry
 * store (AWS IoT API reference). Reads come from the store's view; writes are registry commands
 * (`commands.ts`). Input is checked here, before any command runs, so bad input never reaches
 * the log; the command re-checks the merged record (UpdateAuthorizer) on the owner.
 */
import { createPublicKey } from 'node:crypto';
import { PlatformError } from '../../core/index.js';
import type { ArnScope } from '../policies/engine.js';
import { paginate, type Page, type PageRequest } from '../principals/paging.js';
import type { RegistryStore } from '../store.js';
import { AUTHORIZER_COMMANDS, authorizerOf, type AuthorizerFields, type AuthorizerUpdate } from './commands.js';
import { AUTHORIZER_KEYS, AUTHORIZER_PREFIX, type AuthorizerRecord, type AuthorizerStatus, type DefaultAuthorizerRecord } from './model.js';

/** AWS IoT API reference, CreateAuthorizer: `authorizerName` [\w=,@-]+, 1–128. */
const NAME = /^[\w=,@-]{1,128}$/;
/** `tokenKeyName` [a-zA-Z0-9_-]+, 1–128. */
const TOKEN_KEY_NAME = /^[a-zA-Z0-9_-]{1,128}$/;
/** `tokenSigningPublicKeys` keys: [a-zA-Z0-9:_-]+, 1–128; values at most 5120 characters. */
const PUBLIC_KEY_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const MAX_PUBLIC_KEY_CHARS = 5120;
/** AWS IoT developer guide, "Creating and managing custom authorizers": the signing key has at least 2048 bits. */
const MIN_SIGNING_KEY_BITS = 2048;
const MAX_FUNCTION_ARN_CHARS = 2048;

const invalid = (message: string, field: string) => new PlatformError('REGISTRY_INVALID', message, { details: { field } });

export class AuthorizerService {
  readonly #registry: RegistryStore;
  readonly #scope: ArnScope;

  constructor(registry: RegistryStore, scope: ArnScope) {
    this.#registry = registry;
    this.#scope = scope;
  }

  authorizerArn(name: string): string {
    return `arn:${this.#scope.partition ?? 'aws'}:iot:${this.#scope.region}:${this.#scope.accountId}:authorizer/${name}`;
  }

  /** CreateAuthorizer. @throws REGISTRY_INVALID (bad field), REGISTRY_ALREADY_EXISTS. */
  createAuthorizer(name: string, body: Record<string, unknown>): Promise<AuthorizerRecord> {
    validName(name);
    const functionArn = body['authorizerFunctionArn'];
    if (typeof functionArn !== 'string' || functionArn.length === 0 || functionArn.length > MAX_FUNCTION_ARN_CHARS) {
      throw invalid(`authorizerFunctionArn: expected a function ARN or name of 1 to ${MAX_FUNCTION_ARN_CHARS} characters, received ${JSON.stringify(functionArn) ?? 'nothing'}`, 'authorizerFunctionArn');
    }
    const fields: AuthorizerFields = {
      authorizerFunctionArn: functionArn,
      tokenKeyName: tokenKeyName(body['tokenKeyName']),
      tokenSigningPublicKeys: publicKeys(body['tokenSigningPublicKeys']),
      status: status(body['status']) ?? 'ACTIVE',
      signingDisabled: flag(body['signingDisabled'], 'signingDisabled') ?? false,
      enableCachingForHttp: flag(body['enableCachingForHttp'], 'enableCachingForHttp') ?? false,
    };
    checkRecord({ authorizerName: name, ...fields } as AuthorizerRecord);
    return this.#registry.execute(AUTHORIZER_COMMANDS.create, { name, arn: this.authorizerArn(name), fields });
  }

  /** UpdateAuthorizer: only the fields sent change. @throws REGISTRY_INVALID, REGISTRY_NOT_FOUND. */
  updateAuthorizer(name: string, body: Record<string, unknown>): Promise<AuthorizerRecord> {
    validName(name);
    const functionArn = body['authorizerFunctionArn'];
    if (functionArn !== undefined && (typeof functionArn !== 'string' || functionArn.length === 0 || functionArn.length > MAX_FUNCTION_ARN_CHARS)) {
      throw invalid(`authorizerFunctionArn: expected a function ARN or name of 1 to ${MAX_FUNCTION_ARN_CHARS} characters, received ${JSON.stringify(functionArn)}`, 'authorizerFunctionArn');
    }
    const update: AuthorizerUpdate = {
      authorizerFunctionArn: functionArn as string | undefined,
      tokenKeyName: tokenKeyName(body['tokenKeyName']),
      tokenSigningPublicKeys: publicKeys(body['tokenSigningPublicKeys']),
      status: status(body['status']),
      enableCachingForHttp: flag(body['enableCachingForHttp'], 'enableCachingForHttp'),
    };
    this.describeAuthorizer(name);
    return this.#registry.execute(AUTHORIZER_COMMANDS.update, { name, update });
  }

  /** DeleteAuthorizer. @throws REGISTRY_NOT_FOUND, REGISTRY_DELETE_CONFLICT (ACTIVE, or the default). */
  async deleteAuthorizer(name: string): Promise<void> {
    validName(name);
    this.describeAuthorizer(name);
    await this.#registry.execute(AUTHORIZER_COMMANDS.delete, { name });
  }

  /** DescribeAuthorizer. @throws REGISTRY_NOT_FOUND. */
  describeAuthorizer(name: string): AuthorizerRecord {
    return authorizerOf(this.#registry.state, name);
  }

  /** The authorizer, or undefined: what the gateway asks per connection. */
  authorizer(name: string): AuthorizerRecord | undefined {
    return this.#registry.state.get(AUTHORIZER_KEYS.authorizer(name)) as AuthorizerRecord | undefined;
  }

  /** The default authorizer's name, when one is set. */
  defaultAuthorizerName(): string | undefined {
    return (this.#registry.state.get(AUTHORIZER_KEYS.defaultAuthorizer) as DefaultAuthorizerRecord | undefined)?.authorizerName;
  }

  /** ListAuthorizers, by name, optionally of one status. */
  listAuthorizers(request: PageRequest & { ascendingOrder?: boolean | undefined; status?: string | undefined }): Page<AuthorizerRecord> {
    const wanted = status(request.status);
    const all: AuthorizerRecord[] = [];
    for (const [key, value] of this.#registry.state.entries()) {
      if (!key.startsWith(AUTHORIZER_PREFIX)) continue;
      const record = value as AuthorizerRecord;
      if (wanted === undefined || record.status === wanted) all.push(record);
    }
    all.sort((a, b) => (a.authorizerName < b.authorizerName ? -1 : a.authorizerName > b.authorizerName ? 1 : 0));
    const descending = request.ascendingOrder === false;
    if (descending) all.reverse();
    return paginate(all, request, (a) => a.authorizerName, descending);
  }

  /** SetDefaultAuthorizer. @throws REGISTRY_NOT_FOUND, REGISTRY_ALREADY_EXISTS (another one is the default). */
  async setDefaultAuthorizer(name: unknown): Promise<AuthorizerRecord> {
    if (typeof name !== 'string') throw invalid(`authorizerName: expected a string, received ${JSON.stringify(name) ?? 'nothing'}`, 'authorizerName');
    validName(name);
    this.describeAuthorizer(name);
    await this.#registry.execute(AUTHORIZER_COMMANDS.setDefault, { name });
    return this.describeAuthorizer(name);
  }

  /** DescribeDefaultAuthorizer. @throws REGISTRY_NOT_FOUND when none is set. */
  describeDefaultAuthorizer(): AuthorizerRecord {
    const name = this.defaultAuthorizerName();
    if (name === undefined) throw new PlatformError('REGISTRY_NOT_FOUND', 'no default authorizer is set');
    return this.describeAuthorizer(name);
  }

  /** ClearDefaultAuthorizer (a no-op when none is set). */
  async clearDefaultAuthorizer(): Promise<void> {
    await this.#registry.execute(AUTHORIZER_COMMANDS.clearDefault, {});
  }
}

/** What every stored authorizer satisfies: with signing on, a token key name and at least one public key. */
export function checkRecord(record: AuthorizerRecord): void {
  if (record.signingDisabled) return;
  if (!record.tokenKeyName) throw invalid('tokenKeyName: required while signing is enabled (signingDisabled is false)', 'tokenKeyName');
  if (!record.tokenSigningPublicKeys || Object.keys(record.tokenSigningPublicKeys).length === 0) {
    throw invalid('tokenSigningPublicKeys: at least one public key is required while signing is enabled (signingDisabled is false)', 'tokenSigningPublicKeys');
  }
}

function validName(name: string): void {
  if (!NAME.test(name)) throw invalid(`authorizerName: expected 1 to 128 characters of [a-zA-Z0-9_=,@-], received ${JSON.stringify(name)}`, 'authorizerName');
}

function tokenKeyName(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !TOKEN_KEY_NAME.test(value)) {
    throw invalid(`tokenKeyName: expected 1 to 128 characters of [a-zA-Z0-9_-], received ${JSON.stringify(value)}`, 'tokenKeyName');
  }
  return value;
}

function status(value: unknown): AuthorizerStatus | undefined {
  if (value === undefined) return undefined;
  if (value !== 'ACTIVE' && value !== 'INACTIVE') throw invalid(`status: expected ACTIVE or INACTIVE, received ${JSON.stringify(value)}`, 'status');
  return value;
}

function flag(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(`${field}: expected true or false, received ${JSON.stringify(value)}`, field);
  return value;
}

/** Each value must be a PEM public key that can verify RSA-SHA256 signatures of at least 2048 bits. */
function publicKeys(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('tokenSigningPublicKeys: expected an object of key name to PEM public key', 'tokenSigningPublicKeys');
  }
  const out: Record<string, string> = {};
  for (const [keyName, pem] of Object.entries(value)) {
    const field = `tokenSigningPublicKeys.${keyName}`;
    if (!PUBLIC_KEY_NAME.test(keyName)) throw invalid(`${field}: key names are 1 to 128 characters of [a-zA-Z0-9:_-]`, field);
    if (typeof pem !== 'string' || pem.length > MAX_PUBLIC_KEY_CHARS) throw invalid(`${field}: expected a PEM public key of at most ${MAX_PUBLIC_KEY_CHARS} characters`, field);
    let key;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw invalid(`${field}: not a PEM public key (${(err as Error).message})`, field);
    }
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (key.asymmetricKeyType !== 'rsa' || bits === undefined || bits < MIN_SIGNING_KEY_BITS) {
      throw invalid(`${field}: expected an RSA public key of at least ${MIN_SIGNING_KEY_BITS} bits, received ${key.asymmetricKeyType ?? 'unknown'}${bits ? ` of ${bits} bits` : ''}`, field);
    }
    out[keyName] = pem;
  }
  return out;
}
