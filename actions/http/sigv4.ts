/**
 * AWS Signature V4 for outgoing requests: the http action's `auth: { sigv4: ... }` and
 * `kiot device create`'s one non-SDK call. The only place `@smithy/signature-v4` is used.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

/**
 * The signer and the credentials chain are imported at the first signature: a kiot whose rules
 * sign nothing never loads them (issue 12: with @smithy/core, about 1.5 MB of heap at rest).
 */
let sdk: Promise<[typeof import('@smithy/signature-v4'), typeof import('@aws-sdk/credential-provider-node')]> | undefined;
const loadSdk = () => (sdk ??= Promise.all([import('@smithy/signature-v4'), import('@aws-sdk/credential-provider-node')]));

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SignOptions {
  readonly service: string;
  readonly region: string;
  /** Static credentials; undefined = the AWS SDK's default chain (environment, profile, ...). */
  readonly credentials?: AwsCredentials | (() => Promise<AwsCredentials>);
}

export interface OutgoingRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

/** The AWS SDK's default credentials chain (environment, shared files, ...), cached by the SDK once resolved. */
export const defaultCredentials = (): (() => Promise<AwsCredentials>) => {
  let provider: Promise<() => Promise<AwsCredentials>> | undefined;
  return async () => (await (provider ??= loadSdk().then(([, credentials]) => credentials.defaultProvider())))();
};

/** Returns the request's headers plus `authorization`, `x-amz-date` (and the security token). */
export async function signRequest(request: OutgoingRequest, options: SignOptions): Promise<Record<string, string>> {
  const url = new URL(request.url);
  const [{ SignatureV4 }, { defaultProvider }] = await loadSdk();
  const signer = new SignatureV4({
    service: options.service,
    region: options.region,
    credentials: options.credentials ?? defaultProvider(),
    sha256: Sha256,
  });
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signed = await signer.sign({
    method: request.method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query,
    headers: { ...request.headers, host: url.host },
    ...(request.body ? { body: request.body } : {}),
  });
  return signed.headers as Record<string, string>;
}

/** SHA-256 / HMAC-SHA-256 in the shape the signer wants, on Node's crypto. */
class Sha256 {
  #hash: Hash | Hmac;
  readonly #secret: Buffer | undefined;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#secret = secret === undefined ? undefined : bytes(secret);
    this.#hash = this.#fresh();
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
  reset(): void {
    this.#hash = this.#fresh();
  }
  #fresh(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }
}

const bytes = (data: string | ArrayBuffer | ArrayBufferView): Buffer =>
  typeof data === 'string' ? Buffer.from(data, 'utf8') : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
