/**
 * Test helper: a throw-away InfluxDB 1.x server (Debian's `influxdb` package, 1.6 on bookworm,
 * which `.ci/run` installs) with its meta, data and WAL dirs in a temp dir, its HTTP API on a
 * free loopback port (the RPC port on another), authentication on, and one admin user created
 * before anything else can reach it. Reporting, the `_internal` monitor database and the query
 * log are off. `query` reads points back over the v1 `/query` API as that user.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, startServerProcess } from './server-process.js';

export const INFLUXDB_INSTALL_HINT =
  'InfluxDB is not installed; the influxdb action tests start a throw-away server. Install it with `apt-get install -y influxdb` (Debian/Ubuntu; .ci/run does this), or put `influxd` (1.x) on PATH.';

export const INFLUXDB_TEST_USER = 'kiot';

export interface InfluxDbServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The admin user (all privileges) and its password. */
  readonly user: string;
  readonly password: string;
  /** Runs InfluxQL statements as the admin; rejects with the server's error. */
  query(q: string, db?: string): Promise<InfluxQueryResult[]>;
  /** Stops the server and deletes its dirs. Safe to call twice. */
  close(): Promise<void>;
}

/** One statement's result of `/query` (the v1 API's JSON). */
export interface InfluxQueryResult {
  readonly series?: { readonly name: string; readonly tags?: Record<string, string>; readonly columns: string[]; readonly values: unknown[][] }[];
  readonly error?: string;
}

const config = (dir: string, httpPort: number, rpcPort: number): string => `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = true
  log-enabled = false
[logging]
  suppress-logo = true
`;

export async function startInfluxDb(): Promise<InfluxDbServer> {
  const probe = spawnSync('influxd', ['version'], { stdio: 'ignore' });
  if (probe.error !== undefined) throw new Error(INFLUXDB_INSTALL_HINT);
  const dir = await mkdtemp(join(tmpdir(), 'kiot-influxdb-'));
  try {
    const [port, rpcPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
    await writeFile(join(dir, 'influxdb.conf'), config(dir, port, rpcPort));
    const server = await startServerProcess({
      name: 'InfluxDB',
      command: 'influxd',
      args: ['-config', join(dir, 'influxdb.conf')],
      ready: /Listening on HTTP/,
    });
    const url = `http://127.0.0.1:${port}`;
    const password = randomBytes(12).toString('hex');
    const query = async (q: string, db?: string, auth = true): Promise<InfluxQueryResult[]> => {
      const body = new URLSearchParams({ q, ...(db ? { db } : {}) });
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      if (auth) headers['authorization'] = `Basic ${Buffer.from(`${INFLUXDB_TEST_USER}:${password}`).toString('base64')}`;
      const res = await fetch(`${url}/query?epoch=ns`, { method: 'POST', headers, body });
      const json = (await res.json()) as { results?: InfluxQueryResult[]; error?: string };
      const error = json.error ?? json.results?.find((r) => r.error)?.error;
      if (!res.ok || error) throw new Error(`InfluxDB query ${JSON.stringify(q)}: ${res.status} ${error ?? ''}`);
      return json.results ?? [];
    };
    try {
      // With auth on and no users yet, InfluxDB takes exactly this statement without credentials.
      await query(`CREATE USER ${INFLUXDB_TEST_USER} WITH PASSWORD '${password}' WITH ALL PRIVILEGES`, undefined, false);
    } catch (err) {
      await server.stop();
      throw err;
    }
    let closed: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port,
      url,
      user: INFLUXDB_TEST_USER,
      password,
      query: (q, db) => query(q, db),
      close: () => (closed ??= server.stop().then(() => rm(dir, { recursive: true, force: true }))),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
