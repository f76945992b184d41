import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { SETTINGS } from '../core/index.js';
import { startKafkaMock } from '../core/testing/kafka-mock.js';
import { runKiot, startKiot } from './testing.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-up-'));
  dirs.push(dir);
  return dir;
}

describe('kiot up', () => {
  test('announces its listeners and ready, serves /health and /metrics, and stops cleanly on SIGTERM', async () => {
    const cwd = await tempDir();
    const kiot = await startKiot(['--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '0', '--ws-port', '0'], { cwd });
    try {
      expect(kiot.stdout[kiot.stdout.length - 1]).toBe('ready');
      expect(kiot.stdout.slice(0, 2)).toEqual(['credentials data/credentials', 'ca data/ca.pem']); // first start only
      for (const line of kiot.stdout.slice(2, -1)) expect(line).toMatch(/^listening (http|mqtt|mqtts|ws|https) 127\.0\.0\.1:\d+$/);
      expect([...kiot.listeners.keys()].sort()).toEqual(['http', 'https', 'mqtt', 'mqtts', 'ws']); // mqtts, https: a server certificate from the kiot CA
      const http = kiot.listeners.get('http')!;
      const health = await fetch(`http://${http}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', log: 'embedded' });
      const metrics = await (await fetch(`http://${http}/metrics`)).text();
      expect(metrics).toMatch(/^kiot_log_appended_records_total\{log="embedded"\} \d+$/m);
      expect(metrics).toContain('# TYPE kiot_log_consumer_lag gauge');
      expect((await fetch(`http://${http}/nothing-here`)).status).toBe(404);
    } finally {
      kiot.child.kill('SIGTERM');
    }
    expect(await kiot.exited).toBe(0);
    // The default data dir is ./data, and the lock was released: a second run starts.
    const again = await startKiot(['--http-port', '0'], { cwd });
    again.child.kill('SIGINT');
    expect(await again.exited).toBe(0);
  }, 60_000);

  test('KIOT_* variables and a config file configure it', async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, 'kiot.yaml'), 'dataDir: ./elsewhere\n');
    const kiot = await startKiot([], { cwd, env: { KIOT_HTTP_PORT: '0', KIOT_CONFIG: 'kiot.yaml' } });
    const health = await fetch(`http://${kiot.listeners.get('http')}/health`);
    expect(health.status).toBe(200);
    kiot.child.kill('SIGTERM');
    expect(await kiot.exited).toBe(0);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(join(cwd, 'elsewhere', 'log', 'topics'))).toContain('iot.ingress');
  }, 60_000);

  test('--kafka runs the same platform on Kafka (librdkafka mock cluster)', async () => {
    const mock = await startKafkaMock();
    try {
      const kiot = await startKiot(['--http-port', '0', '--kafka', mock.brokers.join(',')], { cwd: await tempDir(), timeoutMs: 60_000 });
      const health = await fetch(`http://${kiot.listeners.get('http')}/health`);
      expect(await health.json()).toMatchObject({ status: 'ok', log: 'kafka' });
      kiot.child.kill('SIGTERM');
      expect(await kiot.exited).toBe(0);
    } finally {
      await mock.stop();
    }
  }, 90_000);

  test('a rules dir that does not exist is a warning line at start, not a silent 0 rules', async () => {
    const cwd = await tempDir();
    const kiot = await startKiot(['--log-level', 'silent'], { cwd });
    try {
      expect(kiot.stderr().split('\n').filter((l) => l.startsWith('warning: '))).toEqual([
        'warning: rules dir ./rules does not exist: no rule files are loaded (create it, or point --rules-dir at your *.sql files); rules are picked up once it exists',
      ]);
    } finally {
      kiot.child.kill('SIGTERM');
      await kiot.exited;
    }
  }, 60_000);

  test('--kafka to a closed port is one line within 10 s, with no library noise', async () => {
    const startedAt = Date.now();
    const kiot = runKiot(['up', '--kafka', '127.0.0.1:1'], { cwd: await tempDir() });
    expect(await kiot.exited).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(kiot.stderr().trim()).toBe('kiot: cannot reach Kafka at 127.0.0.1:1 (is it running, and is --kafka right?): Connection error: connect ECONNREFUSED 127.0.0.1:1');
  }, 30_000);

  test('an invalid setting is one line naming the field, and a non-zero exit', async () => {
    const kiot = runKiot(['up', '--http-port', 'eighty'], { cwd: await tempDir() });
    expect(await kiot.exited).toBe(2);
    expect(kiot.stderr().trim()).toBe('kiot: --http-port: expected a port number 0-65535 (0 = any free port), received "eighty"');
  });

  test('a data dir in use by another kiot is refused with a clear message', async () => {
    const cwd = await tempDir();
    const first = await startKiot(['--http-port', '0'], { cwd });
    const second = runKiot(['up', '--http-port', '0'], { cwd });
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toMatch(/^kiot: .*data\/log is in use by process \d+/);
    first.child.kill('SIGTERM');
    await first.exited;
  }, 60_000);

  test('a port in use is one line naming the listener, and a non-zero exit', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const kiot = runKiot(['up', '--mqtt-port', String(port)], { cwd: await tempDir() });
      expect(await kiot.exited).toBe(1);
      expect(kiot.stderr().trim().split('\n').pop()).toBe(`kiot: mqtt listener 127.0.0.1:${port}: the address is already in use (choose another with --mqtt-port or --host; port 0 picks a free one)`);
    } finally {
      blocker.close();
    }
  }, 60_000);

  test('--help describes every option', async () => {
    const main = runKiot(['--help']);
    expect(await main.exited).toBe(0);
    expect(main.stdout.join('\n')).toMatch(/up \[options\]/);
    const up = runKiot(['up', '--help']);
    expect(await up.exited).toBe(0);
    const help = up.stdout.join('\n');
    for (const s of SETTINGS) {
      expect(help).toContain(s.flag.split(' ')[0]);
      expect(help).toContain(s.env);
    }
    expect(help).toContain('--config');
    for (const shown of ['[KIOT_HTTPS_PORT] (default: 8443)', '[KIOT_HTTP_TLS] (default: auto)', '[KIOT_METRICS_AUTH] (default: false)', '--http-tls-cert', '--http-tls-key']) expect(help).toContain(shown);
  });
});
