import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import {
  EmbeddedLog,
  HANDLED_HEADER,
  TOPICS,
  createEnvelope,
  decodeEnvelope,
  decodeFrame,
  encodeEnvelope,
  envelopeKey,
  envelopeRecord,
  partitionForKey,
  readRange,
  silentLogger,
  topicSpec,
  type Envelope,
  type Log,
} from '../core/index.js';
import { waitUntil } from '../core/testing/run-log-suite.js';
import { historyCodec } from './history.js';
import { createShadowService, shadowKey, type ShadowService, type Shadows } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function openLog(dir?: string): Promise<{ log: EmbeddedLog; dir: string }> {
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'kiot-shadow-')));
  if (!dir) cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  return { log, dir: dataDir };
}

async function startService(log: Log): Promise<{ service: ShadowService; shadows: Shadows }> {
  const service = createShadowService({ log, logger: silentLogger() });
  const shadows = await service.start();
  return { service, shadows };
}

/** Every message on iot.ingress, as the gateway and rules see them. */
function watchIngress(log: Log): { messages: Envelope[]; on(topic: string): unknown[]; stop(): Promise<void> } {
  const messages: Envelope[] = [];
  const consumer = log.consumer({
    groupId: `watch-${Math.random()}`,
    topics: [TOPICS.ingress],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      for (const r of batch.records) if (r.value) messages.push(decodeEnvelope(r.value));
    },
  });
  void consumer.start();
  return { messages, stop: () => consumer.stop(), on: (topic) => messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload.toString('utf8'))) };
}

async function publish(log: Log, topic: string, body: unknown): Promise<void> {
  const e = createEnvelope({ topic, payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), qos: 1, clientId: 'device-1' });
  await log.append(TOPICS.ingress, [{ key: envelopeKey(e), value: encodeEnvelope(e) }]);
}

test('MQTT: update, get and delete are answered on their topics, in order, with delta and documents', async () => {
  const { log } = await openLog();
  const { service } = await startService(log);
  cleanups.push(async () => {
    await service.stop();
    await log.close();
  });
  const ingress = watchIngress(log);
  cleanups.push(() => ingress.stop());
  const prefix = '$aws/things/lamp-1/shadow';
  await publish(log, `${prefix}/update`, { state: { desired: { on: true, level: 3 } }, clientToken: 't1' });
  await publish(log, `${prefix}/update`, { state: { reported: { on: false, level: 3 } }, clientToken: 't2' });
  await waitUntil(() => ingress.on(`${prefix}/update/accepted`).length === 2, 'two updates accepted', 10_000);
  const [first, second] = ingress.on(`${prefix}/update/accepted`) as { version: number; clientToken: string }[];
  expect([first!.version, second!.version]).toEqual([1, 2]);
  expect([first!.clientToken, second!.clientToken]).toEqual(['t1', 't2']);
  // The delta after the second update holds only what still differs.
  await waitUntil(() => ingress.on(`${prefix}/update/delta`).length === 2, 'two deltas', 10_000);
  expect(ingress.on(`${prefix}/update/delta`).at(-1)).toMatchObject({ state: { on: true }, version: 2 });
  expect((ingress.on(`${prefix}/update/delta`).at(-1) as { state: object }).state).not.toHaveProperty('level');
  expect(ingress.on(`${prefix}/update/documents`).at(-1)).toMatchObject({ previous: { version: 1 }, current: { version: 2, state: { desired: { on: true }, reported: { on: false } } } });

  await publish(log, `${prefix}/update`, { state: { desired: { on: false } }, version: 1, clientToken: 'stale' });
  await waitUntil(() => ingress.on(`${prefix}/update/rejected`).length === 1, 'a stale version rejected', 10_000);
  expect(ingress.on(`${prefix}/update/rejected`)[0]).toMatchObject({ code: 409, clientToken: 'stale' });

  await publish(log, `${prefix}/update`, '{not json');
  await waitUntil(() => ingress.on(`${prefix}/update/rejected`).length === 2, 'malformed JSON rejected', 10_000);
  expect(ingress.on(`${prefix}/update/rejected`)[1]).toMatchObject({ code: 400 });

  await publish(log, `${prefix}/get`, { clientToken: 'g' });
  await waitUntil(() => ingress.on(`${prefix}/get/accepted`).length === 1, 'get answered', 10_000);
  expect(ingress.on(`${prefix}/get/accepted`)[0]).toMatchObject({ state: { desired: { on: true }, reported: { on: false }, delta: { on: true } }, version: 2, clientToken: 'g' });

  await publish(log, `${prefix}/delete`, {});
  await publish(log, `${prefix}/get`, {});
  await waitUntil(() => ingress.on(`${prefix}/get/rejected`).length === 1, 'get of a deleted shadow rejected', 10_000);
  expect(ingress.on(`${prefix}/delete/accepted`)[0]).toMatchObject({ version: 2 });
  expect(ingress.on(`${prefix}/get/rejected`)[0]).toMatchObject({ code: 404 });
});

test('a request taken as it is written is appended by its owner with its answer, marked as handled, and answered once; refused input and shadows owned elsewhere are left to the log', async () => {
  const { log } = await openLog();
  const a = await startService(log);
  cleanups.push(async () => {
    await a.service.stop();
    await log.close();
  });
  const prefix = '$aws/things/lamp-1/shadow';
  const request = (topic: string, body: unknown) => {
    const envelope = createEnvelope({ topic, payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), qos: 1, clientId: 'lamp-1' });
    return { envelope, record: envelopeRecord(envelope) };
  };
  const taken = request(`${prefix}/update`, { state: { reported: { on: true } }, clientToken: 'taken' });
  await a.shadows.take(taken.envelope, taken.record);
  // Appended by the service: the request first, marked, then its answer, in one partition.
  const records = (await readRange(log, { topic: TOPICS.ingress })).filter((r) => decodeEnvelope(r.value!).topic.startsWith(prefix));
  expect(records.map((r) => decodeEnvelope(r.value!).topic)).toEqual([`${prefix}/update`, `${prefix}/update/accepted`, `${prefix}/update/documents`]);
  expect(records[0]!.headers[HANDLED_HEADER]?.toString()).toBe('kiot-shadow');
  expect(decodeEnvelope(records[0]!.value!).messageId).toBe(taken.envelope.messageId);
  expect(records[1]!.offset).toBe(records[0]!.offset + 1);
  expect(a.shadows.read({ thingName: 'lamp-1' })?.version).toBe(1);

  // The consumer skips it: a request through the log after it is version 2, and the only other answer.
  const ingress = watchIngress(log);
  cleanups.push(() => ingress.stop());
  await publish(log, `${prefix}/update`, { state: { reported: { on: false } }, clientToken: 'logged' });
  await waitUntil(() => ingress.on(`${prefix}/update/accepted`).length === 2, 'the logged request answered', 10_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(ingress.on(`${prefix}/update/accepted`).map((b) => (b as { clientToken: string; version: number }).clientToken + (b as { version: number }).version)).toEqual(['taken1', 'logged2']);

  // What the command would not run is not taken: the consumer answers it (rejected) from the log.
  const bad = request(`${prefix}/update`, '{not json');
  expect(a.shadows.take(bad.envelope, bad.record)).toBeUndefined();
  const badName = request('$aws/things/bad name/shadow/update', {});
  expect(a.shadows.take(badName.envelope, badName.record)).toBeUndefined();
  const other = request('plant/1', {});
  expect(a.shadows.take(other.envelope, other.record)).toBeUndefined();

  // With a second service on the log, each takes the requests on the shadows it owns and leaves the others.
  const b = await startService(log);
  cleanups.push(() => b.service.stop());
  await waitUntil(
    () => {
      const owners = Array.from({ length: 16 }, (_, i) => {
        const get = request(`$aws/things/lamp-${i}/shadow/get`, { clientToken: `g${i}` });
        return [a.shadows.take(get.envelope, get.record) !== undefined, b.shadows.take(get.envelope, get.record) !== undefined];
      });
      return owners.every(([x, y]) => x !== y) && owners.some(([x]) => x) && owners.some(([, y]) => y);
    },
    'the shadows shared between two owners, each request taken by one',
    10_000,
  );
  // Once stopping, a service takes nothing.
  await b.service.stop();
  const late = request(`$aws/things/lamp-2/shadow/get`, {});
  expect(b.shadows.take(late.envelope, late.record)).toBeUndefined();
});

test('HTTP requests share the one writer with MQTT; named shadows are listed; a delete is a tombstone; state and history survive a restart', async () => {
  const opened = await openLog();
  let { service, shadows } = await startService(opened.log);
  const ingress = watchIngress(opened.log);
  const named = { thingName: 'pump-7', shadowName: 'firmware' };
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => shadows.request(named, 'update', JSON.stringify({ state: { reported: { [`k${i}`]: i } } }))));
  expect(results.every((r) => r.ok)).toBe(true);
  const versions = results.map((r) => (r.ok ? (r.body as { version: number }).version : 0)).sort((a, b) => a - b);
  expect(versions).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  // An HTTP update is published like an MQTT one (devices and rules follow /update/accepted).
  await waitUntil(() => ingress.on('$aws/things/pump-7/shadow/name/firmware/update/accepted').length === 20, 'accepted published', 10_000);
  await shadows.request({ thingName: 'pump-7', shadowName: 'config' }, 'update', '{"state":{"desired":{"x":1}}}');
  await shadows.request({ thingName: 'pump-7' }, 'update', '{"state":{"desired":{"x":1}}}');
  expect(shadows.namedShadows('pump-7')).toEqual(['config', 'firmware']);
  const missing = await shadows.request({ thingName: 'pump-7', shadowName: 'nope' }, 'get', '');
  expect(missing).toMatchObject({ ok: false, error: { code: 404 } });

  // A delete is a tombstone on the compacted topic (compaction drops the shadow), and a version in the history.
  await shadows.request({ thingName: 'pump-7', shadowName: 'config' }, 'delete', '');
  const records: { key: string; value: Buffer | null }[] = [];
  const reader = opened.log.consumer({
    groupId: 'shadow-records',
    topics: [TOPICS.shadows],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      for (const r of batch.records) records.push({ key: r.key!.toString(), value: r.value });
    },
  });
  await reader.start();
  await waitUntil(() => records.some((r) => r.key === shadowKey({ thingName: 'pump-7', shadowName: 'config' }) && r.value === null), 'a tombstone for the deleted shadow', 10_000);
  await reader.stop();

  await ingress.stop();
  await service.stop();
  await opened.log.close();
  const reopened = await openLog(opened.dir);
  ({ service, shadows } = await startService(reopened.log));
  cleanups.push(async () => {
    await service.stop();
    await reopened.log.close();
  });
  const got = await shadows.request(named, 'get', '');
  expect(got).toMatchObject({ ok: true, body: { version: 20, state: { reported: { k0: 0, k19: 19 } } } });
  expect(shadows.namedShadows('pump-7')).toEqual(['firmware']);
  expect(await shadows.request({ thingName: 'pump-7', shadowName: 'config' }, 'get', '')).toMatchObject({ ok: false, error: { code: 404 } });
  // The history is kept across the restart too, the delete included.
  expect((await shadows.history({ thingName: 'pump-7', shadowName: 'config' })).map((e) => [e.version, e.deleted ?? false])).toEqual([[1, false], [1, true]]);
  expect(await shadows.history(named)).toHaveLength(20);
});

test('history records are framed like other state records and read from the partition the log put them in, whatever its partition count', async () => {
  const { log } = await openLog();
  const id = { thingName: 'boiler-1' };
  const key = shadowKey(id);
  // A history topic with fewer partitions than the catalogue's 4 (a cluster where it already
  // existed), for a shadow whose partition differs between the two counts.
  expect(partitionForKey(Buffer.from(key), 3)).not.toBe(partitionForKey(Buffer.from(key), 4));
  await log.ensureTopic({ ...topicSpec(TOPICS.shadowHistory), partitions: 3 });
  // A version written before history records had a frame: plain JSON.
  const legacy = { version: 1, timestamp: 1_700_000_000, deleted: true };
  await log.append(TOPICS.shadowHistory, [{ key, value: Buffer.from(JSON.stringify(legacy)) }]);
  const { service, shadows } = await startService(log);
  cleanups.push(async () => {
    await service.stop();
    await log.close();
  });
  expect(await shadows.request(id, 'update', JSON.stringify({ state: { reported: { t: 60 } } }))).toMatchObject({ ok: true });
  expect(await shadows.request(id, 'update', JSON.stringify({ state: { reported: { t: 61 } } }))).toMatchObject({ ok: true });

  expect((await shadows.history(id)).map((e) => [e.version, e.deleted ?? false])).toEqual([[1, true], [1, false], [2, false]]);
  const records = await readRange(log, { topic: TOPICS.shadowHistory });
  const framed = records.slice(1).map((r) => decodeFrame(historyCodec, r.value!, key));
  expect(records.slice(1).map((r) => r.value![0])).toEqual([0xc5, 0xc5]);
  expect(framed.map((f) => f.revision)).toEqual([1, 2]);
});
