/**
 * Signed requests from the CLI to a running kiot's HTTP API, for kiot's own routes that no AWS
 * SDK client knows (`/kiot/rules`, `/kiot/access-keys`): every route but `/health` and
 * `/metrics` needs a SigV4 signature (AWS General Reference, "Signature Version 4").
 *
 * Credentials, as `kiot device create` finds them: the AWS SDK's chain when the user points at
 * it (`--profile`, AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SHARED_CREDENTIALS_FILE), else the
 * `default` profile of `<data-dir>/credentials`, which `kiot up` writes on first start.
 * An HTTPS endpoint is verified against `--ca-file` or AWS_CA_BUNDLE (e.g. `<data-dir>/ca.pem`)
 * when given, else the system's CAs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { signRequest, type AwsCredentials } from '../../actions/index.js';
import { CREDENTIALS_FILE_NAME, parseCredentialsFile } from '../../api/index.js';
import type { Command } from 'commander';
import { PlatformError } from '../../core/index.js';

/** Region requests are signed for; kiot accepts any unless `--region` is configured there. */
export const DEFAULT_SIGNING_REGION = 'us-east-1';

export interface CliAuthFlags {
  readonly dataDir: string;
  readonly profile?: string | undefined;
  readonly region: string;
  readonly caFile?: string | undefined;
}

/** Static credentials from `<data-dir>/credentials` (profile `default`), or undefined when there is no such file. */
export async function dataDirCredentials(dataDir: string): Promise<{ accessKeyId: string; secretAccessKey: string } | undefined> {
  const path = join(dataDir, CREDENTIALS_FILE_NAME);
  if (!existsSync(path)) return undefined;
  const profile = parseCredentialsFile(await readFile(path, 'utf8')).get('default');
  const accessKeyId = profile?.get('aws_access_key_id');
  const secretAccessKey = profile?.get('aws_secret_access_key');
  if (!accessKeyId || !secretAccessKey) throw new PlatformError('INPUT_INVALID', `${path}: expected aws_access_key_id and aws_secret_access_key in [default]`);
  return { accessKeyId, secretAccessKey };
}

/** Whether the user asked for the AWS SDK's credentials chain rather than kiot's file. */
export function wantsAwsChain(profile: string | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return profile !== undefined || env['AWS_ACCESS_KEY_ID'] !== undefined || env['AWS_PROFILE'] !== undefined || env['AWS_SHARED_CREDENTIALS_FILE'] !== undefined;
}

/**
 * The credentials to sign with: static ones from the data dir, or undefined for the AWS SDK's
 * default chain. @throws PlatformError INPUT_INVALID when neither is available.
 */
export async function cliCredentials(flags: Pick<CliAuthFlags, 'dataDir' | 'profile'>): Promise<AwsCredentials | undefined> {
  if (wantsAwsChain(flags.profile)) {
    if (flags.profile !== undefined) process.env['AWS_PROFILE'] = flags.profile;
    return undefined;
  }
  const credentials = await dataDirCredentials(flags.dataDir);
  if (!credentials) {
    throw new PlatformError('INPUT_INVALID', `no credentials: ${join(flags.dataDir, CREDENTIALS_FILE_NAME)} does not exist (pass --data-dir, --profile, or set AWS_ACCESS_KEY_ID)`);
  }
  return credentials;
}

export interface SignedResponse {
  readonly status: number;
  /** `x-amzn-ErrorType` of an error answer. */
  readonly errorType: string | undefined;
  readonly body: string;
}

/**
 * Sends one SigV4-signed request (service `iot`) and returns the answer; never throws for an
 * HTTP error status. @throws on network errors and a missing CA file.
 */
export async function signedRequest(
  method: string,
  url: string,
  options: { readonly body?: string; readonly credentials: AwsCredentials | undefined; readonly region: string; readonly caFile?: string | undefined; readonly timeoutMs?: number },
): Promise<SignedResponse> {
  const body = options.body === undefined ? undefined : Buffer.from(options.body, 'utf8');
  const unsigned: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
  const headers = await signRequest({ method, url, headers: unsigned, ...(body ? { body } : {}) }, { service: 'iot', region: options.region, ...(options.credentials ? { credentials: options.credentials } : {}) });
  const target = new URL(url);
  const caPath = options.caFile ?? process.env['AWS_CA_BUNDLE'];
  const ca = target.protocol === 'https:' && caPath ? readFileSync(caPath) : undefined;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, { method, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, ...(ca ? { ca } : {}), timeout: options.timeoutMs ?? 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        const type = res.headers['x-amzn-errortype'];
        resolve({ status: res.statusCode ?? 0, errorType: Array.isArray(type) ? type[0] : type, body: text });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** `HTTP 403 UnrecognizedClientException: The security token ...` for an error answer. */
export function describeFailure(res: SignedResponse): string {
  let message = res.body;
  try {
    const parsed = JSON.parse(res.body) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: the raw text is the message
  }
  return `HTTP ${res.status}${res.errorType ? ` ${res.errorType}` : ''}${message ? `: ${message}` : ''}`;
}

/** `http://<KIOT_HOST>:<KIOT_HTTP_PORT>`, as `kiot up` would bind them (defaults 127.0.0.1:8080). */
export function defaultEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  const host = env['KIOT_HOST'] || '127.0.0.1';
  const port = env['KIOT_HTTP_PORT'] || '8080';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The options of a command that calls a running kiot's HTTP API (see {@link apiClient}). */
export type ApiClientFlags = Partial<CliAuthFlags> & { readonly endpoint?: string };

/** Adds the options every command that calls a running kiot's HTTP API takes, with their defaults. */
export function withApiClientOptions(command: Command): Command {
  return command
    .option('--endpoint <url>', 'kiot HTTP listener (default: http://$KIOT_HOST:$KIOT_HTTP_PORT, else http://127.0.0.1:8080)')
    .option('--data-dir <dir>', 'kiot data dir, for its credentials file (default: $KIOT_DATA_DIR, else ./data)')
    .option('--profile <name>', 'sign with this AWS profile instead of the data dir credentials')
    .option('--region <region>', 'region to sign requests for', DEFAULT_SIGNING_REGION)
    .option('--ca-file <file>', 'CA certificate of an https endpoint (default: $AWS_CA_BUNDLE; kiot writes <data-dir>/ca.pem)');
}

/** The endpoint those options name, and signed requests to it with the credentials they find. */
export async function apiClient(flags: ApiClientFlags): Promise<{ endpoint: string; request(method: string, path: string, body?: string): Promise<SignedResponse> }> {
  const endpoint = (flags.endpoint ?? defaultEndpoint()).replace(/\/+$/, '');
  const credentials = await cliCredentials({ dataDir: flags.dataDir ?? (process.env['KIOT_DATA_DIR'] || './data'), profile: flags.profile });
  return {
    endpoint,
    request: (method, path, body) =>
      signedRequest(method, `${endpoint}${path}`, { ...(body !== undefined ? { body } : {}), credentials, region: flags.region ?? DEFAULT_SIGNING_REGION, caFile: flags.caFile }),
  };
}
