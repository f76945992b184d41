/** The store launchers: a missing server fails with the command that installs it, never a skip. */
import { afterEach, expect, test, vi } from 'vitest';
import { findPostgresBin } from './postgres.js';
import { startRedis } from './redis.js';
import { startInfluxDb } from './influxdb.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

test('no PostgreSQL: the error names apt-get install postgresql', async () => {
  vi.stubEnv('PATH', '');
  await expect(findPostgresBin('/nonexistent')).rejects.toThrow(/apt-get install -y postgresql/);
});

test('no Redis: the error names apt-get install redis-server', async () => {
  vi.stubEnv('PATH', '');
  await expect(startRedis()).rejects.toThrow(/apt-get install -y redis-server/);
});

test('no InfluxDB: the error names apt-get install influxdb', async () => {
  vi.stubEnv('PATH', '');
  await expect(startInfluxDb()).rejects.toThrow(/apt-get install -y influxdb/);
});

test('InfluxDB starts with authentication on: the admin reads, a request without credentials is refused', async () => {
  const server = await startInfluxDb();
  try {
    await server.query('CREATE DATABASE probe');
    expect((await server.query('SHOW DATABASES'))[0]!.series![0]!.values.flat()).toContain('probe');
    const anonymous = await fetch(`${server.url}/query?q=SHOW+DATABASES`);
    expect(anonymous.status).toBe(401);
  } finally {
    await server.close();
  }
}, 60_000);
