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
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreateThingCommand,
  IoTClient,
  IoTServiceException,
} from '@aws-sdk/client-iot';
import type { Command } from 'commander';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { signRequest } from '../../actions/index.js';
import { cliCredentials } from './signed-request.js';
import { PlatformError } from '../../core/index.js';
import { processIo, type CliIo } from './sql.js';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:8080';
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
}

export interface DeviceCreated {
  readonly thingName: string;
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly policyName: string;
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
  const client = new IoTClient({
    endpoint: options.endpoint,
    region: options.region,
    maxAttempts: 2,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  try {
    await ignoreExists(client.send(new CreateThingCommand({ thingName })));
    const cert = await client.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    await ignoreExists(client.send(new CreatePolicyCommand({ policyName: options.policyName, policyDocument: devicePolicyDocument(thingName) })));
    await client.send(new AttachPolicyCommand({ policyName: options.policyName, target: cert.certificateArn }));
    await client.send(new AttachThingPrincipalCommand({ thingName, principal: cert.certificateArn! }));
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
      files,
      mosquittoCommand:
        `mosquitto_pub -h ${q(options.mqttHost)} -p ${options.mqttsPort} --cafile ${q(files.ca)} --cert ${q(files.certificate)} --key ${q(files.privateKey)} ` +
        `-i ${q(thingName)} -t ${q(topic)} -m ${q('{"hello":"kiot"}')} -q 1 -d`,
      mqttJsCommand:
        `npx mqtt pub -h ${q(options.mqttHost)} -p ${options.mqttsPort} -l mqtts --ca ${q(files.ca)} --cert ${q(files.certificate)} --key ${q(files.privateKey)} ` +
        `-i ${q(thingName)} -t ${q(topic)} -m ${q('{"hello":"kiot"}')} -q 1`,
    };
  } finally {
    client.destroy();
  }
}

/** CreateThing/CreatePolicy on something that exists: keep it (running the command twice works). */
async function ignoreExists(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (err instanceof IoTServiceException && err.name === 'ResourceAlreadyExistsException') return;
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
  endpoint: string;
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
    .option('--endpoint <url>', 'kiot HTTP API', DEFAULT_ENDPOINT)
    .option('--data-dir <dir>', 'kiot data dir, for its credentials file', './data')
    .option('--profile <name>', 'use this AWS profile instead of the data dir credentials')
    .option('--region <region>', 'region to sign requests for', DEFAULT_REGION)
    .option('--out <dir>', 'directory for the files (default: ./<thing>)')
    .option('--policy <name>', 'policy name (default: <thing>-policy)')
    .option('--mqtt-host <host>', 'gateway host in the printed command (default: the endpoint host)')
    .option('--mqtts-port <port>', 'gateway MQTT over TLS port', String(DEFAULT_MQTTS_PORT))
    .action(async (thingName: string, flags: CreateFlags) => {
      // The AWS variables win when set, as the AWS CLI would use them; else kiot's own file.
      const credentials = await cliCredentials(flags);
      const port = Number(flags.mqttsPort);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PlatformError('INPUT_INVALID', `--mqtts-port: expected a port number, received ${flags.mqttsPort}`);
      const created = await createDevice({
        thingName,
        endpoint: flags.endpoint,
        region: flags.region,
        outDir: flags.out ?? `./${thingName}`,
        policyName: flags.policy ?? `${thingName}-policy`,
        credentials,
        mqttHost: flags.mqttHost ?? new URL(flags.endpoint).hostname,
        mqttsPort: port,
      });
      io.stderr.write(
        `created thing ${created.thingName}, certificate ${created.certificateId} (ACTIVE), policy ${created.policyName}\n` +
          `wrote ${created.files.certificate}, ${created.files.privateKey}, ${created.files.publicKey}, ${created.files.ca}\n` +
          `connect with mosquitto (or: ${created.mqttJsCommand}):\n`,
      );
      io.stdout.write(`${created.mosquittoCommand}\n`);
    });
}
