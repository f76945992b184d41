/**
 * `kiot rules list`: asks a running kiot (its HTTP listener, `GET /kiot/rules`) which rules it
 * runs, with each rule's state (enabled, disabled, failed), where it comes from and its
 * counters in that process. Exits 1 when the listing cannot be fetched or a rule failed. The
 * request is signed with SigV4 (see `signed-request.ts` for where the credentials come from).
 */
import type { Command } from 'commander';
import { apiClient, defaultEndpoint, describeFailure, withApiClientOptions, type ApiClientFlags } from './signed-request.js';
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
  withApiClientOptions(
    rules
      .command('list')
      .description('list the rules a running kiot runs, with state and counters (GET /kiot/rules on its HTTP listener)')
      .option('--json', 'print the listing as JSON'),
  ).action(async (flags: ApiClientFlags & { json?: boolean }) => {
      const endpoint = (flags.endpoint ?? defaultEndpoint()).replace(/\/+$/, '');
      let listing: Listing;
      try {
        const res = await (await apiClient(flags)).request('GET', '/kiot/rules');
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
