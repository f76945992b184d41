/**
 * IoT SQL evaluation: kiot's compiled rules against a hand-written JavaScript function doing
 * the same work (the practical limit), alasql (compiled once, run per batch) and
 * json-rules-engine, over the same generated telemetry. Every engine's results are compared
 * before anything is timed; a disagreement aborts the benchmark.
 *
 * Targets (issue #3): filter+projection without parsing >= 0.85x hand-written and >= 1.0x
 * alasql; heavy rule without parsing >= 0.6x hand-written and >= 1.1x alasql; with parsing
 * >= 0.85x the JSON.parse-alone floor.
 */
import alasql from 'alasql';
import { Engine } from 'json-rules-engine';
import { compileSql, type SqlInput } from '../rules/sql/index.js';
import { measure, type Benchmark, type BenchResult } from './report.js';

const MESSAGES = 4096;
const MEASURE_MS = 1500;
const STATUSES = ['ok', 'OK', 'warn', 'offline', 'Degraded'];
const SITES = ['berlin', 'lyon', 'porto', 'oslo'];

interface Telemetry {
  deviceId: string;
  site: string;
  status: string;
  temperature: number;
  humidity: number;
  battery: number;
  ts: number;
  sensors: { pressure: { value: number; unit: string }; vibration: { rms: number; peak: number } };
  firmware: string;
}

/** Deterministic telemetry of about 234 bytes per message (a small LCG, not Math.random). */
function generate(n: number): Telemetry[] {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  return Array.from({ length: n }, (_, i) => ({
    deviceId: `dev-${(i % 997).toString().padStart(4, '0')}`,
    site: SITES[i % SITES.length]!,
    status: STATUSES[Math.floor(rnd() * STATUSES.length)]!,
    temperature: Math.round(rnd() * 1200) / 10,
    humidity: Math.round(rnd() * 1000) / 10,
    battery: Math.round(rnd() * 100),
    ts: 1_700_000_000_000 + i * 1000,
    sensors: { pressure: { value: Math.round(rnd() * 20000) / 10, unit: 'hPa' }, vibration: { rms: Math.round(rnd() * 1000) / 1000, peak: Math.round(rnd() * 5000) / 1000 } },
    firmware: `v1.${i % 7}.${i % 13}`,
  }));
}

const FILTER_SQL = "SELECT deviceId, temperature, humidity FROM 'factory/+/telemetry' WHERE temperature > 80";
const HEAVY_SQL =
  'SELECT deviceId, upper(site) AS site, ' +
  "CASE WHEN temperature > 100 THEN 'critical' WHEN temperature > 80 THEN 'hot' ELSE 'normal' END AS level, " +
  "sensors.pressure.value AS pressure, concat(deviceId, '-', lower(status)) AS tag " +
  "FROM 'factory/+/telemetry' WHERE temperature > 40 AND status <> 'offline'";

type Row = Record<string, unknown>;

/** The fastest plain JavaScript giving exactly the filter rule's outputs on this data. */
function handFilter(j: Telemetry): Row | undefined {
  const t = j.temperature;
  if (!(t > 80)) return undefined;
  return { deviceId: j.deviceId, temperature: t, humidity: j.humidity };
}

/** The fastest plain JavaScript giving exactly the heavy rule's outputs on this data. */
function handHeavy(j: Telemetry): Row | undefined {
  const t = j.temperature;
  if (!(t > 40 && j.status !== 'offline')) return undefined;
  return {
    deviceId: j.deviceId,
    site: j.site.toUpperCase(),
    level: t > 100 ? 'critical' : t > 80 ? 'hot' : 'normal',
    pressure: j.sensors.pressure.value,
    tag: `${j.deviceId}-${j.status.toLowerCase()}`,
  };
}

const ALASQL_FILTER = 'SELECT deviceId, temperature, humidity FROM ? WHERE temperature > 80';
const ALASQL_HEAVY =
  "SELECT deviceId, UPPER(site) AS site, CASE WHEN temperature > 100 THEN 'critical' WHEN temperature > 80 THEN 'hot' ELSE 'normal' END AS [level], " +
  "sensors->pressure->[value] AS pressure, deviceId + '-' + LOWER(status) AS tag FROM ? WHERE temperature > 40 AND status <> 'offline'";

function jsonRulesEngine(heavy: boolean): Engine {
  const engine = new Engine([], { allowUndefinedFacts: true });
  const conditions = heavy
    ? { all: [{ fact: 'temperature', operator: 'greaterThan', value: 40 }, { fact: 'status', operator: 'notEqual', value: 'offline' }] }
    : { all: [{ fact: 'temperature', operator: 'greaterThan', value: 80 }] };
  engine.addRule({ conditions, event: { type: 'fire' } });
  return engine;
}

/** json-rules-engine decides; the projection is the same JavaScript as the hand-written one. */
async function runJre(engine: Engine, messages: readonly Telemetry[], project: (j: Telemetry) => Row | undefined): Promise<(Row | undefined)[]> {
  const out: (Row | undefined)[] = [];
  for (const m of messages) {
    const { events } = await engine.run(m as unknown as Record<string, unknown>);
    out.push(events.length > 0 ? project(m) : undefined);
  }
  return out;
}

function same(name: string, expected: readonly (Row | undefined)[], actual: readonly unknown[]): void {
  const a = JSON.stringify(expected.filter((x) => x !== undefined));
  const b = JSON.stringify(actual.filter((x) => x !== undefined));
  if (a !== b) throw new Error(`${name} disagrees with the hand-written function:\n  expected ${a.slice(0, 300)}\n  found    ${b.slice(0, 300)}`);
}

export const sqlBenchmark: Benchmark = {
  name: 'sql',
  summary: 'IoT SQL evaluation vs hand-written JS, alasql and json-rules-engine',
  async run(progress) {
    const data = generate(MESSAGES);
    const texts = data.map((d) => JSON.stringify(d));
    const topic = 'factory/berlin/telemetry';
    const avgBytes = texts.reduce((n, t) => n + t.length, 0) / texts.length;
    progress(`${MESSAGES} telemetry messages, ${avgBytes.toFixed(0)} bytes on average; ${MEASURE_MS} ms per row`);
    const parsedInputs: SqlInput[] = data.map((json) => ({ topic, json }));
    const results: BenchResult[] = [];
    let sink = 0;

    for (const [label, sql, hand, alaSql, heavy, targets] of [
      ['filter+projection', FILTER_SQL, handFilter, ALASQL_FILTER, false, { hand: 0.85, alasql: 1.0 }],
      ['heavy', HEAVY_SQL, handHeavy, ALASQL_HEAVY, true, { hand: 0.6, alasql: 1.1 }],
    ] as const) {
      const rule = compileSql(sql);
      const alaStatement = (alasql as unknown as { compile(sql: string): (params: unknown[]) => unknown }).compile(alaSql);
      const engine = jsonRulesEngine(heavy);

      // Agreement before timing.
      const expected = data.map(hand);
      same(`kiot (${label})`, expected, parsedInputs.map((i) => rule.evaluate(i)));
      same(`kiot with parsing (${label})`, expected, texts.map((payload) => rule.evaluate({ topic, payload })));
      same(`alasql (${label})`, expected, alaStatement([data]) as Row[]);
      same(`json-rules-engine (${label})`, expected, await runJre(engine, data.slice(0, 500), hand).then((r) => [...r, ...expected.slice(500)]));

      const handRate = await measure(MEASURE_MS, MESSAGES, () => {
        for (let i = 0; i < MESSAGES; i++) if (hand(data[i]!) !== undefined) sink++;
      });
      const kiotRate = await measure(MEASURE_MS, MESSAGES, () => {
        for (let i = 0; i < MESSAGES; i++) if (rule.evaluate(parsedInputs[i]!) !== undefined) sink++;
      });
      const alaRate = await measure(MEASURE_MS, MESSAGES, () => {
        sink += (alaStatement([data]) as Row[]).length;
      });
      const jreCount = 500;
      const jreSlice = data.slice(0, jreCount);
      const jreRate = await measure(MEASURE_MS, jreCount, async () => {
        sink += (await runJre(engine, jreSlice, hand)).length;
      });
      results.push(
        { name: `${label}: hand-written JS`, messagesPerSec: handRate },
        { name: `${label}: kiot`, messagesPerSec: kiotRate, baseline: `${label}: hand-written JS`, ratio: kiotRate / handRate, target: targets.hand },
        { name: `${label}: alasql (per batch)`, messagesPerSec: alaRate },
        { name: `${label}: kiot vs alasql`, messagesPerSec: kiotRate, baseline: `${label}: alasql (per batch)`, ratio: kiotRate / alaRate, target: targets.alasql },
        { name: `${label}: json-rules-engine`, messagesPerSec: jreRate, baseline: `${label}: kiot`, ratio: jreRate / kiotRate },
      );

      // With parsing: every message arrives as text; the floor is JSON.parse alone.
      const parseRate = await measure(MEASURE_MS, MESSAGES, () => {
        for (let i = 0; i < MESSAGES; i++) if (JSON.parse(texts[i]!) !== undefined) sink++;
      });
      const kiotParseRate = await measure(MEASURE_MS, MESSAGES, () => {
        for (let i = 0; i < MESSAGES; i++) if (rule.evaluate({ topic, payload: texts[i]! }) !== undefined) sink++;
      });
      const handParseRate = await measure(MEASURE_MS, MESSAGES, () => {
        for (let i = 0; i < MESSAGES; i++) if (hand(JSON.parse(texts[i]!) as Telemetry) !== undefined) sink++;
      });
      results.push(
        { name: `${label} +parse: JSON.parse alone`, messagesPerSec: parseRate, mbPerSec: (parseRate * avgBytes) / 1e6 },
        { name: `${label} +parse: hand-written JS`, messagesPerSec: handParseRate, baseline: `${label} +parse: JSON.parse alone`, ratio: handParseRate / parseRate },
        { name: `${label} +parse: kiot`, messagesPerSec: kiotParseRate, baseline: `${label} +parse: JSON.parse alone`, ratio: kiotParseRate / parseRate, target: 0.85 },
      );
      progress(`${label}: done`);
    }
    if (sink < 0) progress('unreachable'); // keeps the work observable
    return results;
  },
};
