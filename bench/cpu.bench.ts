/**
 * tinybench: the CPU backend's float32 kernels on the plain path (TypeScript reference) and the fast path
 * (wasm SIMD) with 1 and with every thread, at BERT-like shapes. Run: `npx tsx bench/cpu.bench.ts`
 * (`--quick` for a short run). Prints one table: mean ms per op and, for matmul, GFLOP/s.
 */
import { Bench } from 'tinybench';
import * as P from '../src/index.ts';
import { cpuInfo, setCpuPath, setCpuThreads } from '../src/backends/cpu/index.ts';
import { defaultThreads } from '../src/backends/cpu/wasm/runtime.ts';

const quick = process.argv.includes('--quick');
const maxThreads = defaultThreads();
const configs: { label: string; path: 'plain' | 'fast'; threads: number }[] = [
  { label: 'plain', path: 'plain', threads: 1 },
  { label: 'fast 1T', path: 'fast', threads: 1 },
  ...(maxThreads > 1 ? [{ label: `fast ${maxThreads}T`, path: 'fast' as const, threads: maxThreads }] : []),
];

type Case = { name: string; flops?: number; inputs: () => P.Tensor[]; run: (xs: P.Tensor[]) => P.Tensor; plainToo: boolean };
const gen = new P.Generator(0);
const randn = (shape: number[]) => P.randn(shape, { generator: gen });
const cases: Case[] = [
  ...[256, 512, 1024].map((n) => ({
    name: `matmul ${n}×${n}`, flops: 2 * n ** 3, inputs: () => [randn([n, n]), randn([n, n])], run: ([a, b]: P.Tensor[]) => P.matmul(a, b), plainToo: n <= 512,
  })),
  { name: 'linear [32,128,256]·Wᵀ[1024,256]', flops: 2 * 4096 * 256 * 1024, inputs: () => [randn([32, 128, 256]), randn([1024, 256])], run: ([x, w]) => P.linear(x, w), plainToo: false },
  { name: 'attention q·kᵀ [32,4,128,64]', flops: 2 * 128 * 128 * 128 * 64, inputs: () => [randn([32, 4, 128, 64]), randn([32, 4, 128, 64])], run: ([q, k]) => P.matmul(q, P.transpose(k)), plainToo: false },
  { name: 'add+broadcast [32,128,256]+[256]', inputs: () => [randn([32, 128, 256]), randn([256])], run: ([x, b]) => P.add(x, b), plainToo: true },
  { name: 'gelu [32,128,1024]', inputs: () => [randn([32, 128, 1024])], run: ([x]) => P.gelu(x), plainToo: true },
  {
    name: 'softmax masked [32,4,128,128]',
    inputs: () => [randn([32, 4, 128, 128]), P.mul(P.gt(P.rand([32, 1, 1, 128], { generator: gen }), 0.8), -1e9)],
    run: ([s, m]) => P.softmax(P.add(s, m)),
    plainToo: true,
  },
  { name: 'layerNorm [32,128,256]', inputs: () => [randn([32, 128, 256]), P.ones([256]), P.zeros([256])], run: ([x, w, b]) => P.layerNorm(x, w, b, 1e-12), plainToo: true },
  { name: 'sum over rows [4096,256]→[256]', inputs: () => [randn([4096, 256])], run: ([x]) => P.sum(x, 0), plainToo: true },
  { name: 'permute copy [32,128,4,64]→[32,4,128,64]', inputs: () => [randn([32, 128, 4, 64])], run: ([x]) => P.contiguous(P.permute(x, [0, 2, 1, 3])), plainToo: true },
];

const rows: Record<string, string>[] = [];
for (const c of cases) {
  const row: Record<string, string> = { op: c.name };
  for (const cfg of configs) {
    if (cfg.path === 'plain' && !c.plainToo) {
      row[cfg.label] = '—';
      continue;
    }
    setCpuPath(cfg.path);
    if (cfg.path === 'fast') setCpuThreads(cfg.threads);
    const xs = c.inputs().map((t) => P.keep(t));
    const bench = new Bench({ time: quick ? 200 : 1000, warmupTime: quick ? 50 : 200 });
    bench.add(c.name, () => P.tidy(() => void c.run(xs)));
    await bench.run();
    const r = bench.tasks[0].result;
    const mean = r && 'latency' in r ? r.latency.mean : NaN;
    row[cfg.label] = c.flops ? `${mean.toFixed(2)} ms (${(c.flops / (mean / 1000) / 1e9).toFixed(1)} GFLOP/s)` : `${mean.toFixed(2)} ms`;
    xs.forEach((t) => t.dispose());
  }
  rows.push(row);
}
const info = cpuInfo();
console.log(`CPU fast path: ${info.enabled ? `wasm SIMD${info.relaxedSimd ? ' + relaxed (FMA)' : ''}, up to ${maxThreads} threads` : `off (${info.reason})`}`);
console.table(rows);
