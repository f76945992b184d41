/**
 * `kiot shadow history <thing>`: the versions of a thing's shadow that a running kiot still
 * keeps (`GET /kiot/shadows/<thing>/history` on its HTTP listener, a kiot extension), oldest
 * first, each with the time it was written and its state. The request is signed with SigV4 (see
 * `signed-request.ts` for where the credentials come from).
 */
import type { Command } from 'commander';
import { apiClient, defaultEndpoint, describeFailure, withApiClientOptions, type ApiClientFlags } from './signed-request.js';
import { processIo, type CliIo } from './sql.js';

interface Version {
  readonly version: number;
  readonly timestamp: number;
  readonly state?: object;
  readonly deleted?: true;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * `--since`: an ISO 8601 time, epoch seconds, or a duration back from `now` (`30s`, `10m`, `2h`,
 * `7d`). Returns epoch seconds, or a message saying what is accepted.
 */
export function parseSince(text: string, now = Date.now()): number | string {
  const duration = /^(\d+)([smhd])$/.exec(text);
  if (duration) return Math.floor(now / 1000) - Number(duration[1]) * UNIT_SECONDS[duration[2]!]!;
  if (/^\d+$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  if (!Number.isNaN(ms)) return Math.floor(ms / 1000);
  return `--since: expected an ISO 8601 time, epoch seconds or a duration such as 10m, 2h or 7d, not '${text}'`;
}

/** One line per version: number, time written, then the state (or `deleted`). */
export function formatHistory(versions: readonly Version[]): string {
  const rows = versions.map((v) => [String(v.version), new Date(v.timestamp * 1000).toISOString(), v.deleted ? 'deleted' : JSON.stringify(v.state)]);
  const header = ['VERSION', 'WRITTEN', 'STATE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function register(program: Command, io: CliIo = processIo): void {
  const shadow = program.command('shadow').description('work with device shadows');
  withApiClientOptions(
    shadow
      .command('history')
      .description("list the versions of a thing's shadow that a running kiot keeps (GET /kiot/shadows/<thing>/history), oldest first")
      .argument('<thing>', 'thing name')
      .option('--name <shadow>', 'a named shadow (default: the classic shadow)')
      .option('--since <time>', 'only versions written since: ISO 8601 time, epoch seconds, or a duration such as 10m, 2h, 7d (default: all kept)')
      .option('--json', 'print the versions as JSON, with their metadata'),
  ).action(async (thing: string, flags: ApiClientFlags & { json?: boolean; name?: string; since?: string }) => {
      const query = new URLSearchParams();
      if (flags.name !== undefined) query.set('name', flags.name);
      if (flags.since !== undefined) {
        const since = parseSince(flags.since);
        if (typeof since === 'string') {
          io.stderr.write(`kiot shadow history: ${since}\n`);
          io.setExitCode(2);
          return;
        }
        query.set('since', String(since));
      }
      const path = `/kiot/shadows/${encodeURIComponent(thing)}/history${query.size > 0 ? `?${query}` : ''}`;
      const url = `${(flags.endpoint ?? defaultEndpoint()).replace(/\/+$/, '')}${path}`;
      let versions: Version[];
      try {
        const res = await (await apiClient(flags)).request('GET', path);
        if (res.status !== 200) throw new Error(`${describeFailure(res)}${res.status === 404 ? ' (is the shadow role running there?)' : ''}`);
        versions = (JSON.parse(res.body) as { versions: Version[] }).versions;
      } catch (err) {
        const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
        io.stderr.write(`kiot shadow history: cannot read ${url}: ${cause}\n`);
        io.setExitCode(1);
        return;
      }
      io.stdout.write(`${flags.json ? JSON.stringify(versions, null, 2) : formatHistory(versions)}\n`);
    });
}
