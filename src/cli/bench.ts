/**
 * `prilora bench matmul` (square float32 matmul, median of timed runs after warm-up) and `prilora bench
 * train-step` (bench-train.ts). `--threads T` sets the CPU fast path's threads (default: one per core).
 */
import { getBackend } from '../backends/backend.ts';
import { cpuInfo, setCpuThreads } from '../backends/cpu/index.ts';
import { ConfigError } from '../errors.ts';
import { matmul } from '../ops/matmul.ts';
import { randn } from '../tensor/create.ts';
import { Generator } from '../tensor/random.ts';
import { tidy } from '../tensor/scope.ts';
import { backendFlag, intFlag, parseFlags, type Flags } from './args.ts';
import { trainStepBench } from './bench-train.ts';
import type { CommandIO } from './main.ts';

/** Median wall time of `fn` over at least `minRuns` runs and ~`budgetMs`, after `warmup` runs. */
export async function medianSeconds(fn: () => Promise<void> | void, warmup = 2, minRuns = 5, budgetMs = 3000): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || (performance.now() - start < budgetMs && times.length < 100)) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/**
 * What a backend may tell about where its kernels really ran: gpu.js can silently run CPU kernels, and the
 * gpujs backend runs some ops on the CPU, counted per op.
 */
interface RunInfo {
  mode?: { mode: string; kernelClass: string };
  fallbackCounts?(): Record<string, number>;
  resetFallbackCounts?(): void;
}

/** Start the backend and apply --threads; returns the backend's name. */
async function prepare(flags: Flags, io: CommandIO): Promise<string> {
  const backend = await backendFlag(flags);
  (getBackend(backend) as RunInfo).resetFallbackCounts?.();
  if (flags.threads !== undefined) {
    const threads = intFlag(flags, 'threads', 1, 1);
    if (backend === 'cpu') setCpuThreads(threads);
    else io.log(`note: --threads applies to the cpu backend only`);
  }
  return backend;
}

/** Kernel mode and CPU fallbacks (this run, inputs and weights included), for backends that report them. */
function runFields(backend: string, io: CommandIO): Record<string, unknown> {
  const b = getBackend(backend) as RunInfo;
  if (!b.mode || !b.fallbackCounts) return {};
  const fallbacks = b.fallbackCounts();
  io.log(`kernel mode: ${b.mode.mode} (${b.mode.kernelClass})`);
  io.log(`CPU fallbacks: ${Object.entries(fallbacks).map(([op, k]) => `${op} ×${k}`).join(', ') || 'none'}`);
  return { mode: b.mode.mode, fallbacks };
}

/** What the CPU ran with, for the JSON line. */
function cpuFields(backend: string): Record<string, unknown> {
  if (backend !== 'cpu') return {};
  const c = cpuInfo();
  return { threads: c.threads, cpu_path: c.enabled ? 'wasm-simd' : 'plain', relaxed_simd: c.relaxedSimd };
}

export async function benchCommand(argv: string[], io: CommandIO): Promise<number> {
  const [what, ...rest] = argv;
  if (what === 'train-step') {
    const { result: r, json } = await trainStepBench(rest, io, (flags) => prepare(flags, io));
    // seq_per_s and step_s last, as the CLI's JSON line convention asks
    const { seq_per_s, step_s, ...rest2 } = r;
    const run = runFields(r.backend, io);
    if (json) io.log(JSON.stringify({ ...rest2, ...cpuFields(r.backend), ...run, seq_per_s, step_s }));
    return 0;
  }
  if (what !== 'matmul') throw new ConfigError(`bench: unknown benchmark "${what ?? ''}" (available: matmul, train-step)`);
  const { flags } = parseFlags('bench matmul', rest, {
    n: { type: 'string' },
    backend: { type: 'string' },
    threads: { type: 'string' },
    json: { type: 'boolean' },
  });
  const n = intFlag(flags, 'n', 512, 1);
  const backend = await prepare(flags, io);
  const gen = new Generator(0);
  const a = randn([n, n], { generator: gen });
  const b = randn([n, n], { generator: gen });
  const seconds = await medianSeconds(async () => {
    const c = tidy(() => matmul(a, b));
    await c.data();
    c.dispose();
  });
  a.dispose();
  b.dispose();
  const gflops = (2 * n * n * n) / seconds / 1e9;
  const fields = cpuFields(backend);
  const threads = (fields.threads as number | undefined) ?? 1;
  const where = backend === 'cpu' ? `cpu (${fields.cpu_path}, ${threads} threads)` : backend;
  io.log(`matmul ${n}×${n} float32 on ${where}: ${(seconds * 1000).toFixed(1)} ms, ${gflops.toFixed(2)} GFLOP/s`);
  const run = runFields(backend, io);
  if (flags.json) io.log(JSON.stringify({ gflops, n, backend, threads, seconds, ...fields, ...run }));
  return 0;
}
