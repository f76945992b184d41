/**
 * Every command block of the README and of docs/tutorial.md runs here, so that the README cannot drift:
 * each `sh` block's commands run in bash, in order, in a directory where a throw-away kiot runs
 * (`data/` and `rules/` as the README assumes; the README's SQL rule is its rule file), with
 * `npx kiot` running this checkout. `127.0.0.1:8080` and `127.0.0.1:9092` in a command become
 * the throw-away kiot's HTTP port and a Kafka mock. A command must exit 0; one that runs until
 * stopped (`kiot up`, `--follow`) must show it is working (`ready`, or still running after a
 * few seconds) and is then stopped. `npm install && npm start` runs its `npm start` (CI ran
 * `npm install` before the tests) in the checkout with a data dir of its own. The only commands
 * not run are listed in NOT_RUN with why.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KIOT_MAIN } from '../cli/testing.js';
import { startPlatform, type RunningPlatform } from '../cli/up.js';
import { loadConfig, silentLogger } from '../core/index.js';
import { TSX_LOADER } from '../core/testing/child-process.js';
import { startKafkaMock, type KafkaMock } from '../core/testing/kafka-mock.js';
import { ACTION_DEFINITIONS } from '../actions/index.js';
import { checkRuleText, formatProblem } from '../rules/files/index.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DOCS = ['README.md'];

/** Commands this test does not run, by what they start with, and why. */
const NOT_RUN: readonly { readonly prefix: string; readonly why: string }[] = [
  { prefix: 'npm test', why: 'CI runs it: it is the test run this file is part of' },
  { prefix: 'docker compose', why: 'no Docker engine where tests run; test/docker-compose.test.ts checks the compose file' },
];
/** Why the other commands of a block that starts the compose stack are not run. */
const COMPOSE_BLOCK = 'its block works on the compose stack (see docker compose above)';

interface Command {
  readonly doc: string;
  readonly line: number;
  readonly text: string;
  /** In a block that starts the compose stack. */
  readonly composeBlock?: true;
}

/** The commands of a document's `sh` blocks: one per line, `\` continuations kept with their line. */
async function commandsOf(doc: string): Promise<Command[]> {
  const text = await readFile(join(ROOT, doc), 'utf8');
  const commands: Command[] = [];
  const lines = text.split('\n');
  let block: Command[] | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^```sh\s*$/.test(line)) block = [];
    else if (/^```/.test(line) && block) {
      // A block that needs the compose stack is run as a whole or not at all.
      const compose = block.some((c) => c.text.startsWith('docker compose'));
      commands.push(...block.map((c): Command => (compose ? { ...c, composeBlock: true as const } : c)));
      block = undefined;
    } else if (block && line.trim() !== '' && !line.trim().startsWith('#')) {
      let joined = line;
      const start = i + 1;
      while (joined.endsWith('\\') && i + 1 < lines.length) joined = `${joined}\n${lines[++i]!}`;
      block.push({ doc, line: start, text: joined });
    }
  }
  return commands;
}

/** The README's first `sql` block: the rule file of the throw-away kiot. */
async function readmeRule(): Promise<string> {
  const text = await readFile(join(ROOT, 'README.md'), 'utf8');
  return /```sql\n([\s\S]*?)```/.exec(text)![1]!;
}

let cwd: string;
let platform: RunningPlatform;
let kafka: KafkaMock;
const httpPort = () => platform.listeners.get('http')!;

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'kiot-readme-'));
  await mkdir(join(cwd, 'rules'));
  await writeFile(join(cwd, 'rules', 'overheat.sql'), await readmeRule());
  const config = loadConfig({ flags: { dataDir: join(cwd, 'data'), rulesDir: join(cwd, 'rules'), httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', httpsPort: '0' }, env: {} });
  platform = await startPlatform(config, () => undefined, silentLogger());
  kafka = await startKafkaMock();
}, 60_000);

afterAll(async () => {
  await platform?.stop();
  await kafka?.stop();
  await rm(cwd, { recursive: true, force: true });
});

/** `npx kiot ...` runs this checkout's CLI; anything else runs as written. */
const BASH_PRELUDE = `npx() { if [ "$1" = kiot ]; then shift; node --import '${TSX_LOADER}' '${KIOT_MAIN}' "$@"; else command npx "$@"; fi; }\n`;

interface Ran {
  readonly code: number | null;
  readonly output: string;
  readonly stillRunning: boolean;
}

/** Runs one command; a long-running one is stopped once `until` holds or after `graceMs`. */
function runCommand(text: string, options: { cwd: string; env: NodeJS.ProcessEnv; longRunning: boolean; until?: RegExp; graceMs: number }): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', BASH_PRELUDE + text], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    let settled = false;
    const finish = (ran: Ran) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      resolve(ran);
    };
    const onData = (d: Buffer) => {
      output += d.toString();
      if (options.longRunning && options.until?.test(output)) finish({ code: null, output, stillRunning: true });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => finish({ code, output, stillRunning: false }));
    const timer = setTimeout(() => finish({ code: null, output, stillRunning: true }), options.graceMs);
  });
}

for (const doc of DOCS) {
  describe(doc, async () => {
    const commands = await commandsOf(doc);
    test.each(commands.map((c) => [`${c.doc}:${c.line} ${c.text.split('\n')[0]!.slice(0, 70)}`, c] as const))('%s', async (_name, command) => {
      const skipped = NOT_RUN.find((n) => command.text.trimStart().startsWith(n.prefix))?.why ?? (command.composeBlock ? COMPOSE_BLOCK : undefined);
      if (skipped) {
        expect(skipped).not.toBe(''); // listed with its reason
        return;
      }
      const npmStart = command.text.startsWith('npm install && npm start');
      const startsKiot = npmStart || (/\bkiot up\b/.test(command.text) && !/--help/.test(command.text));
      const longRunning = startsKiot || /--follow\b/.test(command.text);
      const text = npmStart ? 'npm start' : command.text.replaceAll('127.0.0.1:8080', `127.0.0.1:${httpPort()}`).replaceAll('127.0.0.1:9092', kafka.brokers[0]!);
      // A second kiot runs with a data dir of its own (the throw-away kiot holds ./data), on free ports.
      const dir = startsKiot ? await mkdtemp(join(tmpdir(), 'kiot-readme-up-')) : cwd;
      const env = {
        ...process.env,
        ...(npmStart ? { KIOT_DATA_DIR: join(dir, 'data') } : {}),
        KIOT_HTTP_PORT: startsKiot ? '0' : String(httpPort()),
        KIOT_MQTT_PORT: '0',
        KIOT_MQTTS_PORT: '0',
        KIOT_WS_PORT: '0',
        KIOT_HTTPS_PORT: '0',
        AWS_PAGER: '',
      };
      try {
        const ran = await runCommand(text, { cwd: npmStart ? ROOT : dir, env, longRunning, ...(startsKiot ? { until: /^ready\b/m } : {}), graceMs: startsKiot ? 120_000 : longRunning ? 4_000 : 60_000 });
        if (startsKiot) expect(ran.output, `${command.doc}:${command.line} did not reach ready`).toMatch(/^ready\b/m);
        else if (longRunning) expect(ran.stillRunning, `${command.doc}:${command.line} stopped: ${ran.output}`).toBe(true);
        else expect(ran.code, `${command.doc}:${command.line} failed:\n${ran.output}`).toBe(0);
      } finally {
        if (startsKiot) await rm(dir, { recursive: true, force: true });
      }
    }, 180_000);
  });
}

describe('README rules and actions', () => {
  test('every sql block is a rule file that kiot rules check accepts', async () => {
    const text = await readFile(join(ROOT, 'README.md'), 'utf8');
    const blocks = [...text.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(1);
    for (const [i, block] of blocks.entries()) expect(checkRuleText(block, `README.md sql block ${i + 1}`).problems.map(formatProblem)).toEqual([]);
  });

  test('the action table has a row for every action kind', async () => {
    const text = await readFile(join(ROOT, 'README.md'), 'utf8');
    const rows = text.split('\n').filter((l) => /^\| `[a-z_0-9]+`/.test(l)).map((l) => l.split('|')[1]!);
    for (const def of ACTION_DEFINITIONS) expect(rows.some((r) => r.includes(`\`${def.type}\``)), def.type).toBe(true);
  });
});

/**
 * The tutorial is one shell session: its blocks run in order as one bash script (exports carry
 * over, background processes are its own), in a directory that stands for the checkout
 * (`node_modules` linked), with the ports of its first line replaced by free ones.
 */
describe('docs/tutorial.md', () => {
  test('runs from start to end: a device with a certificate, a rule storing in DynamoDB and republishing to a subscriber', async () => {
    const text = await readFile(join(ROOT, 'docs/tutorial.md'), 'utf8');
    const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(5);
    const ports = await freePorts(4);
    // The first block's first line names every port the session uses.
    const first = blocks[0]!.split('\n');
    expect(first[0]).toMatch(/^export KIOT_HTTP_PORT=\d+ /);
    let n = 0;
    first[0] = first[0]!.replace(/=(\d+)/g, () => `=${ports[n++]}`);
    blocks[0] = first.join('\n');
    const dir = await mkdtemp(join(tmpdir(), 'kiot-tutorial-'));
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    try {
      const ran = await runCommand(`set -euo pipefail\n${blocks.join('\n')}`, { cwd: dir, env: { ...process.env, AWS_PAGER: '' }, longRunning: false, graceMs: 240_000 });
      expect(ran.code, `docs/tutorial.md failed:\n${ran.output}`).toBe(0);
      expect(ran.output).toContain('sensor-1 published 2 readings');
      expect(ran.output).toMatch(/alerts\/sensor-1 \{"deviceId":"sensor-1","temperature":34\}/);
      expect(ran.output).toContain('"21.5"');
    } finally {
      // The tutorial's last step kills its kiot, which may still be writing its last offset
      // commits into data/log/groups while the directory is removed: retry on ENOTEMPTY.
      await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    }
  }, 300_000);
});

/** Ports nothing listens on now (bound to 0, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<Server>((resolve) => { const server = createServer(); server.listen(0, '127.0.0.1', () => resolve(server)); })),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
