/**
 * Access keys that sign HTTP API requests (SigV4), managed by kiot.
 *
 * Keys live on their own compacted topic, `iot.access-keys` (key = access key id, value = the
 * JSON record below), not in the data dir: every API process of a Kafka deployment then
 * verifies the same keys, and the topic can be locked down with Kafka ACLs apart from the
 * registry. SigV4 is an HMAC, so the secret itself has to be stored (AWS stores it too).
 *
 * On first start `ensureCredentialsFile` creates a key and writes it to
 * `<data-dir>/credentials` in the AWS shared-credentials format (profile `default`, mode
 * 0600), so that `AWS_SHARED_CREDENTIALS_FILE=data/credentials aws iot ...` works.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log, Logger, Table } from '../core/index.js';

export const ACCESS_KEYS_TOPIC = 'iot.access-keys';
export const CREDENTIALS_FILE_NAME = 'credentials';

/** Record layout on `iot.access-keys`: UTF-8 JSON of this object, keyed by `accessKeyId`. */
export interface AccessKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Only `Active` keys verify requests. */
  readonly status: 'Active' | 'Inactive';
  /** ms since the epoch. */
  readonly createdAt: number;
  readonly description?: string;
  /**
   * An AWS IoT policy document (JSON text) that limits what the key may do; absent for an
   * administrator key, which may call every operation. See `api/caller.ts`.
   */
  readonly policyDocument?: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A new key in AWS's shapes: a 20-character `AKIA...` id and a 40-character secret. */
export function generateAccessKey(now: number, description?: string, policyDocument?: string): AccessKey {
  const idBytes = randomBytes(16);
  const id = `AKIA${[...idBytes].map((b) => BASE32[b & 31]).join('')}`;
  const secret = randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B');
  return { accessKeyId: id, secretAccessKey: secret, status: 'Active', createdAt: now, ...(description ? { description } : {}), ...(policyDocument !== undefined ? { policyDocument } : {}) };
}

export class AccessKeyStore {
  readonly #table: Table<AccessKey>;

  private constructor(table: Table<AccessKey>) {
    this.#table = table;
  }

  /** Ensures the topic and opens its table (resolves once caught up). */
  static async open(log: Log): Promise<AccessKeyStore> {
    await log.ensureTopic({ name: ACCESS_KEYS_TOPIC, partitions: 1, compacted: true });
    const table = await log.openTable<AccessKey>(ACCESS_KEYS_TOPIC, { decode: (value) => JSON.parse(value.toString('utf8')) as AccessKey });
    return new AccessKeyStore(table);
  }

  /** The secret of an active key, or undefined. */
  secretFor(accessKeyId: string): string | undefined {
    const key = this.#table.get(accessKeyId);
    return key?.status === 'Active' ? key.secretAccessKey : undefined;
  }

  get(accessKeyId: string): AccessKey | undefined {
    return this.#table.get(accessKeyId);
  }

  list(): AccessKey[] {
    return [...this.#table.entries()].map(([, v]) => v).sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Creates and stores a new active key; resolves once it verifies requests. With a
   * `policyDocument` (checked by the caller) the key is restricted to what it allows.
   */
  async create(now: number, description?: string, policyDocument?: string): Promise<AccessKey> {
    const key = generateAccessKey(now, description, policyDocument);
    await this.#table.set(key.accessKeyId, JSON.stringify(key));
    return key;
  }

  /** Stores a key as given (import, or status change). */
  async put(key: AccessKey): Promise<void> {
    await this.#table.set(key.accessKeyId, JSON.stringify(key));
  }

  async delete(accessKeyId: string): Promise<void> {
    await this.#table.delete(accessKeyId);
  }

  close(): Promise<void> {
    return this.#table.close();
  }
}

/** A shared-credentials file holding one profile. */
export function formatCredentialsFile(key: Pick<AccessKey, 'accessKeyId' | 'secretAccessKey'>, profile = 'default'): string {
  return `# kiot HTTP API access key (created ${new Date().toISOString()})\n[${profile}]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`;
}

/** Parses an AWS shared-credentials (INI) file: profile → key/value settings. */
export function parseCredentialsFile(text: string): Map<string, Map<string, string>> {
  const profiles = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (section) {
      current = new Map();
      profiles.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current && eq > 0) current.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return profiles;
}

export interface CredentialsFileResult {
  readonly path: string;
  /** True when this call wrote the file. */
  readonly written: boolean;
  readonly accessKeyId: string | undefined;
}

/**
 * On first start: makes sure a key exists (creating one if the store has none) and, if
 * `<dataDir>/credentials` does not exist, writes the oldest active key to it with mode 0600
 * and calls `announce` with its path. An existing file is never overwritten; if its default
 * profile names a key kiot does not know, a warning says so.
 */
export async function ensureCredentialsFile(store: AccessKeyStore, dataDir: string, deps: { logger: Logger; now: number; announce?: (line: string) => void }): Promise<CredentialsFileResult> {
  const path = join(dataDir, CREDENTIALS_FILE_NAME);
  let existing: string | undefined;
  try {
    existing = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing !== undefined) {
    const id = parseCredentialsFile(existing).get('default')?.get('aws_access_key_id');
    if (id === undefined || store.secretFor(id) === undefined) {
      deps.logger.warn({ path, accessKeyId: id }, 'the credentials file does not hold an active kiot access key in its default profile');
    }
    return { path, written: false, accessKeyId: id };
  }
  // The file holds an administrator key: restricted keys are made for someone else.
  const key = store.list().find((k) => k.status === 'Active' && k.policyDocument === undefined) ?? (await store.create(deps.now, 'created on first start'));
  await mkdir(dataDir, { recursive: true });
  try {
    await writeFile(path, formatCredentialsFile(key), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process sharing this data dir wrote it first: theirs stands.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { path, written: false, accessKeyId: undefined };
    throw err;
  }
  await chmod(path, 0o600); // the umask can only narrow the mode; this makes it exact
  if (deps.announce) deps.announce(`credentials ${path}`);
  else deps.logger.info({ path, accessKeyId: key.accessKeyId }, 'wrote the HTTP API access key to the credentials file');
  return { path, written: true, accessKeyId: key.accessKeyId };
}
