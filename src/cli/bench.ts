/**
 * `prilora bench matmul` (square float32 matmul, median of timed runs after a warm-up that lasts until
 * runs agree, bench-timing.ts) and `prilora bench train-step` (bench-train.ts). `--threads T` sets the CPU
 * backend's threads (default: one per core).
 */
import type { Backend } from '../backends/backend.ts';
import { cpuInfo } from '../backends/cpu/index.ts';
import { Generator } from '../core/random.ts';
import { choice, int, resolve } from '../core/spine.ts';
import { censusTable, trainStepCensus } from './bench-census.ts';
import { matmul } from '../ops/matmul.ts';
import { randn } from '../tensor/create.ts';
import { tidy } from '../tensor/scope.ts';
import { TRAIN_STEP_SPINE, trainStepBench } from './bench-train.ts';
import { steadyMedian, timeRun } from './bench-timing.ts';
import type { Command, CommandIO } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';

/** Kernel mode and host fallbacks (this run, inputs and weights included), for backends that report them. */
function runFields(b: Backend, io: CommandIO): Record<string, unknown> {
  if (!b.kernelMode || !b.fallbackCounts) return {};
  const fallbacks = b.fallbackCounts();
  io.log(`kernel mode: ${b.kernelMode.mode} (${b.kernelMode.kernelClass})`);
  io.log(`CPU fallbacks: ${Object.entries(fallbacks).map(([op, k]) => `${op} ×${k}`).join(', ') || 'none'}`);
  return { mode: b.kernelMode.mode, fallbacks };
}

/** What the CPU ran with, for the JSON line. */
function cpuFields(b: Backend): Record<string, unknown> {
  if (b.name !== 'cpu') return {};
  const c = cpuInfo();
  return { threads: c.threads, cpu_path: c.enabled ? 'wasm-simd' : 'plain', relaxed_simd: c.relaxedSimd };
}

const CENSUS_SPINE = {
  census: choice(['off', 'run', 'dry'] as const, {
    help: 'per-kernel census of one step instead of timing: run (GPU times where the device has timestamps) or dry (kernels chosen and counted, nothing runs: any size on any device)',
    default: 'off',
  }),
} as const;

export const benchTrainStepCommand: Command = {
  usage: 'bench train-step --size tiny|mini|base|deep --method lora|prilora|full [--batch 32] [--seq 128] [--backend B] [--threads T] [--census run|dry]',
  summary: 'one AdamW step of a randomly initialised BERT classifier; last line {…, "seq_per_s", "step_s"} (with --census: the kernel table, last line {…, "dispatches", "rows"})',
  spines: [TRAIN_STEP_SPINE, DEVICE_SPINE, CENSUS_SPINE],
  async run({ given: [opts, device, census], json }, io) {
    const { backend } = await useDevice(device);
    const mode = resolve(CENSUS_SPINE, census).census;
    if (mode !== 'off') {
      const r = await trainStepCensus(opts, backend, mode);
      const o = resolve(TRAIN_STEP_SPINE, opts);
      io.log(`census of one ${o.size}/${o.method} step, batch ${o.batch}×${o.seq} on ${backend.name}${r.dryRun ? ' (dry run: nothing ran)' : ''}, times: ${r.timing}`);
      for (const l of censusTable(r)) io.log(l);
      if (json) io.log(JSON.stringify({ backend: backend.name, size: o.size, method: o.method, batch: o.batch, seq: o.seq, timing: r.timing, dry_run: r.dryRun, rows: r.rows, dispatches: r.dispatches }));
      return 0;
    }
    backend.resetFallbackCounts?.();
    const r = await trainStepBench(opts, backend, (l) => io.log(l));
    // seq_per_s and step_s last, as the CLI's JSON line convention asks
    const { seq_per_s, step_s, ...rest } = r;
    const run = runFields(backend, io);
    if (json) io.log(JSON.stringify({ ...rest, ...cpuFields(backend), ...run, seq_per_s, step_s }));
    return 0;
  },
};

const MATMUL_SPINE = { n: int({ help: 'matrix side', default: 512, min: 1 }) } as const;

export const benchMatmulCommand: Command = {
  usage: 'bench matmul --n N [--backend B] [--threads T]',
  summary: 'square float32 matmul, GFLOP/s (device time where the backend queues work: no read-back timed)',
  spines: [MATMUL_SPINE, DEVICE_SPINE],
  async run({ given: [opts, device], json }, io) {
    const { n } = resolve(MATMUL_SPINE, opts);
    const { backend } = await useDevice(device);
    backend.resetFallbackCounts?.();
    const gen = new Generator(0);
    const a = randn([n, n], { generator: gen });
    const b = randn([n, n], { generator: gen });
    // a backend without Backend.idle (the CPU's kernels are synchronous; gpu.js's GL may not be) ends a
    // run by reading the last result back, as this bench always did
    const product = async (last: boolean) => {
      const c = tidy(() => matmul(a, b));
      if (last && !backend.idle) await c.data();
      c.dispose();
    };
    // enough products per timed run that a run lasts ~50 ms (a single fast kernel is below timer noise)
    let probe = Infinity;
    for (let i = 0; i < 3; i++) probe = Math.min(probe, await timeRun(backend, () => product(true)));
    const repeat = Math.max(1, Math.min(64, Math.round(0.05 / Math.max(probe, 1e-6))));
    const run = async () => {
      for (let i = 0; i < repeat; i++) await product(i === repeat - 1);
    };
    const t = await steadyMedian(backend, run, { minWarmup: 2, maxWarmup: 20, tolerance: 0.05, minRuns: 5, budgetMs: 3000, maxRuns: 100 });
    const seconds = t.median / repeat;
    // which kernel ran, and its GPU time where the device has timestamp queries
    let kernel: Record<string, unknown> = {};
    if (backend.startCensus && backend.stopCensus) {
      // after the timing: a failure here (timestamps are an optional feature) costs only these fields
      try {
        backend.startCensus({ timestamps: true });
        await run();
        const c = await backend.stopCensus();
        const main = c.rows.find((r) => r.kernel.startsWith('matmul')) ?? c.rows[0];
        const gpu = c.rows.reduce((s, r) => s + (r.seconds ?? 0), 0) / repeat;
        kernel = { kernel: main?.kernel, dispatches: c.dispatches / repeat, ...(c.timing === 'none' ? {} : { kernel_seconds: gpu, kernel_gflops: (2 * n * n * n) / gpu / 1e9 }) };
      } catch (e) {
        kernel = { census_error: (e as Error).message };
      }
    }
    a.dispose();
    b.dispose();
    const gflops = (2 * n * n * n) / seconds / 1e9;
    const fields = cpuFields(backend);
    const threads = (fields.threads as number | undefined) ?? 1;
    const where = backend.name === 'cpu' ? `cpu (${fields.cpu_path}, ${threads} threads)` : backend.name;
    const timing = backend.idle ? 'device' : 'host, with a read-back';
    io.log(`matmul ${n}×${n} float32 on ${where}: ${(seconds * 1000).toFixed(2)} ms, ${gflops.toFixed(2)} GFLOP/s (timing: ${timing}; ${repeat} per run, ${t.warmup} warm-up runs)`);
    if (kernel.kernel) io.log(`kernel: ${kernel.kernel}${kernel.kernel_gflops ? `, ${(kernel.kernel_gflops as number).toFixed(1)} GFLOP/s by timestamps` : ''}`);
    const runInfo = runFields(backend, io);
    if (json) io.log(JSON.stringify({ gflops, n, backend: backend.name, threads, seconds, timing, repeat, warmup: t.warmup, ...kernel, ...fields, ...runInfo }));
    return 0;
  },
};
