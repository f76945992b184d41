/**
 * `npm run bench -- jobs` (issue 14, point 6): one job on a thing group of 100,000 things.
 * Reports executions created per second and notify messages delivered per second for that job,
 * and memory per execution. The issue sets no target for these figures: each is printed with
 * its ratio to a baseline measured in the same run, and no target.
 *
 * Shape. kiot runs in this process as `kiot up` runs it (`startBenchPlatform`: every role on an
 * EmbeddedLog in a temp data dir, anonymous MQTT on loopback). Setup, not measured: the thing
 * group `fleet` is made with CreateThingGroup, and the 100,000 things that belong to it
 * (`fleet-0` ... `fleet-99999`, each its own thingId and membershipId) are appended straight
 * onto `iot.registry` as the records CreateThing and AddThingToThingGroup write (framed by the
 * state codec), 1,000 per append, as benchmarks/registry.ts loads its things: the API would
 * take 200,000 calls. The registry reads them as any other writer's records; the run waits
 * until DescribeThing and ListThingGroupsForThing show the last one in the group.
 *
 * The fleet runs in a child process (`jobs-load.ts`): 8 mqtt.js clients (MQTT 3.1.1, QoS 1),
 * each subscribed to `$aws/things/<thing>/jobs/notify` of its 12,500 things, one filter per
 * thing, so each notify is delivered once and the gateway matches against 100,000 distinct
 * filters. Three kinds of run over the same things and subscribers, each checked before its rate
 * prints, in the order gateway floor, state floor, jobs, state floor, gateway floor: each floor's
 * figure is the mean of its run before and its run after the jobs run (the machine's other work
 * moves one run's figure by a third or more; bracketing the jobs run cancels a drift):
 *
 * - gateway floor: this process appends, per thing, the `notify` and `notify-next` the jobs
 *   service would publish (same topics, shapes and sizes, the job document in notify-next)
 *   straight onto `iot.ingress`, one append per batch of things as each batch command's appends
 *   go (batches as below): what delivering the job's messages costs with no state behind them.
 * - state floor: this process runs, on a StateStore of its own over a new topic with the jobs
 *   topic's partitions (4, compacted, same log; one topic per run), one trivial command per
 *   batch of up to 100 things of one partition, 8 in flight (as jobs/service.ts `eachThing`
 *   fans out), not pipelined (as the jobs store): per thing it writes a record shaped like the
 *   jobs service's thing record (one QUEUED execution, compare-and-set on the key's revision)
 *   and appends the same notify and notify-next.
 * - jobs: the child calls CreateJob on the group (`@aws-sdk/client-iot`, no rollout config, so
 *   every execution is queued before CreateJob answers: api/routes/jobs.ts resolves the group
 *   from the registry as a stream, the jobs service stores the things as rollout chunks and
 *   queues them in `jobs.each-thing` batches of up to 100 of one partition, 8 in flight, each
 *   writing its things' records and appending their `notify` and `notify-next` to `iot.ingress`). Executions created/s = 100,000 /
 *   the time from sending CreateJob to its answer; checked by DescribeJob (100,000 queued, no
 *   processingTargets) and every page of ListJobExecutionsForJob (100,000 QUEUED).
 *
 * Executions created/s is compared with the state floor's records/s: what the jobs path adds
 * over the state base is the jobs logic (the API call and target resolution, the job and
 * rollout records, the execution state machine, the notifications' diff of pending lists, the
 * events watcher, the index by job). Notify delivered/s = the notifies the fleet received for
 * the run's job / the time from the run's start (CreateJob sent, or the first append or
 * command) until the last one arrived (the processes share a clock, jobs-load.ts); the jobs
 * figure is compared with the gateway floor's (and the state floor's). Every thing must get a
 * notify listing the run's job as QUEUED (execution 1), and nothing else may arrive. One jobs
 * run: a second job would double every thing's pending list. kiot's CPU over each run is
 * printed (the floors' include this process driving them).
 *
 * Memory. A fresh child runs the jobs service on its own EmbeddedLog and queues
 * one job on 100,000 things through `Jobs.createJob`; heap and RSS growth across it, after a
 * full GC on both sides, divided by 100,000. The row's msgs/s is how fast that CreateJob queued
 * them (no kiot around it), with no baseline: the issue sets no budget.
 */
import { CreateThingGroupCommand, DescribeThingCommand, IoTClient, ListThingGroupsForThingCommand } from '@aws-sdk/client-iot';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { StateStore, TOPICS, TOPIC_SPECS, partitionForKey, createEnvelope, encodeFrame, envelopeRecord, jsonCodec, silentLogger, type AppendRecord, type CommandDefinition, type Log } from '../core/index.js';
import { FAN_OUT_BATCH, FAN_OUT_IN_FLIGHT } from '../jobs/index.js';
import { Child } from './child.js';
import type { JobCreated, LoadReply, LoadRequest, MemoryResult, Notified } from './jobs-load.js';
import { startBenchPlatform } from './platform.js';
import type { Benchmark, BenchResult } from './report.js';

const THINGS = 100_000;
const PREFIX = 'fleet';
const GROUP = 'fleet';
const CLIENTS = 8;
/** As the jobs service fans out (jobs/service.ts `eachThing`): things per batch of one partition, batches in flight. */
const BATCH = FAN_OUT_BATCH;
const IN_FLIGHT = FAN_OUT_IN_FLIGHT;
/** Thing records per append while loading the registry. */
const APPEND_BATCH = 1_000;
/** A child that does not answer within this time (subscribing, CreateJob, listing) has failed. */
const REPLY_TIMEOUT_MS = 600_000;
/** How long the notifies may take to arrive after the run's commands are done. */
const NOTIFY_TIMEOUT_MS = 300_000;
const JOB_DOCUMENT = JSON.stringify({ operation: 'firmware-update', version: '2.4.1', url: 'https://updates.example.com/fw/2.4.1.bin', sha256: 'a'.repeat(64) });

type LoadChild = Child<LoadRequest, LoadReply>;
type Platform = Awaited<ReturnType<typeof startBenchPlatform>>;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
/** The clock the child uses too (jobs-load.ts). */
const now = (): number => performance.timeOrigin + performance.now();

async function expect<T extends LoadReply['type']>(child: LoadChild, type: T): Promise<Extract<LoadReply, { type: T }>> {
  const reply = await child.next();
  if (reply.type !== type) throw new Error(`jobs benchmark: expected ${type} from the load process, received ${reply.type}`);
  return reply as Extract<LoadReply, { type: T }>;
}

// ---- the floor's store: a thing record as the jobs service's, one trivial command ----

interface FloorExecution {
  readonly jobId: string;
  readonly status: 'QUEUED';
  readonly versionNumber: number;
  readonly executionNumber: number;
  readonly queuedAt: number;
  readonly lastUpdatedAt: number;
}
interface FloorThing {
  readonly kind: 'thing';
  readonly thingName: string;
  readonly nextExecutionNumber: number;
  readonly executions: Readonly<Record<string, FloorExecution>>;
}
const floorSchema: z.ZodType<FloorThing> = z.object({
  kind: z.literal('thing'),
  thingName: z.string().min(1),
  nextExecutionNumber: z.number().int().min(1),
  executions: z.record(
    z.string(),
    z.object({
      jobId: z.string().min(1),
      status: z.literal('QUEUED'),
      versionNumber: z.number().int().min(1),
      executionNumber: z.number().int().min(1),
      queuedAt: z.number().int().nonnegative(),
      lastUpdatedAt: z.number().int().nonnegative(),
    }),
  ),
});
const floorCodec = jsonCodec<FloorThing>({ name: 'bench floor thing', version: 1, schema: floorSchema });
/** The jobs topic's partitions and compaction, under another name (one per floor run, so each starts empty as iot.jobs does). */
const floorTopic = (run: number) => ({ ...TOPIC_SPECS.jobs, name: `bench.jobs-floor-${run}` });

const seconds = (ms: number) => Math.floor(ms / 1000);
const publication = (thingName: string, topic: string, body: object, at: number): AppendRecord =>
  envelopeRecord(createEnvelope({ topic, payload: Buffer.from(JSON.stringify(body)), qos: 1, thingName, receivedAt: at }));

/** The notify and notify-next the jobs service publishes when a thing's first execution is queued (jobs/mqtt.ts), same shapes and sizes. */
function notifications(thingName: string, jobId: string, executionNumber: number, at: number): AppendRecord[] {
  const t = seconds(at);
  const summary = { jobId, queuedAt: t, lastUpdatedAt: t, versionNumber: 1, executionNumber };
  const base = `$aws/things/${thingName}/jobs`;
  const execution = { jobId, thingName, jobDocument: JSON.parse(JOB_DOCUMENT) as unknown, status: 'QUEUED', queuedAt: t, lastUpdatedAt: t, versionNumber: 1, executionNumber };
  return [publication(thingName, `${base}/notify`, { timestamp: t, jobs: { QUEUED: [summary] } }, at), publication(thingName, `${base}/notify-next`, { timestamp: t, execution }, at)];
}

/**
 * Queues `jobId` on a batch of things of one partition: each one's record, and the notify and
 * notify-next the jobs service would publish, the records in one append and the messages in
 * another (as `jobs.each-thing`).
 */
const floorQueue: CommandDefinition<FloorThing, { thingNames: readonly string[]; jobId: string }, number> = {
  name: 'bench.floor-queue',
  keys: (input) => input.thingNames.map((t) => `thing/${t}`),
  run(state, input, ctx) {
    const writes = [];
    const records: AppendRecord[] = [];
    for (const thingName of input.thingNames) {
      const key = `thing/${thingName}`;
      const before = state.get(key);
      if (before?.executions[input.jobId]) continue;
      const executionNumber = before?.nextExecutionNumber ?? 1;
      const exec: FloorExecution = { jobId: input.jobId, status: 'QUEUED', versionNumber: 1, executionNumber, queuedAt: ctx.now, lastUpdatedAt: ctx.now };
      const after: FloorThing = { kind: 'thing', thingName, nextExecutionNumber: executionNumber + 1, executions: { ...before?.executions, [input.jobId]: exec } };
      writes.push({ key, value: after, ifRevision: state.revision(key) });
      records.push(...notifications(thingName, input.jobId, executionNumber, ctx.now));
    }
    return { writes, result: writes.length, appends: [{ topic: TOPICS.ingress, records }] };
  },
};

/** The things in batches of up to BATCH of one partition, as jobs/service.ts `eachThing` makes them. */
function batches(things: readonly string[], partitionOf: (thingName: string) => number): string[][] {
  const out: string[][] = [];
  const filling = new Map<number, string[]>();
  for (const thingName of things) {
    const partition = partitionOf(thingName);
    const batch = filling.get(partition) ?? [];
    batch.push(thingName);
    if (batch.length < BATCH) filling.set(partition, batch);
    else {
      filling.delete(partition);
      out.push(batch);
    }
  }
  return [...out, ...filling.values()];
}

/** As jobs/service.ts: `task` on every item, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

// ---- setup ----

/** The fleet's things, in the group, appended onto iot.registry as the registry's own records. */
async function loadFleet(log: Log, iot: IoTClient, progress: (line: string) => void): Promise<string> {
  const group = await iot.send(new CreateThingGroupCommand({ thingGroupName: GROUP, thingGroupProperties: { thingGroupDescription: 'bench: the fleet a job targets' } }));
  // The registry store's frame (schema version 1, revision 1: each key's first value); its codec checks the records on read.
  const registryFrame = jsonCodec<object>({ name: 'registry record', version: 1, schema: z.object({}).passthrough() });
  const started = performance.now();
  let lastReport = started;
  for (let from = 0; from < THINGS; from += APPEND_BATCH) {
    const records: AppendRecord[] = [];
    for (let i = from; i < Math.min(THINGS, from + APPEND_BATCH); i++) {
      const thingName = `${PREFIX}-${i}`;
      const thing = { kind: 'thing', thingName, thingId: randomUUID(), attributes: { site: `site-${i % 50}` }, version: 1, groups: [{ groupName: GROUP, membershipId: randomUUID() }], createdAt: Date.now() };
      records.push({ key: `thing/${thingName}`, value: encodeFrame(registryFrame, thing, 1) });
    }
    await log.append(TOPICS.registry, records);
    const done = Math.min(THINGS, from + APPEND_BATCH);
    if (performance.now() - lastReport > 2_000 || done === THINGS) {
      lastReport = performance.now();
      progress(`setup: ${fmt(done)}/${fmt(THINGS)} things appended to iot.registry (${fmt(done / ((lastReport - started) / 1000))}/s)`);
    }
  }
  const last = `${PREFIX}-${THINGS - 1}`;
  const deadline = performance.now() + 300_000;
  for (;;) {
    const found = await iot.send(new DescribeThingCommand({ thingName: last })).then(
      () => true,
      (err: { name?: string }) => {
        if (err.name === 'ResourceNotFoundException') return false;
        throw err;
      },
    );
    if (found) break;
    if (performance.now() > deadline) throw new Error('jobs benchmark: the registry did not read the fleet within 300 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const groups = (await iot.send(new ListThingGroupsForThingCommand({ thingName: last }))).thingGroups ?? [];
  if (!groups.some((g) => g.groupName === GROUP)) throw new Error(`jobs benchmark: ${last} is in ${JSON.stringify(groups)}, not in ${GROUP}`);
  progress(`setup: the registry has the ${fmt(THINGS)} things in ${GROUP} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  return group.thingGroupArn!;
}

// ---- the runs ----

interface RunFigures {
  readonly executionsPerSec: number;
  readonly notifiesPerSec: number;
  readonly notified: Notified;
  readonly createMs: number;
}

const mean = (a: RunFigures, b: RunFigures): Pick<RunFigures, 'executionsPerSec' | 'notifiesPerSec'> => ({
  executionsPerSec: (a.executionsPerSec + b.executionsPerSec) / 2,
  notifiesPerSec: (a.notifiesPerSec + b.notifiesPerSec) / 2,
});

const cores = (used: NodeJS.CpuUsage, ms: number) => ((used.user + used.system) / 1000 / ms).toFixed(2);

function figures(startedAt: number, doneAt: number, notified: Notified): RunFigures {
  return { executionsPerSec: THINGS / ((doneAt - startedAt) / 1000), notifiesPerSec: notified.notifies / ((notified.lastAt - startedAt) / 1000), notified, createMs: doneAt - startedAt };
}

async function floorRun(run: number, platform: Platform, load: LoadChild, progress: (line: string) => void): Promise<RunFigures> {
  const store = await StateStore.open<FloorThing>({ log: platform.log, logger: silentLogger(), topic: floorTopic(run), codec: floorCodec, commands: [floorQueue] });
  try {
    const jobId = `floor-${run}-fw-2_4_1`;
    const things = Array.from({ length: THINGS }, (_, i) => `${PREFIX}-${i}`);
    // Warm the command path on things outside the fleet (nobody subscribes to their topics).
    const partitionOf = (thingName: string) => store.partitionOf(`thing/${thingName}`);
    await eachLimited(batches(Array.from({ length: 500 }, (_, i) => `warm-${i}`), partitionOf), IN_FLIGHT, (thingNames) => store.execute('bench.floor-queue', { thingNames, jobId: 'warm' }));
    load.send({ type: 'arm', jobId });
    await expect(load, 'armed');
    const cpu = process.cpuUsage();
    const startedAt = now();
    await eachLimited(batches(things, partitionOf), IN_FLIGHT, (thingNames) => store.execute('bench.floor-queue', { thingNames, jobId }));
    const doneAt = now();
    const used = process.cpuUsage(cpu);
    load.send({ type: 'collect', timeoutMs: NOTIFY_TIMEOUT_MS });
    const notified = await expect(load, 'notified');
    // Every record is there as the command wrote it.
    for (const thingName of things) {
      const e = store.get(`thing/${thingName}`)?.executions[jobId];
      if (e?.status !== 'QUEUED' || e.executionNumber !== 1) throw new Error(`jobs benchmark: floor record of ${thingName} is ${JSON.stringify(e)}`);
    }
    const f = figures(startedAt, doneAt, notified);
    progress(
      `state floor ${run}: ${fmt(THINGS)} records in ${(f.createMs / 1000).toFixed(2)} s = ${fmt(f.executionsPerSec)}/s; ${fmt(notified.notifies)} notifies to ${fmt(notified.things)} things, ` +
        `last ${((notified.lastAt - startedAt) / 1000).toFixed(2)} s after the start = ${fmt(f.notifiesPerSec)}/s (first after ${fmt(notified.firstAt - startedAt)} ms); kiot's process used ${cores(used, f.createMs)} cores`,
    );
    return f;
  } finally {
    await store.close();
  }
}

/**
 * The gateway's floor: the same notify and notify-next per thing appended straight onto
 * iot.ingress, one append per batch of things (as each batch command's appends go); no state.
 */
async function gatewayRun(run: number, platform: Platform, load: LoadChild, progress: (line: string) => void): Promise<RunFigures> {
  const jobId = `gateway-${run}-fw-2_4_1`;
  const things = Array.from({ length: THINGS }, (_, i) => `${PREFIX}-${i}`);
  load.send({ type: 'arm', jobId });
  await expect(load, 'armed');
  const cpu = process.cpuUsage();
  const startedAt = now();
  // The jobs store's partitioning of the things, as the jobs service batches them.
  const partitionOf = (thingName: string) => partitionForKey(Buffer.from(`thing/${thingName}`), TOPIC_SPECS.jobs.partitions ?? 4);
  await eachLimited(batches(things, partitionOf), IN_FLIGHT, (thingNames) => platform.log.append(TOPICS.ingress, thingNames.flatMap((thingName) => notifications(thingName, jobId, 1, Date.now()))));
  const doneAt = now();
  const used = process.cpuUsage(cpu);
  load.send({ type: 'collect', timeoutMs: NOTIFY_TIMEOUT_MS });
  const notified = await expect(load, 'notified');
  const f = figures(startedAt, doneAt, notified);
  progress(
    `gateway floor ${run}: ${fmt(THINGS)} appends of notify + notify-next in ${(f.createMs / 1000).toFixed(2)} s (kiot's process used ${cores(used, f.createMs)} cores); ${fmt(notified.notifies)} notifies to ${fmt(notified.things)} things, ` +
      `last ${((notified.lastAt - startedAt) / 1000).toFixed(2)} s after the first append = ${fmt(f.notifiesPerSec)}/s (first after ${fmt(notified.firstAt - startedAt)} ms)`,
  );
  return f;
}

async function jobsRun(dir: string, platform: Platform, load: LoadChild, groupArn: string, progress: (line: string) => void): Promise<RunFigures> {
  const jobId = 'fw-2_4_1';
  load.send({ type: 'arm', jobId });
  await expect(load, 'armed');
  const cpu = process.cpuUsage();
  load.send({ type: 'create-job', endpoint: `http://127.0.0.1:${platform.listeners.get('http')}`, credentialsFile: join(dir, 'data', 'credentials'), jobId, groupArn, document: JOB_DOCUMENT });
  await expect(load, 'answered');
  const used = process.cpuUsage(cpu);
  const created: JobCreated = await expect(load, 'created');
  if (created.queued !== THINGS || created.processingTargets !== 0) throw new Error(`jobs benchmark: DescribeJob after CreateJob: ${created.queued} queued, ${created.processingTargets} targets processing; expected ${THINGS} and 0`);
  if (created.listed !== THINGS) throw new Error(`jobs benchmark: ListJobExecutionsForJob listed ${created.listed} executions, expected ${THINGS}`);
  load.send({ type: 'collect', timeoutMs: NOTIFY_TIMEOUT_MS });
  const notified = await expect(load, 'notified');
  const f = figures(created.startedAt, created.answeredAt, notified);
  progress(
    `jobs: CreateJob on ${GROUP} answered after ${(f.createMs / 1000).toFixed(2)} s = ${fmt(f.executionsPerSec)} executions/s; ${fmt(notified.notifies)} notifies to ${fmt(notified.things)} things, ` +
      `last ${((notified.lastAt - created.startedAt) / 1000).toFixed(2)} s after CreateJob was sent = ${fmt(f.notifiesPerSec)}/s (first after ${fmt(notified.firstAt - created.startedAt)} ms); ` +
      `DescribeJob ${fmt(created.queued)} queued, ListJobExecutionsForJob ${fmt(created.listed)} QUEUED (${(created.listMs / 1000).toFixed(1)} s to list); ` +
      `kiot's process used ${cores(used, f.createMs)} cores until the answer`,
  );
  return f;
}

async function throughput(progress: (line: string) => void): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-jobs-'));
  await mkdir(join(dir, 'rules'));
  const platform = await startBenchPlatform(dir, { maxSubscriptionsPerConnection: String(Math.ceil(THINGS / CLIENTS) + 10) }, progress);
  const load: LoadChild = new Child('jobs-load', ['load'], { label: 'jobs benchmark: the load process', replyTimeoutMs: REPLY_TIMEOUT_MS });
  const iot = new IoTClient({ endpoint: `http://127.0.0.1:${platform.listeners.get('http')}`, region: 'us-east-1', credentials: fromIni({ filepath: join(dir, 'data', 'credentials'), profile: 'default' }) });
  try {
    const groupArn = await loadFleet(platform.log, iot, progress);
    load.send({ type: 'connect', url: `mqtt://127.0.0.1:${platform.listeners.get('mqtt')}`, prefix: PREFIX, things: THINGS, clients: CLIENTS });
    const connected = await expect(load, 'connected');
    progress(`setup: ${CLIENTS} clients subscribed to the notify topic of ${fmt(THINGS / CLIENTS)} things each (${(connected.setupMs / 1000).toFixed(1)} s); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    // Each floor runs before and after the jobs run, and the baseline is their mean: on a machine
    // shared with other work, one run of each in turn measured the load as much as the code.
    const gateway1 = await gatewayRun(1, platform, load, progress);
    const floor1 = await floorRun(1, platform, load, progress);
    const jobs = await jobsRun(dir, platform, load, groupArn, progress);
    const floor2 = await floorRun(2, platform, load, progress);
    const gateway2 = await gatewayRun(2, platform, load, progress);
    const floor = mean(floor1, floor2);
    const gateway = mean(gateway1, gateway2);
    progress(`load average after the runs: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    load.send({ type: 'disconnect' });
    await expect(load, 'disconnected');
    const floorCreate = `jobs state floor: one command per ${BATCH} things (records, notify, notify-next), ${IN_FLIGHT} in flight, /s (mean of 2)`;
    const floorNotify = 'jobs state floor: its notifies delivered/s (mean of 2)';
    const gatewayNotify = `jobs gateway floor: notify + notify-next appended per ${BATCH} things, ${IN_FLIGHT} in flight, notifies delivered/s (mean of 2)`;
    const jobsNotify = "jobs: that job's notifies delivered/s (no target set)";
    return [
      { name: floorCreate, messagesPerSec: floor.executionsPerSec },
      { name: `jobs: CreateJob on a group of ${fmt(THINGS)} things, executions created/s (no target set)`, messagesPerSec: jobs.executionsPerSec, baseline: 'jobs state floor', ratio: jobs.executionsPerSec / floor.executionsPerSec },
      { name: gatewayNotify, messagesPerSec: gateway.notifiesPerSec },
      { name: floorNotify, messagesPerSec: floor.notifiesPerSec, baseline: 'jobs gateway floor', ratio: floor.notifiesPerSec / gateway.notifiesPerSec },
      { name: jobsNotify, messagesPerSec: jobs.notifiesPerSec, baseline: 'jobs gateway floor', ratio: jobs.notifiesPerSec / gateway.notifiesPerSec },
      { name: jobsNotify, messagesPerSec: jobs.notifiesPerSec, baseline: 'jobs state floor (its notifies)', ratio: jobs.notifiesPerSec / floor.notifiesPerSec },
    ];
  } finally {
    iot.destroy();
    await load.stop();
    await platform.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function memory(progress: (line: string) => void): Promise<BenchResult> {
  const child = new Child<LoadRequest, LoadReply>('jobs-load', ['memory', String(THINGS)], { label: 'jobs benchmark: the memory process', replyTimeoutMs: REPLY_TIMEOUT_MS });
  try {
    let reply = await child.next();
    while (reply.type === 'progress') {
      progress(reply.line);
      reply = await child.next();
    }
    if (reply.type !== 'memory') throw new Error(`jobs benchmark: unexpected reply ${reply.type} from the memory process`);
    const m: MemoryResult = reply;
    progress(`memory: ${fmt(m.heapBytesPerExecution)} bytes of heap (${fmt(m.rssBytesPerExecution)} of RSS) per execution with ${fmt(m.executions)} executions of one job; queued at ${fmt(m.createdPerSec)}/s`);
    return { name: `jobs: memory, ${fmt(m.executions)} executions: ${fmt(m.heapBytesPerExecution)} B heap, ${fmt(m.rssBytesPerExecution)} B RSS each (no target set; msgs/s = queued/s)`, messagesPerSec: m.createdPerSec };
  } finally {
    await child.stop();
  }
}

export const jobsBenchmark: Benchmark = {
  name: 'jobs',
  summary: `one job on a thing group of ${THINGS.toLocaleString('en-US')} things: executions created/s vs a state-store floor with the same writes and messages, notifies delivered/s vs a gateway floor; heap per execution`,
  async run(progress) {
    const results = await throughput(progress);
    results.push(await memory(progress));
    return results;
  },
};
