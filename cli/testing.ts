import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, silentLogger } from '../core/index.js';
import { dataDirCredentials } from './commands/signed-request.js';
import { startPlatform, type RunningPlatform } from './up.js';
import { fileURLToPath } from 'node:url';
import { TSX_LOADER } from '../core/testing/child-process.js';
import { createInterface } from 'node:readline';
import { PassThrough, Readable } from 'node:stream';
import { Command } from 'commander';
import type { CliIo } from './commands/sql.js';

export const KIOT_MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

export interface KiotProcess {
  readonly child: ChildProcess;
  /** Bound ports by listener name, from the `listening` lines. */
  readonly listeners: Map<string, string>;
  readonly stdout: string[];
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

export interface RunKiotOptions {
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  /** A built `dist/cli/main.js` to run with plain node instead of the sources through tsx. */
  readonly main?: string;
}

/** Runs the kiot CLI from source (tsx), or a built one, in a child process. */
export function runKiot(args: string[], options: RunKiotOptions = {}): KiotProcess {
  const entry = options.main ? [options.main] : ['--import', TSX_LOADER, KIOT_MAIN];
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: options.cwd,
    // Every listener on a free port unless a test says otherwise, so tests never collide.
    env: { ...process.env, KIOT_HTTP_PORT: '0', KIOT_MQTT_PORT: '0', KIOT_MQTTS_PORT: '0', KIOT_WS_PORT: '0', KIOT_HTTPS_PORT: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const stdout: string[] = [];
  const listeners = new Map<string, string>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    stdout.push(line);
    const match = /^listening (\S+) (\S+)$/.exec(line);
    if (match) listeners.set(match[1]!, match[2]!);
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, listeners, stdout, stderr: () => stderr, exited };
}

/** Starts `kiot up` and waits for `ready`. */
export async function startKiot(args: string[], options: RunKiotOptions & { timeoutMs?: number } = {}): Promise<KiotProcess> {
  const kiot = runKiot(['up', ...args], options);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (!kiot.stdout.includes('ready')) {
    if (kiot.child.exitCode !== null) throw new Error(`kiot up exited with ${kiot.child.exitCode}: ${kiot.stderr()}`);
    if (Date.now() > deadline) {
      kiot.child.kill('SIGKILL');
      throw new Error(`kiot up was not ready in time; stderr: ${kiot.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return kiot;
}

/** A throw-away `kiot up` in this process: every role, every listener on a free port, data in a temp dir. */
export interface TestPlatform {
  readonly platform: RunningPlatform;
  /** The temp dir: `data/` (the data dir) and `rules/` (the rules dir) are in it. */
  readonly dir: string;
  /** The administrator key kiot wrote to `data/credentials`. */
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** `http://127.0.0.1:<port>` of the HTTP API. */
  http(): string;
  /** An AWS SDK client of this kiot's HTTP API (region us-east-1, the administrator key, no retries); `stop()` destroys it. */
  client<C extends { destroy(): void }>(Client: new (config: AwsClientConfig) => C): C;
  /** Destroys the clients, stops kiot and removes the temp dir. */
  stop(): Promise<void>;
}

interface AwsClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  maxAttempts: number;
}

/** Starts a {@link TestPlatform} with these rule files (name -> text) in its rules dir, and any other flags (`lambdaEndpoint`). */
export async function startTestPlatform(rules: Readonly<Record<string, string>> = {}, flags: Readonly<Record<string, string>> = {}): Promise<TestPlatform> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-test-'));
  await mkdir(join(dir, 'rules'));
  for (const [name, text] of Object.entries(rules)) await writeFile(join(dir, 'rules', name), text);
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules'), httpPort: '0', mqttPort: '0', mqttsPort: '0', wsPort: '0', httpsPort: '0', ...flags }, env: {} });
  const platform = await startPlatform(config, () => undefined, silentLogger());
  const credentials = (await dataDirCredentials(join(dir, 'data')))!;
  const http = () => `http://127.0.0.1:${platform.listeners.get('http')}`;
  const clients: { destroy(): void }[] = [];
  return {
    platform,
    dir,
    credentials,
    http,
    client: (Client) => {
      const client = new Client({ endpoint: http(), region: 'us-east-1', credentials, maxAttempts: 1 });
      clients.push(client);
      return client;
    },
    stop: async () => {
      for (const client of clients) client.destroy();
      await platform.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs one `kiot <command> ...args` in this process against `kiot` (its HTTP API and data dir
 * appended as `--endpoint` and `--data-dir`), with `register` the command's module's register.
 */
export async function runCommand(
  register: (program: Command, io: CliIo) => void,
  command: string,
  kiot: TestPlatform,
  args: readonly string[],
): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  let stdout = '';
  let stderr = '';
  let exitCode = 0;
  const io: CliIo = {
    stdin: Readable.from(['']),
    stdout: new PassThrough().on('data', (d: Buffer) => (stdout += d.toString())),
    stderr: new PassThrough().on('data', (d: Buffer) => (stderr += d.toString())),
    setExitCode: (c) => (exitCode = c),
  };
  const program = new Command('kiot').exitOverride();
  register(program, io);
  await program.parseAsync(['node', 'kiot', command, ...args, '--endpoint', kiot.http(), '--data-dir', join(kiot.dir, 'data')]);
  return { stdout, stderr, exitCode };
}
