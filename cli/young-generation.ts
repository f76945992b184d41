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
 * only while it is scavenged often (message load), where a larger one saves work.
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
 * Scavenges per second (over the last second) from which the young generation may grow as V8
 * would, to its maximum. A larger young generation pays off in proportion to how often it is
 * scavenged: under message load (e2e benchmark, paced 5,000/s and saturated, 8 MB bound) kiot
 * scavenged 23-47 times a second, and the bound alone doubled the time spent in GC per message
 * and cost ~20% of the saturated rate. 10,000 connections opening scavenge 5-8 times a second,
 * with bursts above 10 (at 10 the bound gave way and idle connections cost 9.3-9.8 KB each, over
 * issue 12's 8 KB); startup and an idle kiot scavenge a few times a second or less. Between the
 * two, 20.
 */
export const BUSY_SCAVENGES_PER_SECOND = 20;

/** V8's default `--semi-space-growth-factor` (src/flags/flag-definitions.h). */
const V8_GROWTH_FACTOR = 2;

/** The node flags kiot is started with (kept in step with package.json, cli/main.ts's first line and the Dockerfile by cli/young-generation.test.ts). */
export const NODE_FLAGS = ['--max-semi-space-size=32'] as const;

const USER_TUNED = /^--min[-_]semi[-_]space[-_]size|^--semi[-_]space[-_]growth[-_]factor/;
/** Only the main thread sets the flags (a worker thread that imported this module must not). */
const leftAlone = !isMainThread || [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)].some((flag) => USER_TUNED.test(flag));

let factor = V8_GROWTH_FACTOR;
let observer: PerformanceObserver | undefined;

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

/** Keeps the young generation at the size it has: while kiot starts. Safe to call again. */
export function holdYoungGeneration(): void {
  observer?.disconnect();
  observer = undefined;
  setGrowthFactor(1);
}

/**
 * Lets the young generation grow as V8 would: to its maximum while it is scavenged at least
 * {@link BUSY_SCAVENGES_PER_SECOND} times a second, else up to `capBytes` and no further.
 * Decided after each GC: growth is on or off (it grows by doubling, one step per scavenge at
 * most, so the bound holds to within a step taken between two GC callbacks). V8 still shrinks
 * it when allocation slows down. Replaces an earlier bound.
 */
export function boundYoungGeneration(capBytes: number = YOUNG_GENERATION_CAP_BYTES, busyScavengesPerSecond: number = BUSY_SCAVENGES_PER_SECOND): void {
  if (leftAlone) return;
  observer?.disconnect();
  /** Start times (ms, performance clock) of the scavenges of the last second, oldest first. */
  const scavenges: number[] = [];
  const update = (list?: PerformanceObserverEntryList): void => {
    for (const entry of list?.getEntries() ?? []) {
      // Node 20 types lack `detail` on gc entries; at run time it is `{ kind, flags }`.
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges.push(entry.startTime);
    }
    const since = performance.now() - 1000;
    let old = 0;
    while (old < scavenges.length && scavenges[old]! < since) old++;
    scavenges.splice(0, old);
    const busy = scavenges.length >= busyScavengesPerSecond;
    setGrowthFactor(busy || youngGenerationBytes() < capBytes ? V8_GROWTH_FACTOR : 1);
  };
  observer = new PerformanceObserver(update);
  observer.observe({ entryTypes: ['gc'] });
  update();
}

/** V8's own behaviour again (growth up to its maximum): for commands other than `kiot up`, and when it stops. Safe to call again. */
export function releaseYoungGeneration(): void {
  observer?.disconnect();
  observer = undefined;
  setGrowthFactor(V8_GROWTH_FACTOR);
}

holdYoungGeneration();
