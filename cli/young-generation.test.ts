import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { NODE_FLAGS } from './young-generation.js';

/**
 * In a process of its own (the flags are the process's): the young generation's size after
 * objects that survive have been allocated while held, then bounded, then released.
 */
const SCRIPT = `
import v8 from 'node:v8';
const { QUIET_MS, boundYoungGeneration, releaseYoungGeneration, youngGenerationReleases } = await import(${JSON.stringify(fileURLToPath(new URL('./young-generation.ts', import.meta.url)))});
const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;
const kept = [];
const allocate = async () => {
  // 40 MB of small objects that survive, in steps: each step lets a GC callback run.
  for (let step = 0; step < 40; step++) {
    for (let i = 0; i < 10_000; i++) kept.push({ i, text: 'x'.repeat(40) + i });
    await new Promise((resolve) => setImmediate(resolve));
  }
};
const sizes = { start: young() };
await allocate();
sizes.held = young();
// Never busy: the bound holds however often it is scavenged.
boundYoungGeneration(8 * 1024 * 1024, Number.POSITIVE_INFINITY);
await allocate();
sizes.bounded = young();
// Busy from one scavenge a second: the bound gives way to V8's growth.
boundYoungGeneration(8 * 1024 * 1024, 1);
await allocate();
sizes.busy = young();
// The load has passed: the young generation is given back (one full GC) and bounded again.
await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 1500));
sizes.quiet = young();
sizes.releases = youngGenerationReleases();
releaseYoungGeneration();
await allocate();
sizes.released = young();
process.stdout.write(JSON.stringify(sizes));
`;

interface Sizes {
  start: number;
  held: number;
  bounded: number;
  busy: number;
  quiet: number;
  releases: number;
  released: number;
}

function run(nodeFlags: string[] = []): Sizes {
  const out = spawnSync(process.execPath, [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', SCRIPT], { encoding: 'utf8', timeout: 60_000 });
  expect(out.stderr).toBe('');
  return JSON.parse(out.stdout) as Sizes;
}

test('held while kiot starts, then bounded, beyond the bound while scavenged often, given back once quiet, then as V8 would have it (sizes in MB, both semi-spaces)', () => {
  const sizes = run();
  // Loading tsx before the module grew it a little; from there it stays.
  expect(sizes.start).toBeLessThan(8);
  expect(sizes.held).toBe(sizes.start);
  // The growth factor is set in the GC callback, after the scavenge: a scavenge that comes before the callback could run (a loaded machine) may take one more step.
  expect([8, 16]).toContain(sizes.bounded);
  expect(sizes.busy).toBeGreaterThan(sizes.bounded);
  expect(sizes.quiet).toBeLessThanOrEqual(8);
  expect(sizes.releases).toBe(1);
  expect(sizes.released).toBeGreaterThan(8);
});

test('with kiot’s own flags (a higher ceiling) it is held, bounded and let grow the same way when busy', () => {
  const sizes = run([...NODE_FLAGS]);
  expect(sizes.start).toBeLessThan(8);
  expect(sizes.held).toBe(sizes.start);
  // The growth factor is set in the GC callback, after the scavenge: a scavenge that comes before the callback could run (a loaded machine) may take one more step.
  expect([8, 16]).toContain(sizes.bounded);
  expect(sizes.busy).toBeGreaterThan(sizes.bounded);
  expect(sizes.quiet).toBeLessThanOrEqual(8);
});

test('a young generation the user tuned is left alone', () => {
  const sizes = run(['--semi-space-growth-factor=2']); // V8's own factor
  expect(sizes.held).toBeGreaterThan(sizes.start);
});

test('every way kiot is started passes NODE_FLAGS', async () => {
  const root = new URL('..', import.meta.url);
  const text = (path: string) => readFile(new URL(path, root), 'utf8');
  const flags = NODE_FLAGS.join(' ');
  const scripts = (JSON.parse(await text('package.json')) as { scripts: Record<string, string> }).scripts;
  expect(scripts['start']).toBe(`node ${flags} dist/cli/main.js up`);
  expect(scripts['bench']).toBe(`node ${flags} dist/benchmarks/main.js`);
  expect((await text('cli/main.ts')).split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
  const dockerfile = await text('Dockerfile');
  expect(dockerfile).toContain(`ENTRYPOINT ["node", ${NODE_FLAGS.map((f) => JSON.stringify(f)).join(', ')}, "dist/cli/main.js"]`);
  expect(dockerfile).toContain(`exec node ${flags} /app/dist/cli/main.js`);
});
