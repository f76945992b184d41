import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLog, silentLogger } from '../core/index.js';
import type { Benchmark, BenchResult } from './report.js';

const RECORD_BYTES = 200;
const RECORDS = 200_000;
const BATCH = 500;
const ROUNDS = 3;

/**
 * Append-then-consume through EmbeddedLog against the baseline of the same bytes written with
 * plain positional writes to one file (one write + fdatasync per batch, as the log's durability
 * promise needs), then read back sequentially in 1 MiB chunks.
 */
export const embeddedLogBenchmark: Benchmark = {
  name: 'log-embedded',
  summary: 'EmbeddedLog append-then-consume vs plain file appends',
  async run(progress) {
    // Payload bytes, as producers (the gateway, the bridge) hand them to the log.
    const values = Array.from({ length: BATCH }, () => randomBytes(RECORD_BYTES));
    const dir = await mkdtemp(join(tmpdir(), 'kiot-bench-log-'));
    try {
      progress(`baseline: ${RECORDS} records of ${RECORD_BYTES} bytes written to a file in batches of ${BATCH}, fdatasync each, then read back`);
      progress(`EmbeddedLog: the same records appended in batches of ${BATCH}, then consumed by a consumer group`);
      // fsync times on a shared disk swing widely from second to second: alternate the two and
      // keep each one's best of ROUNDS, so both see the same disk weather.
      let baselineSeconds = Infinity;
      let logSeconds = Infinity;
      for (let round = 1; round <= ROUNDS; round++) {
        baselineSeconds = Math.min(baselineSeconds, await plainFile(join(dir, `plain-${round}.bin`), values));
        logSeconds = Math.min(logSeconds, await embeddedLog(join(dir, `data-${round}`), values));
        progress(`round ${round}/${ROUNDS}: best so far ${Math.round(RECORDS / baselineSeconds)} vs ${Math.round(RECORDS / logSeconds)} msgs/s`);
      }
      const baseline = RECORDS / baselineSeconds;
      const measured = RECORDS / logSeconds;
      const mb = (rate: number) => (rate * RECORD_BYTES) / 1e6;
      const results: BenchResult[] = [
        { name: 'plain file append+read', messagesPerSec: baseline, mbPerSec: mb(baseline) },
        { name: 'EmbeddedLog append+consume', messagesPerSec: measured, mbPerSec: mb(measured), baseline: 'plain file append+read', ratio: measured / baseline, target: 0.5 },
      ];
      return results;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

async function plainFile(path: string, values: readonly Buffer[]): Promise<number> {
  const start = process.hrtime.bigint();
  const fh = await open(path, 'w+');
  const batch = Buffer.concat(values);
  let position = 0;
  for (let written = 0; written < RECORDS; written += BATCH) {
    const copy = Buffer.from(batch); // the log also builds a fresh buffer per batch
    await fh.write(copy, 0, copy.length, position);
    await fh.datasync();
    position += copy.length;
  }
  const chunk = Buffer.alloc(1024 * 1024);
  let read = 0;
  while (read < position) {
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, read);
    read += bytesRead;
  }
  await fh.close();
  const records = read / RECORD_BYTES;
  if (records < RECORDS) throw new Error(`baseline read ${records} records`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function embeddedLog(dataDir: string, values: readonly Buffer[]): Promise<number> {
  const log = await EmbeddedLog.open({ dataDir, logger: silentLogger() });
  try {
    const start = process.hrtime.bigint();
    await log.ensureTopic({ name: 'bench', partitions: 1 });
    const batch = values.map((value) => ({ value }));
    for (let written = 0; written < RECORDS; written += BATCH) await log.append('bench', batch);
    let consumed = 0;
    let bytes = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const consumer = log.consumer({
      groupId: 'bench',
      topics: ['bench'],
      startFrom: 'earliest',
      maxBatchRecords: 5000,
      eachBatch: async (b) => {
        for (const record of b.records) bytes += record.value!.length;
        consumed += b.records.length;
        if (consumed >= RECORDS) done();
      },
    });
    await consumer.start();
    await finished;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await consumer.stop();
    if (bytes !== RECORDS * RECORD_BYTES) throw new Error(`EmbeddedLog returned ${bytes} value bytes, expected ${RECORDS * RECORD_BYTES}`);
    return seconds;
  } finally {
    await log.close();
  }
}
