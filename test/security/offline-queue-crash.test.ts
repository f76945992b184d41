/**
 * No acknowledged QoS 1 message is lost for an offline persistent session (issue "Close the
 * open doors", point 3). A `kiot up` child process on the embedded log, an offline clean-session-0
 * subscriber, a publisher sending 1,000 QoS 1 messages; the child is killed with SIGKILL right
 * after a PUBACK at several random points and restarted on the same data dir. When the
 * subscriber comes back, every message that was acknowledged must reach it (duplicates allowed).
 * The same for messages that reach the gateway through the log (HTTP publish to `iot.ingress`,
 * read by the gateway's delivery consumer, as republish and shadow messages on `iot.egress` are).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, expect, test } from 'vitest';
import { dataDirCredentials } from '../../cli/commands/device.js';
import { startKiot, type KiotProcess } from '../../cli/testing.js';

const TOTAL = 1000;
const KILLS = 3;
const WINDOW = 32;
const SUBSCRIBER = 'offline-subscriber';

let dir: string | undefined;
let kiot: KiotProcess | undefined;
const dirs: string[] = [];

// Each test leaves its last kiot running; it goes before the next test starts its own.
afterEach(async () => {
  if (kiot && kiot.child.exitCode === null && kiot.child.signalCode === null) {
    kiot.child.kill('SIGKILL');
    await kiot.exited;
  }
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const newDir = async (): Promise<string> => {
  dir = await mkdtemp(join(tmpdir(), 'kiot-sec-crash-'));
  dirs.push(dir);
  return dir;
};

const start = async (roles = 'gateway'): Promise<KiotProcess> => {
  kiot = await startKiot(['--roles', roles, '--data-dir', join(dir!, 'data'), '--log-level', 'error'], {
    cwd: dir!,
    // The publisher goes as fast as the gateway acknowledges, beyond AWS IoT's 100 publishes a second.
    env: { KIOT_MAX_PUBLISHES_PER_SECOND_PER_CONNECTION: '0', KIOT_MAX_BYTES_PER_SECOND_PER_CONNECTION: '0' },
    timeoutMs: 60_000,
  });
  return kiot;
};

const mqttUrl = (k: KiotProcess) => `mqtt://${k.listeners.get('mqtt')}`;

async function connect(url: string, options: mqtt.IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4, ...options });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('error', () => undefined);
  return client;
}

/**
 * Publishes `crash/<seq>` from `next` on, up to `WINDOW` in flight, recording every PUBACK. When
 * `killAfter` acknowledgements have arrived in total, SIGKILLs the child at once (from inside the
 * PUBACK callback) and resolves; otherwise resolves when every message is acknowledged.
 */
async function publishRound(k: KiotProcess, from: number, acked: Set<number>, killAfter: number | undefined): Promise<number> {
  const publisher = await connect(mqttUrl(k), { clientId: `publisher-${from}`, clean: true });
  let next = from;
  let inflight = 0;
  let killed = false;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (!killed && inflight < WINDOW && next < TOTAL) {
        const seq = next++;
        inflight++;
        publisher.publish(`crash/${seq}`, String(seq), { qos: 1 }, (err) => {
          inflight--;
          if (killed) return;
          if (!err) acked.add(seq);
          if (killAfter !== undefined && acked.size >= killAfter) {
            killed = true;
            k.child.kill('SIGKILL'); // right after this PUBACK
            resolve();
            return;
          }
          if (next >= TOTAL && inflight === 0) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  if (killed) await k.exited;
  publisher.end(true);
  return next;
}

test('every PUBACKed QoS 1 message reaches an offline persistent session across SIGKILLs', async () => {
  await newDir();
  let k = await start();

  const first = await connect(mqttUrl(k), { clientId: SUBSCRIBER, clean: false });
  await first.subscribeAsync('crash/#', { qos: 1 });
  await first.endAsync();

  // Kill points spread over the run, each at a random place in its own stretch.
  const stretch = Math.floor(TOTAL / (KILLS + 1));
  const killPoints = Array.from({ length: KILLS }, (_, i) => stretch * (i + 1) - Math.floor(Math.random() * (stretch / 2)));
  const acked = new Set<number>();
  let next = 0;
  for (const killAfter of killPoints) {
    next = await publishRound(k, next, acked, killAfter);
    k = await start();
  }
  next = await publishRound(k, next, acked, undefined);
  expect(next).toBe(TOTAL);

  // Once more, so that the last stretch went through a kill too.
  k.child.kill('SIGKILL');
  await k.exited;
  k = await start();

  await expectAllArrive(k, acked, killPoints);
  expect(acked.size).toBeGreaterThan(TOTAL - KILLS * WINDOW - 1);
}, 240_000);

/** Reconnects the subscriber and waits until every acknowledged sequence number has arrived. */
async function expectAllArrive(k: KiotProcess, acked: Set<number>, killPoints: number[]): Promise<void> {
  const received = new Set<number>();
  const subscriber = mqtt.connect(mqttUrl(k), { clientId: SUBSCRIBER, clean: false, protocolVersion: 4, reconnectPeriod: 0 });
  subscriber.on('message', (_topic, payload) => received.add(Number(payload.toString())));
  const missing = () => [...acked].filter((seq) => !received.has(seq));
  try {
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      subscriber.once('connect', resolve);
      subscriber.once('error', reject);
    });
    expect(connack.sessionPresent).toBe(true);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kill points ${killPoints.join(', ')}: ${missing().length} acknowledged messages never arrived: ${missing().slice(0, 20).join(', ')}`)), 30_000);
      const check = () => {
        if (missing().length > 0) return;
        clearTimeout(timer);
        subscriber.off('message', check);
        resolve();
      };
      subscriber.on('message', check);
      check();
    });
  } finally {
    subscriber.end(true);
  }
  expect(missing()).toEqual([]);
}

test('every message the HTTP API acknowledged reaches an offline persistent session across SIGKILLs (the delivery consumer path)', async () => {
  const total = 300;
  const concurrency = 8;
  await newDir();
  let k = await start('all');
  const first = await connect(mqttUrl(k), { clientId: SUBSCRIBER, clean: false });
  await first.subscribeAsync('http/#', { qos: 1 });
  await first.endAsync();
  const credentials = await dataDirCredentials(join(dir!, 'data'));

  const killPoints = [Math.floor(total / 3), Math.floor((2 * total) / 3)].map((p) => p - Math.floor(Math.random() * 50));
  const acked = new Set<number>();
  let next = 0;
  // One round: publish over HTTP (200 = durable in iot.ingress) until `killAfter` were acknowledged, then SIGKILL at once.
  const round = async (killAfter: number | undefined) => {
    const api = new IoTDataPlaneClient({ endpoint: `http://${k.listeners.get('http')}`, region: 'us-east-1', credentials, maxAttempts: 1 });
    let killed = false;
    const worker = async () => {
      while (!killed && next < total) {
        const seq = next++;
        try {
          await api.send(new PublishCommand({ topic: `http/${seq}`, qos: 1, payload: Buffer.from(String(seq)) }));
        } catch {
          continue; // the process was killed under this request: not acknowledged
        }
        if (killed) continue;
        acked.add(seq);
        if (killAfter !== undefined && acked.size >= killAfter) {
          killed = true;
          k.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    api.destroy();
    if (killed) {
      await k.exited;
      k = await start('all');
    }
  };
  for (const killAfter of killPoints) await round(killAfter);
  await round(undefined);
  expect(next).toBe(total);
  k.child.kill('SIGKILL'); // right after the last acknowledgement
  await k.exited;
  k = await start('all');

  await expectAllArrive(k, acked, killPoints);
}, 240_000);
