#!/usr/bin/env node
// First, as in cli/main.ts: V8's young generation is held while modules load, as in `kiot up`.
import { releaseYoungGeneration } from '../cli/young-generation.js';
import { formatResults, type Benchmark } from './report.js';

/**
 * Benchmark groups as `npm run bench -- <group>` names them; no name runs them all. A group's
 * modules are imported only when it runs: the e2e benchmark reads this process's memory as
 * kiot's, and every other benchmark's code and clients (kafkajs, the AWS SDK, mqtt.js, ...)
 * loaded beside it added about 20 MB to kiot's RSS at rest.
 */
const GROUPS: Record<string, () => Promise<readonly Benchmark[]>> = {
  log: async () => [(await import('./log-embedded.js')).embeddedLogBenchmark, (await import('./log-kafka.js')).kafkaLogBenchmark],
  envelope: async () => [(await import('./envelope.js')).envelopeBenchmark],
  sql: async () => [(await import('./sql.js')).sqlBenchmark],
  pipeline: async () => [(await import('./pipeline.js')).pipelineBenchmark],
  ingest: async () => [(await import('./ingest.js')).ingestBenchmark],
  registry: async () => [(await import('./registry.js')).registryBenchmark],
  shadow: async () => [(await import('./shadow.js')).shadowBenchmark],
  e2e: async () => [(await import('./e2e.js')).e2eBenchmark],
  // The memory part of e2e alone (kiot at rest and per idle connection, beside aedes and Mosquitto).
  'e2e-memory': async () => [(await import('./e2e.js')).e2eMemoryBenchmark],
  actions: async () => [(await import('./actions.js')).actionsBenchmark],
  // Issue 15's devices: fleet provisioning by claim, then connects through a custom authorizer.
  provisioning: async () => [(await import('./provisioning.js')).provisioningBenchmark, (await import('./custom-auth.js')).customAuthBenchmark],
  'custom-auth': async () => [(await import('./custom-auth.js')).customAuthBenchmark],
  // Issue 14, point 6: one job on a group of 100,000 things.
  jobs: async () => [(await import('./jobs.js')).jobsBenchmark],
};
/** Groups that no name runs: they are part of another group already. */
const PARTS = new Set(['e2e-memory']);

async function main(): Promise<void> {
  const names = process.argv.slice(2);
  if (names.includes('--help') || names.includes('-h')) {
    process.stdout.write(`usage: npm run bench -- [${Object.keys(GROUPS).join('|')}]...\n\n`);
    for (const [group, load] of Object.entries(GROUPS)) {
      for (const b of await load()) process.stdout.write(`  ${group.padEnd(10)} ${b.name}: ${b.summary}\n`);
    }
    return;
  }
  const unknown = names.filter((n) => !(n in GROUPS));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')} (known: ${Object.keys(GROUPS).join(', ')})\n`);
    process.exit(2);
  }
  for (const group of names.length > 0 ? names : Object.keys(GROUPS).filter((g) => !PARTS.has(g))) {
    const benchmarks = await GROUPS[group]!();
    // Loaded: each benchmark runs with V8's young generation as it would be (a kiot that one starts bounds it again).
    releaseYoungGeneration();
    for (const benchmark of benchmarks) {
      process.stdout.write(`\n== ${benchmark.name}: ${benchmark.summary}\n`);
      const results = await benchmark.run((line) => process.stdout.write(`   ${line}\n`));
      process.stdout.write(`${formatResults(results)}\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
