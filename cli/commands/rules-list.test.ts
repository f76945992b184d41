import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { Command } from 'commander';
import { expect, test } from 'vitest';
import { AccessKeyStore, createAwsRoutes, createRequestAuthenticator } from '../../api/index.js';
import { ensureCredentialsFile } from '../../api/access-keys.js';
import { createHttpServer } from '../../api/server.js';
import { EmbeddedLog, loadConfig, silentLogger } from '../../core/index.js';
import { createRulesService } from '../../rules/worker/index.js';
import { register as registerRules } from './rules.js';
import { register } from './rules-list.js';
import type { CliIo } from './sql.js';

test('kiot rules list shows the rules of a running service, with state and counters', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-rules-list-'));
  const log = await EmbeddedLog.open({ dataDir: join(dir, 'data'), logger: silentLogger() });
  await mkdir(join(dir, 'rules'));
  await writeFile(join(dir, 'rules', 'a.sql'), `CREATE RULE ok AS SELECT * FROM 'a' DO republish(topic = 'b');\nCREATE RULE broken AS SELECT x FROM 'a' DO republish(topik = 'b');`);
  const service = createRulesService(loadConfig({ flags: { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules') }, env: {} }).rules, { log, logger: silentLogger() });
  await service.start();
  // Served as kiot up serves it: behind the API's SigV4 check, with the data dir's key.
  const accessKeys = await AccessKeyStore.open(log);
  await ensureCredentialsFile(accessKeys, join(dir, 'data'), { logger: silentLogger(), now: Date.now(), announce: () => undefined });
  const authenticate = createRequestAuthenticator({ accessKeys, region: undefined, scope: { region: 'us-east-1', accountId: '000000000000' } });
  const server = createHttpServer({ logger: silentLogger(), metrics: async () => '', health: () => ({}), routes: createAwsRoutes({ operations: service.operations, logger: silentLogger(), authenticate }) });
  const endpoint = `http://127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
  try {
    const unsigned = await fetch(`${endpoint}/kiot/rules`);
    expect([unsigned.status, unsigned.headers.get('x-amzn-errortype')]).toEqual([403, 'MissingAuthenticationTokenException']);
    let stdout = '';
    let exitCode = 0;
    const out = new PassThrough().on('data', (d: Buffer) => (stdout += d.toString()));
    const io: CliIo = { stdin: Readable.from(['']), stdout: out, stderr: new PassThrough(), setExitCode: (c) => (exitCode = c) };
    const program = new Command('kiot').exitOverride();
    registerRules(program, io);
    register(program, io);
    await program.parseAsync(['node', 'kiot', 'rules', 'list', '--endpoint', endpoint, '--data-dir', join(dir, 'data')]);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATE\s+MATCHED\s+OK\s+FAILED\s+ERRORS/);
    expect(lines[1]).toMatch(/^broken\s+failed\s+0\s+0\s+0\s+0/);
    expect(lines[2]).toMatch(/^ok\s+enabled\s+0\s+0\s+0\s+0/);
    expect(lines[3]).toMatch(/^broken: .*a\.sql:2:\d+: republish: unknown parameter topik/);
    expect(exitCode).toBe(1);
  } finally {
    await server.close();
    await accessKeys.close();
    await service.stop();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
});
