/**
 * The contract every action kind's sink keeps (core/sink.ts), run against the kind's real
 * target or its stand-in (dynalite, s3rver, the Kafka mock, a loopback HTTP server, ...):
 *
 * - a round trip: a batch is written and read back from the target, equal to what was sent;
 * - target down: `connect`/`writeBatch` reject with a retriable SINK_UNAVAILABLE for the whole batch;
 * - target stalled (accepts, never answers): `writeBatch` rejects retriable within the sink's
 *   timeout instead of hanging;
 * - per-record failure: a batch with records the target rejects ends in a SinkBatchError naming
 *   exactly those records, non-retriable, and the other records are durable;
 * - `close()` twice is safe.
 *
 * A kind whose target is in-process (cloudwatch_metric) cannot be down or stalled: it is run
 * with `{ inProcess: reason }`, which leaves those two cases out and puts the reason in the
 * suite's name, so the report says why rather than showing a skip.
 */
import { describe, expect, test } from 'vitest';
import { PlatformError } from '../errors.js';
import { SinkBatchError, type ActionRecord, type Sink } from '../sink.js';

/** A sink pointed at a target that misbehaves, and how to put the target away. */
export interface FaultySink<P> {
  readonly sink: Sink<P>;
  close(): Promise<void>;
}

export interface SinkHarness<P> {
  /** A sink writing to the live target. */
  sink(): Sink<P>;
  /** A record the target takes; distinct for each `i`. */
  record(i: number): ActionRecord<P>;
  /** A record the target (or the sink) rejects on its own, for good. */
  badRecord(i: number): ActionRecord<P>;
  /** What the target holds for `records`, as the rule outputs they came from, in the records' order. */
  readBack(records: readonly ActionRecord<P>[]): Promise<unknown[]>;
  /** A sink whose target is down (nothing listens); absent for an in-process target. */
  down?(): Promise<FaultySink<P>>;
  /** A sink whose target accepts and never answers, with a timeout of at most {@link STALL_BOUND_MS}; absent for an in-process target. */
  stalled?(): Promise<FaultySink<P>>;
  /** Stops the target. */
  stop(): Promise<void>;
}

/** How long a stalled write may take before the suite calls it hung (harnesses set short timeouts). */
export const STALL_BOUND_MS = 12_000;

const signal = (): AbortSignal => new AbortController().signal;

function expectUnavailable(err: unknown): void {
  expect(err).toBeInstanceOf(PlatformError);
  expect(err).not.toBeInstanceOf(SinkBatchError);
  expect(err).toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
}

/**
 * Registers the contract's tests for one kind; `start` starts its target and returns the harness.
 * `inProcess` names why the kind's target can be neither down nor stalled (no such cases then).
 */
export function runSinkSuite<P>(kind: string, start: () => Promise<SinkHarness<P>>, options: { readonly inProcess?: string } = {}): void {
  const title = options.inProcess ? `sink contract: ${kind} (in-process target: ${options.inProcess})` : `sink contract: ${kind}`;
  describe(title, () => {
    const withHarness = (fn: (h: SinkHarness<P>) => Promise<void>) => async () => {
      const h = await start();
      try {
        await fn(h);
      } finally {
        await h.stop();
      }
    };

    test(
      'round trip: a batch is read back from the target as it was sent',
      withHarness(async (h) => {
        const sink = h.sink();
        await sink.connect(signal());
        const records = Array.from({ length: 5 }, (_, i) => h.record(i));
        await sink.writeBatch(records, signal());
        expect(await h.readBack(records)).toEqual(records.map((r) => r.output));
        await sink.close();
      }),
    );

    test(
      'per-record failure: a SinkBatchError names exactly the failed records; the others are durable',
      withHarness(async (h) => {
        const sink = h.sink();
        const records = [h.record(10), h.badRecord(11), h.record(12), h.badRecord(13)];
        const err = await sink.writeBatch(records, signal()).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(SinkBatchError);
        expect((err as SinkBatchError).failures.map((f) => [f.index, f.retriable])).toEqual([
          [1, false],
          [3, false],
        ]);
        expect(await h.readBack([records[0]!, records[2]!])).toEqual([records[0]!.output, records[2]!.output]);
        await sink.close();
      }),
    );

    test(
      'close() twice is safe',
      withHarness(async (h) => {
        const sink = h.sink();
        await sink.writeBatch([h.record(20)], signal());
        await sink.close();
        await sink.close();
      }),
    );

    if (options.inProcess) return;
    faultCase('target down: the whole batch rejects with a retriable SINK_UNAVAILABLE', start, (h) => h.down!(), async (faulty, h) => {
      const connected = await faulty.sink.connect(signal()).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (connected !== undefined) expectUnavailable(connected);
      expectUnavailable(await faulty.sink.writeBatch([h.record(30), h.record(31)], signal()).then(() => undefined, (e: unknown) => e));
    });

    faultCase('target stalled: writeBatch times out retriable instead of hanging', start, (h) => h.stalled!(), async (faulty, h) => {
      const started = Date.now();
      expectUnavailable(await faulty.sink.writeBatch([h.record(40)], signal()).then(() => undefined, (e: unknown) => e));
      expect(Date.now() - started).toBeLessThan(STALL_BOUND_MS);
    });
  });
}

function faultCase<P>(
  name: string,
  start: () => Promise<SinkHarness<P>>,
  make: (h: SinkHarness<P>) => Promise<FaultySink<P>>,
  check: (faulty: FaultySink<P>, h: SinkHarness<P>) => Promise<void>,
): void {
  test(name, async () => {
    const h = await start();
    try {
      const faulty = await make(h);
      try {
        await check(faulty, h);
      } finally {
        await faulty.sink.close();
        await faulty.close();
      }
    } finally {
      await h.stop();
    }
  }, STALL_BOUND_MS + 20_000);
}
