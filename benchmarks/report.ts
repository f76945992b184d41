/** One measured row of a benchmark; `ratio` is against a baseline measured in the same run. */
export interface BenchResult {
  readonly name: string;
  readonly messagesPerSec: number;
  readonly mbPerSec?: number;
  /** Name of the row this one is compared to (measured in the same run). */
  readonly baseline?: string;
  readonly ratio?: number;
  /** The target for `ratio`; the report marks rows below it. */
  readonly target?: number;
}

/** A benchmark: a name for `npm run bench -- <name>` and a function that measures. */
export interface Benchmark {
  readonly name: string;
  readonly summary: string;
  run(progress: (line: string) => void): Promise<BenchResult[]>;
}

export function formatResults(results: readonly BenchResult[]): string {
  const rows = results.map((r) => [
    r.name,
    Math.round(r.messagesPerSec).toLocaleString('en-US'),
    r.mbPerSec === undefined ? '' : r.mbPerSec.toFixed(1),
    r.baseline === undefined ? '' : r.baseline,
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
    r.target === undefined ? '' : `${r.ratio !== undefined && r.ratio >= r.target ? 'ok' : 'BELOW'} (target ${r.target}x)`,
  ]);
  const header = ['benchmark', 'msgs/s', 'MB/s', 'baseline', 'ratio', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Measures `fn` repeatedly for about `ms` and returns operations per second. */
export async function measure(ms: number, ops: number, fn: () => Promise<void> | void): Promise<number> {
  await fn(); // warm-up
  let runs = 0;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  while (elapsedNs < BigInt(ms) * 1_000_000n) {
    await fn();
    runs++;
    elapsedNs = process.hrtime.bigint() - start;
  }
  return (runs * ops) / (Number(elapsedNs) / 1e9);
}
