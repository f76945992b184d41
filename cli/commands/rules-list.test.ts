import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { Command } from 'commander';
import { expect, test } from 'vitest';
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
  const service = createRulesService(loadConfig({ flags: { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules') }, env: {} }), { log, logger: silentLogger() });
  await service.start();
  const route = service.routes[0]!;
  const server = createServer((req, res) => (route.path.test(req.url ?? '') && req.method === route.method ? void route.handle(req, res, {}) : res.writeHead(404).end()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    let stdout = '';
    let exitCode = 0;
    const out = new PassThrough().on('data', (d: Buffer) => (stdout += d.toString()));
    const io: CliIo = { stdin: Readable.from(['']), stdout: out, stderr: new PassThrough(), setExitCode: (c) => (exitCode = c) };
    const program = new Command('kiot').exitOverride();
    registerRules(program, io);
    register(program, io);
    await program.parseAsync(['node', 'kiot', 'rules', 'list', '--endpoint', `http://127.0.0.1:${(server.address() as AddressInfo).port}`]);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATE\s+MATCHED\s+OK\s+FAILED\s+ERRORS/);
    expect(lines[1]).toMatch(/^broken\s+failed\s+0\s+0\s+0\s+0/);
    expect(lines[2]).toMatch(/^ok\s+enabled\s+0\s+0\s+0\s+0/);
    expect(lines[3]).toMatch(/^broken: .*a\.sql:2:\d+: republish: unknown parameter topik/);
    expect(exitCode).toBe(1);
  } finally {
    server.close();
    await service.stop();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
});
