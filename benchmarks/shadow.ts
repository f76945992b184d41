/**
 * `npm run bench -- shadow`: the Device Shadow service over MQTT, and what a stored shadow costs.
 *
 * Round trips. kiot runs in this process as `kiot up` runs it (`startPlatform`: every role on
 * an EmbeddedLog in a temp data dir, anonymous MQTT on loopback); the load runs in a child
 * process (`shadow-load.ts`): mqtt.js clients over MQTT 3.1.1 on TCP, each keeping
 * {@link WINDOW} QoS 1 requests waiting for their reply. Two kinds of round trip, with the same
 * clients, window, QoS, payload size, gateway and log:
 * - shadow: an update on `$aws/things/<thing>/shadow/update` answered on `.../update/accepted`
 *   (gateway -> iot.ingress -> shadow service -> iot.shadows, history, iot.ingress -> gateway);
 * - floor: a publish on `bench/<thing>/echo` delivered back to the same client, subscribed to
 *   it (gateway -> iot.ingress -> gateway): the least any reply through this gateway costs.
 * at 1, 100 and 10,000 distinct things. Each thing belongs to one client, which subscribes to
 * its things' reply topics only (thing by thing, both kinds), so each reply is delivered once,
 * to the client that asked; a client cycles over its things. One thing has one client (the
 * device); otherwise {@link CLIENTS}. Every reply is checked before it counts (shadow-load.ts):
 * the clientToken, the reported values, and each thing's version exactly one above the last.
 * Best of {@link ROUNDS} rounds of each, the order alternating. Target (issue): shadow >= 0.5x
 * the floor. Then the same with `kiot up --threads 2` (the rules role on a worker thread; the
 * shadow service stays beside the gateway, cli/threads.ts), both kinds again, so each row's
 * ratio is to the floor of the same kiot.
 *
 * The per-connection quotas of AWS IoT (100 publishes/s, 512 KiB/s, 50 subscriptions) are
 * lifted in this kiot: with them the benchmark would measure the limiter.
 *
 * Memory. A fresh child makes 100,000 shadows through the service's
 * `request(id, 'update', payload)` on its own EmbeddedLog and reports the heap they hold, after
 * a full GC on both sides. Target (issue): <= 2 KB per shadow plus the stored document. The
 * report's table has no memory column: the row's ratio is the budget over the bytes used
 * (>= 1 is within the target) and its msgs/s is how fast the shadows were made.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child } from './child.js';
import { startBenchPlatform } from './platform.js';
import type { Benchmark, BenchResult } from './report.js';
import type { LoadMode, LoadReply, LoadRequest, LoadResult, MemoryResult } from './shadow-load.js';

const THING_COUNTS = [1, 100, 10_000] as const;
const CLIENTS = 8;
/** Round trips each client keeps in flight (below the gateway's receive maximum of 100). */
const WINDOW = 16;
const WARMUP_MS = 1_500;
const MEASURE_MS = 3_000;
const ROUNDS = 2;
const TARGET_RATIO = 0.5;
const MEMORY_SHADOWS = 100_000;
/** The memory budget: 2 KB per shadow on top of its document. */
const MEMORY_BUDGET_BYTES = 2048;
/** A child that does not answer within this time (setup, a run and its drain) has failed. */
const REPLY_TIMEOUT_MS = 180_000;

/** The load process (shadow-load.ts). */
type LoadChild = Child<LoadRequest, LoadReply>;

const loadChild = (args: string[]): LoadChild => new Child('shadow-load', args, { label: 'shadow benchmark: the load process', replyTimeoutMs: REPLY_TIMEOUT_MS });

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * A run's result, and the CPU time this process (kiot) used over its measured period: the
 * load process marks the period's start and end. About 1 core (the event loop; fsync and file
 * reads add libuv's threads) means kiot was CPU-bound; well under 1 means it was waiting (on
 * fsync, or on one shadow's requests running one after another).
 */
async function runResult(load: LoadChild): Promise<{ result: LoadResult; cpu: { cores: number } }> {
  let start: { cpu: NodeJS.CpuUsage; at: number } | undefined;
  let cores = Number.NaN;
  for (;;) {
    const reply = await load.next();
    if (reply.type === 'result') return { result: reply, cpu: { cores } };
    if (reply.type !== 'phase') throw new Error(`shadow benchmark: unexpected reply ${reply.type} from the load process`);
    if (reply.phase === 'start') start = { cpu: process.cpuUsage(), at: performance.now() };
    else if (start) {
      const used = process.cpuUsage(start.cpu);
      cores = (used.user + used.system) / 1000 / (performance.now() - start.at);
    }
  }
}

async function roundTrips(threads: number, progress: (line: string) => void): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-shadow-'));
  await mkdir(join(dir, 'rules'));
  // Each client holds two filters per thing it owns (accepted, rejected).
  const platform = await startBenchPlatform(dir, { maxSubscriptionsPerConnection: String(2 * Math.ceil(Math.max(...THING_COUNTS) / CLIENTS) + 10), threads: String(threads) }, progress);
  const kiot = threads === 1 ? '' : `, --threads ${threads}`;
  const load = loadChild(['load']);
  try {
    const url = `mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`;
    const results: BenchResult[] = [];
    for (const things of THING_COUNTS) {
      const clients = Math.min(CLIENTS, things);
      const label = `${things.toLocaleString('en-US')} thing${things === 1 ? '' : 's'}${kiot}`;
      progress(`${label}: ${clients} client${clients === 1 ? '' : 's'} x ${WINDOW} in flight, QoS 1, ${WARMUP_MS} ms warm-up, best of ${ROUNDS} x ${MEASURE_MS} ms`);
      const best: Record<LoadMode, number> = { floor: 0, shadow: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        const order: LoadMode[] = round % 2 === 0 ? ['floor', 'shadow'] : ['shadow', 'floor'];
        for (const mode of order) {
          load.send({ type: 'run', url, mode, prefix: `bench-${things}`, things, clients, window: WINDOW, warmupMs: WARMUP_MS, measureMs: MEASURE_MS });
          const { result: r, cpu } = await runResult(load);
          const rate = r.completed / r.seconds;
          best[mode] = Math.max(best[mode], rate);
          progress(
            `${label} round ${round + 1}: ${mode} ${fmt(rate)} round trips/s (p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms; ` +
              `kiot used ${cpu.cores.toFixed(2)} cores, ${fmt((cpu.cores * 1e6) / rate)} µs of CPU per round trip; ${fmt(r.verified)} replies verified; setup ${fmt(r.setupMs)} ms)`,
          );
        }
      }
      const floorName = `shadow: floor, publish -> subscriber, ${label}`;
      results.push({ name: floorName, messagesPerSec: best.floor });
      results.push({ name: `shadow: update -> /update/accepted, ${label}`, messagesPerSec: best.shadow, baseline: floorName, ratio: best.shadow / best.floor, target: TARGET_RATIO });
    }
    return results;
  } finally {
    await load.stop();
    await platform.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function memory(progress: (line: string) => void): Promise<BenchResult> {
  const child = loadChild(['memory', String(MEMORY_SHADOWS)]);
  try {
    let reply = await child.next();
    while (reply.type === 'progress') {
      progress(reply.line);
      reply = await child.next();
    }
    if (reply.type !== 'memory') throw new Error(`shadow benchmark: unexpected reply ${reply.type} from the memory process`);
    const m: MemoryResult = reply;
    const budget = MEMORY_BUDGET_BYTES + m.documentBytes;
    progress(
      `memory: ${fmt(m.bytesPerShadow)} bytes of heap per shadow with ${fmt(m.shadows)} shadows; document ${m.documentBytes} bytes ` +
        `(state ${m.stateBytes}); budget ${MEMORY_BUDGET_BYTES} + ${m.documentBytes} = ${fmt(budget)} bytes`,
    );
    return {
      name: `shadow: memory, ${fmt(m.shadows)} shadows: ${fmt(m.bytesPerShadow)} B each (budget ${fmt(budget)} B = 2 KB + ${m.documentBytes} B doc; msgs/s = shadows made/s)`,
      messagesPerSec: m.createdPerSec,
      baseline: 'budget / bytes used',
      ratio: budget / m.bytesPerShadow,
      target: 1,
    };
  } finally {
    await child.stop();
  }
}

export const shadowBenchmark: Benchmark = {
  name: 'shadow',
  summary: 'MQTT shadow update -> /update/accepted round trips/s at 1, 100 and 10,000 things vs a publish -> subscriber round trip through the same gateway; heap per shadow with 100,000',
  async run(progress) {
    const results = await roundTrips(1, progress);
    results.push(...(await roundTrips(2, progress)));
    results.push(await memory(progress));
    return results;
  },
};
