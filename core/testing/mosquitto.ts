/**
 * Test helper: a real Mosquitto broker (the Debian package `mosquitto`, which `.ci/run`
 * installs) on a free loopback port with a generated config file. Tests that need it fail
 * with install instructions when it is missing; they never skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO_INSTALL_HINT =
  'Mosquitto is not installed; the bridge and mqtt action tests need a real broker. Install it with `sudo apt-get install -y mosquitto` (Debian/Ubuntu; .ci/run does this) or `brew install mosquitto`, or put `mosquitto` on PATH.';

/** Debian installs the broker in /usr/sbin, which is often not on a user's PATH. */
export function findMosquitto(): string {
  for (const candidate of ['mosquitto', '/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/opt/homebrew/sbin/mosquitto']) {
    if (candidate.startsWith('/') && !existsSync(candidate)) continue;
    // `mosquitto -h` prints its usage and exits non-zero; only a spawn error means "not there".
    if (spawnSync(candidate, ['-h'], { stdio: 'ignore' }).error === undefined) return candidate;
  }
  throw new Error(MOSQUITTO_INSTALL_HINT);
}

export interface MosquittoTls {
  readonly cafile: string;
  readonly certfile: string;
  readonly keyfile: string;
  /** Require client certificates signed by `cafile`. */
  readonly requireCertificate?: boolean;
}

export interface Mosquitto {
  /** Plain MQTT listener. */
  readonly port: number;
  readonly url: string;
  /** TLS listener, when `tls` was given. */
  readonly tlsPort: number | undefined;
  /** Stops the broker (SIGTERM) and waits for it to exit; state is lost (persistence false). */
  stop(): Promise<void>;
  /** Starts it again on the same ports. */
  restart(): Promise<void>;
  /** Stops it and deletes its files. */
  close(): Promise<void>;
}

export interface MosquittoOptions {
  readonly tls?: MosquittoTls;
  /** Require these user names and passwords (no anonymous clients). */
  readonly users?: Readonly<Record<string, string>>;
  /** An ACL file's text (mosquitto.conf(5), acl_file); its first lines apply to anonymous clients. */
  readonly acl?: string;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const bin = findMosquitto();
  const dir = await mkdtemp(join(tmpdir(), 'kiot-mosquitto-'));
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const lines = ['per_listener_settings false', 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', `listener ${port} 127.0.0.1`];
  if (options.users) {
    const passwords = join(dir, 'passwords');
    for (const [user, password] of Object.entries(options.users)) {
      // mosquitto_passwd ships in the same package, beside the broker or on PATH.
      const tool = bin.startsWith('/') ? join(bin, '..', '..', 'bin', 'mosquitto_passwd') : 'mosquitto_passwd';
      const result = spawnSync(existsSync(tool) ? tool : 'mosquitto_passwd', ['-b', ...(existsSync(passwords) ? [] : ['-c']), passwords, user, password], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`mosquitto_passwd failed: ${result.error?.message ?? result.stderr}`);
    }
    lines.push('allow_anonymous false', `password_file ${passwords}`);
  } else {
    lines.push('allow_anonymous true');
  }
  if (options.acl !== undefined) {
    const acl = join(dir, 'acl');
    await writeFile(acl, `${options.acl}\n`);
    lines.push(`acl_file ${acl}`);
  }
  if (options.tls && tlsPort !== undefined) {
    lines.push(`listener ${tlsPort} 127.0.0.1`, `cafile ${options.tls.cafile}`, `certfile ${options.tls.certfile}`, `keyfile ${options.tls.keyfile}`);
    if (options.tls.requireCertificate) lines.push('require_certificate true');
  }
  // Started as root, Mosquitto drops to the `mosquitto` user after reading its files; staying
  // root keeps the temporary files readable wherever the test runs.
  if (process.getuid?.() === 0) lines.push('user root');
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, `${lines.join('\n')}\n`);

  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}: ${stderr.trim()}`))));
    exited.catch(() => undefined);
    await Promise.race([waitForPort(port, 10_000), exited]);
    if (tlsPort !== undefined) await Promise.race([waitForPort(tlsPort, 10_000), exited]);
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
  };
  await launch();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    tlsPort,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with the
 * `openssl` command, in `dir`.
 */
export function makeCertificates(dir: string): { ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string } {
  const openssl = (args: string[]): void => {
    const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (result.error) throw new Error(`the TLS test needs the openssl command (apt-get install -y openssl): ${result.error.message}`);
    if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
  };
  const ext = join(dir, 'server.ext');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=kiot test CA']);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', ext]);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=kiot-bridge']);
  openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '1']);
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}
