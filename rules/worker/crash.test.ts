import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { CORE_TOPICS, EmbeddedLog, silentLogger } from '../../core/index.js';
import { TSX_LOADER } from '../../core/testing/child-process.js';
import { publish, waitFor } from './test-helpers.js';

const CHILD = fileURLToPath(new URL('./testing/worker-child.ts', import.meta.url));
const N = 1_500;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-rules-crash-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function startChild(dataDir: string, rulesDir: string): { child: ChildProcess; started: Promise<void>; exited: Promise<void> } {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, CHILD, dataDir, rulesDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const started = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('started') && resolve());
    child.once('exit', (code) => reject(new Error(`worker child exited early (${code})`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, started, exited };
}

test('a worker SIGKILLed mid-batch loses nothing; only uncommitted messages are redone', async () => {
  // Each delivered message is POSTed here; answers are slowed so that the kill lands mid-stream.
  const runs: number[][] = [[], []];
  let run = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seq = (JSON.parse(Buffer.concat(chunks).toString()) as { seq: number }).seq;
      setTimeout(() => {
        runs[run]!.push(seq);
        res.writeHead(200).end();
      }, 2);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dataDir = join(dir, 'data');
  const rulesDir = join(dir, 'rules');
  await mkdir(rulesDir, { recursive: true });
  await writeFile(join(rulesDir, 'r.sql'), `CREATE RULE fwd AS SELECT seq FROM 'dev/+/seq' DO http(url = '${url}/in');`);

  // One device -> one partition, so offsets and sequence numbers agree.
  const log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  for (const t of CORE_TOPICS) await log.ensureTopic(t);
  await publish(log, Array.from({ length: N }, (_, seq) => ({ topic: 'dev/d1/seq', clientId: 'd1', payload: Buffer.from(JSON.stringify({ seq })) })));
  await log.close();

  try {
    const first = startChild(dataDir, rulesDir);
    await first.started;
    await waitFor(() => runs[0]!.length >= N / 3, 60_000, 'a third of the messages');
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = runs[0]!.length;
    expect(killedAt).toBeLessThan(N);

    run = 1;
    const second = startChild(dataDir, rulesDir);
    await second.started;
    // Everything not seen before the kill must arrive now.
    await waitFor(() => new Set([...runs[0]!, ...runs[1]!]).size === N, 60_000, 'every message');
    second.child.kill('SIGKILL');
    await second.exited;

    const seen = new Set([...runs[0]!, ...runs[1]!]);
    expect(seen.size).toBe(N);
    // The second worker starts at the committed offset C: it redoes exactly C..N-1 and nothing before.
    const committed = Math.min(...runs[1]!);
    expect(committed).toBeGreaterThan(0);
    expect(new Set(runs[1]!)).toEqual(new Set(Array.from({ length: N - committed }, (_, i) => committed + i)));
    // Everything before the commit point was delivered by the first worker.
    const firstRun = new Set(runs[0]!);
    for (let seq = 0; seq < committed; seq++) expect(firstRun.has(seq)).toBe(true);
    // Duplicates are only messages at or after the commit point.
    const duplicates = runs[1]!.filter((s) => firstRun.has(s));
    expect(duplicates.every((s) => s >= committed)).toBe(true);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}, 120_000);
