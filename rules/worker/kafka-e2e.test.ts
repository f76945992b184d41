import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { EmbeddedLog, KafkaLog, loadConfig, silentLogger, TOPICS } from '../../core/index.js';
import { startKafkaMock, type KafkaMock } from '../../core/testing/kafka-mock.js';
import { createRulesService } from './index.js';
import { envelopesOf, publish, readN } from './test-helpers.js';

// Each fresh consumer group on the mock takes ~3 s to join: these tests keep groups few.
let mock: KafkaMock;
let dir: string;
beforeAll(async () => {
  mock = await startKafkaMock();
  dir = await mkdtemp(join(tmpdir(), 'kiot-rules-kafka-'));
}, 60_000);
afterAll(async () => {
  await mock?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function rulesDir(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path, { recursive: true });
  await writeFile(join(path, 'r.sql'), text);
  return path;
}

test('on KafkaLog: iot.ingress -> rule -> republish to iot.egress', async () => {
  const log = new KafkaLog({ brokers: mock.brokers, logger: silentLogger(), clientId: 'rules-test' });
  const config = loadConfig({ flags: { rulesDir: await rulesDir('k1', `CREATE RULE hot AS SELECT temperature AS t FROM 'k/+/telemetry' WHERE temperature > 50 DO republish(topic = 'alerts/\${topic(2)}');`), kafka: mock.brokers.join(',') }, env: {} });
  const service = createRulesService(config.rules, { log, logger: silentLogger(), options: { useTable: false } });
  try {
    await service.start();
    await publish(log, [
      { topic: 'k/a/telemetry', clientId: 'a', payload: Buffer.from('{"temperature": 70}') },
      { topic: 'k/a/telemetry', clientId: 'a', payload: Buffer.from('{"temperature": 10}') },
      { topic: 'k/b/telemetry', clientId: 'b', payload: Buffer.from('{"temperature": 60}') },
    ]);
    const out = envelopesOf(await readN(log, TOPICS.egress, 2, 30_000));
    expect(out.map((e) => [e.topic, e.payload.toString()]).sort()).toEqual([
      ['alerts/a', '{"t":70}'],
      ['alerts/b', '{"t":60}'],
    ]);
  } finally {
    await service.stop();
    await log.close();
  }
}, 90_000);

test('on the embedded default: a kafka action with bootstrap.servers writes to that Kafka cluster', async () => {
  const log = await EmbeddedLog.open({ dataDir: join(dir, 'data'), logger: silentLogger() });
  const brokers = mock.brokers.join(',');
  const config = loadConfig({
    flags: { dataDir: join(dir, 'data'), rulesDir: await rulesDir('k2', `CREATE RULE out AS SELECT * FROM 'x/+' DO kafka(topic = 'ext-\${topic(2)}', key = '\${clientid()}', client_properties = {"bootstrap.servers": '${brokers}'});`) },
    env: {},
  });
  const service = createRulesService(config.rules, { log, logger: silentLogger(), options: { useTable: false } });
  const kafka = new KafkaLog({ brokers: mock.brokers, logger: silentLogger(), clientId: 'rules-test-reader' });
  try {
    await service.start();
    await publish(log, [{ topic: 'x/y', clientId: 'dev9', payload: Buffer.from('{"v":1}') }]);
    const [record] = await readN(kafka, 'ext-y', 1, 30_000);
    expect(record!.key!.toString()).toBe('dev9');
    expect(JSON.parse(record!.value!.toString())).toEqual({ v: 1 });
  } finally {
    await service.stop();
    await kafka.close();
    await log.close();
  }
}, 90_000);
