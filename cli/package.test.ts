/**
 * The package as users get it: `npm pack` of this checkout, then installed the two ways a
 * release is used, without the dev dependencies and without compiling anything.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startKiot } from './testing.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));
// The npm cache that `npm ci` filled serves the dependencies; the registry is asked only for what it lacks.
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

let dir: string;
let tarball: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-package-'));
  // dist/ was built by `npm install`'s prepare step; packing must not need the build again.
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--loglevel=error'], { cwd: repo });
  const packed = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
  if (!packed) throw new Error('npm pack wrote no tarball');
  tarball = join(dir, packed);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the packed release', () => {
  test('`npm install --omit=dev` in the unpacked release keeps the shipped dist/ and runs `kiot up`', async () => {
    const release = join(dir, 'release');
    await mkdir(release);
    await run('tar', ['xzf', tarball, '-C', release]);
    const root = join(release, 'package');
    await run('npm', ['install', '--omit=dev', ...NPM_FLAGS], { cwd: root, timeout: 240_000 });
    const kiot = await startKiot([], { cwd: root, env: { KIOT_DATA_DIR: join(root, 'data'), KIOT_RULES_DIR: join(root, 'rules') }, main: join(root, 'dist', 'cli', 'main.js') });
    try {
      expect(kiot.stdout).toContain('ready');
      expect([...kiot.listeners.keys()]).toContain('mqtt');
    } finally {
      kiot.child.kill('SIGTERM');
      await kiot.exited;
    }
  }, 300_000);

  test('`npx kiot` (help and --version) works where the tarball is installed as a dependency', async () => {
    const user = join(dir, 'user');
    await mkdir(user);
    await writeFile(join(user, 'package.json'), JSON.stringify({ name: 'kiot-user', version: '1.0.0', private: true }));
    await run('npm', ['install', ...NPM_FLAGS, tarball], { cwd: user, timeout: 240_000 });
    const { stdout } = await run('npx', ['--no-install', 'kiot', '--help'], { cwd: user });
    expect(stdout).toMatch(/^Usage: kiot/);
    expect(stdout).toContain('up');
    const version = await run('npx', ['--no-install', 'kiot', '--version'], { cwd: user });
    expect(version.stdout.trim()).toBe(JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')).version);
  }, 300_000);
});
