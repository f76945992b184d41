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
import { apiClient, describeFailure, withApiClientOptions, type ApiClientFlags } from './signed-request.js';
import { processIo, type CliIo } from './sql.js';

interface Flags extends ApiClientFlags {
  policy?: string;
  description?: string;
  credentialsFile?: string;
}

async function send(method: string, path: string, flags: Flags, body?: string): Promise<string> {
  const res = await (await apiClient(flags)).request(method, path, body);
  if (res.status !== 200) throw new PlatformError('INPUT_INVALID', `${method} ${path}: ${describeFailure(res)}`);
  return res.body;
}

/** Adds `kiot access-keys create|delete`. */
export function register(program: Command, io: CliIo = processIo): void {
  const keys = program.command('access-keys').description('manage the access keys that sign HTTP API requests (on a running kiot)');
  withApiClientOptions(
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
  withApiClientOptions(keys.command('delete').description('delete an access key').argument('<accessKeyId>', 'the key to delete')).action(async (id: string, flags: Flags) => {
    await send('DELETE', `/kiot/access-keys/${encodeURIComponent(id)}`, flags);
    io.stderr.write(`deleted access key ${id}\n`);
  });
}
