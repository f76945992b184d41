/**
 * One contender of `npm run bench -- sql` in a process of its own: `sql.ts` forks this module
 * once per (rule, contender). Isolation is the point: with alasql and json-rules-engine loaded
 * in the same process, V8 deoptimised the hand-written baseline ("code dependencies" under
 * --trace-deopt: a library changing a shared prototype invalidates code that relied on it), so
 * the baseline measured slower than it is. Here each process loads only what it times.
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
  TOPIC,
  type ContenderName,
  type Row,
  type RuleName,
  type Telemetry,
  type WorkerReady,
  type WorkerReply,
  type WorkerRequest,
  generateTexts,
} from './sql-workload.js';

const DEFAULT_MESSAGES = 4096;
const WARM_UP_MS = 300;

/** The timed work: `batch()` handles every message once and returns how many fired. */
interface Timed {
  readonly batch: () => number | Promise<number>;
  /** Outputs per message (undefined: not fired), or only the fired rows (alasql); absent for the floor. */
  readonly outputs: () => Promise<{ readonly perMessage?: readonly unknown[]; readonly fired: readonly unknown[] } | undefined>;
}

/*
 * Every output is assigned here: an output that escapes cannot be optimised away (an inlined
 * function whose result is only compared with undefined could otherwise skip its allocation).
 */
let keep: unknown;

async function contender(name: ContenderName, rule: RuleName, texts: readonly string[]): Promise<Timed> {
  const n = texts.length;
  // Objects as JSON.parse makes them, as a rules worker holds a parsed message.
  const data = texts.map((t) => JSON.parse(t) as Telemetry);
  const hand = HAND[rule];
  switch (name) {
    case 'hand':
      return {
        batch: () => {
          let fired = 0;
          for (let i = 0; i < n; i++) {
            const out = hand(data[i]!);
            if (out !== undefined) {
              keep = out;
              fired++;
            }
          }
          return fired;
        },
        outputs: async () => ({ perMessage: data.map(hand), fired: [] }),
      };
    case 'hand+parse':
      return {
        batch: () => {
          let fired = 0;
          for (let i = 0; i < n; i++) {
            const out = hand(JSON.parse(texts[i]!) as Telemetry);
            if (out !== undefined) {
              keep = out;
              fired++;
            }
          }
          return fired;
        },
        outputs: async () => ({ perMessage: texts.map((t) => hand(JSON.parse(t) as Telemetry)), fired: [] }),
      };
    case 'parse':
      return {
        batch: () => {
          let parsed = 0;
          for (let i = 0; i < n; i++) {
            keep = JSON.parse(texts[i]!);
            parsed++;
          }
          return parsed;
        },
        outputs: async () => undefined,
      };
    case 'kiot': {
      const { compileSql } = await import('../rules/sql/index.js');
      const compiled = compileSql(KIOT_SQL[rule]);
      const inputs = data.map((json) => ({ topic: TOPIC, json }));
      return {
        batch: () => {
          let fired = 0;
          for (let i = 0; i < n; i++) {
            const out = compiled.evaluate(inputs[i]!);
            if (out !== undefined) {
              keep = out;
              fired++;
            }
          }
          return fired;
        },
        outputs: async () => ({ perMessage: inputs.map((input) => compiled.evaluate(input)), fired: [] }),
      };
    }
    case 'kiot+parse': {
      const { compileSql } = await import('../rules/sql/index.js');
      const compiled = compileSql(KIOT_SQL[rule]);
      return {
        batch: () => {
          let fired = 0;
          for (let i = 0; i < n; i++) {
            const out = compiled.evaluate({ topic: TOPIC, payload: texts[i]! });
            if (out !== undefined) {
              keep = out;
              fired++;
            }
          }
          return fired;
        },
        outputs: async () => ({ perMessage: texts.map((payload) => compiled.evaluate({ topic: TOPIC, payload })), fired: [] }),
      };
    }
    case 'alasql': {
      const alasql = (await import('alasql')).default as unknown as { compile(sql: string): (params: unknown[]) => unknown };
      // Compiled once; each batch runs the whole array through it (alasql's fastest form).
      const statement = alasql.compile(ALASQL_SQL[rule]);
      return {
        batch: () => {
          const rows = statement([data]) as Row[];
          keep = rows;
          return rows.length;
        },
        outputs: async () => ({ fired: statement([data]) as Row[] }),
      };
    }
    case 'json-rules-engine': {
      const { Engine } = await import('json-rules-engine');
      const engine = new Engine([], { allowUndefinedFacts: true });
      engine.addRule({ conditions: JRE_CONDITIONS[rule] as never, event: { type: 'fire' } });
      // json-rules-engine decides; the projection is the hand-written one.
      const run = async (m: Telemetry) => ((await engine.run(m as unknown as Record<string, unknown>)).events.length > 0 ? hand(m) : undefined);
      return {
        batch: async () => {
          let fired = 0;
          for (let i = 0; i < n; i++) {
            const out = await run(data[i]!);
            if (out !== undefined) {
              keep = out;
              fired++;
            }
          }
          return fired;
        },
        outputs: async () => {
          const perMessage: unknown[] = [];
          for (const m of data) perMessage.push(await run(m));
          return { perMessage, fired: [] };
        },
      };
    }
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function ready(timed: Timed, texts: readonly string[]): Promise<WorkerReady> {
  const base = {
    type: 'ready' as const,
    dataDigest: sha256(texts.join('\n')),
    avgBytes: texts.reduce((sum, t) => sum + Buffer.byteLength(t), 0) / texts.length,
  };
  const outputs = await timed.outputs();
  if (outputs === undefined) return base;
  const firedAt: number[] = [];
  let fired = outputs.fired;
  if (outputs.perMessage !== undefined) {
    fired = [];
    outputs.perMessage.forEach((out, i) => {
      if (out === undefined) return;
      firedAt.push(i);
      (fired as unknown[]).push(out);
    });
  }
  return {
    ...base,
    outputDigest: sha256(JSON.stringify(fired)),
    ...(outputs.perMessage !== undefined ? { firedAtDigest: sha256(JSON.stringify(firedAt)) } : {}),
    fired: fired.length,
    sample: fired[0],
  };
}

/** Runs whole batches until about `ms` of this process's CPU time has passed. */
async function slice(timed: Timed, messages: number, ms: number): Promise<{ ops: number; wallNs: number; cpuUs: number }> {
  const budgetUs = ms * 1000;
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  let batches = 0;
  let cpuUs = 0;
  while (cpuUs < budgetUs) {
    const r = timed.batch();
    if (typeof r !== 'number') await r;
    batches++;
    const cpu = process.cpuUsage(cpu0);
    cpuUs = cpu.user + cpu.system;
  }
  return { ops: batches * messages, wallNs: Number(process.hrtime.bigint() - wall0), cpuUs };
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
  const texts = generateTexts(args.messages, args.seed);
  const timed = await contender(args.name, args.rule, texts);
  const info = await ready(timed, texts);
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
