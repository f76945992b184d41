/**
 * The processes of `npm run bench -- jobs` other than kiot's: `jobs.ts` forks this module so
 * that the devices, and the caller of CreateJob, never share a process (or its CPU) with the
 * gateway and the jobs service they measure.
 *
 * - `load` (IPC): mqtt.js clients standing in for the fleet. `connect` opens `clients`
 *   connections and subscribes each to `$aws/things/<thing>/jobs/notify` of its share of the
 *   things (one filter per thing, every SUBACK checked), so that each notify is delivered once.
 *   `arm` names the job whose notifies count from then on; `create-job` calls CreateJob on the
 *   fleet's thing group with `@aws-sdk/client-iot` (SigV4 over HTTP, as any control-plane caller)
 *   and then checks DescribeJob's counts and every page of ListJobExecutionsForJob; `collect`
 *   waits until every thing got its notify. A notify counts only once checked: on a topic of a
 *   thing of the fleet, JSON, with the armed job in its `QUEUED` list with execution number 1
 *   (anything else fails the run). Times are `performance.timeOrigin + performance.now()`, the
 *   same clock in every process of the machine, so that the parent can start a period the child
 *   ends.
 * - `memory`: a jobs service on its own EmbeddedLog in a temp dir, one
 *   CreateJob of 100,000 things through `Jobs.createJob`, and the heap (and RSS) the executions
 *   hold after a full GC on both sides.
 *
 * By hand: `node dist/benchmarks/jobs-load.js memory 100000` prints the memory
 * figures (add `--heap-prof` or `--cpu-prof` to see where they go).
 */
import { CreateJobCommand, DescribeJobCommand, IoTClient, ListJobExecutionsForJobCommand } from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { CORE_TOPICS, EmbeddedLog, silentLogger, sleep } from '../core/index.js';
import { createJobsService } from '../jobs/index.js';
import { replyToParent, runLoadProcess } from './child.js';
import { collectGarbage } from './gc.js';

/** Things are `<prefix>-<i>`, i from 0; thing i belongs to client i % clients. */
export interface ConnectRequest {
  readonly type: 'connect';
  readonly url: string;
  readonly prefix: string;
  readonly things: number;
  readonly clients: number;
}

export interface Connected {
  readonly type: 'connected';
  /** Connecting and subscribing every thing's notify topic. */
  readonly setupMs: number;
}

/** From now on, notifies count for `jobId` (the counts of the previous job are dropped). */
export interface ArmRequest {
  readonly type: 'arm';
  readonly jobId: string;
}

export interface Armed {
  readonly type: 'armed';
}

export interface CreateJobRequest {
  readonly type: 'create-job';
  /** kiot's HTTP API, and the credentials file `kiot up` wrote. */
  readonly endpoint: string;
  readonly credentialsFile: string;
  readonly jobId: string;
  readonly groupArn: string;
  readonly document: string;
}

export interface JobCreated {
  readonly type: 'created';
  /** Just before CreateJob was sent, and when its answer arrived (shared clock, see the header). */
  readonly startedAt: number;
  readonly answeredAt: number;
  /** DescribeJob's jobProcessDetails after the answer. */
  readonly queued: number;
  readonly processingTargets: number;
  /** Executions ListJobExecutionsForJob listed (every page), all QUEUED. */
  readonly listed: number;
  readonly listMs: number;
}

/** Sent as soon as CreateJob answered, before the checks, so that kiot's process can read its CPU time over the call. */
export interface JobAnswered {
  readonly type: 'answered';
}

export interface CollectRequest {
  readonly type: 'collect';
  readonly timeoutMs: number;
}

export interface Notified {
  readonly type: 'notified';
  /** Checked notifies of the armed job, and the things they reached. */
  readonly notifies: number;
  readonly things: number;
  /** When the first and last of them arrived (shared clock). */
  readonly firstAt: number;
  readonly lastAt: number;
}

export interface DisconnectRequest {
  readonly type: 'disconnect';
}

export interface Disconnected {
  readonly type: 'disconnected';
}

export interface MemoryProgress {
  readonly type: 'progress';
  readonly line: string;
}

export interface MemoryResult {
  readonly type: 'memory';
  readonly executions: number;
  readonly heapBytesPerExecution: number;
  readonly rssBytesPerExecution: number;
  /** How fast Jobs.createJob queued them (executions/s). */
  readonly createdPerSec: number;
}

export type LoadRequest = ConnectRequest | ArmRequest | CreateJobRequest | CollectRequest | DisconnectRequest;
export type LoadReply = Connected | Armed | JobAnswered | JobCreated | Notified | Disconnected | MemoryProgress | MemoryResult | { readonly type: 'error'; readonly message: string };

/** SUBSCRIBE packets carry at most this many filters (the gateway's limit, AWS IoT's 8). */
const FILTERS_PER_SUBSCRIBE = 8;
/** SUBSCRIBE packets each client keeps waiting for their SUBACK while it subscribes. */
const SUBSCRIBES_IN_FLIGHT = 16;
/** ListJobExecutionsForJob's largest page (API reference: maxResults 1 to 250). */
const LIST_PAGE = 250;

const now = (): number => performance.timeOrigin + performance.now();

interface Fleet {
  readonly clients: mqtt.MqttClient[];
  readonly prefix: string;
  readonly things: number;
}

let fleet: Fleet | undefined;
/** The armed job and what arrived for it, per thing. */
let armed: { jobId: string; perThing: Uint16Array; notifies: number; things: number; firstAt: number; lastAt: number } | undefined;
let failure: Error | undefined;
let complete: (() => void) | undefined;

const fail = (message: string) => {
  failure ??= new Error(message);
  complete?.();
};

interface NotifyBody {
  readonly jobs?: { readonly QUEUED?: readonly { readonly jobId?: unknown; readonly executionNumber?: unknown }[] };
}

function onNotify(topic: string, message: Buffer): void {
  if (failure) return;
  const f = fleet!;
  // $aws/things/<prefix>-<i>/jobs/notify
  const thing = topic.split('/')[2] ?? '';
  const i = thing.startsWith(`${f.prefix}-`) ? Number(thing.slice(f.prefix.length + 1)) : Number.NaN;
  if (!Number.isInteger(i) || i < 0 || i >= f.things || !topic.endsWith('/jobs/notify')) return fail(`a message arrived on ${topic}, no thing of the fleet's notify topic`);
  const text = message.toString('utf8');
  if (!armed) return fail(`a notify arrived on ${topic} with no job armed: ${text.slice(0, 200)}`);
  let body: NotifyBody;
  try {
    body = JSON.parse(text) as NotifyBody;
  } catch {
    return fail(`the notify on ${topic} is not JSON: ${text.slice(0, 200)}`);
  }
  const queued = body.jobs?.QUEUED ?? [];
  const entry = queued.find((e) => e.jobId === armed!.jobId);
  if (!entry || entry.executionNumber !== 1) return fail(`the notify on ${topic} does not list ${armed.jobId} (execution 1) as QUEUED: ${text.slice(0, 300)}`);
  const at = now();
  if (armed.notifies === 0) armed.firstAt = at;
  armed.lastAt = at;
  armed.notifies++;
  if (armed.perThing[i]!++ === 0) armed.things++;
  if (armed.things === f.things) complete?.();
}

async function connect(req: ConnectRequest): Promise<Connected> {
  const started = performance.now();
  const owned: string[][] = Array.from({ length: req.clients }, () => []);
  for (let i = 0; i < req.things; i++) owned[i % req.clients]!.push(`${req.prefix}-${i}`);
  const clients = await Promise.all(
    owned.map((_, c) => mqtt.connectAsync(req.url, { clientId: `bench-jobs-fleet-${c}`, protocolVersion: 4, clean: true, reconnectPeriod: 0, connectTimeout: 10_000 })),
  );
  fleet = { clients, prefix: req.prefix, things: req.things };
  for (const [c, client] of clients.entries()) {
    client.on('message', onNotify);
    client.on('error', (err) => fail(`client ${c}: ${err.message}`));
    client.on('close', () => {
      if (fleet) fail(`client ${c}: the gateway closed the connection`);
    });
  }
  await Promise.all(
    clients.map(async (client, c) => {
      const filters = owned[c]!.map((thing) => `$aws/things/${thing}/jobs/notify`);
      const step = FILTERS_PER_SUBSCRIBE * SUBSCRIBES_IN_FLIGHT;
      for (let at = 0; at < filters.length; at += step) {
        const chunks: string[][] = [];
        for (let k = at; k < Math.min(filters.length, at + step); k += FILTERS_PER_SUBSCRIBE) chunks.push(filters.slice(k, k + FILTERS_PER_SUBSCRIBE));
        const grants = (await Promise.all(chunks.map((chunk) => client.subscribeAsync(chunk, { qos: 1 })))).flat();
        const refused = grants.find((g) => g.qos !== 1);
        if (refused) throw new Error(`the gateway refused the subscription ${refused.topic} (granted ${refused.qos})`);
      }
    }),
  );
  if (failure) throw failure;
  return { type: 'connected', setupMs: performance.now() - started };
}

async function createJob(req: CreateJobRequest): Promise<JobCreated> {
  // One attempt: a CreateJob retried after its first try queued the job would be a second job id clash, not a measurement.
  const iot = new IoTClient({ endpoint: req.endpoint, region: 'us-east-1', maxAttempts: 1, credentials: fromIni({ filepath: req.credentialsFile, profile: 'default' }), requestHandler: { requestTimeout: 600_000 } });
  try {
    // Credentials read and the connection opened before the clock starts.
    await iot.send(new DescribeJobCommand({ jobId: req.jobId })).catch(() => undefined);
    const startedAt = now();
    await iot.send(new CreateJobCommand({ jobId: req.jobId, targets: [req.groupArn], document: req.document, targetSelection: 'SNAPSHOT', description: 'bench: firmware 2.4.1 to the fleet' }));
    const answeredAt = now();
    replyToParent<LoadReply>({ type: 'answered' });
    const described = await iot.send(new DescribeJobCommand({ jobId: req.jobId }));
    const details = described.job?.jobProcessDetails;
    const listStarted = performance.now();
    let listed = 0;
    let nextToken: string | undefined;
    do {
      const page = await iot.send(new ListJobExecutionsForJobCommand({ jobId: req.jobId, maxResults: LIST_PAGE, ...(nextToken ? { nextToken } : {}) }));
      for (const e of page.executionSummaries ?? []) {
        if (e.jobExecutionSummary?.status !== 'QUEUED') throw new Error(`ListJobExecutionsForJob: ${e.thingArn} is ${e.jobExecutionSummary?.status}, expected QUEUED`);
        listed++;
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return {
      type: 'created',
      startedAt,
      answeredAt,
      queued: details?.numberOfQueuedThings ?? 0,
      processingTargets: details?.processingTargets?.length ?? 0,
      listed,
      listMs: performance.now() - listStarted,
    };
  } finally {
    iot.destroy();
  }
}

async function collect(req: CollectRequest): Promise<Notified> {
  const a = armed;
  if (!a || !fleet) throw new Error('collect: no job armed');
  if (a.things < fleet.things && !failure) {
    await new Promise<void>((resolve) => {
      complete = resolve;
      setTimeout(resolve, req.timeoutMs).unref();
    });
    complete = undefined;
  }
  if (failure) throw failure;
  if (a.things < fleet.things) {
    const missing: string[] = [];
    for (let i = 0; i < fleet.things && missing.length < 5; i++) if (a.perThing[i] === 0) missing.push(`${fleet.prefix}-${i}`);
    throw new Error(`${fleet.things - a.things} things had no notify of ${a.jobId} within ${req.timeoutMs} ms (first: ${missing.join(', ')})`);
  }
  return { type: 'notified', notifies: a.notifies, things: a.things, firstAt: a.firstAt, lastAt: a.lastAt };
}

async function serve(req: LoadRequest): Promise<LoadReply> {
  switch (req.type) {
    case 'connect':
      return connect(req);
    case 'arm':
      if (!fleet) throw new Error('arm: not connected');
      if (failure) throw failure;
      armed = { jobId: req.jobId, perThing: new Uint16Array(fleet.things), notifies: 0, things: 0, firstAt: 0, lastAt: 0 };
      return { type: 'armed' };
    case 'create-job':
      return createJob(req);
    case 'collect':
      return collect(req);
    case 'disconnect': {
      const clients = fleet?.clients ?? [];
      fleet = undefined;
      await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
      return { type: 'disconnected' };
    }
  }
}

/** Heap and RSS per execution with one job queued on `count` things, through Jobs.createJob on an EmbeddedLog. */
async function runMemory(count: number, progress: (line: string) => void): Promise<MemoryResult> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-jobs-memory-'));
  const log = await EmbeddedLog.open({ dataDir: dir, logger: silentLogger() });
  const service = createJobsService({}, { log, logger: silentLogger() });
  try {
    // The topics `kiot up` ensures: the service appends its notifies to iot.ingress.
    for (const topic of CORE_TOPICS) await log.ensureTopic(topic);
    const jobs = await service.start();
    const document = JSON.stringify({ operation: 'firmware-update', version: '2.4.1', url: 'https://updates.example.com/fw/2.4.1.bin', sha256: 'a'.repeat(64) });
    const things = Array.from({ length: count }, (_, i) => `meter-${i}`);
    // Code paths warm, and the service's consumers running, before the heap is first read.
    const input = (jobId: string) => ({ jobId, targets: ['arn:aws:iot:us-east-1:000000000000:thinggroup/fleet'], thingGroupNames: ['fleet'], document, targetSelection: 'SNAPSHOT' as const, configs: {} });
    await jobs.createJob(input('warm-up'), Array.from({ length: 200 }, (_, i) => `warm-${i}`));
    await sleep(1_500);
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    const rssBefore = process.memoryUsage().rss;
    progress(`memory: queuing one job on ${count.toLocaleString('en-US')} things through Jobs.createJob (heap before ${(heapBefore / 2 ** 20).toFixed(0)} MiB)`);
    const started = performance.now();
    await jobs.createJob(input('memory'), things);
    const createdPerSec = count / ((performance.now() - started) / 1000);
    // The notifies and events the commands appended are on the log; let the service's own consumers settle.
    await sleep(2_000);
    collectGarbage();
    const heapBytesPerExecution = (process.memoryUsage().heapUsed - heapBefore) / count;
    const rssBytesPerExecution = (process.memoryUsage().rss - rssBefore) / count;
    // Every execution is there, as CreateJob said (read after the heap, not to disturb it).
    const progressOf = jobs.progress('memory');
    if (progressOf.total !== count || progressOf.counts.QUEUED !== count) throw new Error(`memory: the job has ${JSON.stringify(progressOf)} executions, expected ${count} QUEUED`);
    for (let i = 0; i < count; i += 997) {
      const e = jobs.execution(things[i]!, 'memory');
      if (e?.status !== 'QUEUED' || e.executionNumber !== 1) throw new Error(`memory: ${things[i]} has ${JSON.stringify(e)}`);
    }
    return { type: 'memory', executions: count, heapBytesPerExecution, rssBytesPerExecution, createdPerSec };
  } finally {
    await service.stop();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
}

runLoadProcess<LoadRequest>('jobs-load', { serve, memory: runMemory });
