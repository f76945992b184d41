/**
 * What a module pulls in when it is imported, read from the sources' static imports:
 * `kiot/sql` (rules/sql) loads no log client, logger or metrics library, and each vendor
 * library that has a port in core is imported by that port alone.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

/** The static imports of one source file, type-only ones left out (they load nothing). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    if (/^\s*(?:import|export)\s+type\s/.test(m[0])) continue;
    found.push(m[1]!);
  }
  return found;
}

/** Every package and source file (repo-relative) that loading `entry` loads. */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    const rel = relative(ROOT, file);
    if (files.has(rel)) return;
    files.add(rel);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit(join(ROOT, entry));
  return { files, packages };
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

test('kiot/sql loads no Kafka client, logger or metrics library', () => {
  const { packages, files } = closure('rules/sql/index.ts');
  for (const heavy of ['kafkajs', 'pino', 'prom-client', 'avsc']) expect(packages, `rules/sql reaches ${heavy}`).not.toContain(heavy);
  expect([...files].filter((f) => f.startsWith('core/')).sort()).toEqual(['core/errors.ts', 'core/topic-filter.ts']);
});

test('each vendor library with a port in core is imported by the port alone', () => {
  const ports: Record<string, string> = { 'prom-client': 'core/metrics.ts', kafkajs: 'core/log/kafka/', pino: 'core/logger.ts' };
  const all = ['core', 'ingest', 'rules', 'actions', 'shadow', 'registry', 'api', 'cli', 'jobs', 'provisioning'].flatMap(sources);
  for (const [pkg, port] of Object.entries(ports)) {
    const importers = all.filter((f) => importsOf(join(ROOT, f)).some((s) => s === pkg || s.startsWith(`${pkg}/`)));
    expect(importers.filter((f) => !f.startsWith(port)), `${pkg} imported outside ${port}`).toEqual([]);
  }
});

test('each store client is imported by its action alone, and only on first use', () => {
  const owners: Record<string, string> = { pg: 'actions/postgres/', ioredis: 'actions/redis/' };
  const all = ['core', 'ingest', 'rules', 'actions', 'shadow', 'registry', 'api', 'cli', 'jobs', 'provisioning', 'benchmarks'].flatMap(sources);
  for (const [pkg, owner] of Object.entries(owners)) {
    const mentions = new RegExp(`(?:from\\s+|import\\(\\s*)['"]${pkg}['"]`);
    const importers = all.filter((f) => mentions.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(importers.length, `${pkg} is imported somewhere`).toBeGreaterThan(0);
    expect(importers.filter((f) => importsOf(join(ROOT, f)).includes(pkg)), `${pkg} loaded statically`).toEqual([]);
    expect(importers.filter((f) => !f.startsWith(owner)), `${pkg} imported outside ${owner}`).toEqual([]);
  }
});

test('each AWS SDK of an entry-list action kind is imported by its kind alone, and only on first use', () => {
  const owners: Record<string, string> = {
    '@aws-sdk/client-kinesis': 'actions/kinesis/',
    '@aws-sdk/client-sqs': 'actions/sqs/',
    '@aws-sdk/client-firehose': 'actions/firehose/',
    '@aws-sdk/client-sns': 'actions/sns/',
    '@aws-sdk/client-sfn': 'actions/step-functions/',
    '@aws-sdk/client-cloudwatch': 'actions/cloudwatch-alarm/',
    '@aws-sdk/client-cloudwatch-logs': 'actions/cloudwatch-logs/',
    '@aws-sdk/client-iot-events-data': 'actions/iot-events/',
    '@aws-sdk/client-iotanalytics': 'actions/iot-analytics/',
    '@aws-sdk/client-timestream-write': 'actions/timestream/',
    '@aws-sdk/client-location': 'actions/location/',
    '@aws-sdk/client-iotsitewise': 'actions/iot-site-wise/',
  };
  // Test helpers (`testing/`) and the benchmarks drive the stand-ins with the SDK themselves.
  const all = ['core', 'ingest', 'rules', 'actions', 'shadow', 'registry', 'api', 'cli', 'jobs', 'provisioning'].flatMap(sources).filter((f) => !f.includes('/testing/'));
  for (const [pkg, owner] of Object.entries(owners)) {
    const mentions = new RegExp(`(?:from\\s+|import\\(\\s*)['"]${pkg}['"]`);
    const importers = all.filter((f) => mentions.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(importers, `${pkg} is imported by one file`).toHaveLength(1);
    expect(importers.filter((f) => !f.startsWith(owner)), `${pkg} imported outside ${owner}`).toEqual([]);
    expect(importers.filter((f) => importsOf(join(ROOT, f)).includes(pkg)), `${pkg} loaded statically`).toEqual([]);
  }
});
