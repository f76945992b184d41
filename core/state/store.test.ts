import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { EmbeddedLog } from '../log/embedded/embedded-log.js';
import { KafkaLog } from '../log/kafka/kafka-log.js';
import { silentLogger } from '../logger.js';
import { startKafkaMock, type KafkaMock } from '../testing/kafka-mock.js';
import { runStateStoreSuite } from '../testing/run-state-store-suite.js';

let dir: string;
let mock: KafkaMock;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-state-'));
  mock = await startKafkaMock();
});
afterAll(async () => {
  await mock?.stop();
  await rm(dir, { recursive: true, force: true });
});

// Both "processes" of a test share one embedded log, as two stores in one kiot would.
let shared: { log: EmbeddedLog; users: number } | undefined;
runStateStoreSuite('EmbeddedLog', async () => {
  if (!shared) shared = { log: await EmbeddedLog.open({ dataDir: join(dir, `log-${Date.now()}`), logger: silentLogger() }), users: 0 };
  const entry = shared;
  entry.users++;
  return new Proxy(entry.log, {
    get(target, prop, receiver) {
      if (prop === 'close') {
        return async () => {
          if (--entry.users === 0) {
            if (shared === entry) shared = undefined;
            await target.close();
          }
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
});

runStateStoreSuite('KafkaLog', async () =>
  new KafkaLog({ sessionTimeoutMs: 4_000, heartbeatIntervalMs: 400, maxWaitTimeMs: 250, retryPauseMs: 200, brokers: mock.brokers, logger: silentLogger() }),
);
