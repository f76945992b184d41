/**
 * One `shadow` process on Kafka for the multi-process test (`node --import tsx shadow-member.ts
 * '<json>'`), so that the test can SIGKILL it. argv: `{"brokers":[...]}`. It writes `ready` on
 * stdout once it answers requests, and never exits on its own.
 */
import { silentLogger } from '../../core/index.js';
import { KafkaLog } from '../../core/log/kafka/kafka-log.js';
import { createShadowService } from '../service.js';

const { brokers } = JSON.parse(process.argv[process.argv.length - 1]!) as { brokers: string[] };
const log = new KafkaLog({ brokers, logger: silentLogger(), sessionTimeoutMs: 4_000, heartbeatIntervalMs: 400, maxWaitTimeMs: 100, retryPauseMs: 200 });
await createShadowService({ log, logger: silentLogger() }).start();
process.stdout.write('ready\n');
