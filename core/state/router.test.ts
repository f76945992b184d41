import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { PlatformError } from '../errors.js';
import { EmbeddedLog } from '../log/embedded/embedded-log.js';
import { silentLogger } from '../logger.js';
import { waitUntil } from '../testing/run-log-suite.js';
import { requestsTopicFor } from '../topics.js';
import { OwnerRouter, STATE_REPLIES_TOPIC, ServedRequests, partitionMoved, type OwnerRouterOptions } from './router.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const topic = { name: 'router-test.state', partitions: 1, compacted: true };
const requestsTopic = requestsTopicFor(topic).name;

async function openLog(): Promise<EmbeddedLog> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-router-'));
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  cleanups.push(async () => {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });
  await log.ensureTopic(requestsTopicFor(topic));
  await log.ensureTopic(STATE_REPLIES_TOPIC);
  return log;
}

function router(log: EmbeddedLog, executed: string[] = [], run?: (command: string) => Promise<void>): OwnerRouter {
  const options: OwnerRouterOptions = {
    log,
    logger: silentLogger(),
    topic,
    partitions: 1,
    timeoutMs: 10_000,
    execute: async (command) => {
      executed.push(command);
      await run?.(command);
      return { result: 'done', written: [] };
    },
    catchUp: async () => {},
    ends: async () => [],
    served: new ServedRequests(),
  };
  const r = new OwnerRouter(options);
  cleanups.push(() => r.stop());
  return r;
}

/** Every record of `name` from its start, as key and parsed JSON value, collected as they arrive. */
function collect(log: EmbeddedLog, name: string): { key: string | undefined; value: any }[] {
  const seen: { key: string | undefined; value: any }[] = [];
  const consumer = log.consumer({
    groupId: `collect-${Math.random()}`,
    topics: [name],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      for (const r of batch.records) seen.push({ key: r.key?.toString('utf8'), value: JSON.parse(r.value!.toString('utf8')) });
    },
  });
  void consumer.start();
  cleanups.push(() => consumer.stop());
  return seen;
}

test('a malformed request is not run; its asker gets STATE_RECORD_INVALID naming the field, and one that is not JSON is skipped', async () => {
  const log = await openLog();
  const executed: string[] = [];
  await router(log, executed).start();
  await log.append(requestsTopic, [
    { key: 'k', value: 'not json', partition: 0 },
    { key: 'k', value: JSON.stringify({ id: 'r1', command: 'thing.create', input: {}, replyTo: 'asker-1', deadline: 'soon' }), partition: 0 },
    { key: 'k', value: JSON.stringify({ id: 'r2', command: 'thing.create', input: {}, replyTo: 'asker-1', deadline: Date.now() + 60_000 }), partition: 0 },
  ]);
  const answered = collect(log, STATE_REPLIES_TOPIC.name);
  await waitUntil(() => answered.length === 2, 'both JSON requests are answered', 10_000);
  expect(answered[0]).toMatchObject({ key: 'asker-1', value: { id: 'r1', ok: false, error: { code: 'STATE_RECORD_INVALID' } } });
  expect(answered[0]!.value.error.message).toMatch(/^state request: deadline: /);
  expect(answered[1]).toEqual({ key: 'asker-1', value: { id: 'r2', ok: true, result: 'done', written: [] } });
  expect(executed).toEqual(['thing.create']);
});

test('a malformed reply fails the ask it answers with STATE_RECORD_INVALID naming the field', async () => {
  const log = await openLog();
  // Not started: it owns no partition, so it asks; nobody answers but the test.
  const asking = router(log).route(0, 'k', 'thing.create', {});
  const requests = collect(log, requestsTopic);
  await waitUntil(() => requests.length === 1, 'the request is on its topic', 10_000);
  const request = requests[0]!.value as { id: string; replyTo: string };
  await log.append(STATE_REPLIES_TOPIC.name, [{ key: request.replyTo, value: JSON.stringify({ id: request.id, ok: true, result: 1, written: 'all of it' }) }]);
  const err = await asking.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PlatformError);
  expect(err).toMatchObject({ code: 'STATE_RECORD_INVALID' });
  expect((err as Error).message).toMatch(/^state reply: written: /);
});

test('a request that finds its partition moved is not answered, and the offset committed stops before it, for the new owner to run', async () => {
  const log = await openLog();
  const executed: string[] = [];
  // Here the partition "moves" under r2 every time it comes (the router reads it again while it still owns the partition).
  const first = router(log, executed, async (command) => {
    if (command !== 'move-me') return;
    await new Promise((resolve) => setTimeout(resolve, 20));
    throw partitionMoved(topic.name, 0);
  });
  await first.start();
  const request = (id: string, command: string) => ({ key: 'k', partition: 0, value: JSON.stringify({ id, command, input: {}, replyTo: 'asker-1', deadline: Date.now() + 60_000 }) });
  const answered = collect(log, STATE_REPLIES_TOPIC.name);
  await log.append(requestsTopic, [request('r1', 'first'), request('r2', 'move-me'), request('r3', 'third')]);
  await waitUntil(() => answered.length === 1 && executed.filter((c) => c === 'move-me').length >= 2, 'r1 is answered, and r2 read again', 10_000);
  await first.stop();
  expect(answered.map((a) => a.value.id)).toEqual(['r1']);
  expect(executed).not.toContain('third');
  const again: string[] = [];
  await router(log, again).start();
  await waitUntil(() => answered.length === 3, 'the next owner answers r2 and r3', 10_000);
  expect(again).toEqual(['move-me', 'third']);
  expect(answered.slice(1).map((a) => a.value.id)).toEqual(['r2', 'r3']);
});
