import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetThingShadowCommand, IoTDataPlaneClient, UpdateThingShadowCommand } from '@aws-sdk/client-iot-data-plane';
import mqtt from 'mqtt';
import { expect, test, vi } from 'vitest';
import { CORE_TOPICS, EmbeddedLog, TOPICS, createEnvelope, decodeEnvelope, envelopeRecord, loadConfig, silentLogger } from '../core/index.js';
import { register as registerRulesList } from './commands/rules-list.js';
import { runCommand, startTestPlatform } from './testing.js';
import { startServiceThreads } from './threads.js';

test('--threads 2: a rules worker thread shares the rules group over the main thread’s log; every message is handled once, counted in /metrics and `kiot rules list`', async () => {
  const kiot = await startTestPlatform({ 'echo.sql': "CREATE RULE echo AS SELECT n FROM 'in/+' WHERE n >= 0 DO republish(topic = 'out/${topic(2)}', qos = 1);\n" }, { threads: '2' });
  try {
    const url = `mqtt://127.0.0.1:${kiot.platform.listeners.get('mqtt')}`;
    const sub = await mqtt.connectAsync(url, { clientId: 'sub', reconnectPeriod: 0 });
    const seen = new Set<string>();
    let duplicates = 0;
    const all = new Promise<void>((resolve) =>
      sub.on('message', (topic, payload) => {
        const key = `${topic} ${payload.toString()}`;
        if (seen.has(key)) duplicates++;
        seen.add(key);
        if (seen.size === 400) resolve();
      }),
    );
    await sub.subscribeAsync('out/+', { qos: 1 });
    // Eight devices, so that their messages spread over the ingress partitions of both members.
    const devices = await Promise.all(Array.from({ length: 8 }, (_, d) => mqtt.connectAsync(url, { clientId: `device-${d}`, reconnectPeriod: 0 })));
    await Promise.all(devices.map((device, d) => Promise.all(Array.from({ length: 50 }, (_, i) => device.publishAsync(`in/d${d}`, JSON.stringify({ n: i }), { qos: 1 })))));
    await all;
    expect(seen.size).toBe(400);
    expect(duplicates).toBe(0);

    // /metrics and the listing sum the threads' counters.
    const metrics = await (await fetch(`${kiot.http()}/metrics`)).text();
    expect(metrics).toMatch(/^kiot_rule_matched_total\{rule="echo"\} 400$/m);
    const listing = await runCommand(registerRulesList, 'rules', kiot, ['list', '--json']);
    expect(JSON.parse(listing.stdout).rules[0].counters.matched).toBe(400);
    await Promise.all([sub, ...devices].map((c) => c.endAsync()));
  } finally {
    await kiot.stop();
  }
}, 60_000);

test('--threads 2: the shadows are answered beside the gateway on the main thread, over MQTT and HTTP; a rule on the worker thread reads them with get_thing_shadow', async () => {
  const lookup = "CREATE RULE lookup AS SELECT get_thing_shadow(topic(2), 'arn:aws:iam::000000000000:role/rules').state.desired.on AS on FROM 'ask/+' DO republish(topic = 'answer/${topic(2)}', qos = 1);\n";
  const kiot = await startTestPlatform({ 'lookup.sql': lookup }, { threads: '2' });
  try {
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${kiot.platform.listeners.get('mqtt')}`, { clientId: 'lamp-1', reconnectPeriod: 0 });
    const replies: { topic: string; body: { version?: number; state?: unknown; on?: unknown } }[] = [];
    device.on('message', (topic, payload) => replies.push({ topic, body: JSON.parse(payload.toString()) }));
    await device.subscribeAsync(['$aws/things/lamp-1/shadow/#', 'answer/+'], { qos: 1 });
    await device.publishAsync('$aws/things/lamp-1/shadow/update', JSON.stringify({ state: { reported: { on: false } }, clientToken: 't1' }), { qos: 1 });
    await vi.waitFor(() => expect(replies.find((r) => r.topic.endsWith('/update/accepted'))?.body).toMatchObject({ version: 1, state: { reported: { on: false } } }), { timeout: 10_000 });
    // Until a rule calls get_thing_shadow, the worker thread follows no shadow writes: the shadow service's table is the only reader of iot.shadows.
    const shadowReaders = () => new Set(kiot.platform.log.stats().lag.filter((l) => l.topic === 'iot.shadows').map((l) => l.groupId)).size;
    expect(shadowReaders()).toBe(1);

    const data = kiot.client(IoTDataPlaneClient);
    const updated = await data.send(new UpdateThingShadowCommand({ thingName: 'lamp-1', payload: Buffer.from(JSON.stringify({ state: { desired: { on: true } } })) }));
    expect(JSON.parse(Buffer.from(updated.payload!).toString())).toMatchObject({ version: 2, state: { desired: { on: true } } });
    const got = await data.send(new GetThingShadowCommand({ thingName: 'lamp-1' }));
    expect(JSON.parse(Buffer.from(got.payload!).toString())).toMatchObject({ version: 2, state: { desired: { on: true }, reported: { on: false }, delta: { on: true } } });
    // The device hears the delta the HTTP update caused.
    await vi.waitFor(() => expect(replies.find((r) => r.topic.endsWith('/update/delta'))?.body).toMatchObject({ version: 2, state: { on: true } }), { timeout: 10_000 });
    // The rules run on the worker thread, whose own view of the shadows follows the log: asked until it has version 2.
    await vi.waitFor(
      async () => {
        await device.publishAsync('ask/lamp-1', '{}', { qos: 1 });
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(replies.filter((r) => r.topic === 'answer/lamp-1').at(-1)?.body).toEqual({ on: true });
      },
      { timeout: 10_000, interval: 50 },
    );
    // The first call opened the worker thread's own view.
    expect(shadowReaders()).toBe(2);
    await device.endAsync();
  } finally {
    await kiot.stop();
  }
}, 60_000);

test('a service thread alone (no member on the main thread) runs the rules on the main thread’s log, and leaves its group on stop', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-threads-'));
  await mkdir(join(dir, 'rules'));
  await writeFile(join(dir, 'rules', 'echo.sql'), "CREATE RULE echo AS SELECT n FROM 'in/+' DO republish(topic = 'out/${topic(2)}', qos = 1);\n");
  const config = loadConfig({ flags: { dataDir: join(dir, 'data'), rulesDir: join(dir, 'rules'), threads: '2', logLevel: 'silent' }, env: {} });
  const logger = silentLogger();
  const log = await EmbeddedLog.open({ dataDir: config.dataDir, logger });
  try {
    for (const topic of CORE_TOPICS) await log.ensureTopic(topic);
    const threads = await startServiceThreads(config, log, logger);
    try {
      const out: string[] = [];
      const consumer = log.consumer({
        groupId: 'test-reader',
        topics: [TOPICS.egress],
        startFrom: 'earliest',
        eachBatch: async (batch) => {
          for (const r of batch.records) {
            const envelope = decodeEnvelope(r.value!);
            if (envelope.topic.startsWith('out/')) out.push(`${envelope.topic} ${Buffer.from(envelope.payload).toString()}`);
          }
        },
      });
      await consumer.start();
      await log.append(
        TOPICS.ingress,
        Array.from({ length: 100 }, (_, i) => envelopeRecord(createEnvelope({ topic: `in/d${i % 5}`, payload: Buffer.from(JSON.stringify({ n: i })), qos: 1 }))),
      );
      await vi.waitFor(() => expect(out).toHaveLength(100), { timeout: 20_000 });
      expect(out).toContain('out/d3 {"n":8}');
      const [listing] = await threads.listings();
      expect(listing!.rules[0]!.counters.matched).toBe(100);
      await consumer.stop();
    } finally {
      await threads.stop();
    }
    // The thread left the group: its partitions are free (a new member takes all four).
    expect((await threads.listings()).length).toBe(0);
  } finally {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
