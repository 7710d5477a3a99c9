/**
 * `prilora bench matmul` (square float32 matmul, median of timed runs after warm-up) and `prilora bench
 * train-step` (bench-train.ts). `--threads T` sets the CPU backend's threads (default: one per core).
 */
import type { Backend } from '../backends/backend.ts';
import { cpuInfo } from '../backends/cpu/index.ts';
import { Generator } from '../core/random.ts';
import { int, resolve } from '../core/spine.ts';
import { matmul } from '../ops/matmul.ts';
import { randn } from '../tensor/create.ts';
import { tidy } from '../tensor/scope.ts';
import { TRAIN_STEP_SPINE, trainStepBench } from './bench-train.ts';
import type { Command, CommandIO } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';

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

export const benchTrainStepCommand: Command = {
  usage: 'bench train-step --size tiny|mini|base --method lora|prilora|full [--batch 32] [--seq 128] [--backend B] [--threads T]',
  summary: 'one AdamW step of a randomly initialised BERT classifier; last line {…, "seq_per_s", "step_s"}',
  spines: [TRAIN_STEP_SPINE, DEVICE_SPINE],
  async run({ given: [opts, device], json }, io) {
    const { backend } = await useDevice(device);
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
  summary: 'square float32 matmul, GFLOP/s',
  spines: [MATMUL_SPINE, DEVICE_SPINE],
  async run({ given: [opts, device], json }, io) {
    const { n } = resolve(MATMUL_SPINE, opts);
    const { backend } = await useDevice(device);
    backend.resetFallbackCounts?.();
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
    const where = backend.name === 'cpu' ? `cpu (${fields.cpu_path}, ${threads} threads)` : backend.name;
    io.log(`matmul ${n}×${n} float32 on ${where}: ${(seconds * 1000).toFixed(1)} ms, ${gflops.toFixed(2)} GFLOP/s`);
    const run = runFields(backend, io);
    if (json) io.log(JSON.stringify({ gflops, n, backend: backend.name, threads, seconds, ...fields, ...run }));
    return 0;
  },
};
