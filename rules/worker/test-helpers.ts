/** Helpers for the rules worker's tests: a throw-away log, publish envelopes, read topics back, wait for conditions. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnvelope, decodeEnvelope, EmbeddedLog, envelopeRecord, silentLogger, TOPICS, type Envelope, type EnvelopeInit, type Log, type LogRecord } from '../../core/index.js';

/** An EmbeddedLog in a temp dir (`data/` in `dir`), and what a test opened on it, closed last first by {@link closeTestLog}. */
export interface TestLog {
  readonly dir: string;
  readonly log: Log;
  readonly cleanups: (() => Promise<void>)[];
}

export async function openTestLog(prefix: string): Promise<TestLog> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, log: await EmbeddedLog.open({ dataDir: join(dir, 'data'), logger: silentLogger() }), cleanups: [] };
}

export async function closeTestLog({ dir, log, cleanups }: TestLog): Promise<void> {
  for (const c of cleanups.reverse()) await c();
  await log.close();
  await rm(dir, { recursive: true, force: true });
}

/** Appends envelopes to `iot.ingress` (as the gateway would). */
export async function publish(log: Log, messages: readonly EnvelopeInit[], topic: string = TOPICS.ingress): Promise<Envelope[]> {
  const envelopes = messages.map((m) => createEnvelope(m));
  await log.append(topic, envelopes.map((e) => envelopeRecord(e)));
  return envelopes;
}

/** Reads `topic` from the start in a fresh group until `until` is true of what was read, or fails after `timeoutMs`. */
export async function readUntil(log: Log, topic: string, until: (records: LogRecord[]) => boolean, timeoutMs = 15_000): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const consumer = log.consumer({
    groupId: `test-read-${randomUUID()}`,
    topics: [topic],
    startFrom: 'earliest',
    eachBatch: async (batch) => {
      records.push(...batch.records);
      if (until(records)) resolve();
    },
  });
  await consumer.start();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms reading ${topic}: have ${records.length} record(s)`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await consumer.stop();
  }
  return records;
}

/** Reads at least `n` records of `topic`. */
export const readN = (log: Log, topic: string, n: number, timeoutMs?: number): Promise<LogRecord[]> => readUntil(log, topic, (r) => r.length >= n, timeoutMs);

export const envelopesOf = (records: readonly LogRecord[]): Envelope[] => records.map((r) => decodeEnvelope(r.value!));

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
