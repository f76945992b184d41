/**
 * `kiot access-keys create --policy <file>`: asks a running kiot for a new access key held to an
 * AWS IoT policy document (`POST /kiot/access-keys`, administrator keys only), e.g. a key that
 * may only publish to `telemetry/*`. Prints the key as JSON, and with `--credentials-file`
 * writes it in the AWS shared-credentials format (mode 0600) for the AWS CLI and SDKs.
 * `kiot access-keys delete <id>` removes a key.
 */
import type { Command } from 'commander';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { formatCredentialsFile } from '../../api/index.js';
import { PlatformError } from '../../core/index.js';
import { defaultEndpoint } from './rules-list.js';
import { cliCredentials, DEFAULT_SIGNING_REGION, describeFailure, signedRequest, type CliAuthFlags } from './signed-request.js';
import { processIo, type CliIo } from './sql.js';

interface Flags extends Partial<CliAuthFlags> {
  endpoint?: string;
  policy?: string;
  description?: string;
  credentialsFile?: string;
}

const withAuthOptions = (command: Command): Command =>
  command
    .option('--endpoint <url>', 'kiot HTTP API (default: http://$KIOT_HOST:$KIOT_HTTP_PORT, else http://127.0.0.1:8080)')
    .option('--data-dir <dir>', 'kiot data dir, for its credentials file (default: $KIOT_DATA_DIR, else ./data)')
    .option('--profile <name>', 'sign with this AWS profile instead of the data dir credentials')
    .option('--region <region>', 'region to sign requests for', DEFAULT_SIGNING_REGION)
    .option('--ca-file <file>', 'CA certificate of an https endpoint (default: $AWS_CA_BUNDLE; kiot writes <data-dir>/ca.pem)');

async function send(method: string, path: string, flags: Flags, body?: string): Promise<string> {
  const endpoint = (flags.endpoint ?? defaultEndpoint()).replace(/\/+$/, '');
  const credentials = await cliCredentials({ dataDir: flags.dataDir ?? (process.env['KIOT_DATA_DIR'] || './data'), profile: flags.profile });
  const res = await signedRequest(method, `${endpoint}${path}`, { credentials, region: flags.region ?? DEFAULT_SIGNING_REGION, caFile: flags.caFile, ...(body !== undefined ? { body } : {}) });
  if (res.status !== 200) throw new PlatformError('INPUT_INVALID', `${method} ${path}: ${describeFailure(res)}`);
  return res.body;
}

/** Adds `kiot access-keys create|delete`. */
export function register(program: Command, io: CliIo = processIo): void {
  const keys = program.command('access-keys').description('manage the access keys that sign HTTP API requests (on a running kiot)');
  withAuthOptions(
    keys
      .command('create')
      .description('create an access key held to an AWS IoT policy document (iot:Publish, iot:RetainPublish, iot:<Operation>); prints it as JSON')
      .requiredOption('--policy <file>', 'AWS IoT policy document (JSON)')
      .option('--description <text>', 'what the key is for')
      .option('--credentials-file <file>', 'also write the key to this file, AWS shared-credentials format, profile default'),
  ).action(async (flags: Flags) => {
    let policyText: string;
    try {
      policyText = await readFile(flags.policy!, 'utf8');
    } catch (err) {
      throw new PlatformError('INPUT_INVALID', `--policy ${flags.policy}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
    }
    const answer = await send('POST', '/kiot/access-keys', flags, JSON.stringify({ policyDocument: policyText, ...(flags.description ? { description: flags.description } : {}) }));
    const key = JSON.parse(answer) as { accessKeyId: string; secretAccessKey: string };
    if (flags.credentialsFile) {
      await writeFile(flags.credentialsFile, formatCredentialsFile(key), { mode: 0o600 });
      await chmod(flags.credentialsFile, 0o600);
    }
    io.stdout.write(`${JSON.stringify(key, null, 2)}\n`);
  });
  withAuthOptions(keys.command('delete').description('delete an access key').argument('<accessKeyId>', 'the key to delete')).action(async (id: string, flags: Flags) => {
    await send('DELETE', `/kiot/access-keys/${encodeURIComponent(id)}`, flags);
    io.stderr.write(`deleted access key ${id}\n`);
  });
}
