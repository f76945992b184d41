/**
 * One contender of `npm run bench -- sql` in a process of its own: `sql.ts` forks this module
 * once per (rule, contender), so that no engine's libraries, type feedback or heap decisions
 * reach another's code. In one process the baseline and kiot were deoptimised for "code
 * dependencies" (--trace-deopt) and ran up to 4x slower from then on, depending on what ran
 * before them. One cause is reproduced and avoided here: outputs kept alive by the agreement
 * check make V8 pretenure the allocation site of the output object (see {@link Timed.visit}).
 *
 * Protocol (IPC): the worker generates the telemetry from the seed, computes the rule's outputs,
 * warms up, and sends a {@link WorkerReady}; then answers each `{ type: 'slice', ms }` with a
 * {@link WorkerSlice} after running whole batches for about `ms` of CPU time; `exit` ends it.
 *
 * Run by hand (no IPC channel) it times itself and prints its rates, which is the way to profile
 * one engine: `node --cpu-prof dist/benchmarks/sql-worker.js kiot heavy [seconds]`.
 */
import { createHash } from 'node:crypto';
import {
  ALASQL_SQL,
  CONTENDERS,
  HAND,
  JRE_CONDITIONS,
  KIOT_SQL,
  RULES,
  SEED,
  type ContenderName,
  type MessageRecord,
  type Row,
  type RuleName,
  type Telemetry,
  type TextRecord,
  type WorkerReady,
  type WorkerReply,
  type WorkerRequest,
  generateEnvelopes,
  generateTexts,
  topicLevel2,
} from './sql-workload.js';

const DEFAULT_MESSAGES = 1_000_000;
const WARM_UP_MS = 300;
/**
 * Messages per unit of timed work. A slice runs chunks from where the last one stopped, cycling
 * through all the messages, so that every message is distinct and most are not in a CPU cache
 * when they are read, as on a rules worker's stream.
 */
const CHUNK = 4096;

/** The timed work: `batch(start, end)` handles messages start..end-1 once and returns how many fired. */
interface Timed {
  readonly batch: (start: number, end: number) => number | Promise<number>;
  /**
   * Visits every output as it is produced: `at` is the message's index, or -1 for an engine that
   * returns only the fired rows (alasql). Absent for the JSON.parse floor, which has no outputs.
   *
   * The check must not hold on to the outputs: objects from one allocation site that survive a
   * scavenge make V8 pretenure that site (allocate its objects in old space from then on), which
   * made the engine whose outputs were kept up to 4x slower in every later batch. Each output is
   * hashed and dropped, as the timed batches drop theirs.
   */
  readonly visit?: (each: (at: number, out: unknown) => void) => Promise<void>;
}

/*
 * Every output is assigned here: an output that escapes cannot be optimised away (an inlined
 * function whose result is only compared with undefined could otherwise skip its allocation).
 */
let keep: unknown;

interface Data {
  readonly texts: readonly string[];
  readonly topics: readonly string[];
  readonly clientIds: readonly string[];
  readonly timestamps: readonly number[];
}

/** A Timed over a per-message function (`undefined` when the rule does not fire). */
function perMessage(n: number, one: (i: number) => unknown): Timed {
  return {
    batch: (start, end) => {
      let fired = 0;
      for (let i = start; i < end; i++) {
        const out = one(i);
        if (out !== undefined) {
          keep = out;
          fired++;
        }
      }
      return fired;
    },
    visit: async (each) => {
      for (let i = 0; i < n; i++) each(i, one(i));
    },
  };
}

/**
 * Builds only what the contender reads, so that a worker holds one copy of the million messages
 * (texts, or parsed records) besides the texts themselves.
 */
async function contender(name: ContenderName, rule: RuleName, d: Data): Promise<Timed> {
  const { texts, topics, clientIds, timestamps } = d;
  const n = texts.length;
  // Payloads as JSON.parse makes them, as a rules worker holds a parsed message.
  const parsed = () => texts.map((t) => JSON.parse(t) as Telemetry);
  // The messages kiot and the hand-written function are given: the same records for both, built
  // once (a rules worker has its message record before it evaluates anything).
  const records = (): MessageRecord[] => parsed().map((json, i) => ({ topic: topics[i]!, clientId: clientIds[i]!, timestamp: timestamps[i]!, json }));
  const textRecords = (): TextRecord[] => texts.map((payload, i) => ({ topic: topics[i]!, clientId: clientIds[i]!, timestamp: timestamps[i]!, payload }));
  const hand = HAND[rule];
  switch (name) {
    case 'hand': {
      const ms = records();
      return perMessage(n, (i) => {
        const m = ms[i]!;
        return hand(m.json, m.topic, m.clientId, m.timestamp);
      });
    }
    case 'hand-bare': {
      const data = parsed();
      return perMessage(n, (i) => hand(data[i]!, topics[i]!, clientIds[i]!, timestamps[i]!));
    }
    case 'hand+parse': {
      const ms = textRecords();
      return perMessage(n, (i) => {
        const m = ms[i]!;
        return hand(JSON.parse(m.payload) as Telemetry, m.topic, m.clientId, m.timestamp);
      });
    }
    case 'parse':
      return {
        batch: (start, end) => {
          for (let i = start; i < end; i++) keep = JSON.parse(texts[i]!);
          return end - start;
        },
      };
    case 'kiot':
    case 'kiot+topic':
    case 'kiot+parse': {
      const { compileSql } = await import('../rules/sql/index.js');
      const compiled = compileSql(KIOT_SQL[rule]);
      if (name === 'kiot+parse') {
        const ms = textRecords();
        return perMessage(n, (i) => compiled.evaluateMatched(ms[i]!));
      }
      const ms = records();
      // kiot: as the rules worker runs a rule its topic-filter index routed the message to;
      // kiot+topic: evaluate() tests the topic against the FROM filter itself.
      return name === 'kiot' ? perMessage(n, (i) => compiled.evaluateMatched(ms[i]!)) : perMessage(n, (i) => compiled.evaluate(ms[i]!));
    }
    case 'alasql': {
      const alasql = (await import('alasql')).default as unknown as { compile(sql: string): (params: unknown[]) => unknown; fn: Record<string, unknown> };
      alasql.fn.TOPIC_LEVEL2 = topicLevel2;
      // Compiled once; each chunk of rows goes through it as one array (alasql's fastest form).
      const sql = ALASQL_SQL[rule];
      if (sql === undefined) throw new Error(`alasql does not run the ${rule} rule`);
      const statement = alasql.compile(sql);
      const data = parsed();
      const chunks: Row[][] = [];
      for (let start = 0; start < n; start += CHUNK) {
        chunks.push(data.slice(start, start + CHUNK).map((j, k) => ({ ...j, topic: topics[start + k], client_id: clientIds[start + k], received_at: timestamps[start + k] })));
      }
      return {
        batch: (start) => {
          const rows = statement([chunks[start / CHUNK]!]) as Row[];
          keep = rows;
          return rows.length;
        },
        visit: async (each) => {
          for (const chunk of chunks) for (const row of statement([chunk]) as Row[]) each(-1, row);
        },
      };
    }
    case 'json-rules-engine': {
      const { Engine } = await import('json-rules-engine');
      const engine = new Engine([], { allowUndefinedFacts: true });
      const conditions = JRE_CONDITIONS[rule];
      if (conditions === undefined) throw new Error(`json-rules-engine does not run the ${rule} rule`);
      engine.addRule({ conditions: conditions as never, event: { type: 'fire' } });
      const data = parsed();
      // json-rules-engine decides; the projection is the hand-written one.
      const run = async (i: number) =>
        (await engine.run(data[i] as unknown as Record<string, unknown>)).events.length > 0 ? hand(data[i]!, topics[i]!, clientIds[i]!, timestamps[i]!) : undefined;
      return {
        batch: async (start, end) => {
          let fired = 0;
          for (let i = start; i < end; i++) {
            const out = await run(i);
            if (out !== undefined) {
              keep = out;
              fired++;
            }
          }
          return fired;
        },
        visit: async (each) => {
          for (let i = 0; i < n; i++) each(i, await run(i));
        },
      };
    }
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** sha256 of the message texts and envelopes: every worker must have generated the same data. */
function dataDigest(d: Data): string {
  // Joined a chunk at a time: one update per message field costs seconds on a million messages.
  const h = createHash('sha256');
  for (let start = 0; start < d.texts.length; start += CHUNK) {
    const end = start + CHUNK;
    h.update(d.texts.slice(start, end).join('\n'));
    h.update(d.topics.slice(start, end).join('\n'));
    h.update(d.clientIds.slice(start, end).join('\n'));
    h.update(d.timestamps.slice(start, end).join('\n'));
  }
  return h.digest('hex');
}

async function ready(timed: Timed, d: Data): Promise<WorkerReady> {
  const base = {
    type: 'ready' as const,
    dataDigest: dataDigest(d),
    avgBytes: d.texts.reduce((sum, t) => sum + t.length, 0) / d.texts.length, // ASCII: characters are bytes
  };
  if (timed.visit === undefined) return base;
  // The fired outputs' JSON in message order, one per line, and the indexes of the messages that fired.
  const outputs = createHash('sha256');
  const firedAt = createHash('sha256');
  let perMessage = false;
  let fired = 0;
  let sample: unknown;
  await timed.visit((at, out) => {
    if (out === undefined) return;
    const json = JSON.stringify(out);
    outputs.update(`${json}\n`);
    if (at >= 0) {
      perMessage = true;
      firedAt.update(`${at}\n`);
    }
    if (fired++ === 0) sample = JSON.parse(json);
  });
  return {
    ...base,
    outputDigest: outputs.digest('hex'),
    ...(perMessage ? { firedAtDigest: firedAt.digest('hex') } : {}),
    fired,
    sample,
  };
}

/**
 * Runs chunks of {@link CHUNK} messages, from where the previous slice stopped, until about `ms`
 * of this process's CPU time has passed. Reading the CPU clock costs a system call (a quarter of
 * the time of a 4096-message chunk of the filter rule when read after every chunk, which made
 * fast engines look slower than they are and pulled ratios towards 1), so chunks run in groups
 * that double until a group takes 5 ms or more.
 */
let cursor = 0;
async function slice(timed: Timed, messages: number, ms: number): Promise<{ ops: number; wallNs: number; cpuUs: number }> {
  const budgetUs = ms * 1000;
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  let ops = 0;
  let group = 1;
  let cpuUs = 0;
  while (cpuUs < budgetUs) {
    for (let k = 0; k < group; k++) {
      const end = Math.min(cursor + CHUNK, messages);
      const r = timed.batch(cursor, end);
      if (typeof r !== 'number') await r;
      ops += end - cursor;
      cursor = end === messages ? 0 : end;
    }
    const cpu = process.cpuUsage(cpu0);
    const now = cpu.user + cpu.system;
    if (now - cpuUs < 5000) group *= 2;
    cpuUs = now;
  }
  return { ops, wallNs: Number(process.hrtime.bigint() - wall0), cpuUs };
}

function parseArgs(argv: readonly string[]): { name: ContenderName; rule: RuleName; messages: number; seed: number; seconds: number } {
  const [name, rule, messages, seed, seconds] = argv;
  if (!(CONTENDERS as readonly string[]).includes(name ?? '') || !(RULES as readonly string[]).includes(rule ?? '')) {
    throw new Error(`usage: sql-worker <${CONTENDERS.join('|')}> <${RULES.join('|')}> [messages] [seed] [seconds]`);
  }
  return {
    name: name as ContenderName,
    rule: rule as RuleName,
    messages: messages === undefined ? DEFAULT_MESSAGES : Number(messages),
    seed: seed === undefined ? SEED : Number(seed),
    seconds: seconds === undefined ? 5 : Number(seconds),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const data: Data = { texts: generateTexts(args.messages, args.seed), ...generateEnvelopes(args.messages) };
  const timed = await contender(args.name, args.rule, data);
  const info = await ready(timed, data);
  await slice(timed, args.messages, WARM_UP_MS); // let the JIT settle before anything is timed
  const send = process.send?.bind(process);
  if (send === undefined) {
    // Standalone: time for `seconds` in 250 ms slices and print the rates (for --cpu-prof).
    process.stdout.write(`${args.name} ${args.rule}: ${info.fired ?? '-'} of ${args.messages} fired\n`);
    const end = Date.now() + args.seconds * 1000;
    while (Date.now() < end) {
      const s = await slice(timed, args.messages, 250);
      process.stdout.write(`${Math.round(s.ops / (s.cpuUs / 1e6)).toLocaleString('en-US')} msgs/CPU-s  ${Math.round(s.ops / (s.wallNs / 1e9)).toLocaleString('en-US')} msgs/s\n`);
    }
    return;
  }
  const reply = (m: WorkerReply) => send(m);
  reply(info);
  process.on('message', (m: WorkerRequest) => {
    if (m.type === 'exit') {
      process.disconnect();
      return;
    }
    slice(timed, args.messages, m.ms).then(
      (s) => reply({ type: 'slice', ...s }),
      (err: unknown) => reply({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (process.send) process.send({ type: 'error', message } satisfies WorkerReply, () => process.exit(1));
  else {
    process.stderr.write(`sql-worker: ${message}\n`);
    process.exit(1);
  }
});
