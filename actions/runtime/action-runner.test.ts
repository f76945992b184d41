import { describe, expect, test } from 'vitest';
import { PlatformError, silentLogger, SinkBatchError, type ActionRecord, type Sink } from '../../core/index.js';
import { ABORTED, ActionRunner, type RecordOutcome } from './action-runner.js';
import { retryBoundMs } from './retry.js';

const record = (n: number): ActionRecord => ({ output: { n }, params: {}, ruleName: 'r', topic: 't', clientId: undefined, messageId: `m${n}`, payload: Buffer.from('{}'), receivedAt: 0 });

/** A sink whose behaviour per call is scripted by the test. */
function scriptedSink(write: (records: readonly ActionRecord[], call: number) => Promise<void> | void): Sink & { calls: number[][]; connects: number } {
  const calls: number[][] = [];
  const sink = {
    calls,
    connects: 0,
    async connect() {
      sink.connects++;
    },
    async writeBatch(records: readonly ActionRecord[]) {
      calls.push(records.map((r) => (r.output as { n: number }).n));
      await write(records, calls.length);
    },
    async close() {},
  };
  return sink;
}

function submitAll(runner: ActionRunner, n: number): Promise<RecordOutcome[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => new Promise<RecordOutcome>((resolve) => runner.submit(record(i), resolve))));
}

const fast = { retries: 3, initialBackoffMs: 5, maxBackoffMs: 20 };

describe('ActionRunner', () => {
  test('batches up to maxBatchSize, in submission order', async () => {
    const sink = scriptedSink(() => undefined);
    const runner = new ActionRunner({ sink, name: 't', maxBatchSize: 4, retry: fast, logger: silentLogger() });
    const outcomes = await submitAll(runner, 10);
    expect(outcomes).toEqual(Array(10).fill(undefined));
    expect(sink.calls).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(sink.connects).toBe(1);
    await runner.close();
  });

  test('room(): none once two full batches wait behind the one being written; room again when the next batch is taken', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sink = scriptedSink((_, call) => (call === 1 ? gate : undefined));
    const runner = new ActionRunner({ sink, name: 't', maxBatchSize: 4, retry: fast, logger: silentLogger() });
    const outcomes = submitAll(runner, 4);
    await new Promise((r) => setImmediate(r)); // the first batch is being written
    expect(runner.room()).toBeUndefined();
    const more = submitAll(runner, 8);
    const wait = runner.room();
    expect(wait).toBeInstanceOf(Promise);
    let roomy = false;
    void wait!.then(() => (roomy = true));
    await new Promise((r) => setImmediate(r));
    expect(roomy).toBe(false);
    release();
    await wait;
    expect(runner.room()).toBeUndefined();
    expect([...(await outcomes), ...(await more)]).toEqual(Array(12).fill(undefined));
    await runner.close();
  });

  test('batchWaiting(): true once a whole batch is queued behind the one being written', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sink = scriptedSink((_, call) => (call === 1 ? gate : undefined));
    const runner = new ActionRunner({ sink, name: 't', maxBatchSize: 4, retry: fast, logger: silentLogger() });
    const first = submitAll(runner, 4);
    await new Promise((r) => setImmediate(r)); // the first batch is being written
    expect(runner.batchWaiting()).toBe(false);
    const second = submitAll(runner, 3);
    expect(runner.batchWaiting()).toBe(false);
    const third = submitAll(runner, 1);
    expect(runner.batchWaiting()).toBe(true);
    release();
    expect([...(await first), ...(await second), ...(await third)]).toEqual(Array(8).fill(undefined));
    expect(runner.batchWaiting()).toBe(false);
    await runner.close();
  });

  test('room() waiters are released when the runner closes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sink = scriptedSink(() => gate);
    const runner = new ActionRunner({ sink, name: 't', maxBatchSize: 2, retry: fast, logger: silentLogger() });
    const outcomes = submitAll(runner, 6);
    await new Promise((r) => setImmediate(r));
    const wait = runner.room();
    expect(wait).toBeInstanceOf(Promise);
    const closing = runner.close();
    await wait;
    expect(runner.room()).toBeUndefined();
    release();
    await closing;
    expect((await outcomes).filter((o) => o === ABORTED)).toHaveLength(4);
  });

  test('retries only the retriable failures of a batch; others fail at once', async () => {
    const sink = scriptedSink((records, call) => {
      if (call === 1) throw new SinkBatchError([{ index: 1, message: 'throttled', retriable: true }, { index: 2, message: 'bad item', retriable: false }]);
    });
    const runner = new ActionRunner({ sink, name: 't', retry: fast, logger: silentLogger() });
    const outcomes = await submitAll(runner, 3);
    expect(outcomes).toEqual([undefined, undefined, { failed: true, message: 'bad item' }]);
    expect(sink.calls).toEqual([[0, 1, 2], [1]]);
    await runner.close();
  });

  test('gives up after the retry bound and reconnects after SINK_UNAVAILABLE', async () => {
    const sink = scriptedSink(() => {
      throw new PlatformError('SINK_UNAVAILABLE', 'down', { retriable: true });
    });
    const runner = new ActionRunner({ sink, name: 't', retry: fast, logger: silentLogger() });
    const started = Date.now();
    const outcomes = await submitAll(runner, 2);
    expect(outcomes).toEqual([
      { failed: true, message: 'down' },
      { failed: true, message: 'down' },
    ]);
    expect(sink.calls).toHaveLength(fast.retries + 1);
    expect(sink.connects).toBe(fast.retries + 1);
    expect(Date.now() - started).toBeLessThan(retryBoundMs(fast) + 1_000);
    await runner.close();
  });

  test('a non-retriable error fails the batch without retrying', async () => {
    const sink = scriptedSink(() => {
      throw new PlatformError('CONFIG_INVALID', 'no such table');
    });
    const runner = new ActionRunner({ sink, name: 't', retry: fast, logger: silentLogger() });
    expect(await submitAll(runner, 1)).toEqual([{ failed: true, message: 'no such table' }]);
    expect(sink.calls).toHaveLength(1);
    await runner.close();
  });

  test('connect() connects before the first record, which then does not connect again', async () => {
    const sink = scriptedSink(() => undefined);
    const runner = new ActionRunner({ sink, name: 't', retry: fast, logger: silentLogger() });
    await runner.connect();
    await runner.connect();
    expect(sink.connects).toBe(1);
    expect(sink.calls).toEqual([]);
    expect(await submitAll(runner, 2)).toEqual([undefined, undefined]);
    expect(sink.connects).toBe(1);
    await runner.close();
  });

  test('a batch that comes during connect() waits for it and takes its failure as its first attempt; a failed connect() is logged, never thrown', async () => {
    let refuse!: (err: Error) => void;
    const warnings: string[] = [];
    const logger = { ...silentLogger(), warn: (_fields: object, message?: string) => void warnings.push(message ?? '') };
    const sink = scriptedSink(() => undefined);
    let connects = 0;
    sink.connect = () => (++connects === 1 ? new Promise<void>((_, reject) => (refuse = reject)) : Promise.resolve());
    const runner = new ActionRunner({ sink, name: 't', retry: fast, logger });
    const early = runner.connect();
    const outcomes = submitAll(runner, 2);
    await new Promise((r) => setImmediate(r));
    expect(connects).toBe(1); // the batch waits for the connect in progress rather than opening another
    refuse(new PlatformError('SINK_UNAVAILABLE', 'not yet', { retriable: true }));
    await expect(early).resolves.toBeUndefined();
    expect(warnings).toEqual(['action could not connect; its first batch tries again']);
    // Its retry (after the backoff) connects and writes.
    expect(await outcomes).toEqual([undefined, undefined]);
    expect(connects).toBe(2);
    expect(sink.calls).toEqual([[0, 1]]);
    await runner.close();
  });

  test('a connect() that failed before any record leaves the first batch to connect again', async () => {
    const sink = scriptedSink(() => undefined);
    let connects = 0;
    sink.connect = async () => {
      if (++connects === 1) throw new PlatformError('SINK_UNAVAILABLE', 'down', { retriable: true });
    };
    const runner = new ActionRunner({ sink, name: 't', retry: fast, logger: silentLogger() });
    await runner.connect();
    expect(await submitAll(runner, 1)).toEqual([undefined]);
    expect(connects).toBe(2);
    await runner.close();
  });

  test('close() waits for a connect() in progress, and connect() after close() does nothing', async () => {
    let finish!: () => void;
    const sink = scriptedSink(() => undefined);
    let connects = 0;
    sink.connect = () => {
      connects++;
      return new Promise<void>((resolve) => (finish = resolve));
    };
    let closed = false;
    sink.close = async () => void (closed = true);
    const runner = new ActionRunner({ sink, name: 't', retry: fast, logger: silentLogger() });
    void runner.connect();
    const closing = runner.close();
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);
    finish();
    await closing;
    expect(closed).toBe(true);
    await runner.connect();
    expect(connects).toBe(1);
  });

  test('close() aborts queued and retrying records', async () => {
    const sink = scriptedSink(() => {
      throw new PlatformError('SINK_UNAVAILABLE', 'down', { retriable: true });
    });
    const runner = new ActionRunner({ sink, name: 't', retry: { retries: 100, initialBackoffMs: 1_000, maxBackoffMs: 1_000 }, logger: silentLogger() });
    const outcomes = submitAll(runner, 3);
    await new Promise((r) => setTimeout(r, 50));
    await runner.close();
    expect(await outcomes).toEqual([ABORTED, ABORTED, ABORTED]);
    expect(await new Promise((resolve) => runner.submit(record(9), resolve))).toBe(ABORTED);
  });
});
