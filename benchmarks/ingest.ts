import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { EmbeddedLog, TOPICS, silentLogger, type AppendRecord, type Log } from '../core/index.js';
import { createGateway } from '../ingest/index.js';
import type { Benchmark, BenchResult } from './report.js';

const CLIENTS = 8;
/** QoS 1 publishes each client keeps unacknowledged (below the gateway's receive maximum of 100). */
const WINDOW = 64;
const PAYLOAD = Buffer.from(JSON.stringify({ deviceId: 'bench-device', temperature: 21.5, humidity: 40, pad: 'x'.repeat(120) }));
const WARMUP_MS = 1000;
const MEASURE_MS = 4000;
const ROUNDS = 2;
const MOSQUITTO = '/usr/sbin/mosquitto';

/**
 * QoS 1 publishes per second from CLIENTS concurrent mqtt.js clients into the gateway, each
 * acknowledged only once durable in `iot.ingress` on an EmbeddedLog; the baseline is the same
 * clients and gateway with the append replaced by a no-op (so the ratio is the price of
 * durability). Mosquitto, when installed, takes the same load with one subscriber.
 */
export const ingestBenchmark: Benchmark = {
  name: 'ingest',
  summary: `QoS 1 publishes/s from ${CLIENTS} mqtt.js clients into iot.ingress vs the same gateway with a no-op append (and Mosquitto)`,
  async run(progress) {
    progress(`${CLIENTS} clients, ${WINDOW} QoS 1 publishes in flight each, ${PAYLOAD.length}-byte payloads, best of ${ROUNDS} x ${MEASURE_MS} ms`);
    let durable = 0;
    let noop = 0;
    // Alternate the two so that both see the same disk and CPU weather.
    for (let round = 0; round < ROUNDS; round++) {
      noop = Math.max(noop, await gatewayRun(true));
      progress(`round ${round + 1}: no-op append ${Math.round(noop)} msgs/s`);
      durable = Math.max(durable, await gatewayRun(false));
      progress(`round ${round + 1}: EmbeddedLog ${Math.round(durable)} msgs/s`);
    }
    const mb = (rate: number) => (rate * PAYLOAD.length) / 1e6;
    const results: BenchResult[] = [
      { name: 'ingest: gateway, no-op append', messagesPerSec: noop, mbPerSec: mb(noop) },
      { name: 'ingest: gateway -> iot.ingress (EmbeddedLog)', messagesPerSec: durable, mbPerSec: mb(durable), baseline: 'ingest: gateway, no-op append', ratio: durable / noop, target: 0.7 },
    ];
    if (existsSync(MOSQUITTO)) {
      const mosquitto = await mosquittoRun();
      progress(`Mosquitto with one subscriber: ${Math.round(mosquitto)} msgs/s`);
      results.push({ name: 'ingest: mosquitto, 1 subscriber', messagesPerSec: mosquitto, mbPerSec: mb(mosquitto) });
      results.push({ name: 'ingest: gateway -> iot.ingress vs mosquitto', messagesPerSec: durable, baseline: 'ingest: mosquitto, 1 subscriber', ratio: durable / mosquitto });
    } else {
      progress(`Mosquitto not found at ${MOSQUITTO} (apt-get install mosquitto); no Mosquitto row`);
    }
    return results;
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

async function gatewayRun(noopAppend: boolean): Promise<number> {
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
    return await drive(`mqtt://127.0.0.1:${ports.get('mqtt')}`);
  } finally {
    await gateway.stop();
    await embedded.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function mosquittoRun(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 0\n`);
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  try {
    const url = `mqtt://127.0.0.1:${port}`;
    const subscriber = await connectWithRetry(url);
    let received = 0;
    subscriber.on('message', () => received++);
    await subscriber.subscribeAsync('bench/#', { qos: 1 });
    let best = 0;
    for (let round = 0; round < ROUNDS; round++) best = Math.max(best, await drive(url));
    subscriber.end(true);
    if (received === 0) throw new Error('the Mosquitto subscriber received nothing');
    return best;
  } finally {
    await stop(child);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the load and returns acknowledged publishes per second over the measured window. */
async function drive(url: string): Promise<number> {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connectWithRetry(url)));
  let acked = 0;
  let running = true;
  const loops = clients.map(
    (client, i) =>
      new Promise<void>((resolve) => {
        let inflight = 0;
        const topic = `bench/${i}/telemetry`;
        const pump = () => {
          while (running && inflight < WINDOW) {
            inflight++;
            client.publish(topic, PAYLOAD, { qos: 1 }, (err) => {
              inflight--;
              if (!err) acked++;
              if (running) pump();
              else if (inflight === 0) resolve();
            });
          }
        };
        pump();
      }),
  );
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const start = acked;
  const startedAt = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  const count = acked - start;
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  running = false;
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 5000))]);
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return count / seconds;
}

async function connectWithRetry(url: string): Promise<MqttClient> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 2000 });
    } catch (err) {
      if (attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100)); // the broker is still starting
    }
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
