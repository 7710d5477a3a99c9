/**
 * tinybench suites for the engine's hot ops on the CPU backend: matmul at several sizes (GFLOP/s),
 * elementwise with broadcasting, softmax and layer norm at BERT-like shapes. Run: `npm run bench`.
 */
import { Bench } from 'tinybench';
import * as P from '../src/index.ts';

const gen = new P.Generator(0);
const bench = new Bench({ time: 1000, warmupTime: 200 });
const flops = new Map<string, number>();

for (const n of [128, 256, 512]) {
  const a = P.randn([n, n], { generator: gen });
  const b = P.randn([n, n], { generator: gen });
  const name = `matmul ${n}x${n} f32`;
  flops.set(name, 2 * n ** 3);
  bench.add(name, () => P.tidy(() => void P.matmul(a, b)));
}

const x = P.randn([32, 128, 256], { generator: gen });
const bias = P.randn([256], { generator: gen });
const scores = P.randn([32, 4, 128, 128], { generator: gen });
const mask = P.mul(P.gt(P.rand([32, 1, 1, 128], { generator: gen }), 0.8), -1e9);
const w = P.ones([256]);

bench
  .add('add+broadcast [32,128,256]+[256]', () => P.tidy(() => void P.add(x, bias)))
  .add('gelu [32,128,256]', () => P.tidy(() => void P.gelu(x)))
  .add('softmax masked [32,4,128,128]', () => P.tidy(() => void P.softmax(P.add(scores, mask))))
  .add('layerNorm [32,128,256]', () => P.tidy(() => void P.layerNorm(x, w, bias, 1e-12)));

await bench.run();
console.table(
  bench.tasks.map((t) => {
    const mean = t.result && 'latency' in t.result ? t.result.latency.mean : NaN;
    const f = flops.get(t.name);
    return { task: t.name, 'mean ms': mean.toFixed(2), 'GFLOP/s': f ? (f / (mean / 1000) / 1e9).toFixed(2) : '' };
  }),
);
