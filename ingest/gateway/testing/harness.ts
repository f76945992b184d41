/**
 * Test helpers for the gateway: a gateway on a fresh EmbeddedLog in a temp dir, mqtt.js
 * clients against it, and waits with timeouts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { EmbeddedLog, silentLogger, type Log } from '../../../core/index.js';
import { createGateway, type Gateway, type GatewayDeps, type GatewayListener } from '../gateway.js';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly ports: Map<GatewayListener, number>;
  readonly log: Log;
  readonly dataDir: string;
  url(listener?: GatewayListener): string;
  /** Stops the gateway only (the log stays open). */
  stopGateway(): Promise<void>;
  /** Stops the gateway, closes the log, removes the data dir (unless `keepData`). Safe twice. */
  close(keepData?: boolean): Promise<void>;
}

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kiot-gw-'));
}

export async function startTestGateway(
  options: { dataDir?: string; log?: Log; deps?: Partial<GatewayDeps>; config?: Partial<Parameters<typeof createGateway>[0]> } = {},
): Promise<TestGateway> {
  const dataDir = options.dataDir ?? (await tempDir());
  const log = options.log ?? (await EmbeddedLog.open({ dataDir, logger: silentLogger() }));
  const gateway = createGateway(
    // Tests reconnect a client id at once; AWS's 1 CONNECT a second per client id is off unless a test sets it.
    { host: '127.0.0.1', mqttPort: 0, mqttsPort: 0, wsPort: 0, tlsCert: undefined, tlsKey: undefined, tlsCa: undefined, maxConnectsPerSecondPerClientId: 0, ...options.config },
    { log, logger: silentLogger(), ...options.deps },
  );
  const ports = await gateway.start();
  let closed = false;
  const started: TestGateway = {
    gateway,
    ports,
    log,
    dataDir,
    url: (listener = 'mqtt') => (listener === 'ws' ? `ws://127.0.0.1:${ports.get('ws')}/mqtt` : `${listener}://127.0.0.1:${ports.get(listener)}`),
    stopGateway: () => gateway.stop(),
    async close(keepData = false) {
      if (closed) return;
      closed = true;
      running.delete(started);
      await gateway.stop();
      if (!options.log) await log.close();
      if (!keepData && !options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  running.add(started);
  return started;
}

const running = new Set<TestGateway>();

/** Ends every client `connect` made and closes every gateway a test started and left open: `afterEach(endTestGateways)`. */
export async function endTestGateways(): Promise<void> {
  await endClients();
  for (const gw of [...running]) await gw.close();
}

const clients = new Set<MqttClient>();

/** Connects an mqtt.js client (no automatic reconnect) and waits for CONNACK. */
export async function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  clients.add(client);
  collect(client); // from the start: messages may arrive in the same segment as CONNACK
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
  client.on('error', () => undefined);
  return client;
}

/** Ends every client `connect` made (forcefully); call in afterEach. */
export async function endClients(): Promise<void> {
  await Promise.all([...clients].map((c) => new Promise<void>((resolve) => c.end(true, {}, () => resolve()))));
  clients.clear();
}

export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly packet: import('mqtt-packet').IPublishPacket;
}

/** Collects the messages a client receives, with waits. */
export interface Inbox {
  readonly messages: Received[];
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
}

const inboxes = new WeakMap<MqttClient, Inbox>();

/** The messages a client received since `connect` (one inbox per client). */
export function collect(client: MqttClient): Inbox {
  const existing = inboxes.get(client);
  if (existing) return existing;
  const messages: Received[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload, packet });
    for (const w of waiters.splice(0)) w();
  });
  const inbox: Inbox = {
    messages,
    waitFor(count, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length >= count) {
            clearTimeout(timer);
            resolve(messages.slice(0, count));
          } else waiters.push(check);
        };
        const timer = setTimeout(() => reject(new Error(`expected ${count} messages, received ${messages.length}: ${messages.map((m) => m.topic).join(', ')}`)), timeoutMs);
        check();
      });
    },
  };
  inboxes.set(client, inbox);
  return inbox;
}

/** Resolves when `predicate` holds, polling; rejects after the timeout. */
export async function eventually(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits for an event, with a timeout. */
export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), timeoutMs);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Reads every envelope on a topic from the start, until `count` arrived. */
export async function readEnvelopes(log: Log, topic: string, count: number, timeoutMs = 5000): Promise<import('../../../core/index.js').Envelope[]> {
  const { decodeEnvelope } = await import('../../../core/index.js');
  const out: import('../../../core/index.js').Envelope[] = [];
  const consumer = log.consumer({
    groupId: `test-${Math.random().toString(36).slice(2)}`,
    topics: [topic],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      for (const r of batch.records) if (r.value) out.push(decodeEnvelope(r.value));
    },
  });
  await consumer.start();
  try {
    await eventually(() => out.length >= count, timeoutMs, `${count} envelopes on ${topic} (have ${out.length})`);
  } finally {
    await consumer.stop();
  }
  return out;
}

/** A log whose appends to one topic can be held back or made to fail. */
export function controllableLog(log: Log, topic: string): { log: Log; mode: 'pass' | 'hold' | 'fail'; release(): void } {
  const held: (() => void)[] = [];
  const control = {
    mode: 'pass' as 'pass' | 'hold' | 'fail',
    release() {
      for (const r of held.splice(0)) r();
    },
    log: undefined as unknown as Log,
  };
  control.log = new Proxy(log, {
    get(target, prop) {
      if (prop === 'append') {
        return async (t: string, records: Parameters<Log['append']>[1]) => {
          if (t === topic && control.mode === 'fail') {
            const { PlatformError } = await import('../../../core/index.js');
            throw new PlatformError('LOG_UNAVAILABLE', 'test: log unavailable', { retriable: true });
          }
          if (t === topic && control.mode === 'hold') await new Promise<void>((resolve) => held.push(resolve));
          return target.append(t, records);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return control;
}

/** A bare MQTT client over a socket, for what mqtt.js refuses to send (bad filters, bad bytes). */
export interface RawClient {
  readonly packets: import('mqtt-packet').Packet[];
  send(packet: import('mqtt-packet').Packet): void;
  write(bytes: Buffer): void;
  next(cmd: string, timeoutMs?: number): Promise<import('mqtt-packet').Packet>;
  /** Resolves when the server closes the socket. */
  readonly closed: Promise<void>;
  destroy(): void;
}

export async function rawClient(port: number, protocolVersion: 4 | 5 = 4): Promise<RawClient> {
  const { createConnection } = await import('node:net');
  const mqttPacket = (await import('mqtt-packet')).default;
  const socket = createConnection({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: import('mqtt-packet').Packet[] = [];
  const waiters: (() => void)[] = [];
  parser.on('packet', (p) => {
    packets.push(p);
    for (const w of waiters.splice(0)) w();
  });
  socket.on('data', (d) => parser.parse(d));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    packets,
    send: (p) => socket.write(mqttPacket.generate(p, { protocolVersion })),
    write: (b) => socket.write(b),
    next(cmd, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${cmd} packet; got ${packets.map((p) => p.cmd).join(', ')}`)), timeoutMs);
        const check = () => {
          const i = packets.findIndex((p) => p.cmd === cmd);
          if (i >= 0) {
            clearTimeout(timer);
            resolve(packets.splice(i, 1)[0]!);
          } else waiters.push(check);
        };
        check();
      });
    },
    closed,
    destroy: () => socket.destroy(),
  };
}

/** A raw client that has sent CONNECT and received CONNACK. */
export async function rawConnected(port: number, protocolVersion: 4 | 5 = 4, clientId = `raw-${Math.random().toString(36).slice(2)}`, extra: Record<string, unknown> = {}): Promise<RawClient> {
  const c = await rawClient(port, protocolVersion);
  c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clientId, clean: true, keepalive: 60, ...extra } as never);
  await c.next('connack');
  return c;
}
