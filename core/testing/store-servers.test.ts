/** The store launchers: a missing server fails with the command that installs it, never a skip. */
import { afterEach, expect, test, vi } from 'vitest';
import { findPostgresBin } from './postgres.js';
import { startRedis } from './redis.js';

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
