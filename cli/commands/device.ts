/**
 * `kiot device create <thing>`: provisions one device against a running kiot over its HTTP API
 * (AWS IoT's operations, signed with SigV4): the thing, a key pair and certificate from the
 * kiot CA, a policy that lets the device connect as itself and use its own topics, shadow and
 * jobs, the attachments; writes the certificate, keys and CA into a directory and prints the
 * command that connects with them.
 *
 * Credentials: an AWS profile or the AWS_* variables when given (`--profile`, AWS_PROFILE,
 * AWS_ACCESS_KEY_ID), else the `default` profile of `<data-dir>/credentials`, which kiot
 * writes on first start.
 */
import type { IoTClient } from '@aws-sdk/client-iot';
import type { Command } from 'commander';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { signRequest } from '../../actions/index.js';
import { cliCredentials, defaultEndpoint } from './signed-request.js';
import { PlatformError } from '../../core/index.js';
import { processIo, type CliIo } from './sql.js';

/** Region the requests are signed for; kiot accepts any unless one is configured. */
export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_MQTTS_PORT = 8883;

export interface DeviceCreateOptions {
  readonly thingName: string;
  /** HTTP API base URL. */
  readonly endpoint: string;
  readonly region: string;
  /** Where to write the files. */
  readonly outDir: string;
  readonly policyName: string;
  /** Static credentials; undefined = the AWS SDK's default chain (env, profile). */
  readonly credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  readonly mqttHost: string;
  readonly mqttsPort: number;
  /**
   * When the thing already has a certificate: false refuses (running the command twice must not
   * leave a second ACTIVE certificate behind), true issues a new one and revokes the old ones.
   */
  readonly rotate?: boolean;
}

export interface DeviceCreated {
  readonly thingName: string;
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly policyName: string;
  /** Certificates of the thing that `rotate` revoked. */
  readonly revoked: readonly string[];
  readonly files: { readonly certificate: string; readonly privateKey: string; readonly publicKey: string; readonly ca: string };
  /** One line: `mosquitto_pub ...` over mutual TLS. */
  readonly mosquittoCommand: string;
  /** One line: the mqtt.js CLI (`npx mqtt pub ...`). */
  readonly mqttJsCommand: string;
}

/**
 * The policy `kiot device create` attaches: connect with the thing name as client id; publish,
 * receive and subscribe on `<thing>/...`, its shadow topics and its jobs topics.
 */
export function devicePolicyDocument(thingName: string): string {
  const arn = 'arn:aws:iot:*:*:';
  const own = [`${thingName}/*`, `$aws/things/${thingName}/shadow/*`, `$aws/things/${thingName}/jobs/*`];
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iot:Connect', Resource: `${arn}client/${thingName}` },
      { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: own.map((t) => `${arn}topic/${t}`) },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: own.map((t) => `${arn}topicfilter/${t}`) },
    ],
  });
}

/** Runs the provisioning steps. Throws PlatformError INPUT_INVALID, or the SDK's errors. */
export async function createDevice(options: DeviceCreateOptions): Promise<DeviceCreated> {
  const { thingName } = options;
  if (!/^[a-zA-Z0-9:_-]{1,128}$/.test(thingName)) {
    throw new PlatformError('INPUT_INVALID', `thing: expected 1-128 characters of [a-zA-Z0-9:_-], received ${JSON.stringify(thingName)}`);
  }
  // Loaded here, not with the CLI: every `kiot` command (`kiot up` too) would otherwise carry the
  // whole IoT client (~28 MB resident) for this one command.
  const {
    AttachPolicyCommand,
    AttachThingPrincipalCommand,
    CreateKeysAndCertificateCommand,
    CreatePolicyCommand,
    CreateThingCommand,
    DetachPolicyCommand,
    DetachThingPrincipalCommand,
    IoTClient,
    ListThingPrincipalsCommand,
    UpdateCertificateCommand,
  } = await import('@aws-sdk/client-iot');
  const client = new IoTClient({
    endpoint: options.endpoint,
    region: options.region,
    maxAttempts: 2,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  try {
    await ignoreExists(client.send(new CreateThingCommand({ thingName })));
    const previous = (await client.send(new ListThingPrincipalsCommand({ thingName }))).principals ?? [];
    if (previous.length > 0 && !options.rotate) {
      throw new PlatformError(
        'INPUT_INVALID',
        `thing ${thingName} already has a certificate (${previous.map(certificateIdOf).join(', ')}); pass --rotate to issue a new one and revoke the old`,
        { details: { field: 'thing' } },
      );
    }
    const cert = await client.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    await ignoreExists(client.send(new CreatePolicyCommand({ policyName: options.policyName, policyDocument: devicePolicyDocument(thingName) })));
    await client.send(new AttachPolicyCommand({ policyName: options.policyName, target: cert.certificateArn }));
    await client.send(new AttachThingPrincipalCommand({ thingName, principal: cert.certificateArn! }));
    // Rotation: the old certificates stop working once the new one is in place (REVOKED disconnects live sessions).
    for (const principal of previous) {
      await client.send(new DetachThingPrincipalCommand({ thingName, principal }));
      await ignoreMissing(client.send(new DetachPolicyCommand({ policyName: options.policyName, target: principal })));
      await client.send(new UpdateCertificateCommand({ certificateId: certificateIdOf(principal), newStatus: 'REVOKED' }));
    }
    const ca = await getKiotCa(client, options.endpoint, options.region);

    const dir = resolve(options.outDir);
    await mkdir(dir, { recursive: true });
    const files = {
      certificate: join(dir, `${thingName}.cert.pem`),
      privateKey: join(dir, `${thingName}.private.key`),
      publicKey: join(dir, `${thingName}.public.key`),
      ca: join(dir, 'kiot-ca.pem'),
    };
    await writeFile(files.certificate, cert.certificatePem!);
    await writeFile(files.privateKey, cert.keyPair!.PrivateKey!, { mode: 0o600 });
    await chmod(files.privateKey, 0o600); // an existing file keeps its mode on write
    await writeFile(files.publicKey, cert.keyPair!.PublicKey!);
    await writeFile(files.ca, ca);
    const topic = `${thingName}/hello`;
    const q = shellQuote;
    return {
      thingName,
      certificateId: cert.certificateId!,
      certificateArn: cert.certificateArn!,
      policyName: options.policyName,
      revoked: previous.map(certificateIdOf),
      files,
      mosquittoCommand:
        `mosquitto_pub -h ${q(options.mqttHost)} -p ${options.mqttsPort} --cafile ${q(files.ca)} --cert ${q(files.certificate)} --key ${q(files.privateKey)} ` +
        `-i ${q(thingName)} -t ${q(topic)} -m ${q('{"hello":"kiot"}')} -q 1 -d`,
      mqttJsCommand:
        `npx mqtt pub -h ${q(options.mqttHost)} -p ${options.mqttsPort} -l mqtts --ca ${q(files.ca)} --cert ${q(files.certificate)} --key ${q(files.privateKey)} ` +
        `-i ${q(thingName)} -t ${q(topic)} -m ${q('{"hello":"kiot"}')} -q 1`,
    };
  } catch (err) {
    throw unreachable(err, options.endpoint) ?? err;
  } finally {
    client.destroy();
  }
}

const certificateIdOf = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);

/** A refused or unreachable endpoint, said as one line that names it (instead of the SDK's stack). */
function unreachable(err: unknown, endpoint: string): PlatformError | undefined {
  const codes = new Set<string>();
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code) codes.add(code);
    for (const inner of (e as { errors?: unknown[] }).errors ?? []) if (inner instanceof Error && (inner as NodeJS.ErrnoException).code) codes.add((inner as NodeJS.ErrnoException).code!);
  }
  const code = ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNRESET', 'ETIMEDOUT'].find((c) => codes.has(c));
  if (!code) return undefined;
  return new PlatformError('INPUT_INVALID', `cannot reach kiot at ${endpoint} (${code}): is kiot running (kiot up), and is --endpoint right?`, { cause: err, details: { field: 'endpoint' } });
}

/** DetachPolicy of an attachment that is already gone: nothing to do. */
async function ignoreMissing(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (err instanceof Error && err.name === 'ResourceNotFoundException') return;
    throw err;
  }
}

/** CreateThing/CreatePolicy on something that exists: keep it (running the command twice works). */
async function ignoreExists(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (err instanceof Error && err.name === 'ResourceAlreadyExistsException') return;
    throw err;
  }
}

/** kiot's `GET /kiot/ca-certificate` (not an AWS operation), signed like the SDK signs. */
async function getKiotCa(client: IoTClient, endpoint: string, region: string): Promise<string> {
  const url = new URL('/kiot/ca-certificate', endpoint);
  const credentials = await client.config.credentials();
  const headers = await signRequest({ method: 'GET', url: url.href, headers: {} }, { service: 'iot', region, credentials });
  const res = await fetch(url, { headers });
  const body = (await res.json()) as { certificatePem?: string; message?: string };
  if (!res.ok || typeof body.certificatePem !== 'string') {
    throw new PlatformError('INPUT_INVALID', `GET ${url.pathname}: ${res.status} ${body.message ?? 'no CA certificate in the answer'}`);
  }
  return body.certificatePem;
}

/** Quotes for a POSIX shell when needed. */
function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

export { dataDirCredentials } from './signed-request.js';

interface CreateFlags {
  endpoint?: string;
  rotate?: boolean;
  dataDir: string;
  profile?: string;
  region: string;
  out?: string;
  policy?: string;
  mqttHost?: string;
  mqttsPort: string;
}

/** Adds `kiot device ...` to the program. */
export function register(program: Command, io: CliIo = processIo): void {
  const device = program.command('device').description('provision devices on a running kiot');
  device
    .command('create')
    .description(
      'create a thing, its keys and certificate (from the kiot CA), a policy for its own topics, shadow and jobs, and the attachments; ' +
        'write the certificate, keys and CA file to a directory and print the command that connects with them',
    )
    .argument('<thing>', 'thing name (also the MQTT client id)')
    .option('--endpoint <url>', 'kiot HTTP API (default: http://$KIOT_HOST:$KIOT_HTTP_PORT, else http://127.0.0.1:8080)')
    .option('--data-dir <dir>', 'kiot data dir, for its credentials file and the device files', process.env['KIOT_DATA_DIR'] || './data')
    .option('--profile <name>', 'use this AWS profile instead of the data dir credentials')
    .option('--region <region>', 'region to sign requests for', DEFAULT_REGION)
    .option('--out <dir>', 'directory for the files (default: <data-dir>/devices/<thing>)')
    .option('--rotate', 'the thing has a certificate already: issue a new one and revoke the old (default: refuse)')
    .option('--policy <name>', 'policy name (default: <thing>-policy)')
    .option('--mqtt-host <host>', 'gateway host in the printed command (default: the endpoint host)')
    .option('--mqtts-port <port>', 'gateway MQTT over TLS port', String(DEFAULT_MQTTS_PORT))
    .action(async (thingName: string, flags: CreateFlags) => {
      // The AWS variables win when set, as the AWS CLI would use them; else kiot's own file.
      const credentials = await cliCredentials(flags);
      const port = Number(flags.mqttsPort);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PlatformError('INPUT_INVALID', `--mqtts-port: expected a port number, received ${flags.mqttsPort}`);
      const endpoint = (flags.endpoint ?? defaultEndpoint()).replace(/\/+$/, '');
      const created = await createDevice({
        thingName,
        endpoint,
        region: flags.region,
        outDir: flags.out ?? join(flags.dataDir, 'devices', thingName),
        policyName: flags.policy ?? `${thingName}-policy`,
        credentials,
        mqttHost: flags.mqttHost ?? new URL(endpoint).hostname,
        mqttsPort: port,
        rotate: flags.rotate === true,
      });
      io.stderr.write(
        `created thing ${created.thingName}, certificate ${created.certificateId} (ACTIVE), policy ${created.policyName}\n` +
          (created.revoked.length > 0 ? `revoked the old certificate(s) ${created.revoked.join(', ')}\n` : '') +
          `wrote ${created.files.certificate}, ${created.files.privateKey}, ${created.files.publicKey}, ${created.files.ca}\n` +
          `connect with mosquitto (or: ${created.mqttJsCommand}):\n`,
      );
      io.stdout.write(`${created.mosquittoCommand}\n`);
    });
}
