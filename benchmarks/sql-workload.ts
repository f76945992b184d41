/**
 * What `npm run bench -- sql` measures, shared by the orchestrator (`sql.ts`) and the worker
 * processes (`sql-worker.ts`): the generated telemetry and topics, the rules in each engine's
 * dialect, and the hand-written JavaScript baselines.
 *
 * This module imports nothing (Buffer is a Node global): each worker loads only the engine it
 * times, so that no library can change shared prototypes or hidden classes under another
 * engine's code.
 */

/** The rules of the benchmark. */
export const RULES = ['filter', 'heavy', 'strings'] as const;
export type RuleName = (typeof RULES)[number];

/**
 * The contenders, each timed in its own process. Those ending in `+parse` start from the
 * message text; the others from the object JSON.parse made of it (what a rules worker holds
 * once a message has been parsed for all its rules). kiot and the hand-written function are
 * given the same message records ({@link MessageRecord} or {@link TextRecord}), as a rules worker
 * holds them; `hand-bare` is the hand-written function on the bare payload objects, shown so
 * that the cost of reading the payload out of a message record is visible.
 *
 * `kiot` runs a rule as the rules worker does once its topic-filter index has routed the message
 * to the rule (`evaluateMatched`); the hand-written function, too, is given only the messages
 * of its rule. `kiot+topic` calls `evaluate`, which tests the topic against the FROM filter
 * itself, as a caller of `kiot/sql` that has not routed the message does.
 */
export const CONTENDERS = ['hand', 'hand-bare', 'kiot', 'kiot+topic', 'alasql', 'json-rules-engine', 'parse', 'hand+parse', 'kiot+parse'] as const;
export type ContenderName = (typeof CONTENDERS)[number];

/**
 * Who runs each rule. `hand-bare`, `json-rules-engine` and the `+parse` contenders are left
 * out of `npm run bench`: setting up a million messages costs each worker seconds of CPU (the
 * whole run took 7.5 minutes with them on a loaded 2-core machine), json-rules-engine's answer
 * for a million messages alone took longer than the rest, and with a million parsed messages
 * held in the heap the `+parse` rates measured V8's old-space GC more than the engines. Run
 * them by hand with `sql-worker.ts`; `sql.ts` prints them when listed here. The `strings` rule (issue 17's string functions) is measured against the
 * hand-written function and the JSON.parse floor alone.
 */
export const CONTENDERS_OF: Record<RuleName, readonly ContenderName[]> = {
  filter: ['hand', 'kiot', 'kiot+topic', 'alasql'],
  heavy: ['hand', 'kiot', 'kiot+topic', 'alasql'],
  strings: ['hand', 'kiot', 'kiot+topic'],
};

/** Seed of the telemetry generator: every process generates exactly the same messages. */
export const SEED = 42;

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

/**
 * What a message carries besides its payload, as a rules worker gets it from the envelope: the
 * topic, the client id and the received-at time. Topics are `factory/<site>-<k>/telemetry` over
 * {@link TOPICS} distinct lines, as a fleet publishes them (a rule that calls topic() must not
 * see one topic only). Every string is flat, decoded from bytes as from an envelope (a string
 * built by concatenation is a rope in V8, and reading its characters costs several times as much).
 */
export function generateEnvelopes(n: number): { topics: string[]; clientIds: string[]; timestamps: number[] } {
  const flat = (s: string) => Buffer.from(s).toString('utf8');
  const topics = new Array<string>(n);
  const clientIds = new Array<string>(n);
  const timestamps = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    topics[i] = flat(`factory/${SITES[i % SITES.length]!}-${(i * 7919) % TOPICS}/telemetry`);
    clientIds[i] = flat(`client-${(i % 997).toString().padStart(4, '0')}`);
    timestamps[i] = 1_700_000_000_000 + i * 1000 + (i % 37);
  }
  return { topics, clientIds, timestamps };
}

/** Distinct topics (`(i * 7919) % TOPICS` fixes the site as well, so there are exactly this many). */
export const TOPICS = 5000;

/**
 * One message as kiot and the hand-written function are given it (the fields of kiot's
 * `SqlInput` a rules worker fills from the envelope): the payload parsed (`json`) or as text.
 */
export interface MessageRecord {
  readonly topic: string;
  readonly clientId: string;
  readonly timestamp: number;
  readonly json: Telemetry;
}
export interface TextRecord {
  readonly topic: string;
  readonly clientId: string;
  readonly timestamp: number;
  readonly payload: string;
}

/*
 * Every rule reads the envelope as real rules do (issue 12, point 5): topic(2), clientid() and
 * timestamp().
 */
export const KIOT_SQL: Record<RuleName, string> = {
  filter:
    'SELECT deviceId, temperature, humidity, topic(2) AS line, clientid() AS client, timestamp() AS received ' +
    "FROM 'factory/+/telemetry' WHERE temperature > 80",
  heavy:
    'SELECT deviceId, upper(site) AS site, ' +
    "CASE WHEN temperature > 100 THEN 'critical' WHEN temperature > 80 THEN 'hot' ELSE 'normal' END AS level, " +
    "sensors.pressure.value AS pressure, concat(deviceId, '-', lower(status)) AS tag, " +
    'topic(2) AS line, clientid() AS client, timestamp() AS received ' +
    "FROM 'factory/+/telemetry' WHERE temperature > 40 AND status <> 'offline'",
  // String functions and topic(n), each a direct call in the compiled rule (issue 17, point 6).
  strings:
    "SELECT deviceId, topic(2) AS site, substring(firmware, 1) AS version, concat(topic(2), '/', deviceId) AS key, " +
    "startswith(status, 'o') AS lower_ok, clientid() AS client FROM 'factory/+/telemetry' WHERE NOT startswith(status, 'off')",
};

/**
 * The same rules in alasql's dialect, run over a chunk of rows (`FROM ?`). alasql has no message
 * envelope, so its rows are the payload objects with the envelope as columns (`topic`,
 * `client_id`, `received_at`; built before timing), and topic(2) is a function registered with
 * alasql ({@link topicLevel2}), as its user would write one.
 */
export const ALASQL_SQL: Partial<Record<RuleName, string>> = {
  filter: 'SELECT deviceId, temperature, humidity, TOPIC_LEVEL2(topic) AS line, client_id AS client, received_at AS received FROM ? WHERE temperature > 80',
  heavy:
    "SELECT deviceId, UPPER(site) AS site, CASE WHEN temperature > 100 THEN 'critical' WHEN temperature > 80 THEN 'hot' ELSE 'normal' END AS [level], " +
    "sensors->pressure->[value] AS pressure, deviceId + '-' + LOWER(status) AS tag, TOPIC_LEVEL2(topic) AS line, client_id AS client, received_at AS received " +
    "FROM ? WHERE temperature > 40 AND status <> 'offline'",
};

/** The WHERE clauses as json-rules-engine conditions; the projection is the hand-written one. */
export const JRE_CONDITIONS: Partial<Record<RuleName, unknown>> = {
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
 * topic(2) of these topics: every one has three levels and none starts with `$` (no Basic
 * Ingest prefix), so it is the text between the first two slashes.
 */
export function topicLevel2(topic: string): string {
  const first = topic.indexOf('/');
  return topic.slice(first + 1, topic.indexOf('/', first + 1));
}

/*
 * The hand-written baselines: the fastest plain JavaScript giving exactly the rule's outputs on
 * this data. Every field is present with the type it has here, every message has a client id and
 * a received-at time, so the rule's type rules reduce to these lines.
 */

export function handFilter(j: Telemetry, topic: string, clientId: string, timestamp: number): Row | undefined {
  const t = j.temperature;
  if (!(t > 80)) return undefined;
  return { deviceId: j.deviceId, temperature: t, humidity: j.humidity, line: topicLevel2(topic), client: clientId, received: timestamp };
}

export function handHeavy(j: Telemetry, topic: string, clientId: string, timestamp: number): Row | undefined {
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
    line: topicLevel2(topic),
    client: clientId,
    received: timestamp,
  };
}

export function handStrings(j: Telemetry, topic: string, clientId: string): Row | undefined {
  const status = j.status;
  if (status.startsWith('off')) return undefined;
  const site = topicLevel2(topic);
  const id = j.deviceId;
  return { deviceId: id, site, version: j.firmware.substring(1), key: site + '/' + id, lower_ok: status.startsWith('o'), client: clientId };
}

/** The hand-written baselines, given the payload and the envelope's fields. */
export const HAND: Record<RuleName, (j: Telemetry, topic: string, clientId: string, timestamp: number) => Row | undefined> = {
  filter: handFilter,
  heavy: handHeavy,
  strings: handStrings,
};

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
