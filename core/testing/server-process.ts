/**
 * Starts a store's server binary (PostgreSQL, Redis) as a child process for a test and stops
 * it again: the launchers in postgres.ts and redis.ts share this. Readiness is the server's own
 * log line, so a test never sleeps; a binary that is not installed fails with the install
 * command, never a skip (DESIGN.md, "Real components in tests").
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';

/** How long a server may take from spawn to its ready line. */
export const SERVER_START_TIMEOUT_MS = 30_000;

export interface ServerProcessOptions {
  /** Names the server in errors (`PostgreSQL`). */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Matches the log line (stdout or stderr) that says the server accepts connections. */
  readonly ready: RegExp;
  readonly spawn?: Pick<SpawnOptions, 'uid' | 'gid' | 'cwd' | 'env'>;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** A loopback port that was free a moment ago (bound, then closed), for servers that take a port number. */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function startServerProcess(o: ServerProcessOptions): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(o.command, o.args, { ...o.spawn, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const stop = (): Promise<void> => stopChild(child);
    const timer = setTimeout(() => fail(new Error(`${o.name} did not start within ${SERVER_START_TIMEOUT_MS} ms: ${output.slice(-1000)}`)), SERVER_START_TIMEOUT_MS);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      void stop();
      reject(err);
    };
    const onExit = (code: number | null): void => fail(new Error(`${o.name} exited with ${code} before it was ready: ${output.slice(-1000)}`));
    child.once('error', fail);
    child.once('exit', onExit);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (!o.ready.test(output)) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      // Keep draining its output so that the server never blocks on a full pipe.
      output = '';
      child.stdout!.off('data', onData).resume();
      child.stderr!.off('data', onData).resume();
      resolve({ child, stop });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
}

/** SIGTERM, then SIGKILL after `killAfterMs`; resolves once the child exited (at once if it has). */
export function stopChild(child: ChildProcess, killAfterMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
