/**
 * `kiot rules list`: asks a running kiot (its HTTP listener, `GET /kiot/rules`) which rules it
 * runs, with each rule's state (enabled, disabled, failed), where it comes from and its
 * counters in that process. Exits 1 when the listing cannot be fetched or a rule failed.
 */
import type { Command } from 'commander';
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
    .action(async (flags: { endpoint?: string; json?: boolean }) => {
      const endpoint = (flags.endpoint ?? defaultEndpoint()).replace(/\/+$/, '');
      let listing: Listing;
      try {
        const res = await fetch(`${endpoint}/kiot/rules`, { signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}${res.status === 404 ? ' (is the rules role running there?)' : ''}`);
        listing = (await res.json()) as Listing;
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
