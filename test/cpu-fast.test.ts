/**
 * The CPU fast path (wasm SIMD + worker threads) against the plain kernels, which stay the oracle: the same
 * inputs go through both paths and must agree to float32 rounding (bounds per op below), on odd sizes,
 * non-contiguous and broadcast views, masked rows, and sizes large enough to split across threads.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { cpuInfo, setCpuPath, setCpuThreads } from '../src/backends/cpu/index.ts';
import { defaultThreads } from '../src/backends/cpu/wasm/runtime.ts';

const info = cpuInfo();
afterAll(() => {
  setCpuPath('fast');
  if (info.enabled) setCpuThreads(defaultThreads());
});

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomArray(n: number, seed: number, scale = 3): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** Run `build` on each path (inputs are created inside, so they live where that path keeps them). */
function bothPaths(build: () => P.Tensor): { fast: Float32Array; plain: Float32Array } {
  const run = (p: 'fast' | 'plain') => {
    setCpuPath(p);
    return P.tidy(() => build().dataSync() as Float32Array);
  };
  const plain = run('plain');
  const fast = run('fast');
  return { fast, plain };
}

const ulp = (x: number): number => {
  const a = Math.fround(Math.abs(x));
  if (a === 0 || !Number.isFinite(a)) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
};

/** |fast − plain| ≤ ulps·ulp(plain) + abs (both NaN, or equal infinities, also pass). */
function expectAgree(fast: Float32Array, plain: Float32Array, ulps: number, abs = 0, what = ''): void {
  expect(fast.length, what).toBe(plain.length);
  for (let i = 0; i < fast.length; i++) {
    const f = fast[i], p = plain[i];
    if (Number.isNaN(p) && Number.isNaN(f)) continue;
    if (f === p) continue;
    if (!(Math.abs(f - p) <= ulps * ulp(p) + abs)) expect.fail(`${what} [${i}]: fast ${f}, plain ${p} (${Math.abs(f - p) / ulp(p)} ulp)`);
  }
}

type Layout = 'contiguous' | 'transposed' | 'strided';
/** A [r, c] tensor holding `data` (row-major) in the given layout. */
function view2d(data: Float32Array, r: number, c: number, layout: Layout): P.Tensor {
  if (layout === 'transposed') {
    const t = new Float32Array(r * c);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = data[i * c + j];
    return P.transpose(P.tensor(t, { shape: [c, r] }));
  }
  if (layout === 'strided') {
    const t = new Float32Array(r * c * 2).fill(1e30);
    for (let i = 0; i < r * c; i++) t[2 * i] = data[i];
    return P.slice(P.tensor(t, { shape: [r, 2 * c] }), 1, 0, undefined, 2);
  }
  return P.tensor(data, { shape: [r, c] });
}

const shapeArb = fc.tuple(fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 41 }));
const layoutArb = fc.constantFrom<Layout>('contiguous', 'transposed', 'strided');

describe.skipIf(!info.enabled)(`CPU fast path (${info.threads} threads, relaxed SIMD ${info.relaxedSimd})`, () => {
  const UNARY: [string, (x: P.Tensor) => P.Tensor, number, number][] = [
    ['neg', P.neg, 0, 0], ['abs', P.abs, 0, 0], ['floor', P.floor, 0, 0], ['sign', P.sign, 0, 0],
    ['sqrt', (x) => P.sqrt(P.abs(x)), 0, 0], ['rsqrt', (x) => P.rsqrt(P.add(P.abs(x), 0.1)), 1, 0],
    ['exp', P.exp, 2, 0], ['log', (x) => P.log(P.abs(x)), 2, 0], ['tanh', P.tanh, 2, 0],
    // erf-based ops: an absolute bound too (≤ 1e-7 for erf; the plain GELU itself cancels in its tail)
    ['erf', P.erf, 2, 1e-7], ['gelu', P.gelu, 4, 2e-7], ['geluTanh', P.geluTanh, 4, 2e-7], ['contiguous', P.contiguous, 0, 0],
  ];
  for (const [name, op, ulps, abs] of UNARY) {
    it(`${name} agrees with the plain kernel on any layout`, () => {
      fc.assert(
        fc.property(shapeArb, layoutArb, fc.nat(), ([r, c], layout, seed) => {
          const data = randomArray(r * c, seed, 6);
          const { fast, plain } = bothPaths(() => op(view2d(data, r, c, layout)));
          expectAgree(fast, plain, ulps, abs, name);
        }),
        { numRuns: 25 },
      );
    });
  }

  it('gelu and tanh gradients agree (backward through the fused rules)', () => {
    for (const f of [P.gelu, P.geluTanh, P.tanh]) {
      const data = randomArray(1003, 5, 8);
      const grads = bothPaths(() => {
        const x = P.tensor(data);
        x.requiresGrad = true;
        P.sum(P.mul(f(x), P.tensor(randomArray(1003, 6)))).backward();
        return x.grad!;
      });
      expectAgree(grads.fast, grads.plain, 8, 4e-7, f.name);
    }
  });

  const BINARY: [string, (a: P.Tensor, b: P.Tensor) => P.Tensor][] = [
    ['add', P.add], ['sub', P.sub], ['mul', P.mul], ['div', P.div], ['maximum', P.maximum], ['minimum', P.minimum],
    ['lt', P.lt], ['ge', P.ge], ['eq', P.eq],
  ];
  for (const [name, op] of BINARY) {
    it(`${name} agrees with broadcasting, transposed and strided operands`, () => {
      fc.assert(
        fc.property(shapeArb, layoutArb, fc.constantFrom('full', 'row', 'col', 'scalar'), fc.nat(), ([r, c], layout, bshape, seed) => {
          const a = randomArray(r * c, seed);
          const bs = bshape === 'full' ? [r, c] : bshape === 'row' ? [c] : bshape === 'col' ? [r, 1] : [];
          const b = randomArray(bs.reduce((p, d) => p * d, 1), seed + 1);
          if (name === 'eq') b[0] = a[0];
          const { fast, plain } = bothPaths(() => op(view2d(a, r, c, layout), P.tensor(b, { shape: bs })));
          // f32 ops on f32 inputs round once either way, so the results are identical
          expectAgree(fast, plain, 0, 0, name);
        }),
        { numRuns: 25 },
      );
    });
  }

  it('elementwise on 4-d broadcasts (attention mask) and on sizes split across threads', () => {
    const s = randomArray(6 * 3 * 50 * 50, 1), m = randomArray(6 * 50, 2);
    const r = bothPaths(() => P.add(P.tensor(s, { shape: [6, 3, 50, 50] }), P.tensor(m, { shape: [6, 1, 1, 50] })));
    expectAgree(r.fast, r.plain, 0, 0, 'mask add');
    const big = randomArray(300 * 517, 3);
    for (const f of [P.exp, (x: P.Tensor) => P.mul(x, 0.5), P.gelu]) {
      const y = bothPaths(() => f(P.tensor(big)));
      expectAgree(y.fast, y.plain, 4, 2e-7, 'big');
    }
    const t = bothPaths(() => P.contiguous(P.permute(P.tensor(big.subarray(0, 4 * 30 * 40 * 32), { shape: [4, 30, 40, 32] }), [0, 2, 1, 3])));
    expectAgree(t.fast, t.plain, 0, 0, 'permute copy');
  });

  it('matmul agrees within the float32 accumulation bound (odd sizes, transposed, batched, broadcast batch)', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 70 })),
        layoutArb, layoutArb, fc.constantFrom(0, 1, 3), fc.boolean(), fc.nat(),
        ([m, k, n], la, lb, batch, bcast, seed) => {
          const mk = (rows: number, cols: number, s: number, layout: Layout) => {
            const parts = Array.from({ length: Math.max(batch, 1) }, (_, i) => view2d(randomArray(rows * cols, s + i), rows, cols, layout));
            return batch ? P.stack(parts) : parts[0];
          };
          const build = (abs: boolean) => () => {
            let a = mk(m, k, seed, la);
            // a broadcast batch dim: one [k, n] matrix seen with batch stride 0
            let b = bcast && batch ? P.expand(P.unsqueeze(view2d(randomArray(k * n, seed + 99), k, n, lb), 0), [batch, k, n]) : mk(k, n, seed + 99, lb);
            if (abs) [a, b] = [P.abs(a), P.abs(b)];
            return P.matmul(a, b);
          };
          const { fast, plain } = bothPaths(build(false));
          setCpuPath('plain');
          const bound = P.tidy(() => build(true)().dataSync());
          for (let i = 0; i < fast.length; i++) {
            const tol = (k + 2) * 2 ** -23 * bound[i] + 1e-30;
            if (!(Math.abs(fast[i] - plain[i]) <= tol)) expect.fail(`matmul [${i}] fast ${fast[i]} plain ${plain[i]} bound ${tol}`);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('softmax / log-softmax agree on masked rows (−inf, −1e9, −3.4e38, fully masked, +inf, NaN)', () => {
    fc.assert(
      fc.property(shapeArb, fc.nat(), fc.constantFrom(-Infinity, -1e9, -3.4e38), ([r, c], seed, maskValue) => {
        const data = randomArray(r * c, seed, 10);
        const rnd = rng(seed);
        for (let i = 0; i < data.length; i++) if (rnd() < 0.3) data[i] = maskValue;
        if (r > 1) data.fill(maskValue, 0, c);
        if (r > 2 && rnd() < 0.3) data[c] = Infinity;
        if (r > 3 && rnd() < 0.3) data[2 * c] = NaN;
        for (const log of [false, true]) {
          const { fast, plain } = bothPaths(() => (log ? P.logSoftmax : P.softmax)(P.tensor(data, { shape: [r, c] }), -1));
          for (let i = 0; i < fast.length; i++) {
            const f = fast[i], p = plain[i];
            if (Object.is(f, p) || (Number.isNaN(f) && Number.isNaN(p)) || f === p) continue;
            const x = data[i];
            const tol = log ? 8 * ulp(Math.max(Math.abs(p), Math.abs(x))) + (c + 8) * 2 ** -23 : (c + 8) * 2 ** -23 * Math.abs(p) + 1e-37;
            if (!(Math.abs(f - p) <= tol)) expect.fail(`${log ? 'log' : ''}softmax [${i}] fast ${f} plain ${p}`);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('layer norm agrees (float64 statistics on both paths), including constant rows', () => {
    fc.assert(
      fc.property(shapeArb, fc.nat(), fc.constantFrom(1e-12, 1e-5), ([r, c], seed, eps) => {
        const x = randomArray(r * c, seed, 5);
        if (r > 1) x.fill(2.5, 0, c);
        const w = randomArray(c, seed + 1), b = randomArray(c, seed + 2);
        for (const part of ['y', 'mean', 'rstd'] as const) {
          const { fast, plain } = bothPaths(() => {
            const out = P.layerNorm(P.tensor(x, { shape: [r, c] }), P.tensor(w), P.tensor(b), eps);
            if (part === 'y') return out;
            // mean and rstd through the backward pass: d/dx of sum(y·g)
            const xt = P.tensor(x, { shape: [r, c] });
            xt.requiresGrad = true;
            P.sum(P.mul(P.layerNorm(xt, P.tensor(w), P.tensor(b), eps), P.tensor(randomArray(r * c, seed + 3), { shape: [r, c] }))).backward();
            return part === 'mean' ? xt.grad! : P.mul(xt.grad!, 1);
          });
          expectAgree(fast, plain, part === 'y' ? 2 : 64, part === 'y' ? 1e-6 : 1e-3, `layerNorm ${part}`);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('sums over trailing and leading axes agree (float64 accumulation), other patterns fall back', () => {
    const x = randomArray(7 * 130 * 33, 9);
    for (const axes of [[2], [1, 2], [0], [0, 1], [1], [0, 2]]) {
      const { fast, plain } = bothPaths(() => P.sum(P.tensor(x, { shape: [7, 130, 33] }), axes, true));
      expectAgree(fast, plain, 1, 1e-6, `sum ${axes}`);
    }
    const big = randomArray(1000 * 264, 4);
    for (const axis of [0, 1]) {
      const { fast, plain } = bothPaths(() => P.sum(P.tensor(big, { shape: [1000, 264] }), axis));
      expectAgree(fast, plain, 1, 1e-6, `sum big ${axis}`);
    }
  });

  it('embedding gather and its scatter-add gradient agree', () => {
    const w = randomArray(50 * 12, 1);
    const ids = Int32Array.from({ length: 40 }, (_, i) => (i * 7) % 50);
    const g = randomArray(40 * 12, 2);
    const fwd = bothPaths(() => P.embedding(P.tensor(w, { shape: [50, 12] }), P.tensor(ids, { shape: [5, 8] })));
    expectAgree(fwd.fast, fwd.plain, 0, 0, 'gather');
    const bwd = bothPaths(() => {
      const wt = P.tensor(w, { shape: [50, 12] });
      wt.requiresGrad = true;
      P.sum(P.mul(P.embedding(wt, P.tensor(ids, { shape: [5, 8] })), P.tensor(g, { shape: [5, 8, 12] }))).backward();
      return wt.grad!;
    });
    expectAgree(bwd.fast, bwd.plain, 0, 0, 'scatterAdd');
  });

  it('one thread and many give bitwise identical results', () => {
    setCpuPath('fast');
    // sizes above every kernel's split threshold, so each one really runs on several threads
    const a = randomArray(400 * 300, 1), b = randomArray(300 * 150, 2), s = randomArray(512 * 512, 3);
    const run = () =>
      P.tidy(() => {
        const x = P.tensor(a, { shape: [400, 300] });
        const y = P.matmul(x, P.tensor(b, { shape: [300, 150] }));
        const z = P.softmax(P.tensor(s, { shape: [512, 512] }));
        const l = P.layerNorm(P.tensor(s, { shape: [512, 512] }), P.tensor(b.subarray(0, 512)), P.tensor(b.subarray(512, 1024)));
        return [y, z, l, P.gelu(x), P.add(x, P.tensor(b.subarray(0, 300))), P.sum(x, 0), P.sum(x, 1)].map((t) => [...t.dataSync()]);
      });
    setCpuThreads(1);
    const one = run();
    setCpuThreads(Math.max(2, info.threads));
    expect(run()).toEqual(one);
    // and both agree with the plain kernels
    setCpuPath('plain');
    const plain = run();
    setCpuPath('fast');
    one.forEach((r, i) => expectAgree(Float32Array.from(r), Float32Array.from(plain[i]), 4, i === 0 ? 1e-4 : 2e-7, `big ${i}`));
  });

  it('freed storage is reused: repeated steps do not grow memory or leak buffers', () => {
    setCpuPath('fast');
    const backend = P.cpuBackend();
    const w = P.keep(P.tensor(randomArray(64 * 64, 1), { shape: [64, 64] }));
    w.requiresGrad = true;
    const x = P.keep(P.tensor(randomArray(32 * 64, 2), { shape: [32, 64] }));
    const step = () =>
      P.tidy(() => {
        P.sum(P.gelu(P.layerNorm(P.matmul(x, w), P.ones([64]), P.zeros([64])))).backward();
        w.grad!.dispose();
        w.grad = null;
      });
    step();
    const buffers = backend.liveBuffers();
    const before = cpuInfo().heapBytes;
    for (let i = 0; i < 200; i++) step();
    expect(backend.liveBuffers()).toBe(buffers);
    expect(cpuInfo().heapBytes).toBe(before);
    w.dispose();
    x.dispose();
  });
});
