/**
 * The processes of `npm run bench -- e2e` other than the bench's own: `e2e.ts` forks this
 * module so that neither the load nor aedes shares a process (or its CPU accounting) with kiot.
 *
 * - `load` (IPC): mqtt.js clients as devices and one as the application that reads them. Each
 *   {@link LoadRequest} connects `publishers` MQTT 3.1.1 clients, publisher n publishing at QoS
 *   1 on `e2e/<n>/in` with at most `window` publishes waiting for their PUBACK, and one QoS 1
 *   subscriber: on `e2e/+/in` (route `pubsub`: every message comes back) or on `e2e/+/out`
 *   (route `rule`: the broker's rule republishes the even `seq` there, so half come back).
 *   Once a probe has made the trip (the broker's consumers and rules are running), the
 *   publishers send as fast as PUBACKs allow (`ratePerSec` 0) or spread `ratePerSec` between
 *   them, for a warm-up and a measured period; then they stop, every PUBACK is awaited and the
 *   subscriber is drained. Payloads are distinct: `{"seq":..,"device":n,"t":..,"ts":..}`, `seq`
 *   counting per publisher across runs, `ts` the send time (ms since the epoch, to the µs).
 *   Every delivery is checked as it arrives: the topic names the publisher, the `seq` is one
 *   that publisher sent and the route lets through, and the payload is the one sent (byte for
 *   byte through plain pub/sub; the same four fields through a rule, which may re-serialise
 *   the JSON); anything else fails the run. A repeated delivery is counted as a duplicate, and
 *   after the drain every PUBACKed message the route lets through that never arrived is counted
 *   as missing (the bench fails on any). Route `publish` has no subscriber and no probe: the
 *   publishers alone, for the ingest benchmark.
 *   The same process answers `idle` requests: thousands of silent connections (raw CONNECTs),
 *   held open until `idle-close`, for the bench to read the broker's memory per connection.
 * - `aedes` (IPC): an aedes broker (in memory, plain TCP on a free loopback port) that answers
 *   `{ type: 'listening', port }` and runs until told to exit.
 *
 * By hand: `node dist/benchmarks/e2e-load.js aedes` prints aedes's port and serves until killed.
 */
import net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
// core/backoff.ts alone, not core/index.ts: this module is also the aedes process, whose RSS is measured.
import { sleep } from '../core/backoff.js';
import { replyToParent, serveParent } from './child.js';

/**
 * `pubsub`: subscriber on `e2e/+/in`, every message expected; `rule`: on `e2e/+/out`, the even
 * `seq` expected; `publish`: no subscriber and no probe, only the publishers (the ingest benchmark,
 * which checks what reached the log itself).
 */
export type Route = 'pubsub' | 'rule' | 'publish';

export interface LoadRequest {
  readonly type: 'run';
  readonly url: string;
  readonly route: Route;
  readonly publishers: number;
  /** QoS 1 publishes each publisher keeps waiting for their PUBACK. */
  readonly window: number;
  /** Messages per second offered in total, spread over the publishers; 0 = as fast as PUBACKs allow. */
  readonly ratePerSec: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

/** Latency percentiles, ms. */
export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
}

export interface LoadResult {
  readonly type: 'result';
  readonly seconds: number;
  /** Publishes PUBACKed in the measured period. */
  readonly messagesIn: number;
  /** First deliveries at the subscriber in the measured period. */
  readonly messagesOut: number;
  /** Subscriber receive time - the payload's `ts`, of the measured period's deliveries. */
  readonly e2e: Percentiles;
  /** PUBACK time - publish time, of the measured period's PUBACKs. */
  readonly puback: Percentiles;
  /** Over the whole run (probe aside): publishes sent and PUBACKed. */
  readonly sent: number;
  readonly acked: number;
  /** PUBACKed messages the route lets through, and how many of them arrived (once or more). */
  readonly expected: number;
  readonly delivered: number;
  readonly duplicates: number;
  /** Expected messages that never arrived, and the first few as `topic seq`. */
  readonly missing: number;
  readonly firstMissing: readonly string[];
  /** CPU this process used over the measured period, in cores. */
  readonly loadCores: number;
  /** Connecting, subscribing and the probe's trip. */
  readonly setupMs: number;
  /** From the end of the load to the last PUBACK and delivery. */
  readonly drainMs: number;
}

/** Sent when the measured period of a run starts and ends, so that the bench can read the broker's CPU time over it. */
export interface LoadPhase {
  readonly type: 'phase';
  readonly phase: 'start' | 'end';
}

export interface BrokerListening {
  readonly type: 'listening';
  readonly port: number;
}

/**
 * `idle`: opens `connections` MQTT 3.1.1 connections to `url` that CONNECT (clean session, keep
 * alive 0: no PINGREQ) and then stay silent, and answers {@link IdleResult} once every one has
 * its CONNACK; they stay open until `idle-close`, which closes them all.
 */
export type IdleRequest = { readonly type: 'idle'; readonly url: string; readonly connections: number } | { readonly type: 'idle-close' };

export interface IdleResult {
  readonly type: 'idle';
  readonly connected: number;
  readonly ms: number;
}

export type LoadReply = LoadResult | LoadPhase | BrokerListening | IdleResult | { readonly type: 'error'; readonly message: string };

/** How long the probe may take to make the trip (kiot on the Kafka mock joins its consumer groups first: 3 s each). */
const PROBE_TIMEOUT_MS = 60_000;
const PROBE_INTERVAL_MS = 250;
/** How long the last PUBACKs may take once the load stops. */
const PUBACK_DRAIN_TIMEOUT_MS = 30_000;
/** The subscriber's drain ends when every expected message arrived, or when none arrived for this long. */
const DELIVERY_IDLE_TIMEOUT_MS = 10_000;
/** ... and in any case after this long. */
const DELIVERY_DRAIN_TIMEOUT_MS = 120_000;
/** The paced publishers' timer (Node's shortest); each tick sends what fell due since the last. */
const PACE_TICK_MS = 1;

let runNumber = 0;
/** The next `seq` of each publisher, across runs: a late delivery from an earlier run cannot pass for a new one. */
const nextSeq: number[] = [];

/** Payload of publisher `n`'s message `seq`, sent at `ts`. */
const payloadOf = (n: number, seq: number, ts: number) => `{"seq":${seq},"device":${n},"t":${temperature(n, seq)},"ts":${ts}}`;
/** 15.0 .. 44.9, distinct enough that a payload from the wrong message shows. */
const temperature = (n: number, seq: number) => Math.round(150 + ((seq * 37 + n * 11) % 300)) / 10;
/** Epoch ms to the µs, from the monotonic clock (the subscriber reads the same one). */
const epochMs = () => Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000;

interface Publisher {
  readonly n: number;
  readonly client: MqttClient;
  readonly topic: string;
  /** `seq` of this run's first message; message i of the run has seq base + i. */
  readonly base: number;
  /** Per message of the run: its `ts`, whether it was PUBACKed, how often it arrived. */
  readonly ts: number[];
  readonly acked: boolean[];
  readonly received: number[];
  inflight: number;
}

interface Payload {
  readonly seq?: unknown;
  readonly device?: unknown;
  readonly t?: unknown;
  readonly ts?: unknown;
}

const percentiles = (values: number[]): Percentiles => {
  values.sort((a, b) => a - b);
  const at = (q: number) => (values.length === 0 ? Number.NaN : values[Math.min(values.length - 1, Math.floor(q * values.length))]!);
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999) };
};

async function runLoad(req: LoadRequest): Promise<LoadResult> {
  const run = ++runNumber;
  const setupStart = performance.now();
  const expects = (seq: number) => req.route === 'pubsub' || (req.route === 'rule' && seq % 2 === 0);
  const outSegment = req.route === 'pubsub' ? 'in' : 'out';
  const options = (id: string) => ({ clientId: `e2e-${run}-${id}`, protocolVersion: 4 as const, clean: true, reconnectPeriod: 0, connectTimeout: 10_000 });

  const clients: MqttClient[] = [];
  let failure: Error | undefined;
  let running = true;
  let measuring = false;
  let sent = 0;
  let acked = 0;
  let outstanding = 0;
  let delivered = 0;
  let duplicates = 0;
  let messagesIn = 0;
  let messagesOut = 0;
  let probeSeen = false;
  const e2e: number[] = [];
  const puback: number[] = [];
  let wake: (() => void) | undefined;
  const fail = (message: string) => {
    failure ??= new Error(message);
    running = false;
    wake?.();
  };

  try {
    const subscriber = req.route === 'publish' ? undefined : await mqtt.connectAsync(req.url, options('sub'));
    if (subscriber) clients.push(subscriber);
    const publishers: Publisher[] = [];
    await Promise.all(
      Array.from({ length: req.publishers }, async (_, n) => {
        const client = await mqtt.connectAsync(req.url, options(`p${n}`));
        clients.push(client);
        publishers[n] = { n, client, topic: `e2e/${n}/in`, base: nextSeq[n] ?? 0, ts: [], acked: [], received: [], inflight: 0 };
      }),
    );
    for (const client of clients) {
      client.on('error', (err) => fail(`${client.options.clientId}: ${err.message}`));
      client.on('close', () => {
        if (running) fail(`${client.options.clientId}: the broker closed the connection`);
      });
    }

    subscriber?.on('message', (topic, message) => {
      if (failure) return;
      const receivedAt = epochMs();
      const parts = topic.split('/');
      if (parts.length !== 3 || parts[0] !== 'e2e' || parts[2] !== outSegment) return fail(`the subscriber got a message on ${topic}`);
      if (parts[1] === 'probe') {
        probeSeen = true;
        wake?.();
        return;
      }
      const p = publishers[Number(parts[1])];
      const text = message.toString('utf8');
      if (!p || String(p.n) !== parts[1]) return fail(`the subscriber got a message on ${topic}, which no publisher sent to: ${text.slice(0, 200)}`);
      let body: Payload;
      try {
        body = JSON.parse(text) as Payload;
      } catch {
        return fail(`a message on ${topic} is not JSON: ${text.slice(0, 200)}`);
      }
      const seq = body.seq;
      const i = typeof seq === 'number' ? seq - p.base : -1;
      if (typeof seq !== 'number' || !Number.isInteger(i) || i < 0 || i >= p.ts.length) return fail(`${topic}: a message publisher ${p.n} did not send in this run: ${text.slice(0, 200)}`);
      if (!expects(seq)) return fail(`${topic}: seq ${seq} came through, but the rule lets only even seq through`);
      const ts = p.ts[i]!;
      const sentText = payloadOf(p.n, seq, ts);
      if (text !== sentText) {
        // A rule's republish writes the selected JSON again: the same fields, perhaps other bytes.
        const same = req.route === 'rule' && Object.keys(body).length === 4 && body.device === p.n && body.t === temperature(p.n, seq) && body.ts === ts;
        if (!same) return fail(`${topic}: seq ${seq} arrived as ${text.slice(0, 200)}, sent ${sentText}`);
      }
      if (p.received[i]!++ > 0) {
        duplicates++;
        return;
      }
      delivered++;
      if (measuring) {
        messagesOut++;
        e2e.push(receivedAt - ts);
      }
      wake?.();
    });
    const filter = `e2e/+/${outSegment}`;
    if (subscriber) {
      const [grant] = await subscriber.subscribeAsync(filter, { qos: 1 });
      if (grant?.qos !== 1) throw new Error(`the broker granted ${filter} QoS ${grant?.qos}, not 1`);
    }

    // The probe makes the trip before the load starts: a kiot on Kafka has groups to join, rules to load.
    const probeStart = performance.now();
    while (subscriber && !probeSeen && !failure) {
      if (performance.now() - probeStart > PROBE_TIMEOUT_MS) throw new Error(`the probe on e2e/probe/in did not reach ${filter} within ${PROBE_TIMEOUT_MS} ms`);
      publishers[0]!.client.publish('e2e/probe/in', `{"seq":0,"device":"probe","ts":${epochMs()}}`, { qos: 1 });
      await waitFor(() => probeSeen || failure !== undefined, PROBE_INTERVAL_MS);
    }
    if (failure) throw failure;
    const setupMs = performance.now() - setupStart;

    const perPublisherRate = req.ratePerSec / req.publishers;
    let loadStart = 0;
    const send = (p: Publisher) => {
      const i = p.ts.length;
      const seq = p.base + i;
      const ts = epochMs();
      p.ts.push(ts);
      p.acked.push(false);
      p.received.push(0);
      p.inflight++;
      outstanding++;
      sent++;
      const sentAt = performance.now();
      p.client.publish(p.topic, payloadOf(p.n, seq, ts), { qos: 1 }, (err) => {
        if (err) return fail(`publisher ${p.n}: publish of seq ${seq} failed: ${err.message}`);
        p.acked[i] = true;
        p.inflight--;
        outstanding--;
        acked++;
        if (measuring) {
          messagesIn++;
          puback.push(performance.now() - sentAt);
        }
        if (outstanding === 0) wake?.();
        pump(p);
      });
    };
    // Paced: publisher n's k-th message falls due at (k - n/publishers) / its rate, spreading the sends.
    const pump = (p: Publisher) => {
      if (perPublisherRate === 0) {
        while (running && p.inflight < req.window) send(p);
        return;
      }
      const due = Math.floor(((performance.now() - loadStart) / 1000) * perPublisherRate + p.n / req.publishers);
      while (running && p.inflight < req.window && p.ts.length < due) send(p);
    };
    let ticker: NodeJS.Timeout | undefined;
    const tick = () => {
      for (const p of publishers) pump(p);
      if (running) ticker = setTimeout(tick, PACE_TICK_MS);
    };

    loadStart = performance.now();
    if (perPublisherRate === 0) for (const p of publishers) pump(p);
    else tick();
    await sleep(req.warmupMs);
    if (failure) throw failure;
    measuring = true;
    reply({ type: 'phase', phase: 'start' });
    const cpuBefore = process.cpuUsage();
    const measureStart = performance.now();
    await sleep(req.measureMs);
    measuring = false;
    const elapsedMs = performance.now() - measureStart;
    const cpu = process.cpuUsage(cpuBefore);
    reply({ type: 'phase', phase: 'end' });
    running = false;
    clearTimeout(ticker);

    const drainStart = performance.now();
    if (!(await waitFor(() => outstanding === 0 || failure !== undefined, PUBACK_DRAIN_TIMEOUT_MS))) {
      throw new Error(`${outstanding} publishes had no PUBACK ${PUBACK_DRAIN_TIMEOUT_MS} ms after the load stopped`);
    }
    if (failure) throw failure;
    let expected = 0;
    for (const p of publishers) for (let i = 0; i < p.ts.length; i++) if (p.acked[i] && expects(p.base + i)) expected++;
    let lastDelivered = -1;
    let lastProgress = performance.now();
    while (delivered < expected && !failure && performance.now() - lastProgress < DELIVERY_IDLE_TIMEOUT_MS && performance.now() - drainStart < DELIVERY_DRAIN_TIMEOUT_MS) {
      if (delivered !== lastDelivered) {
        lastDelivered = delivered;
        lastProgress = performance.now();
      }
      await waitFor(() => delivered >= expected || failure !== undefined, 100);
    }
    if (failure) throw failure;
    const drainMs = performance.now() - drainStart;
    let missing = 0;
    const firstMissing: string[] = [];
    for (const p of publishers) {
      for (let i = 0; i < p.ts.length; i++) {
        if (p.acked[i] && expects(p.base + i) && p.received[i] === 0) {
          missing++;
          if (firstMissing.length < 5) firstMissing.push(`${p.topic} seq ${p.base + i}`);
        }
      }
      nextSeq[p.n] = p.base + p.ts.length;
    }
    return {
      type: 'result',
      seconds: elapsedMs / 1000,
      messagesIn,
      messagesOut,
      e2e: percentiles(e2e),
      puback: percentiles(puback),
      sent,
      acked,
      expected,
      delivered,
      duplicates,
      missing,
      firstMissing,
      loadCores: (cpu.user + cpu.system) / 1000 / elapsedMs,
      setupMs,
      drainMs,
    };
  } finally {
    running = false;
    await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
  }

  /** Resolves true once `done()` holds (checked whenever a PUBACK, delivery or failure wakes it), false after `ms`. */
  function waitFor(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve(done());
      }, ms);
      wake = () => {
        if (!done()) return;
        clearTimeout(timer);
        wake = undefined;
        resolve(true);
      };
    });
  }
}

/** aedes 1.x in memory on a free loopback port, until the parent says exit. */
async function runAedes(): Promise<void> {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  // kiot's gateway and the Mosquitto of the bench set TCP_NODELAY on client sockets too.
  const server = net.createServer({ noDelay: true }, (socket) => {
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  const stop = () => {
    server.close();
    broker.close(() => process.disconnect?.());
  };
  if (!process.send) {
    process.stdout.write(`aedes listening on 127.0.0.1:${port}\n`);
    return;
  }
  process.on('message', (m: { type: string }) => {
    if (m.type === 'exit') stop();
  });
  reply({ type: 'listening', port });
}

const reply = (m: LoadReply): void => replyToParent(m);

/** The idle connections of the last `idle` request. */
let idleSockets: net.Socket[] = [];
/** Connections opened at once while connecting idle clients (a backlog of SYNs is not what is measured). */
const IDLE_CONNECT_CONCURRENCY = 200;

/**
 * Raw sockets rather than mqtt.js clients: 10,000 clients would cost this process a gigabyte;
 * what is measured is the broker's memory per connection.
 */
async function runIdle(req: IdleRequest): Promise<IdleResult | { readonly type: 'idle-closed' }> {
  if (req.type === 'idle-close') {
    const closing = idleSockets.map((s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve()).destroy())));
    idleSockets = [];
    await Promise.all(closing);
    return { type: 'idle-closed' };
  }
  const { hostname, port } = new URL(req.url);
  const started = performance.now();
  let next = 0;
  const connectOne = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const id = Buffer.from(`idle-${process.pid}-${n}`);
      // CONNECT: protocol name "MQTT", level 4, flags clean session, keep alive 0, client id.
      const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 0, 0, id.length]), id]);
      const socket = net.connect(Number(port), hostname, () => socket.write(Buffer.concat([Buffer.from([0x10, body.length]), body])));
      socket.setNoDelay(true);
      socket.once('data', (d: Buffer) => {
        if (d[0] === 0x20 && d[3] === 0) resolve();
        else reject(new Error(`idle connection ${n}: expected CONNACK 0, received ${d.toString('hex')}`));
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`idle connection ${n}: closed before its CONNACK`)));
      idleSockets.push(socket);
    });
  const worker = async () => {
    while (next < req.connections) await connectOne(next++);
  };
  await Promise.all(Array.from({ length: Math.min(IDLE_CONNECT_CONCURRENCY, req.connections) }, worker));
  for (const s of idleSockets) s.removeAllListeners('close');
  return { type: 'idle', connected: idleSockets.length, ms: performance.now() - started };
}

async function main(): Promise<void> {
  const [mode] = process.argv.slice(2);
  if (mode === 'aedes') return runAedes();
  if (mode !== 'load' || !process.send) throw new Error('usage: e2e-load.js load (forked with IPC) | aedes');
  serveParent<LoadRequest | IdleRequest>((req) => (req.type === 'run' ? runLoad(req) : runIdle(req)));
}

main().catch((err: unknown) => {
  const message = (err as Error).stack ?? String(err);
  if (process.connected) reply({ type: 'error', message });
  process.stderr.write(`e2e-load: ${message}\n`);
  process.exit(1);
});
