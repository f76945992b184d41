/**
 * Test helper: a throw-away PostgreSQL cluster (Debian's `postgresql` package, which `.ci/run`
 * installs) initialised into a temp dir and listening on 127.0.0.1 on a free port, its unix
 * socket in the same dir, trust auth for the superuser `kiot`. initdb refuses to run as root,
 * so when the test runs as root the cluster is made and run as the `postgres` system user the
 * package creates. fsync is off: the cluster is deleted when the test ends.
 */
import { spawnSync } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, startServerProcess } from './server-process.js';

export const POSTGRES_INSTALL_HINT =
  'PostgreSQL is not installed; the postgres action tests start a throw-away server. Install it with `apt-get install -y postgresql` (Debian/Ubuntu; .ci/run does this), or put its bin dir (initdb, postgres) on PATH.';

export interface PostgresServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** `postgres://kiot@127.0.0.1:<port>/postgres` */
  readonly url: string;
  /** Stops the server and deletes the cluster. Safe to call twice. */
  close(): Promise<void>;
}

export const POSTGRES_TEST_USER = 'kiot';

/** The bin dir holding initdb and postgres: PATH first, else Debian's newest /usr/lib/postgresql/<major>/bin. */
export async function findPostgresBin(root = '/usr/lib/postgresql'): Promise<string> {
  const onPath = spawnSync('initdb', ['--version'], { stdio: 'ignore' });
  if (onPath.error === undefined && onPath.status === 0) return '';
  const majors = existsSync(root) ? (await readdir(root)).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const major of majors) {
    const bin = join(root, major, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin;
  }
  throw new Error(POSTGRES_INSTALL_HINT);
}

/** uid and gid of the `postgres` system user, from /etc/passwd. */
function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error(`running as root, and initdb refuses root, but there is no postgres system user to run the server as; ${POSTGRES_INSTALL_HINT}`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = await findPostgresBin();
  const tool = (name: string): string => (bin ? join(bin, name) : name);
  const dir = await mkdtemp(join(tmpdir(), 'kiot-postgres-'));
  const as = process.getuid?.() === 0 ? postgresUser() : undefined;
  if (as) await chown(dir, as.uid, as.gid);
  const data = join(dir, 'data');
  try {
    const init = spawnSync(tool('initdb'), ['-D', data, '-U', POSTGRES_TEST_USER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
      encoding: 'utf8',
      // The cluster's own dir as cwd: the postgres user may not be allowed into the caller's.
      cwd: dir,
      ...(as ? { uid: as.uid, gid: as.gid } : {}),
    });
    if (init.error) throw new Error(`${POSTGRES_INSTALL_HINT} (${init.error.message})`);
    if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr.slice(-1000)}`);
    const port = await freeLoopbackPort();
    const server = await startServerProcess({
      name: 'PostgreSQL',
      command: tool('postgres'),
      args: ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'synchronous_commit=off'],
      ready: /database system is ready to accept connections/,
      spawn: { cwd: dir, ...(as ? { uid: as.uid, gid: as.gid } : {}) },
    });
    let closed: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port,
      user: POSTGRES_TEST_USER,
      database: 'postgres',
      url: `postgres://${POSTGRES_TEST_USER}@127.0.0.1:${port}/postgres`,
      close: () => (closed ??= server.stop().then(() => rm(dir, { recursive: true, force: true }))),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
