/**
 * Test helper: a throw-away Redis server (Debian's `redis-server` package, which `.ci/run`
 * installs) on a free loopback port, without persistence, in a temp dir.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, startServerProcess } from './server-process.js';

export const REDIS_INSTALL_HINT =
  'Redis is not installed; the redis action tests start a throw-away server. Install it with `apt-get install -y redis-server` (Debian/Ubuntu; .ci/run does this), or put `redis-server` on PATH.';

export interface RedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops the server and deletes its dir. Safe to call twice. */
  close(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.error !== undefined) throw new Error(REDIS_INSTALL_HINT);
  const dir = await mkdtemp(join(tmpdir(), 'kiot-redis-'));
  try {
    const port = await freeLoopbackPort();
    const server = await startServerProcess({
      name: 'Redis',
      command: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no'],
      ready: /Ready to accept connections/,
    });
    let closed: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port,
      url: `redis://127.0.0.1:${port}`,
      close: () => (closed ??= server.stop().then(() => rm(dir, { recursive: true, force: true }))),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
