import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { silentLogger } from '../../logger.js';
import { runLogSuite } from '../../testing/run-log-suite.js';
import { EmbeddedLog } from './embedded-log.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

runLogSuite('EmbeddedLog', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiot-log-'));
  dirs.push(dataDir);
  return EmbeddedLog.open({ dataDir, logger: silentLogger() });
});
