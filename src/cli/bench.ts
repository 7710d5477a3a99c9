/** `prilora bench matmul`: square float32 matmul, median of timed runs after warm-up. */
import { ConfigError } from '../errors.ts';
import { matmul } from '../ops/matmul.ts';
import { randn } from '../tensor/create.ts';
import { Generator } from '../tensor/random.ts';
import { tidy } from '../tensor/scope.ts';
import { backendFlag, intFlag, parseFlags } from './args.ts';
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

export async function benchCommand(argv: string[], io: CommandIO): Promise<number> {
  const [what, ...rest] = argv;
  if (what !== 'matmul') throw new ConfigError(`bench: unknown benchmark "${what ?? ''}" (available: matmul)`);
  const { flags } = parseFlags('bench matmul', rest, {
    n: { type: 'string' },
    backend: { type: 'string' },
    threads: { type: 'string' },
    json: { type: 'boolean' },
  });
  const n = intFlag(flags, 'n', 512, 1);
  const backend = await backendFlag(flags);
  const threads = intFlag(flags, 'threads', 1, 1);
  if (threads !== 1) io.log(`note: the plain CPU backend is single-threaded; --threads ${threads} has no effect yet`);
  const gen = new Generator(0);
  const a = randn([n, n], { generator: gen });
  const b = randn([n, n], { generator: gen });
  const seconds = await medianSeconds(async () => {
    const c = tidy(() => matmul(a, b));
    await c.data();
    c.dispose();
  });
  const gflops = (2 * n * n * n) / seconds / 1e9;
  io.log(`matmul ${n}×${n} float32 on ${backend}: ${(seconds * 1000).toFixed(1)} ms, ${gflops.toFixed(2)} GFLOP/s`);
  if (flags.json) io.log(JSON.stringify({ gflops, n, backend, threads, seconds }));
  return 0;
}
