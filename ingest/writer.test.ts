/** The ingest writer: one append per turn, key and headers, topic validation, retained messages. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { EmbeddedLog, PlatformError, TOPICS, topicSpec, createEnvelope, decodeEnvelope, encodeEnvelope, silentLogger, type AppendRecord, type Envelope, type Log, type MessageTaker } from '../core/index.js';
import { RetainedStore } from './retained-store.js';
import { ORIGIN_HEADER } from '../core/index.js';
import { createIngestWriter } from './writer.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function openLog(): Promise<EmbeddedLog> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiot-writer-'));
  const log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  cleanups.push(async () => {
    await log.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await log.ensureTopic(topicSpec(TOPICS.ingress));
  return log;
}

/** The log, counting the appends to iot.ingress. */
function counting(log: Log): { log: Log; appends: AppendRecord[][] } {
  const appends: AppendRecord[][] = [];
  const wrapped = Object.create(log) as Log;
  wrapped.append = (topic, records) => {
    if (topic === TOPICS.ingress) appends.push([...records]);
    return log.append(topic, records);
  };
  return { log: wrapped, appends };
}

test('the writes of one turn go out in one append, keyed and with headers', async () => {
  const { log, appends } = counting(await openLog());
  const writer = createIngestWriter({ log, logger: silentLogger(), origin: 'gw-1' });
  const thing = createEnvelope({ topic: '$aws/things/pump-1/shadow/update', payload: Buffer.from('{}'), clientId: 'c-1' });
  const device = createEnvelope({ topic: 'plant/1', payload: Buffer.from('x'), clientId: 'c-2', userProperties: [{ name: 'site', value: 'berlin' }] });
  await Promise.all([writer.write(thing), writer.write(device)]);
  expect(appends).toHaveLength(1);
  const [first, second] = appends[0]!;
  expect(first!.key).toBe('pump-1'); // DESIGN.md "Envelope": thing name for $aws/things/<thing>/...
  expect(second!.key).toBe('c-2');
  expect(second!.headers).toMatchObject({ site: 'berlin', [ORIGIN_HEADER]: 'gw-1' });
  expect(decodeEnvelope(second!.value as Buffer).topic).toBe('plant/1');
  expect(writer.pending).toBe(0);
});

test('a topic that is not a topic name is refused at once and nothing is appended', async () => {
  const { log, appends } = counting(await openLog());
  const writer = createIngestWriter({ log, logger: silentLogger() });
  for (const topic of ['a/+', 'a/#', '', 'a\u0000b']) {
    expect(() => writer.write(createEnvelope({ topic, payload: Buffer.from('x') }))).toThrow(
      expect.objectContaining({ code: 'INPUT_INVALID' }) as unknown as PlatformError,
    );
  }
  await writer.write(createEnvelope({ topic: 'ok', payload: Buffer.from('x') }));
  expect(appends.flat()).toHaveLength(1);
});

test('a retained message is kept after its append, and an empty one clears the topic', async () => {
  const log = await openLog();
  const retained = await RetainedStore.open({ log, logger: silentLogger() });
  cleanups.push(() => retained.close());
  const writer = createIngestWriter({ log, logger: silentLogger(), retained });
  await writer.write(createEnvelope({ topic: 'r/1', payload: Buffer.from('on'), retain: true }));
  await writer.write(createEnvelope({ topic: 'r/2', payload: Buffer.from('kept'), retain: true }));
  expect(retained.matching('r/#', Date.now()).map((e) => e.payload.toString()).sort()).toEqual(['kept', 'on']);
  await writer.write(createEnvelope({ topic: 'r/1', payload: Buffer.alloc(0), retain: true }));
  expect(retained.matching('r/#', Date.now()).map((e) => e.topic)).toEqual(['r/2']);
  // Without a retained store (the bridge), the flag is only recorded on the envelope.
  const bare = createIngestWriter({ log, logger: silentLogger() });
  await bare.write(createEnvelope({ topic: 'r/3', payload: Buffer.from('x'), retain: true }));
  expect(retained.matching('r/3', Date.now())).toEqual([]);
});

test('retained messages written before state frames (bare envelopes) still load', async () => {
  const log = await openLog();
  const table = await log.openTable(TOPICS.retained);
  const legacy = createEnvelope({ topic: 'old/1', payload: Buffer.from('from before'), retain: true, qos: 1 });
  await table.set('old/1', encodeEnvelope(legacy));
  await table.close();
  const retained = await RetainedStore.open({ log, logger: silentLogger() });
  cleanups.push(() => retained.close());
  const [loaded] = retained.matching('old/#', Date.now());
  expect(loaded?.payload.toString()).toBe('from before');
  expect(loaded?.messageId).toBe(legacy.messageId);
});

test('a message a taker takes is appended by it, not here; one it leaves, or fails to append, is appended here', async () => {
  const { log, appends } = counting(await openLog());
  const taken: { topic: string; record: AppendRecord }[] = [];
  // Takes `mine/...`: appends it itself (with a header of its own); fails on `mine/fail`.
  const taker: MessageTaker = {
    take(envelope: Envelope, record: AppendRecord) {
      if (!envelope.topic.startsWith('mine/')) return undefined;
      taken.push({ topic: envelope.topic, record });
      if (envelope.topic === 'mine/fail') return Promise.reject(new Error('partition moved'));
      return log.append(TOPICS.ingress, [{ ...record, headers: { ...record.headers, taker: 'yes' } }]).then(() => undefined);
    },
  };
  const writer = createIngestWriter({ log, logger: silentLogger(), origin: 'gw-1', takers: [taker] });
  const settled: string[] = [];
  const listener = (topic: string) => ({ written: (err?: unknown) => settled.push(`${topic}${err ? ' failed' : ''}`) });
  for (const topic of ['mine/1', 'theirs/1', 'mine/fail']) writer.writeTo(createEnvelope({ topic, payload: Buffer.from(topic) }), listener(topic));
  await writer.write(createEnvelope({ topic: 'mine/2', payload: Buffer.from('will') }));
  await expect.poll(() => settled.sort()).toEqual(['mine/1', 'mine/fail', 'theirs/1']);
  expect(taken.map((t) => t.topic)).toEqual(['mine/1', 'mine/fail', 'mine/2']);
  // The taker got the record as the writer makes it (origin header), and appended mine/1 and mine/2 itself.
  expect(taken[0]!.record.headers).toMatchObject({ [ORIGIN_HEADER]: 'gw-1' });
  const byTopic = new Map(appends.flat().map((r) => [decodeEnvelope(r.value as Buffer).topic, r]));
  expect([...byTopic.keys()].sort()).toEqual(['mine/1', 'mine/2', 'mine/fail', 'theirs/1']);
  expect(appends.flat()).toHaveLength(4); // each once
  expect(byTopic.get('mine/1')!.headers).toMatchObject({ taker: 'yes' });
  expect(byTopic.get('mine/fail')!.headers).not.toHaveProperty('taker');
  expect(byTopic.get('theirs/1')!.headers).not.toHaveProperty('taker');
  expect(writer.pending).toBe(0);
});
