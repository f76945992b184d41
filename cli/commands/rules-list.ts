/**
 * `kiot rules list`: asks a running kiot (its HTTP listener, `GET /kiot/rules`) which rules it
 * runs, with each rule's state (enabled, disabled, failed), where it comes from and its
 * counters in that process. Exits 1 when the listing cannot be fetched or a rule failed. The
 * request is signed with SigV4 (see `signed-request.ts` for where the credentials come from).
 */
import type { Command } from 'commander';
import { cliCredentials, DEFAULT_SIGNING_REGION, describeFailure, signedRequest, type CliAuthFlags } from './signed-request.js';
import { processIo, type CliIo } from './sql.js';

interface Listed {
  readonly name: string;
  readonly state: string;
  readonly origin: string;
  readonly problem?: string;
  readonly counters: { matched: number; actionsOk: number; actionsFailed: number; errors: number; errorActions: number; deadLetters: number };
}

interface Listing {
  readonly rules: readonly Listed[];
  readonly problems: readonly string[];
}

/** `http://<KIOT_HOST>:<KIOT_HTTP_PORT>`, as `kiot up` would bind them (defaults 127.0.0.1:8080). */
export function defaultEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  const host = env['KIOT_HOST'] || '127.0.0.1';
  const port = env['KIOT_HTTP_PORT'] || '8080';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The listing as an aligned table, then each problem on its own line. */
export function formatListing(listing: Listing): string {
  const header = ['NAME', 'STATE', 'MATCHED', 'OK', 'FAILED', 'ERRORS', 'ERROR-ACTION', 'DEAD-LETTER', 'ORIGIN'];
  const rows = listing.rules.map((r) => [
    r.name,
    r.state,
    String(r.counters.matched),
    String(r.counters.actionsOk),
    String(r.counters.actionsFailed),
    String(r.counters.errors),
    String(r.counters.errorActions),
    String(r.counters.deadLetters),
    r.origin,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const problems = [...listing.rules.filter((r) => r.problem).map((r) => `${r.name}: ${r.problem}`), ...listing.problems];
  return [line(header), ...rows.map(line), ...problems].join('\n');
}

/** Adds `kiot rules list` (to the `rules` command that `rules.ts` registers, or a new one). */
export function register(program: Command, io: CliIo = processIo): void {
  const rules = program.commands.find((c) => c.name() === 'rules') ?? program.command('rules').description('work with rules');
  rules
    .command('list')
    .description('list the rules a running kiot runs, with state and counters (GET /kiot/rules on its HTTP listener)')
    .option('--endpoint <url>', 'kiot HTTP listener (default: http://$KIOT_HOST:$KIOT_HTTP_PORT, else http://127.0.0.1:8080)')
    .option('--json', 'print the listing as JSON')
    .option('--data-dir <dir>', 'kiot data dir, for its credentials file (default: $KIOT_DATA_DIR, else ./data)')
    .option('--profile <name>', 'sign with this AWS profile instead of the data dir credentials')
    .option('--region <region>', 'region to sign requests for', DEFAULT_SIGNING_REGION)
    .option('--ca-file <file>', 'CA certificate of an https endpoint (default: $AWS_CA_BUNDLE; kiot writes <data-dir>/ca.pem)')
    .action(async (flags: Partial<CliAuthFlags> & { endpoint?: string; json?: boolean }) => {
      const endpoint = (flags.endpoint ?? defaultEndpoint()).replace(/\/+$/, '');
      let listing: Listing;
      try {
        const credentials = await cliCredentials({ dataDir: flags.dataDir ?? (process.env['KIOT_DATA_DIR'] || './data'), profile: flags.profile });
        const res = await signedRequest('GET', `${endpoint}/kiot/rules`, { credentials, region: flags.region ?? DEFAULT_SIGNING_REGION, caFile: flags.caFile });
        if (res.status !== 200) throw new Error(`${describeFailure(res)}${res.status === 404 ? ' (is the rules role running there?)' : ''}`);
        listing = JSON.parse(res.body) as Listing;
      } catch (err) {
        const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
        io.stderr.write(`kiot rules list: cannot read ${endpoint}/kiot/rules: ${cause}\n`);
        io.setExitCode(1);
        return;
      }
      io.stdout.write(`${flags.json ? JSON.stringify(listing, null, 2) : formatListing(listing)}\n`);
      if (listing.rules.some((r) => r.state === 'failed') || listing.problems.length > 0) io.setExitCode(1);
    });
}
