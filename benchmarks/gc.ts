/**
 * A full garbage collection on demand, for benchmarks: before a heap is read (memory per item),
 * and before a timed run, so that each run pays for its own garbage and not for what the run
 * before it left in the old generation. `--expose-gc` is switched on at run time when the process
 * was not started with it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/** A full GC, twice (weak references and finalizers settle on the second). */
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  gc();
}
