import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { stopChild } from './server-process.js';

/**
 * librdkafka's in-process mock cluster (a Kafka wire-protocol broker that librdkafka ships for
 * client tests), so that KafkaLog's tests speak real Kafka over loopback without a JVM. It is
 * started from Debian's `kcat`, whose librdkafka starts the mock when given
 * `-X test.mock.num.brokers=N` and prints its address with `-X debug=mock`; nothing is
 * compiled on `npm install` (`.ci/run` installs kcat).
 *
 * Facts about the mock that callers have to live with (librdkafka 2.0 to 2.12):
 * - topics are auto-created with 4 partitions by metadata requests; CreateTopics is refused;
 * - nothing is compacted, and ListOffsets by timestamp is not implemented (answers -1);
 * - a group's first join waits `group.initial.rebalance.delay.ms` (3 s) before it completes;
 * - its metadata names controller id 0 while its brokers are numbered from 1, which kafkajs
 *   cannot follow (the idempotent producer asks the controller for a producer id). This file
 *   therefore puts a small loopback proxy in front of each mock broker that rewrites the
 *   Metadata response: the controller becomes a real broker and broker ports point at the
 *   proxies, so every connection keeps going through them;
 * - it advertises LeaveGroup up to v4 but decodes every version as v0–v2 (one member id), so a
 *   v3+ leave is misread and the member stays until its session times out. The proxy caps
 *   LeaveGroup at v2 in ApiVersions responses so that a leaving member really leaves.
 * - a group counts as synced once the leader's SyncGroup has set every member's assignment, so
 *   a follower whose SyncGroup arrives after the leader's is answered INVALID_REQUEST (kafkajs
 *   then gives the member up). The proxy holds a leader's SyncGroup until the other members of
 *   its generation have sent theirs (at most SYNC_HOLD_MS), the order a real broker accepts too.
 * Nothing else is touched.
 */
export interface KafkaMock {
  /** Bootstrap addresses (`127.0.0.1:PORT`) for a Kafka client. */
  readonly brokers: string[];
  /**
   * Calls `listener` with every request a client sends (the whole frame, size prefix included),
   * so tests can check what goes over the wire. Returns an unsubscribe function.
   */
  onRequest(listener: (request: ObservedRequest) => void): () => void;
  /** Stops the proxies and the mock cluster. Safe to call twice. */
  stop(): Promise<void>;
}

export interface ObservedRequest {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly frame: Buffer;
}

const INSTALL_HINT = 'kcat is needed to run the Kafka mock cluster: install it with `apt-get install kcat` (Debian and Ubuntu; .ci/run does)';

/** How long the mock may take to print its address. */
const MOCK_START_TIMEOUT_MS = 10_000;

/**
 * Runs `kcat` as a producer that never produces: its librdkafka hosts the mock cluster for as
 * long as kcat runs, and kcat exits on its own when its stdin closes (also when this process dies).
 */
function startMockProcess(): Promise<{ child: ChildProcess; upstream: string[] }> {
  const args = ['-P', '-t', '__kiot_mock_keepalive', '-b', '127.0.0.1:1', '-X', 'test.mock.num.brokers=1', '-X', 'debug=mock'];
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => fail(new Error(`Kafka mock cluster did not report its address within ${MOCK_START_TIMEOUT_MS} ms: ${output.slice(-500)}`)), MOCK_START_TIMEOUT_MS);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.once('error', (err: NodeJS.ErrnoException) => fail(err.code === 'ENOENT' ? new Error(INSTALL_HINT, { cause: err }) : err));
    child.once('exit', (code) => fail(new Error(`kcat exited with ${code} before the Kafka mock cluster started: ${output.slice(-500)}`)));
    // The mock logs every connection at debug level: keep reading stderr so kcat never blocks on it.
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /bootstrap\.servers=(\S+)/.exec(output);
      if (!match?.[1]) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stderr!.removeAllListeners('data');
      child.stderr!.resume();
      resolve({ child, upstream: match[1].split(',') });
    });
  });
}

/** Starts a one-broker mock cluster; resolves with its address once it accepts connections. */
export async function startKafkaMock(): Promise<KafkaMock> {
  const { child, upstream } = await startMockProcess();

  const proxies: MetadataFixProxy[] = [];
  try {
    for (const address of upstream) proxies.push(await MetadataFixProxy.start(address));
  } catch (err) {
    await Promise.all(proxies.map((p) => p.close()));
    await stopChild(child, 2_000);
    throw err;
  }
  const portMap = new Map(proxies.map((p) => [p.upstreamPort, p.port]));
  const listeners = new Set<(request: ObservedRequest) => void>();
  const syncs = new SyncOrder();
  for (const proxy of proxies) {
    proxy.portMap = portMap;
    proxy.listeners = listeners;
    proxy.syncs = syncs;
  }

  let stopped: Promise<void> | undefined;
  return {
    brokers: proxies.map((p) => `127.0.0.1:${p.port}`),
    onRequest(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop() {
      stopped ??= (async () => {
        await Promise.all(proxies.map((p) => p.close()));
        await stopChild(child, 2_000);
      })();
      return stopped;
    },
  };
}

const API_METADATA = 3;
const API_VERSIONS = 18;
const API_LEAVE_GROUP = 13;
const API_SYNC_GROUP = 14;
/** SyncGroup versions whose layout `parseSyncGroup` knows (non-flexible encodings; kafkajs uses ≤ 3). */
const MAX_PARSED_SYNC_GROUP_VERSION = 3;
/** The longest a leader's SyncGroup waits for its followers'. */
const SYNC_HOLD_MS = 2_000;
/** Time for the mock to read a follower's SyncGroup before the leader's that it released. */
const SYNC_SETTLE_MS = 20;
/** Highest LeaveGroup version the mock decodes correctly (it reads a single member id). */
const MOCK_LEAVE_GROUP_MAX_VERSION = 2;
/** Metadata versions whose layout `rewriteMetadata` knows (non-flexible encodings; kafkajs uses ≤ 6). */
const MAX_REWRITTEN_METADATA_VERSION = 8;

/** One listener in front of one mock broker, forwarding bytes and fixing Metadata responses. */
class MetadataFixProxy {
  portMap = new Map<number, number>();
  listeners = new Set<(request: ObservedRequest) => void>();
  syncs = new SyncOrder();
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  private constructor(
    server: net.Server,
    readonly port: number,
    readonly upstreamHost: string,
    readonly upstreamPort: number,
  ) {
    this.#server = server;
  }

  static async start(address: string): Promise<MetadataFixProxy> {
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon);
    const upstreamPort = Number(address.slice(colon + 1));
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new MetadataFixProxy(server, (server.address() as net.AddressInfo).port, host, upstreamPort);
    server.on('connection', (client) => proxy.#pipe(client));
    return proxy;
  }

  #pipe(client: net.Socket): void {
    const broker = net.connect(this.upstreamPort, this.upstreamHost);
    this.#sockets.add(client).add(broker);
    const requests = new Map<number, { apiKey: number; apiVersion: number }>();
    const close = () => {
      client.destroy();
      broker.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(broker);
    };
    client.on('error', close).on('close', close);
    broker.on('error', close).on('close', close);

    // Requests pass through unchanged, in order; only their header is noted to decode the
    // response. A leader's SyncGroup (and what follows it on its connection) may wait.
    let held: Promise<void> | undefined;
    frames(client, (frame) => {
      const request = { apiKey: frame.readInt16BE(4), apiVersion: frame.readInt16BE(6) };
      requests.set(frame.readInt32BE(8), request);
      for (const listener of this.listeners) listener({ ...request, frame: Buffer.from(frame) });
      const wait = request.apiKey === API_SYNC_GROUP && request.apiVersion <= MAX_PARSED_SYNC_GROUP_VERSION ? this.syncs.arrived(parseSyncGroup(frame, request.apiVersion)) : undefined;
      if (!held && !wait) {
        broker.write(frame);
        return;
      }
      const copy = Buffer.from(frame); // the socket's buffer is not ours to keep
      const mine: Promise<void> = (held ?? Promise.resolve()).then(() => wait).then(() => {
        broker.write(copy);
        if (held === mine) held = undefined;
      });
      held = mine;
    });
    frames(broker, (frame) => {
      const correlationId = frame.readInt32BE(4);
      const request = requests.get(correlationId);
      requests.delete(correlationId);
      if (request?.apiKey === API_METADATA && request.apiVersion >= 1 && request.apiVersion <= MAX_REWRITTEN_METADATA_VERSION) {
        rewriteMetadata(frame, request.apiVersion, this.portMap);
      }
      if (request?.apiKey === API_VERSIONS && request.apiVersion <= 2) capLeaveGroup(frame);
      client.write(frame);
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

interface SyncGroupRequest {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  /** Members the request assigns to: all of the group's for a leader, none for a follower. */
  readonly assignees: readonly string[];
}

/** Which members of each generation have sent SyncGroup, and the leaders waiting for them. */
class SyncOrder {
  readonly #synced = new Map<string, Set<string>>();
  readonly #waiting = new Set<{ key: string; members: readonly string[]; release(): void }>();

  /** Notes a SyncGroup; for a leader's whose followers have not all synced, the promise to wait for. */
  arrived(request: SyncGroupRequest): Promise<void> | undefined {
    const key = `${request.groupId}\u0000${request.generationId}`;
    const synced = this.#synced.get(key) ?? new Set<string>();
    this.#synced.set(key, synced.add(request.memberId));
    if (this.#synced.size > 256) this.#synced.delete(this.#synced.keys().next().value!);
    for (const w of this.#waiting) if (w.key === key && w.members.every((m) => synced.has(m))) w.release();
    const followers = request.assignees.filter((m) => m !== request.memberId);
    if (followers.every((m) => synced.has(m))) return undefined;
    return new Promise((resolve) => {
      const entry = {
        key,
        members: followers,
        release: () => {
          clearTimeout(timer);
          this.#waiting.delete(entry);
          setTimeout(resolve, SYNC_SETTLE_MS);
        },
      };
      const timer = setTimeout(entry.release, SYNC_HOLD_MS);
      this.#waiting.add(entry);
    });
  }
}

/**
 * SyncGroup request v0–v3:
 *   int32 size, int16 apiKey, int16 apiVersion, int32 correlationId, int16+bytes? clientId,
 *   int16+bytes groupId, int32 generationId, int16+bytes memberId, [v3+ int16+bytes? groupInstanceId],
 *   int32 count, { int16+bytes memberId, int32+bytes assignment } ...
 */
function parseSyncGroup(frame: Buffer, version: number): SyncGroupRequest {
  let pos = 12;
  const str = (): string => {
    const length = frame.readInt16BE(pos);
    pos += 2;
    if (length < 0) return '';
    const value = frame.toString('utf8', pos, pos + length);
    pos += length;
    return value;
  };
  str(); // clientId
  const groupId = str();
  const generationId = frame.readInt32BE(pos);
  pos += 4;
  const memberId = str();
  if (version >= 3) str(); // groupInstanceId
  const count = frame.readInt32BE(pos);
  pos += 4;
  const assignees: string[] = [];
  for (let i = 0; i < count; i++) {
    assignees.push(str());
    pos += 4 + Math.max(frame.readInt32BE(pos), 0);
  }
  return { groupId, generationId, memberId, assignees };
}

/** Calls `onFrame` with each size-prefixed Kafka frame (size field included). */
function frames(socket: net.Socket, onFrame: (frame: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readInt32BE(0) + 4;
      if (pending.length < size) break;
      onFrame(pending.subarray(0, size));
      pending = pending.subarray(size);
    }
  });
}

/**
 * Metadata response v1–v8, in place (only fixed-width fields change):
 *   int32 size, int32 correlationId, [v3+ int32 throttleTimeMs],
 *   int32 brokerCount, { int32 nodeId, int16+bytes host, int32 port, int16+bytes? rack } ...,
 *   [v2+ int16+bytes? clusterId], int32 controllerId, topics ...
 */
function rewriteMetadata(frame: Buffer, version: number, portMap: ReadonlyMap<number, number>): void {
  let pos = 8 + (version >= 3 ? 4 : 0);
  const brokerCount = frame.readInt32BE(pos);
  pos += 4;
  const nodeIds: number[] = [];
  for (let i = 0; i < brokerCount; i++) {
    nodeIds.push(frame.readInt32BE(pos));
    pos += 4;
    pos += 2 + frame.readInt16BE(pos);
    const proxied = portMap.get(frame.readInt32BE(pos));
    if (proxied !== undefined) frame.writeInt32BE(proxied, pos);
    pos += 4;
    const rackLength = frame.readInt16BE(pos);
    pos += 2 + Math.max(rackLength, 0);
  }
  if (version >= 2) {
    const clusterIdLength = frame.readInt16BE(pos);
    pos += 2 + Math.max(clusterIdLength, 0);
  }
  const controllerId = frame.readInt32BE(pos);
  const first = nodeIds[0];
  if (first !== undefined && !nodeIds.includes(controllerId)) frame.writeInt32BE(first, pos);
}

/**
 * ApiVersions response v0–v2, in place:
 *   int32 size, int32 correlationId, int16 errorCode,
 *   int32 count, { int16 apiKey, int16 minVersion, int16 maxVersion } ..., [v1+ int32 throttleTimeMs]
 */
function capLeaveGroup(frame: Buffer): void {
  if (frame.length < 14 || frame.readInt16BE(8) !== 0) return;
  const count = frame.readInt32BE(10);
  for (let i = 0, pos = 14; i < count && pos + 6 <= frame.length; i++, pos += 6) {
    if (frame.readInt16BE(pos) === API_LEAVE_GROUP && frame.readInt16BE(pos + 4) > MOCK_LEAVE_GROUP_MAX_VERSION) {
      frame.writeInt16BE(MOCK_LEAVE_GROUP_MAX_VERSION, pos + 4);
    }
  }
}
