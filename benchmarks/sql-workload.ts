/**
 * What `npm run bench -- sql` measures, shared by the orchestrator (`sql.ts`) and the worker
 * processes (`sql-worker.ts`): the generated telemetry, the two rules in each engine's dialect,
 * and the hand-written JavaScript baselines.
 *
 * This module imports nothing: each worker loads only the engine it times, so that no library
 * can change shared prototypes or hidden classes under another engine's code.
 */

/** The rules of the benchmark. */
export const RULES = ['filter', 'heavy'] as const;
export type RuleName = (typeof RULES)[number];

/**
 * The contenders, each timed in its own process. Those ending in `+parse` start from the
 * message text; the others from the object JSON.parse made of it (what a rules worker holds
 * once a message has been parsed for all its rules). kiot and the hand-written function are
 * given the same message records (`{ topic, json }` or `{ topic, payload }`), as a rules worker
 * holds them; `hand-bare` is the hand-written function on the bare payload objects, shown so
 * that the cost of reading the payload out of a message record is visible.
 */
export const CONTENDERS = ['hand', 'hand-bare', 'kiot', 'alasql', 'json-rules-engine', 'parse', 'hand+parse', 'kiot+parse'] as const;
export type ContenderName = (typeof CONTENDERS)[number];

/** Seed of the telemetry generator: every process generates exactly the same messages. */
export const SEED = 42;
export const TOPIC = 'factory/berlin/telemetry';

export interface Telemetry {
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

const STATUSES = ['ok', 'OK', 'warn', 'offline', 'Degraded'];
const SITES = ['berlin', 'lyon', 'porto', 'oslo'];

/** Deterministic telemetry of about 234 bytes per message, as JSON text (a small LCG, not Math.random). */
export function generateTexts(n: number, seed: number): string[] {
  let state = seed;
  const rnd = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  return Array.from({ length: n }, (_, i) => {
    const m: Telemetry = {
      deviceId: `dev-${(i % 997).toString().padStart(4, '0')}`,
      site: SITES[i % SITES.length]!,
      status: STATUSES[Math.floor(rnd() * STATUSES.length)]!,
      temperature: Math.round(rnd() * 1200) / 10,
      humidity: Math.round(rnd() * 1000) / 10,
      battery: Math.round(rnd() * 100),
      ts: 1_700_000_000_000 + i * 1000,
      sensors: {
        pressure: { value: Math.round(rnd() * 20000) / 10, unit: 'hPa' },
        vibration: { rms: Math.round(rnd() * 1000) / 1000, peak: Math.round(rnd() * 5000) / 1000 },
      },
      firmware: `v1.${i % 7}.${i % 13}`,
    };
    return JSON.stringify(m);
  });
}

export const KIOT_SQL: Record<RuleName, string> = {
  filter: "SELECT deviceId, temperature, humidity FROM 'factory/+/telemetry' WHERE temperature > 80",
  heavy:
    'SELECT deviceId, upper(site) AS site, ' +
    "CASE WHEN temperature > 100 THEN 'critical' WHEN temperature > 80 THEN 'hot' ELSE 'normal' END AS level, " +
    "sensors.pressure.value AS pressure, concat(deviceId, '-', lower(status)) AS tag " +
    "FROM 'factory/+/telemetry' WHERE temperature > 40 AND status <> 'offline'",
};

/** The same rules in alasql's dialect, run over a whole batch (`FROM ?`). */
export const ALASQL_SQL: Record<RuleName, string> = {
  filter: 'SELECT deviceId, temperature, humidity FROM ? WHERE temperature > 80',
  heavy:
    "SELECT deviceId, UPPER(site) AS site, CASE WHEN temperature > 100 THEN 'critical' WHEN temperature > 80 THEN 'hot' ELSE 'normal' END AS [level], " +
    "sensors->pressure->[value] AS pressure, deviceId + '-' + LOWER(status) AS tag FROM ? WHERE temperature > 40 AND status <> 'offline'",
};

/** The WHERE clauses as json-rules-engine conditions; the projection is the hand-written one. */
export const JRE_CONDITIONS: Record<RuleName, unknown> = {
  filter: { all: [{ fact: 'temperature', operator: 'greaterThan', value: 80 }] },
  heavy: {
    all: [
      { fact: 'temperature', operator: 'greaterThan', value: 40 },
      { fact: 'status', operator: 'notEqual', value: 'offline' },
    ],
  },
};

export type Row = Record<string, unknown>;

/**
 * The fastest plain JavaScript giving exactly the filter rule's outputs on this data: every
 * field is present and `temperature` is a number, so the rule's type rules reduce to this.
 */
export function handFilter(j: Telemetry): Row | undefined {
  const t = j.temperature;
  if (!(t > 80)) return undefined;
  return { deviceId: j.deviceId, temperature: t, humidity: j.humidity };
}

/** The fastest plain JavaScript giving exactly the heavy rule's outputs on this data. */
export function handHeavy(j: Telemetry): Row | undefined {
  const t = j.temperature;
  const status = j.status;
  if (!(t > 40 && status !== 'offline')) return undefined;
  const id = j.deviceId;
  return {
    deviceId: id,
    site: j.site.toUpperCase(),
    level: t > 100 ? 'critical' : t > 80 ? 'hot' : 'normal',
    pressure: j.sensors.pressure.value,
    tag: id + '-' + status.toLowerCase(),
  };
}

export const HAND: Record<RuleName, (j: Telemetry) => Row | undefined> = { filter: handFilter, heavy: handHeavy };

/** What a worker reports once it is ready: its view of the data and of the rule's outputs. */
export interface WorkerReady {
  readonly type: 'ready';
  /** sha256 of the message texts: every worker must have generated the same data. */
  readonly dataDigest: string;
  readonly avgBytes: number;
  /** sha256 of the JSON of the fired outputs in message order (absent for the JSON.parse floor). */
  readonly outputDigest?: string;
  /** sha256 of the indexes of the messages that fired (engines that answer per message). */
  readonly firedAtDigest?: string;
  readonly fired?: number;
  /** The first fired output, for the error message when engines disagree. */
  readonly sample?: unknown;
}

/** One timed slice: `ops` messages took `wallNs` of elapsed time and `cpuUs` of process CPU time. */
export interface WorkerSlice {
  readonly type: 'slice';
  readonly ops: number;
  readonly wallNs: number;
  readonly cpuUs: number;
}

export type WorkerReply = WorkerReady | WorkerSlice | { readonly type: 'error'; readonly message: string };
export type WorkerRequest = { readonly type: 'slice'; readonly ms: number } | { readonly type: 'exit' };
