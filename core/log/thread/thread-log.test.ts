import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterAll } from 'vitest';
import { silentLogger } from '../../logger.js';
import { runLogSuite } from '../../testing/run-log-suite.js';
import { EmbeddedLog } from '../embedded/embedded-log.js';
import { serveLog } from './serve.js';
import { ThreadLog } from './thread-log.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

// The owner and the "worker" in one thread, over a real MessageChannel: every operation and
// every batch crosses the port as it does between threads (thread-log-failures.test.ts and
// cli/threads.test.ts run real threads).
runLogSuite('ThreadLog over an EmbeddedLog', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiot-thread-log-'));
  dirs.push(dataDir);
  const logger = silentLogger();
  const owner = await EmbeddedLog.open({ dataDir, logger });
  const { port1, port2 } = new MessageChannel();
  const served = serveLog(owner, port1, logger);
  const log = new ThreadLog(port2, { logger, kind: owner.kind });
  const close = log.close.bind(log);
  log.close = async () => {
    await close();
    await served.close();
    await owner.close();
  };
  return log;
});
