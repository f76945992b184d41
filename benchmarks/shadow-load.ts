/**
 * The processes of `npm run bench -- shadow` other than kiot's: `shadow.ts` forks this module
 * so that the load never shares a process (or its CPU accounting) with the gateway and the
 * shadow service it measures.
 *
 * - `load` (IPC): mqtt.js clients as devices. Each {@link LoadRequest} connects `clients`
 *   connections, subscribes each to the reply topics of its share of the things, keeps
 *   `window` requests in flight per client for a warm-up and a measured period, then waits
 *   for every outstanding reply and disconnects. A request is complete when its reply
 *   arrives, and only after the reply was checked:
 *   - shadow: QoS 1 `$aws/things/<thing>/shadow/update` with
 *     `{"state":{"reported":{"temp":..,"seq":..}},"clientToken":".."}`; the reply on
 *     `/update/accepted` must name a request of this client for that thing, echo its reported
 *     values, and carry the thing's next version (exactly the last one seen plus one, across
 *     runs); any `/update/rejected` fails the benchmark;
 *   - floor: the same bytes published at QoS 1 on `bench/<thing>/echo`, which the same client
 *     subscribes to; the message that comes back must be byte for byte the one sent.
 * - `memory`: 100,000 shadows made through the shadow service's own
 *   `request(id, 'update', payload)` on an EmbeddedLog in a temp dir, and the heap they hold.
 *
 * By hand: `node dist/benchmarks/shadow-load.js memory 100000` prints the memory
 * figures (add `--heap-prof` or `--cpu-prof` to see where they go).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { EmbeddedLog, silentLogger, sleep } from '../core/index.js';
import { createShadowService } from '../shadow/index.js';
import { replyToParent, runLoadProcess } from './child.js';
import { collectGarbage } from './gc.js';

export type LoadMode = 'floor' | 'shadow';

export interface LoadRequest {
  readonly type: 'run';
  readonly url: string;
  readonly mode: LoadMode;
  /** Things are `<prefix>-0` ... `<prefix>-<things - 1>`; thing i belongs to client i % clients. */
  readonly prefix: string;
  readonly things: number;
  readonly clients: number;
  /** Requests each client keeps waiting for their reply. */
  readonly window: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface LoadResult {
  readonly type: 'result';
  /** Round trips completed (and verified) in the measured period. */
  readonly completed: number;
  readonly seconds: number;
  /** Every reply checked in the run, warm-up and drain included. */
  readonly verified: number;
  /** Round-trip latency in the measured period, ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Connecting and subscribing. */
  readonly setupMs: number;
}

export interface MemoryProgress {
  readonly type: 'progress';
  readonly line: string;
}

export interface MemoryResult {
  readonly type: 'memory';
  readonly shadows: number;
  readonly bytesPerShadow: number;
  /** The stored document as GetThingShadow's JSON has it (state, metadata, version, timestamp). */
  readonly documentBytes: number;
  /** The `state` alone. */
  readonly stateBytes: number;
  readonly createdPerSec: number;
}

/** Sent when the measured period of a run starts and ends, so that kiot's process can read its own CPU time over it. */
export interface LoadPhase {
  readonly type: 'phase';
  readonly phase: 'start' | 'end';
}

export type LoadReply = LoadResult | LoadPhase | MemoryProgress | MemoryResult | { readonly type: 'error'; readonly message: string };

/** SUBSCRIBE packets carry at most this many filters (the gateway's limit, AWS IoT's 8). */
const FILTERS_PER_SUBSCRIBE = 8;
/** How long the outstanding replies may take to arrive once the load stops. */
const DRAIN_TIMEOUT_MS = 30_000;

/** The last version seen per shadow thing, across runs: each accepted update must be the next one. */
const lastVersion = new Map<string, number>();
let runNumber = 0;

interface Pending {
  readonly thing: string;
  readonly seq: number;
  readonly temp: number;
  readonly payload: string;
  readonly sentAt: number;
}

interface ShadowReply {
  readonly clientToken?: unknown;
  readonly version?: unknown;
  readonly state?: { readonly reported?: { readonly temp?: unknown; readonly seq?: unknown } };
  readonly code?: unknown;
  readonly message?: unknown;
}

async function runLoad(req: LoadRequest): Promise<LoadResult> {
  const run = ++runNumber;
  const setupStart = performance.now();
  const owned: string[][] = Array.from({ length: req.clients }, () => []);
  for (let i = 0; i < req.things; i++) owned[i % req.clients]!.push(`${req.prefix}-${i}`);

  const clients = await Promise.all(
    owned.map((_, c) => mqtt.connectAsync(req.url, { clientId: `bench-${req.mode}-${run}-${c}`, protocolVersion: 4, clean: true, reconnectPeriod: 0, connectTimeout: 10_000 })),
  );
  let failure: Error | undefined;
  let running = true;
  let measuring = false;
  let completed = 0;
  let verified = 0;
  let outstanding = 0;
  const latencies: number[] = [];
  let drained: (() => void) | undefined;
  const fail = (message: string) => {
    failure ??= new Error(message);
    running = false;
    drained?.();
  };

  try {
    // Subscriptions first, each SUBACK checked: a refused filter would look like a lost reply.
    await Promise.all(
      clients.map(async (client, c) => {
        const filters = owned[c]!.flatMap((thing) =>
          req.mode === 'shadow' ? [`$aws/things/${thing}/shadow/update/accepted`, `$aws/things/${thing}/shadow/update/rejected`] : [`bench/${thing}/echo`],
        );
        for (let at = 0; at < filters.length; at += FILTERS_PER_SUBSCRIBE * 16) {
          const chunks: string[][] = [];
          for (let k = at; k < Math.min(filters.length, at + FILTERS_PER_SUBSCRIBE * 16); k += FILTERS_PER_SUBSCRIBE) chunks.push(filters.slice(k, k + FILTERS_PER_SUBSCRIBE));
          const grants = (await Promise.all(chunks.map((chunk) => client.subscribeAsync(chunk, { qos: 1 })))).flat();
          const refused = grants.find((g) => g.qos !== 1);
          if (refused) throw new Error(`the gateway refused the subscription ${refused.topic} (granted ${refused.qos})`);
        }
      }),
    );
    const setupMs = performance.now() - setupStart;

    const loops = clients.map((client, c) => {
      const things = owned[c]!;
      const pending = new Map<string, Pending>();
      let seq = 0;
      let cursor = 0;
      let inflight = 0;

      const send = () => {
        seq++;
        const thing = things[cursor]!;
        cursor = (cursor + 1) % things.length;
        const temp = Math.round(150 + ((seq * 37 + c * 11) % 300)) / 10; // 15.0 .. 44.9 °C
        const clientToken = `r${run}c${c}-${seq}`;
        const payload = `{"state":{"reported":{"temp":${temp},"seq":${seq}}},"clientToken":"${clientToken}"}`;
        pending.set(clientToken, { thing, seq, temp, payload, sentAt: performance.now() });
        inflight++;
        outstanding++;
        const topic = req.mode === 'shadow' ? `$aws/things/${thing}/shadow/update` : `bench/${thing}/echo`;
        client.publish(topic, payload, { qos: 1 }, (err) => {
          if (err) fail(`client ${c}: publish on ${topic} failed: ${err.message}`);
        });
      };
      const pump = () => {
        while (running && inflight < req.window) send();
      };

      const complete = (clientToken: string, p: Pending) => {
        pending.delete(clientToken);
        inflight--;
        outstanding--;
        verified++;
        if (measuring) {
          completed++;
          latencies.push(performance.now() - p.sentAt);
        }
        if (outstanding === 0) drained?.();
        pump();
      };

      client.on('message', (topic, message) => {
        if (failure) return;
        const text = message.toString('utf8');
        let body: ShadowReply;
        try {
          body = JSON.parse(text) as ShadowReply;
        } catch {
          return fail(`client ${c}: a reply on ${topic} is not JSON: ${text.slice(0, 200)}`);
        }
        const clientToken = typeof body.clientToken === 'string' ? body.clientToken : '';
        const p = pending.get(clientToken);
        if (req.mode === 'floor') {
          const thing = topic.split('/')[1];
          if (!p || p.thing !== thing || p.payload !== text) return fail(`client ${c}: ${topic} delivered a message this client did not send there: ${text.slice(0, 200)}`);
          return complete(clientToken, p);
        }
        const [, , thing, , , outcome] = topic.split('/');
        if (outcome === 'rejected') return fail(`client ${c}: update of ${thing} rejected: ${text.slice(0, 300)}`);
        if (!p) return fail(`client ${c}: ${topic} answered an unknown clientToken ${JSON.stringify(body.clientToken)}`);
        if (p.thing !== thing) return fail(`client ${c}: the reply to ${clientToken} (an update of ${p.thing}) came on ${topic}`);
        const reported = body.state?.reported;
        if (reported?.temp !== p.temp || reported.seq !== p.seq) return fail(`client ${c}: the reply to ${clientToken} reports ${JSON.stringify(reported)}, sent temp ${p.temp} seq ${p.seq}`);
        const version = body.version;
        const last = lastVersion.get(thing);
        if (typeof version !== 'number' || (last !== undefined ? version !== last + 1 : version < 1)) {
          return fail(`client ${c}: ${thing} went from version ${last ?? '(none seen)'} to ${JSON.stringify(version)} (reply to ${clientToken})`);
        }
        lastVersion.set(thing, version);
        complete(clientToken, p);
      });
      client.on('error', (err) => fail(`client ${c}: ${err.message}`));
      client.on('close', () => {
        if (running) fail(`client ${c}: the gateway closed the connection`);
      });
      return { pump, pending };
    });

    for (const loop of loops) loop.pump();
    await sleep(req.warmupMs);
    if (failure) throw failure;
    const before = completed;
    measuring = true;
    reply({ type: 'phase', phase: 'start' });
    const startedAt = performance.now();
    await sleep(req.measureMs);
    measuring = false;
    const seconds = (performance.now() - startedAt) / 1000;
    reply({ type: 'phase', phase: 'end' });
    const count = completed - before;
    running = false;
    if (outstanding > 0 && !failure) {
      await new Promise<void>((resolve) => {
        drained = resolve;
        setTimeout(resolve, DRAIN_TIMEOUT_MS).unref();
      });
    }
    if (failure) throw failure;
    if (outstanding > 0) {
      const missing = loops.flatMap((l) => [...l.pending.keys()]).slice(0, 5);
      throw new Error(`${outstanding} requests had no reply ${DRAIN_TIMEOUT_MS} ms after the load stopped (first: ${missing.join(', ')})`);
    }
    if (count === 0) throw new Error('no round trip completed in the measured period');
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    return { type: 'result', completed: count, seconds, verified, p50Ms: at(0.5), p99Ms: at(0.99), setupMs };
  } finally {
    running = false;
    await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
  }
}

/** Heap per shadow with `count` shadows created through the service's request() on an EmbeddedLog. */
async function runMemory(count: number, progress: (line: string) => void): Promise<MemoryResult> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-shadow-memory-'));
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  const service = createShadowService({ log, logger: silentLogger() });
  try {
    const shadows = await service.start();
    const payload = (i: number) =>
      JSON.stringify({
        state: { reported: { temp: Math.round(150 + ((i * 37) % 300)) / 10, humidity: 30 + (i % 50), fw: `1.${i % 7}.${i % 13}`, online: i % 5 !== 0 } },
        clientToken: `mem-${i}`,
      });
    const create = async (i: number) => {
      const result = await shadows.request({ thingName: `meter-${i}` }, 'update', payload(i));
      if (!result.ok) throw new Error(`shadow meter-${i} was not created: ${JSON.stringify(result.error)}`);
    };
    // Code paths warm and the service's consumers running before the heap is first read.
    for (let i = 0; i < 200; i++) await create(count + i);
    await sleep(1_500);
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;

    const IN_FLIGHT = 256;
    const started = performance.now();
    let next = 0;
    let done = 0;
    let lastReport = started;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < count) {
          await create(next++);
          done++;
          if (performance.now() - lastReport > 2_000) {
            lastReport = performance.now();
            progress(`memory: ${done.toLocaleString('en-US')}/${count.toLocaleString('en-US')} shadows (${Math.round(done / ((lastReport - started) / 1000)).toLocaleString('en-US')}/s)`);
          }
        }
      }),
    );
    const createdPerSec = count / ((performance.now() - started) / 1000);
    // The service's consumer group reads back what the updates published (accepted, documents): let it finish.
    await sleep(2_000);
    collectGarbage();
    const bytesPerShadow = (process.memoryUsage().heapUsed - heapBefore) / count;
    // Every shadow is there, as the request that made it said (read after the heap, not to disturb it).
    for (let i = 0; i < count; i++) {
      const s = shadows.read({ thingName: `meter-${i}` });
      const sent = JSON.parse(payload(i)) as { state: { reported: object } };
      if (s?.version !== 1 || JSON.stringify(s.state.reported) !== JSON.stringify(sent.state.reported)) {
        throw new Error(`meter-${i}: stored ${JSON.stringify(s)}, sent ${payload(i)}`);
      }
    }
    const stored = shadows.read({ thingName: `meter-${Math.floor(count / 2)}` })!;
    const documentBytes = Buffer.byteLength(JSON.stringify(stored));
    const stateBytes = Buffer.byteLength(JSON.stringify(stored.state));
    return { type: 'memory', shadows: count, bytesPerShadow, documentBytes, stateBytes, createdPerSec };
  } finally {
    await service.stop();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const reply = (m: LoadReply): void => replyToParent(m);

runLoadProcess<LoadRequest>('shadow-load', { serve: runLoad, memory: runMemory });
