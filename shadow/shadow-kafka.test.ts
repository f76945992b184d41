/**
 * One writer per shadow across processes (issue 13, item 4): two shadow processes on the Kafka
 * mock, updaters sending to both, one process SIGKILLed mid-stream. Versions of each shadow stay
 * strictly increasing in what the service publishes, no version is published twice, and every
 * accepted update is in the final document. A delete and a restart keep what they should.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { TOPICS, createEnvelope, decodeEnvelope, encodeEnvelope, envelopeKey, silentLogger, type Consumer } from '../core/index.js';
import { KafkaLog } from '../core/log/kafka/kafka-log.js';
import { TSX_LOADER } from '../core/testing/child-process.js';
import { startKafkaMock, type KafkaMock } from '../core/testing/kafka-mock.js';
import { waitUntil } from '../core/testing/run-log-suite.js';
import { createShadowService, type Shadows } from './index.js';

const MEMBER = fileURLToPath(new URL('./testing/shadow-member.ts', import.meta.url));
const settings = { sessionTimeoutMs: 4_000, heartbeatIntervalMs: 400, maxWaitTimeMs: 100, retryPauseMs: 200 };

let mock: KafkaMock;
const children: ChildProcess[] = [];
beforeAll(async () => {
  mock = await startKafkaMock();
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await mock?.stop();
});

function startMember(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, MEMBER, JSON.stringify({ brokers: mock.brokers })], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => line === 'ready' && resolve(child));
    child.once('exit', (code) => reject(new Error(`shadow member exited with ${code}: ${stderr}`)));
  });
}

test('two shadow processes, concurrent updaters, one SIGKILLed mid-stream: versions increase, none twice, no accepted update lost', async () => {
  const log = new KafkaLog({ ...settings, brokers: mock.brokers, logger: silentLogger() });
  await log.ensureTopic({ name: TOPICS.ingress, partitions: 4 });
  const victim = await startMember();
  await startMember();

  // Everything the shadow service publishes, in log order.
  const rejected: string[] = [];
  const accepted = new Map<string, { version: number; token: string }[]>();
  const watcher: Consumer = log.consumer({
    groupId: 'shadow-kafka-watch',
    topics: [TOPICS.ingress],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      for (const r of batch.records) {
        const e = decodeEnvelope(r.value!);
        if (e.topic.endsWith('/rejected')) rejected.push(e.payload.toString());
        const m = /^\$aws\/things\/([^/]+)\/shadow\/update\/accepted$/.exec(e.topic);
        if (!m) continue;
        const body = JSON.parse(e.payload.toString()) as { version: number; clientToken: string };
        accepted.set(m[1]!, [...(accepted.get(m[1]!) ?? []), { version: body.version, token: body.clientToken }]);
      }
    },
  });
  await watcher.start();

  const things = Array.from({ length: 8 }, (_, i) => `machine-${i}`);
  const perThing = 40;
  const send = async (thing: string, i: number) => {
    const e = createEnvelope({ topic: `$aws/things/${thing}/shadow/update`, payload: Buffer.from(JSON.stringify({ state: { reported: { [`k${i}`]: i } }, clientToken: `${thing}-${i}` })), qos: 1, clientId: thing });
    await log.append(TOPICS.ingress, [{ key: envelopeKey(e), value: encodeEnvelope(e) }]);
  };
  // Four updaters, each sending to every thing, one message at a time, with the kill in the middle.
  let sent = 0;
  const updaters = Array.from({ length: 4 }, async (_, u) => {
    for (let i = u; i < perThing; i += 4) {
      for (const thing of things) await send(thing, i);
      sent += things.length;
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  await waitUntil(() => sent >= (things.length * perThing) / 3, 'a third of the updates sent', 30_000);
  victim.kill('SIGKILL');
  await Promise.all(updaters);

  const tokens = (thing: string) => new Set((accepted.get(thing) ?? []).map((a) => a.token));
  await waitUntil(() => things.every((t) => tokens(t).size === perThing), 'every update accepted', 60_000).catch((err: unknown) => {
    throw new Error(`${String(err)}: accepted ${things.map((t) => tokens(t).size).join(',')}; rejected ${rejected.slice(0, 3).join(' | ')}`);
  });

  // An in-process member answers a get through the owner: the final documents.
  const reader = new KafkaLog({ ...settings, brokers: mock.brokers, logger: silentLogger() });
  const service = createShadowService({ log: reader, logger: silentLogger() });
  const shadows: Shadows = await service.start();
  try {
    const current = async (thing: string) => {
      const got = await shadows.request({ thingName: thing }, 'get', '');
      expect(got.ok).toBe(true);
      return (got as { body: { version: number; state: { reported: Record<string, number> } } }).body;
    };
    for (const thing of things) {
      // A request delivered again after a rebalance is applied again, with a new version, and may
      // still be on its way: the document and the last accepted update agree once it has landed.
      const deadline = Date.now() + 15_000;
      let doc = await current(thing);
      while (accepted.get(thing)!.at(-1)!.version !== doc.version) {
        if (Date.now() > deadline) throw new Error(`${thing}: the document is at version ${doc.version}, the last accepted update at ${accepted.get(thing)!.at(-1)!.version}`);
        await new Promise((r) => setTimeout(r, 100));
        doc = await current(thing);
      }
      // Every accepted update is in the document.
      for (let i = 0; i < perThing; i++) expect(doc.state.reported[`k${i}`]).toBe(i);
      const versions = accepted.get(thing)!.map((a) => a.version);
      // Strictly increasing in log order, so no version was published twice.
      for (let i = 1; i < versions.length; i++) expect(versions[i]!).toBeGreaterThan(versions[i - 1]!);
    }
    // A delete, then a restart of the reading process: the table on Kafka holds both outcomes.
    expect(await shadows.request({ thingName: things[0]! }, 'delete', '')).toMatchObject({ ok: true });
    await service.stop();
    const again = createShadowService({ log: reader, logger: silentLogger() });
    const restarted = await again.start();
    try {
      expect(await restarted.request({ thingName: things[0]! }, 'get', '')).toMatchObject({ ok: false, error: { code: 404 } });
      expect(await restarted.request({ thingName: things[1]! }, 'get', '')).toMatchObject({ ok: true, body: { state: { reported: { k0: 0, k39: 39 } } } });
    } finally {
      await again.stop();
    }
  } finally {
    await service.stop();
    await watcher.stop();
    await reader.close();
    await log.close();
  }
}, 180_000);
