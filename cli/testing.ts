import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TSX_LOADER } from '../core/testing/child-process.js';
import { createInterface } from 'node:readline';

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
