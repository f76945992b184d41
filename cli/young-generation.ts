/**
 * The size of V8's young generation in `kiot up` (issue 12: baseline RSS ≤ 100 MB, idle
 * connections ≤ 8 KB each).
 *
 * V8 grows the young generation (two semi-spaces, 1 MB each at first) by its growth factor
 * (2) whenever many objects survive a scavenge, up to 16 MB each on 64-bit, and gives the
 * memory back only when its memory reducer runs, tens of seconds after the process goes idle.
 * Starting kiot is exactly that pattern: loading ~1,100 modules and opening the services
 * allocates objects that all live on, so by `ready` the young generation was 32 MB, 30 MB of it
 * resident and 6 MB used (heap snapshot of an idle `kiot up`); the same happened again under
 * the first burst of connections, and it was a quarter of kiot's RSS at rest (119 MB).
 *
 * `--max-semi-space-size` would bound it, but V8 reads it only when the heap is created, before
 * any JavaScript runs; the growth factor is read at each growth, so it can be set from here
 * (`v8.setFlagsFromString`): 1 while kiot starts (what starts up is long-lived and belongs in the
 * old generation anyway), then growth up to {@link YOUNG_GENERATION_CAP_BYTES}, and beyond it
 * only while it is scavenged often (message load), where a larger one saves work. Grown beyond
 * the bound, it is given back once the load has passed ({@link QUIET_MS}): V8 would keep it, since
 * it shrinks the young generation only in a full GC that an idle process never runs.
 * The flags are the process's: worker threads (`--threads`) follow the factor that the main
 * thread's young generation sets.
 *
 * Its maximum is a launch flag: {@link NODE_FLAGS}, which every way kiot is started passes
 * (`npm start`, the `kiot` bin, the image, the benchmarks). Under message load twice V8's
 * 16 MB per semi-space halved the time spent in GC (the V8 profile's share at saturation, one
 * rule: 19-21% -> 9-10%) and raised the saturated rate 3-33% in three alternating runs. At rest
 * the bound here keeps it at 8 MB all the same.
 *
 * A user who tunes the young generation otherwise (`--min-semi-space-size` or
 * `--semi-space-growth-factor` in the node flags or NODE_OPTIONS) keeps V8's behaviour: then
 * every function here does nothing. A different `--max-semi-space-size` only moves the ceiling.
 *
 * This module holds the young generation as it is evaluated, so the entry points (`cli/main.ts`,
 * `benchmarks/main.ts`) import it first and load the rest with a dynamic import: an ES module
 * graph is fetched and compiled whole before any of it runs, and that is what startup
 * allocates most.
 */
import { createRequire } from 'node:module';
import { PerformanceObserver, constants, performance, type PerformanceObserverEntryList } from 'node:perf_hooks';
import v8 from 'node:v8';
import { isMainThread } from 'node:worker_threads';

/**
 * The young generation's bound once kiot is up while scavenges are rare: both semi-spaces
 * together, so 4 MB each. 10,000 idle connections opened in ~10 s grew V8's default to 32 MB
 * (+3 KB per connection in e2e-memory); with this bound they add ~7 KB each in all.
 */
export const YOUNG_GENERATION_CAP_BYTES = 8 * 1024 * 1024;

/**
 * How busy the young generation must be (over the last second) to grow beyond its bound, in
 * scavenges per second of the bounded young generation: each scavenge counts as its semi-space's
 * size over the bound's (what was allocated since the one before), so that the measure is the
 * allocation rate (20 x 4 MB = 80 MB/s at the bound) and does not fall as the young generation
 * grows. A larger young generation pays off in proportion to how often it is scavenged: under
 * message load (e2e benchmark, paced 5,000/s and saturated, 8 MB bound) kiot scavenged 23-47
 * times a second, and the bound alone doubled the time spent in GC per message and cost ~20% of
 * the saturated rate. 10,000 connections opening scavenge 5-8 times a second, with bursts above
 * 10; startup and an idle kiot scavenge a few times a second or less. Between the two, 20.
 */
export const BUSY_SCAVENGES_PER_SECOND = 20;

/**
 * How long without a scavenge (allocating less than the young generation's size in that time,
 * a few MB: next to idle; message load at 1,000/s scavenges several times a second) before the
 * young generation, grown beyond its bound, is given back. V8 shrinks it only in a full GC when
 * allocation is slow or memory is short, and an idle process has no full GC: a burst (10,000
 * connections opening grew it to 32-64 MB, +3-6 KB per connection in e2e-memory) would
 * otherwise hold it for good. A full GC stops the process for tens of milliseconds: only when it
 * is next to idle does it do one.
 */
export const QUIET_MS = 2_000;
/**
 * Growth of the old generation since the last full GC beyond which a burst that has passed is also
 * followed by one full GC (as a grown young generation is): what a burst allocates and keeps a
 * little while is promoted, and its garbage stayed resident until a full GC that an idle process
 * never runs (10,000 connections opening left ~15 MB, 1.5 KB per connection, and whether a full
 * GC had come was what made e2e-memory's figure vary by 1-2 KB from run to run).
 */
export const OLD_GROWTH_BYTES = 16 * 1024 * 1024;
/** Fewest milliseconds between two full GCs that give the young generation back (load that comes and goes pays at most one every so often). */
export const MIN_RELEASE_INTERVAL_MS = 30_000;

/** V8's default `--semi-space-growth-factor` (src/flags/flag-definitions.h). */
const V8_GROWTH_FACTOR = 2;

/** The node flags kiot is started with (kept in step with package.json, cli/main.ts's first line and the Dockerfile by cli/young-generation.test.ts). */
export const NODE_FLAGS = ['--max-semi-space-size=32'] as const;

const USER_TUNED = /^--min[-_]semi[-_]space[-_]size|^--semi[-_]space[-_]growth[-_]factor/;
/** Only the main thread sets the flags (a worker thread that imported this module must not). */
const leftAlone = !isMainThread || [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)].some((flag) => USER_TUNED.test(flag));

let factor = V8_GROWTH_FACTOR;
let observer: PerformanceObserver | undefined;
let quietTimer: NodeJS.Timeout | undefined;
/** When the young generation was last given back (performance clock, ms). */
let releasedAt = Number.NEGATIVE_INFINITY;
/** Full GCs run to give the young generation back, since the process started (for tests and diagnostics). */
let releases = 0;

function setGrowthFactor(value: number): void {
  if (leftAlone || value === factor) return;
  v8.setFlagsFromString(`--semi-space-growth-factor=${value}`);
  factor = value;
}

/** Both semi-spaces' size now (V8 reports them together as `new_space`). */
function youngGenerationBytes(): number {
  for (const space of v8.getHeapSpaceStatistics()) if (space.space_name === 'new_space') return space.space_size;
  return 0;
}

/** Bytes used in the old generation's main space now. */
function oldGenerationBytes(): number {
  for (const space of v8.getHeapSpaceStatistics()) if (space.space_name === 'old_space') return space.space_used_size;
  return 0;
}

/**
 * One full GC, which shrinks the young generation to what it holds (at least 1 MB) and returns
 * the freed pages. Through an inspector session in this process (`HeapProfiler.collectGarbage`):
 * no flag, no port; the session closes once it is done. Without an inspector (a node built
 * without one, where even importing `node:inspector` throws) nothing happens.
 */
function collectGarbage(): void {
  let session: import('node:inspector').Session;
  try {
    const { Session } = createRequire(import.meta.url)('node:inspector') as typeof import('node:inspector');
    session = new Session();
    session.connect();
  } catch {
    return;
  }
  releases++;
  // Disconnected on the next turn: disconnecting within the callback stops the event loop's timers (Node 20).
  session.post('HeapProfiler.collectGarbage', () => setImmediate(() => session.disconnect()));
}

function stopQuietTimer(): void {
  if (quietTimer) clearTimeout(quietTimer);
  quietTimer = undefined;
}

/** Keeps the young generation at the size it has: while kiot starts. Safe to call again. */
export function holdYoungGeneration(): void {
  observer?.disconnect();
  observer = undefined;
  stopQuietTimer();
  setGrowthFactor(1);
}

/**
 * Lets the young generation grow as V8 would: to its maximum while it is at least
 * `busyScavengesPerSecond` busy (see {@link BUSY_SCAVENGES_PER_SECOND}), else up to `capBytes`
 * and no further. Decided after each GC: growth is on or off (it grows by doubling, one step per
 * scavenge at most, so the bound holds to within a step taken between two GC callbacks). Once it
 * is above the bound, or the old generation grew by {@link OLD_GROWTH_BYTES} since the last full
 * GC, and it has not been scavenged for {@link QUIET_MS}, one full GC gives the memory
 * back (at most one per {@link MIN_RELEASE_INTERVAL_MS}). Replaces an earlier bound.
 */
export function boundYoungGeneration(capBytes: number = YOUNG_GENERATION_CAP_BYTES, busyScavengesPerSecond: number = BUSY_SCAVENGES_PER_SECOND): void {
  if (leftAlone) return;
  observer?.disconnect();
  stopQuietTimer();
  /** Start times (ms, performance clock) of the scavenges of the last second, oldest first, and their weights (semi-space size / the bound's). */
  const times: number[] = [];
  const weights: number[] = [];
  /** When the last scavenge started (performance clock, ms). */
  let lastScavengeAt = performance.now();
  /** The old generation's size after the last full GC (seen by the observer). */
  let oldAfterFullGc = oldGenerationBytes();
  /** Whether what the burst left behind is worth a full GC once it has passed. */
  const worthReleasing = (young: number): boolean => young > capBytes || oldGenerationBytes() - oldAfterFullGc > OLD_GROWTH_BYTES;
  /** The last second's scavenges, each weighted by the semi-space it emptied (so: bytes allocated, in scavenges of the bound). */
  const busyness = (now: number): number => {
    let old = 0;
    while (old < times.length && times[old]! < now - 1000) old++;
    times.splice(0, old);
    weights.splice(0, old);
    let sum = 0;
    for (const w of weights) sum += w;
    return sum;
  };
  const quietCheck = (): void => {
    quietTimer = undefined;
    const now = performance.now();
    if (!worthReleasing(youngGenerationBytes())) return;
    const due = Math.max(lastScavengeAt + QUIET_MS, releasedAt + MIN_RELEASE_INTERVAL_MS);
    if (now < due) {
      quietTimer = setTimeout(quietCheck, due - now).unref();
      return;
    }
    releasedAt = now;
    setGrowthFactor(1);
    collectGarbage();
    oldAfterFullGc = oldGenerationBytes();
  };
  const update = (list?: PerformanceObserverEntryList): void => {
    const young = youngGenerationBytes();
    for (const entry of list?.getEntries() ?? []) {
      // Node 20 types lack `detail` on gc entries; at run time it is `{ kind, flags }`.
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        times.push(entry.startTime);
        weights.push(Math.max(1, young / capBytes));
        lastScavengeAt = Math.max(lastScavengeAt, entry.startTime);
      } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        oldAfterFullGc = oldGenerationBytes();
      }
    }
    const busy = busyness(performance.now()) >= busyScavengesPerSecond;
    setGrowthFactor(busy || young < capBytes ? V8_GROWTH_FACTOR : 1);
    if (!quietTimer && worthReleasing(young)) quietTimer = setTimeout(quietCheck, QUIET_MS).unref();
  };
  observer = new PerformanceObserver(update);
  observer.observe({ entryTypes: ['gc'] });
  update();
}

/** V8's own behaviour again (growth up to its maximum): for commands other than `kiot up`, and when it stops. Safe to call again. */
export function releaseYoungGeneration(): void {
  observer?.disconnect();
  observer = undefined;
  stopQuietTimer();
  setGrowthFactor(V8_GROWTH_FACTOR);
}

/** How many times the young generation was given back by a full GC since the process started. */
export function youngGenerationReleases(): number {
  return releases;
}

holdYoungGeneration();
