/**
 * How the benchmarks time: warm up until steady, then take the median of timed runs. A device backend
 * queues its kernels, so a run ends when the device is idle (Backend.idle, i.e. onSubmittedWorkDone), not
 * when the host has recorded it and not after reading a result back (a 64 MiB read-back would dominate a
 * fast kernel). The first runs carry one-time costs (shader compilation, buffer creation, bind groups, JIT),
 * which take more than a couple of runs to settle on a GPU backend: warm-up continues until two runs in a
 * row agree within `tolerance`.
 */
import type { Backend } from '../backends/backend.ts';

export interface SteadyOptions {
  /** untimed runs at least (0: none, and no settling either) */
  minWarmup: number;
  /** untimed runs at most */
  maxWarmup: number;
  /** two consecutive warm-up runs within this fraction of each other end the warm-up */
  tolerance: number;
  /** timed runs at least, and more while within `budgetMs` (at most `maxRuns`) */
  minRuns: number;
  budgetMs: number;
  maxRuns: number;
}

export interface Timed {
  /** seconds per run, sorted */
  times: number[];
  median: number;
  warmup: number;
}

/** Wall seconds of one run of `fn`, waiting for the device where the backend queues work. */
export async function timeRun(backend: Backend, fn: () => void | Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  await backend.idle?.();
  return (performance.now() - t0) / 1000;
}

export async function steadyMedian(backend: Backend, fn: () => void | Promise<void>, o: SteadyOptions): Promise<Timed> {
  let warmup = 0;
  let prev = Infinity;
  while (warmup < o.minWarmup || (o.minWarmup > 0 && warmup < o.maxWarmup)) {
    const t = await timeRun(backend, fn);
    warmup++;
    if (warmup >= o.minWarmup && Math.abs(t - prev) <= o.tolerance * Math.min(t, prev)) break;
    prev = t;
  }
  const times: number[] = [];
  const start = performance.now();
  while (times.length < o.minRuns || (performance.now() - start < o.budgetMs && times.length < o.maxRuns)) times.push(await timeRun(backend, fn));
  times.sort((a, b) => a - b);
  return { times, median: times[Math.floor(times.length / 2)], warmup };
}
