import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog, TOPICS, readRange, silentLogger, type AppendRecord, type Log } from '../core/index.js';
import { createGateway } from '../ingest/index.js';
import { Child } from './child.js';
import type { LoadReply, LoadRequest, LoadResult, Route } from './e2e-load.js';
import type { Benchmark, BenchResult } from './report.js';

const CLIENTS = 8;
/** QoS 1 publishes each client keeps unacknowledged (below the gateway's receive maximum of 100). */
const WINDOW = 64;
const WARMUP_MS = 1000;
const MEASURE_MS = 4000;
const ROUNDS = 2;
const TARGET = 0.7;
const MOSQUITTO = '/usr/sbin/mosquitto';
/** A child that does not answer within this time (connecting, a run and its drain) has failed. */
const REPLY_TIMEOUT_MS = 120_000;

type LoadChild = Child<LoadRequest, LoadReply>;

/**
 * QoS 1 publishes per second from CLIENTS concurrent mqtt.js clients into the gateway, each
 * acknowledged only once durable in `iot.ingress` on an EmbeddedLog; the baseline is the same
 * clients and gateway with the append replaced by a no-op (so the ratio is the price of
 * durability). The clients run in a process of their own (`e2e-load.ts`, route `publish`: the
 * e2e benchmark's publishers, distinct payloads), so that the load does not share the gateway's
 * event loop (issue 12). After each durable run, every PUBACKed publish is looked for in
 * iot.ingress before the rate counts. Mosquitto, when installed, takes the same load with one
 * subscriber.
 */
export const ingestBenchmark: Benchmark = {
  name: 'ingest',
  summary: `QoS 1 publishes/s from ${CLIENTS} mqtt.js clients (another process) into iot.ingress vs the same gateway with a no-op append (and Mosquitto)`,
  async run(progress) {
    progress(`${CLIENTS} clients in a separate process, ${WINDOW} QoS 1 publishes in flight each, best of ${ROUNDS} x ${MEASURE_MS} ms`);
    const load: LoadChild = new Child('e2e-load', ['load'], { label: 'ingest benchmark: the load process', replyTimeoutMs: REPLY_TIMEOUT_MS });
    try {
      let durable = 0;
      let noop = 0;
      // Alternate the two so that both see the same disk and CPU weather.
      for (let round = 0; round < ROUNDS; round++) {
        noop = Math.max(noop, await gatewayRun(load, true));
        progress(`round ${round + 1}: no-op append ${Math.round(noop)} msgs/s`);
        durable = Math.max(durable, await gatewayRun(load, false));
        progress(`round ${round + 1}: EmbeddedLog ${Math.round(durable)} msgs/s (every PUBACKed publish found in iot.ingress)`);
      }
      const results: BenchResult[] = [
        { name: 'ingest: gateway, no-op append', messagesPerSec: noop },
        { name: 'ingest: gateway -> iot.ingress (EmbeddedLog)', messagesPerSec: durable, baseline: 'ingest: gateway, no-op append', ratio: durable / noop, target: TARGET },
      ];
      if (existsSync(MOSQUITTO)) {
        const mosquitto = await mosquittoRun(load);
        progress(`Mosquitto with one subscriber: ${Math.round(mosquitto)} msgs/s`);
        results.push({ name: 'ingest: mosquitto, 1 subscriber', messagesPerSec: mosquitto });
        results.push({ name: 'ingest: gateway -> iot.ingress vs mosquitto', messagesPerSec: durable, baseline: 'ingest: mosquitto, 1 subscriber', ratio: durable / mosquitto });
      } else {
        progress(`Mosquitto not found at ${MOSQUITTO} (apt-get install mosquitto); no Mosquitto row`);
      }
      return results;
    } finally {
      await load.stop();
    }
  },
};

/**
 * The baseline's log: appends to iot.ingress return at once without storing anything; the
 * gateway still builds and encodes every envelope, so the ratio is the price of durability.
 */
function withNoopIngress(log: Log): Log {
  let offset = 0;
  return new Proxy(log, {
    get(target, property, receiver) {
      if (property === 'append') {
        return (topic: string, records: readonly AppendRecord[]) =>
          topic === TOPICS.ingress ? Promise.resolve(records.map(() => ({ partition: 0, offset: offset++ }))) : target.append(topic, records);
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function gatewayRun(load: LoadChild, noopAppend: boolean): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiot-bench-ingest-'));
  const embedded = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  const log = noopAppend ? withNoopIngress(embedded) : embedded;
  const gateway = createGateway(
    { host: '127.0.0.1', mqttPort: 0, mqttsPort: 0, wsPort: 0, tlsCert: undefined, tlsKey: undefined, tlsCa: undefined },
    // AWS IoT's per-connection rate quotas (100 publishes, 512 KiB a second) would measure the
    // limiter, not the gateway; Mosquitto runs without them too.
    { log, logger: silentLogger(), limits: { maxPublishesPerSecond: 0, maxInboundBytesPerSecond: 0 } },
  );
  try {
    const ports = await gateway.start();
    const result = await drive(load, `mqtt://127.0.0.1:${ports.get('mqtt')}`, 'publish');
    if (!noopAppend) {
      // Durable before PUBACK: every acknowledged publish must be in iot.ingress.
      const stored = await readRange(embedded, { topic: TOPICS.ingress });
      if (stored.length < result.acked) throw new Error(`ingest benchmark: ${result.acked} publishes were PUBACKed but iot.ingress holds ${stored.length} records`);
    }
    return result.messagesIn / result.seconds;
  } finally {
    await gateway.stop();
    await embedded.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function mosquittoRun(load: LoadChild): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 0\n`);
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  try {
    await waitForPort(port);
    let best = 0;
    // Route `pubsub`: one subscriber on every publisher's topic, each delivery checked.
    for (let round = 0; round < ROUNDS; round++) {
      const result = await drive(load, `mqtt://127.0.0.1:${port}`, 'pubsub');
      best = Math.max(best, result.messagesIn / result.seconds);
    }
    return best;
  } finally {
    await stop(child);
    await rm(dir, { recursive: true, force: true });
  }
}

/** One run of the load process against `url`; fails on any publish not PUBACKed or delivery missing. */
async function drive(load: LoadChild, url: string, route: Route): Promise<LoadResult> {
  load.send({ type: 'run', url, route, publishers: CLIENTS, window: WINDOW, ratePerSec: 0, warmupMs: WARMUP_MS, measureMs: MEASURE_MS });
  for (;;) {
    const reply = await load.next();
    if (reply.type === 'phase') continue;
    if (reply.type !== 'result') throw new Error(`ingest benchmark: unexpected reply ${reply.type} from the load process`);
    if (reply.acked !== reply.sent) throw new Error(`ingest benchmark: ${reply.sent - reply.acked} of ${reply.sent} publishes were not PUBACKed`);
    if (reply.missing > 0) throw new Error(`ingest benchmark: ${reply.missing} deliveries missing (${reply.firstMissing.join(', ')})`);
    return reply;
  }
}

/** Resolves once something listens on `port` (the broker is still starting). */
async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (attempt >= 50) throw new Error(`ingest benchmark: nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
