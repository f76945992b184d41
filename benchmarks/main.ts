#!/usr/bin/env node
import { formatResults, type Benchmark } from './report.js';
import { envelopeBenchmark } from './envelope.js';
import { embeddedLogBenchmark } from './log-embedded.js';
import { kafkaLogBenchmark } from './log-kafka.js';
import { sqlBenchmark } from './sql.js';
import { ingestBenchmark } from './ingest.js';
import { pipelineBenchmark } from './pipeline.js';
import { registryBenchmark } from './registry.js';
import { shadowBenchmark } from './shadow.js';
import { e2eBenchmark } from './e2e.js';
import { actionsBenchmark } from './actions.js';
import { customAuthBenchmark } from './custom-auth.js';
import { provisioningBenchmark } from './provisioning.js';
import { jobsBenchmark } from './jobs.js';

/** Benchmark groups as `npm run bench -- <group>` names them; no name runs them all. */
const GROUPS: Record<string, readonly Benchmark[]> = {
  log: [embeddedLogBenchmark, kafkaLogBenchmark],
  envelope: [envelopeBenchmark],
  sql: [sqlBenchmark],
  pipeline: [pipelineBenchmark],
  ingest: [ingestBenchmark],
  registry: [registryBenchmark],
  shadow: [shadowBenchmark],
  e2e: [e2eBenchmark],
  actions: [actionsBenchmark],
  // Issue 15's devices: fleet provisioning by claim, then connects through a custom authorizer.
  provisioning: [provisioningBenchmark, customAuthBenchmark],
  'custom-auth': [customAuthBenchmark],
  // Issue 14, point 6: one job on a group of 100,000 things.
  jobs: [jobsBenchmark],
};

async function main(): Promise<void> {
  const names = process.argv.slice(2);
  if (names.includes('--help') || names.includes('-h')) {
    process.stdout.write(`usage: npm run bench -- [${Object.keys(GROUPS).join('|')}]...\n\n`);
    for (const [group, benchmarks] of Object.entries(GROUPS)) {
      for (const b of benchmarks) process.stdout.write(`  ${group.padEnd(10)} ${b.name}: ${b.summary}\n`);
    }
    return;
  }
  const unknown = names.filter((n) => !(n in GROUPS));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')} (known: ${Object.keys(GROUPS).join(', ')})\n`);
    process.exit(2);
  }
  for (const group of names.length > 0 ? names : Object.keys(GROUPS)) {
    for (const benchmark of GROUPS[group]!) {
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
