/**
 * The WebGPU backend's fused and specialised kernels against the CPU's float64 ops (themselves held to the
 * plain float64 references by the op suites): matmul in every operand layout, with batch folding, split-k,
 * the long-k kernel and epilogues (and the fused LoRA linear's dispatches); layer norm's backward;
 * attention's scaled, masked softmax and its backward; the multi-tensor clipping kernels; and the census
 * (counts, dry run) and bind group cache. Sizes stay small: on machines without a GPU the device is Mesa's
 * llvmpipe.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { startWebGPU } from './webgpu-start.ts';
import { parseBertConfig } from '../src/nn/bert.ts';

const gpu = await startWebGPU('test/webgpu-kernels.test.ts');
const RUNS = 12;

/** Largest |a − b| / (1 + |b|). */
function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return w;
}

/** Random float64 data on the CPU and the same values (float32) on `backend`. */
function twin(shape: number[], seed: number, backend: P.Backend): { cpu: P.Tensor; dev: P.Tensor } {
  const cpu = P.randn(shape, { dtype: 'float64', generator: new P.Generator(seed) });
  return { cpu, dev: P.tensor(Float32Array.from(cpu.dataSync()), { shape, backend }) };
}

/** `x` (or its transpose, as a view) in the layout asked for. */
const maybeT = (x: P.Tensor, t: boolean): P.Tensor => (t ? P.transpose(x) : x);

describe.skipIf(!gpu)('webgpu kernels', () => {
  const backend = gpu!;
  const forced: P.WebGPUBackend[] = [];
  afterAll(() => forced.forEach((b) => b.destroy()));

  it('matmul: tiled in every operand layout, batch folded into m, split-k or the long-k kernel, epilogues (scale, bias, addend) and a second product equal the float64 product', async () => {
    const tiledSplit = await P.createWebGPUBackend({ matmul: 'tiled', splitK: 'always' });
    forced.push(tiledSplit);
    for (const b of [backend, tiledSplit]) {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            batch: fc.constantFrom([], [2], [2, 3]),
            m: fc.integer({ min: 1, max: 40 }), k: fc.integer({ min: 1, max: 70 }), n: fc.integer({ min: 1, max: 40 }),
            ta: fc.boolean(), tb: fc.boolean(), sharedB: fc.boolean(), bias: fc.boolean(), scale: fc.constantFrom(1, 0.125),
            addend: fc.constantFrom(null, 0, 3), seed: fc.nat(1000),
            plus: fc.option(fc.record({ k: fc.integer({ min: 1, max: 40 }), ta: fc.boolean(), tb: fc.boolean(), sharedB: fc.boolean() })),
          }),
          async (c) => {
            const scope = P.beginScope();
            try {
              const batch = [...c.batch];
              /** One product's operands in the layouts drawn: the float64 product and the device's views. */
              const pair = (k: number, ta: boolean, tb: boolean, sharedB: boolean, seed: number) => {
                const a = twin(ta ? [...batch, k, c.m] : [...batch, c.m, k], seed, b);
                const w = twin([...(sharedB ? [] : batch), ...(tb ? [c.n, k] : [k, c.n])], seed + 1, b);
                const av = maybeT(a.dev, ta), bv = maybeT(w.dev, tb);
                return {
                  ref: P.matmul(maybeT(a.cpu, ta), maybeT(w.cpu, tb)),
                  a: av.view('t'), b: { storage: bv.view('t').storage, layout: P.ops.expand(bv, [...batch, k, c.n]).layout },
                  plain: () => P.matmul(av, bv).data(),
                };
              };
              const first = pair(c.k, c.ta, c.tb, c.sharedB, c.seed);
              const second = c.plus && pair(c.plus.k, c.plus.ta, c.plus.tb, c.plus.sharedB, c.seed + 10);
              const bias = twin([c.n], c.seed + 2, b);
              // the addend: contiguous, at an offset (0 or 3) into its storage
              const outShape = [...batch, c.m, c.n];
              const outSize = outShape.reduce((x, y) => x * y, 1);
              const extra = twin([(c.addend ?? 0) + outSize], c.seed + 3, b);
              const at = (t: P.Tensor) => P.reshape(P.slice(t, 0, c.addend ?? 0), outShape);
              let ref = P.add(P.mul(second ? P.add(first.ref, second.ref) : first.ref, c.scale), c.bias ? bias.cpu : 0);
              if (c.addend !== null) ref = P.add(ref, at(extra.cpu));
              const got = await b.read(b.matmulEpilogue(first.a, first.b, {
                scale: c.scale, bias: c.bias ? bias.dev.view('t') : null, addend: c.addend === null ? null : at(extra.dev).view('t'),
                plus: second && { a: second.a, b: second.b },
              }));
              expect(worst(got, ref.dataSync())).toBeLessThan(2e-5);
              expect(worst(await first.plain(), first.ref.dataSync())).toBeLessThan(2e-5);
            } finally {
              scope.end();
            }
          },
        ),
        { numRuns: RUNS, seed: 7 },
      );
    }
  });

  it('split-k kicks in for long-k products with few output tiles and sums its splits in a second dispatch', async () => {
    const a = twin([40, 1100], 1, backend), w = twin([1100, 24], 2, backend);
    backend.startCensus();
    const y = await P.matmul(a.dev, w.dev).data();
    const census = await backend.stopCensus();
    expect(worst(y, P.matmul(a.cpu, w.cpu).dataSync())).toBeLessThan(1e-4);
    expect(census.rows.map((r) => r.kernel)).toEqual([expect.stringMatching(/split-k/), 'reduce sum']);
    expect(census.rows[0].flops).toBe(2 * 40 * 1100 * 24);
  });

  it('a long-k product with a side ≤ 16 (LoRA weight gradients) is one skinny dispatch, in every layout and view; its invocations along x follow the wide operand\'s contiguous side', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          r: fc.integer({ min: 1, max: 16 }), wide: fc.integer({ min: 17, max: 90 }), k: fc.integer({ min: 1024, max: 1300 }),
          narrowM: fc.boolean(), ta: fc.boolean(), tb: fc.boolean(), offset: fc.constantFrom(0, 1), seed: fc.nat(1000),
        }),
        async (c) => {
          const scope = P.beginScope();
          try {
            const [m, n] = c.narrowM ? [c.r, c.wide] : [c.wide, c.r];
            // A starts `offset` rows into a taller tensor: a view at an offset, as a slice of activations is
            const a = twin(c.ta ? [c.k + c.offset, m] : [m + c.offset, c.k], c.seed, backend), w = twin(c.tb ? [n, c.k] : [c.k, n], c.seed + 1, backend);
            const rows = (t: P.Tensor) => P.slice(t, 0, c.offset);
            backend.startCensus();
            const y = await P.matmul(maybeT(rows(a.dev), c.ta), maybeT(w.dev, c.tb)).data();
            const census = await backend.stopCensus();
            // the wide operand is stored along k: B = wᵀ where narrow is m, A untransposed where it is n
            const alongX = (c.narrowM ? c.tb : !c.ta) ? 'k' : 'wide';
            expect(census.rows.map((row) => row.kernel)).toEqual([expect.stringMatching(new RegExp(`^matmul skinny \\d+x\\d+ ${alongX} along x, narrow ${c.narrowM ? 'm' : 'n'} = ${c.r}$`))]);
            expect(worst(y, P.matmul(maybeT(rows(a.cpu), c.ta), maybeT(w.cpu, c.tb)).dataSync())).toBeLessThan(1e-4);
          } finally {
            scope.end();
          }
        },
      ),
      { numRuns: RUNS, seed: 11 },
    );
  });

  it('vec4 loads where rows are 16-byte aligned along k; an unaligned view (offset 1, odd row stride) falls back', async () => {
    const a = twin([70, 65], 1, backend), w = twin([48, 65], 2, backend);
    const a4 = twin([70, 64], 3, backend), w4 = twin([48, 64], 4, backend);
    const cases: [P.Tensor, P.Tensor, P.Tensor, P.Tensor, string][] = [
      // k = 64 in a row-major A and a column-major B (x·Wᵀ): both along k, aligned
      [a4.dev, P.transpose(w4.dev), a4.cpu, P.transpose(w4.cpu), 'vec4 ab'],
      // rows 65 apart and starting at element 1: scalar loads
      [P.slice(a.dev, 1, 1, 65), P.transpose(P.slice(w.dev, 1, 1, 65)), P.slice(a.cpu, 1, 1, 65), P.transpose(P.slice(w.cpu, 1, 1, 65)), ''],
    ];
    for (const [ad, bd, ac, bc, label] of cases) {
      backend.startCensus();
      const y = await P.matmul(ad, bd).data();
      const census = await backend.stopCensus();
      if (label) expect(census.rows[0].kernel).toContain(label);
      else expect(census.rows[0].kernel).not.toContain('vec4');
      expect(worst(y, P.matmul(ac, bc).dataSync())).toBeLessThan(2e-5);
    }
  });

  it('a skinny side (≤ 16) gets a 128×16 or 16×128 tile, in every layout', async () => {
    for (const [m, k, n, tile] of [[300, 70, 8, '128x16'], [9, 70, 300, '16x128']] as const) {
      for (const [ta, tb] of [[false, false], [true, true], [false, true]]) {
        const a = twin(ta ? [k, m] : [m, k], m, backend), w = twin(tb ? [n, k] : [k, n], n, backend);
        backend.startCensus();
        const y = await P.matmul(maybeT(a.dev, ta), maybeT(w.dev, tb)).data();
        const census = await backend.stopCensus();
        expect(census.rows[0].kernel).toContain(`tiled ${tile}x16`);
        expect(worst(y, P.matmul(maybeT(a.cpu, ta), maybeT(w.cpu, tb)).dataSync())).toBeLessThan(2e-5);
      }
    }
  });

  it('reductions: column sums over a long dim share workgroups, long rows get one each; sum, max (NaN wins) and int32 equal float64', async () => {
    const cases: [number[], number[]][] = [[[600, 50], [0]], [[300, 3, 40], [0]], [[3, 700], [1]], [[40, 300], [1]], [[260, 7], [0]]];
    for (const [shape, axes] of cases) {
      const x = twin(shape, shape[0], backend);
      for (const op of ['sum', 'max'] as const) {
        const f = (t: P.Tensor) => (op === 'sum' ? P.sum(t, axes) : P.max(t, axes));
        expect(worst(await f(x.dev).data(), f(x.cpu).dataSync()), `${op} ${shape} over ${axes}`).toBeLessThan(2e-5);
      }
    }
    const probe = twin([600, 50], 1, backend).dev;
    backend.startCensus();
    await P.sum(probe, 0).data();
    expect((await backend.stopCensus()).rows[0].kernel).toBe('reduce sum columns');
    const withNan = P.tensor(Float32Array.from({ length: 600 * 3 }, (_, i) => (i === 3 * 400 + 1 ? NaN : i % 7)), { shape: [600, 3], backend });
    expect([...(await P.max(withNan, 0).data())].map(String)).toEqual(['6', 'NaN', '6']);
    const ints = P.tensor(Int32Array.from({ length: 600 * 2 }, (_, i) => i), { shape: [600, 2], backend });
    expect([...(await P.sum(ints, 0).data())]).toEqual([359400, 360000]);
  });

  it('layer norm backward: fused dx, dweight and dbias equal float64 autograd (frozen and trainable affine, strided gradient)', async () => {
    for (const [rows, cols] of [[5, 7], [3, 130], [2, 1100]]) {
      for (const trainable of [true, false]) {
        const scope = P.beginScope();
        const x = twin([rows, cols], rows, backend), w = twin([cols], 2, backend), bb = twin([cols], 3, backend), g = twin([cols, rows], 4, backend);
        const grads = async (t: P.Tensor, ...rest: P.Tensor[]) => {
          const [xx, ww, bw, gg] = [t, ...rest];
          xx.requiresGrad = true;
          ww.requiresGrad = trainable;
          bw.requiresGrad = trainable;
          P.layerNorm(xx, ww, bw, 1e-5).backward(P.transpose(gg));
          return Promise.all([xx, ...(trainable ? [ww, bw] : [])].map((v) => v.grad!.data()));
        };
        const ref = await grads(x.cpu, w.cpu, bb.cpu, g.cpu);
        const dev = await grads(x.dev, w.dev, bb.dev, g.dev);
        dev.forEach((d, i) => expect(worst(d, ref[i]), `${rows}x${cols} grad ${i}`).toBeLessThan(2e-5));
        scope.end();
      }
    }
  });

  it('attention: the scaled, masked softmax and its backward equal float64 (padding, -inf, -3.4e38 and fully masked rows)', async () => {
    for (const [b, h, t, d] of [[2, 3, 5, 4], [1, 2, 70, 8]]) {
      // (a finite fill such as -1e4 on a fully masked row is a float32 rounding test, not a kernel test)
      for (const fill of [-3.4028234663852886e38, -Infinity]) {
        const scope = P.beginScope();
        const q = twin([b, h, t, d], 1, backend), k = twin([b, h, t, d], 2, backend), v = twin([b, h, t, d], 3, backend);
        // sequence 0 keeps 3 keys, the last keeps none (a fully masked row gives zeros)
        const m = new Float64Array(b * t).map((_, i) => ((i % t < 3 && i < t) ? 0 : fill));
        const mask = { cpu: P.tensor(m, { shape: [b, 1, 1, t], dtype: 'float64' }), dev: P.tensor(Float32Array.from(m), { shape: [b, 1, 1, t], backend }) };
        const run = async (qq: P.Tensor, kk: P.Tensor, vv: P.Tensor, mm: P.Tensor) => {
          for (const z of [qq, kk, vv]) z.requiresGrad = true;
          const out = P.attention(qq, kk, vv, mm).out;
          P.sum(P.mul(out, P.tanh(P.mul(P.reshape(P.arange(out.size, undefined, 1, { dtype: out.dtype, backend: out.backend }), out.shape), 0.37)))).backward();
          return Promise.all([out, qq.grad!, kk.grad!, vv.grad!].map((z) => z.data()));
        };
        const ref = await run(q.cpu, k.cpu, v.cpu, mask.cpu);
        const dev = await run(q.dev, k.dev, v.dev, mask.dev);
        dev.forEach((x, i) => {
          expect(x.every(Number.isFinite), `${fill} part ${i} finite`).toBe(true);
          expect(worst(x, ref[i]), `${b}x${h}x${t}x${d} mask ${fill} part ${i}`).toBeLessThan(3e-5);
        });
        scope.end();
      }
    }
  });

  it('clipGradNorm: the multi-tensor kernels give the float64 norm and scaled gradients, in a few dispatches', async () => {
    const shapes = [[3], [40, 5], [1], [5000], [7, 7], [2, 3, 4], [9], [1], [300], [0], [64, 2], [5]];
    const make = (backend?: P.Backend) => shapes.map((s, i) => {
      const t = backend ? twin(s, 20 + i, backend).dev : twin(s, 20 + i, gpu!).cpu;
      t.requiresGrad = true;
      t.grad = P.keep(P.mul(t, 3));
      return t;
    });
    const cpu = make(), dev = make(backend);
    const refNorm = P.clipGradNorm(cpu, 1).dataSync()[0];
    const before = backend.dispatchCount;
    const norm = (await P.clipGradNorm(dev, 1).data())[0];
    // composed, three dispatches per gradient for the norm and one for the scaling
    expect(backend.dispatchCount - before).toBeLessThan(shapes.length);
    expect(Math.abs(norm - refNorm) / refNorm).toBeLessThan(1e-5);
    for (let i = 0; i < shapes.length; i++) expect(worst(await dev[i].grad!.data(), cpu[i].grad!.dataSync())).toBeLessThan(1e-5);
    for (const t of [...cpu, ...dev]) {
      t.grad!.dispose();
      t.dispose();
    }
  });

  it('AdamW over many parameters (multi-tensor): masks, per-group weight decay and odd group sizes equal float64', async () => {
    const shapes = [[3], [40, 5], [1], [700], [7, 7], [2, 3, 4], [9]];
    const build = (b: P.Backend | null) => {
      const ps = shapes.map((s, i) => {
        const t = b ? twin(s, 40 + i, b).dev : twin(s, 40 + i, backend).cpu;
        t.requiresGrad = true;
        return t;
      });
      const opt = new P.AdamW([{ params: ps.slice(0, 4), weightDecay: 0.1 }, { params: ps.slice(4), weightDecay: 0 }], { lr: 0.05 });
      for (const i of [1, 5]) opt.setMask(ps[i], P.gt(P.abs(ps[i]), 0.5));
      return { ps, opt };
    };
    const cpu = build(null), dev = build(backend);
    for (let step = 0; step < 3; step++) {
      for (const side of [cpu, dev]) {
        side.ps.forEach((p) => (p.grad = P.keep(P.tidy(() => P.sub(P.mul(p, p), 0.3)))));
        const before = backend.dispatchCount, storages = side.ps.map((p) => p.view('test').storage);
        side.opt.update();
        if (side === dev) expect(side.ps.every((p, i) => p.view('test').storage === storages[i])).toBe(true);
        // 5 unmasked parameters and 2 masked ones, updated in place: as many per dispatch as 4 (5) bindings each allow
        const limit = backend.limits.maxStorageBuffersPerStage, per = (bindings: number) => Math.min(8, Math.floor(limit / bindings));
        if (side === dev && per(5) >= 2) expect(backend.dispatchCount - before).toBe(Math.ceil(5 / per(4)) + Math.ceil(2 / per(5)));
        side.opt.zeroGrad();
      }
    }
    for (let i = 0; i < shapes.length; i++) expect(worst(await dev.ps[i].data(), cpu.ps[i].dataSync()), `param ${i}`).toBeLessThan(1e-5);
    for (const side of [cpu, dev]) {
      side.opt.dispose();
      side.ps.forEach((p) => p.dispose());
    }
  });

  it('loraLinear: two products forward and four back, the scaling, the branch and every add in their epilogues', async () => {
    const x = twin([2, 5, 12], 60, backend).dev, w = twin([10, 12], 61, backend).dev, bias = twin([10], 62, backend).dev;
    const a = twin([3, 12], 63, backend).dev, b = twin([10, 3], 64, backend).dev, residual = twin([2, 5, 10], 66, backend).dev;
    for (const t of [x, a, b, residual]) t.requiresGrad = true;
    const seed = twin([2, 5, 10], 65, backend).dev;
    backend.startCensus();
    P.tidy(() => P.ops.loraLinear(x, w, bias, { a, b, scaling: 2 }, residual).backward(seed));
    const census = await backend.stopCensus();
    expect(census.dispatches).toBe(6);
    expect(census.rows.every((r) => r.kernel.startsWith('matmul'))).toBe(true);
    for (const t of [x, a, b, residual]) t.grad!.dispose();
  });

  it('census: counts every dispatch by kernel and shape; a dry run sends nothing and leaves no buffer behind', async () => {
    const a = P.randn([33, 20], { backend }), w = P.randn([20, 40], { backend });
    await a.data();
    backend.startCensus();
    P.tidy(() => P.gelu(P.matmul(a, w))).dispose();
    const real = await backend.stopCensus();
    expect(real.dispatches).toBe(2);
    expect(real.rows.map((r) => [r.kernel, r.count])).toEqual([[expect.stringMatching(/^matmul/), 1], ['pointwise gelu_(a)', 1]]);
    expect(real.rows[0]).toMatchObject({ shape: '33x20 · 20x40', flops: 2 * 33 * 20 * 40 });

    const live = backend.liveBuffers(), submits = backend.submitCount, created = backend.poolStats().created;
    backend.startCensus({ dryRun: true });
    const big = P.randn([4096, 4096], { backend });
    const y = P.tidy(() => P.softmax(P.matmul(big, big)));
    expect([...(await y.data()).slice(0, 3)]).toEqual([0, 0, 0]);
    y.dispose();
    big.dispose();
    const dry = await backend.stopCensus();
    expect(dry).toMatchObject({ dryRun: true, dispatches: 3 });
    expect(dry.rows[1].kernel).toMatch(/matmul tiled 128x128/);
    expect(backend.liveBuffers()).toBe(live);
    expect(backend.submitCount).toBe(submits);
    expect(backend.poolStats().created).toBe(created);
    a.dispose();
    w.dispose();
  });

  it('bind groups repeat: training steps after the first few create none', async () => {
    const cfg = parseBertConfig({
      model_type: 'bert', vocab_size: 30, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 24,
      max_position_embeddings: 8, num_labels: 2, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
    });
    const model = new P.BertForSequenceClassification(cfg, { backend, generator: new P.Generator(2) });
    P.applyMethod(model, 'lora', {}, { seed: 0 });
    const opt = new P.AdamW(P.paramGroups(model, 0.01), { lr: 1e-3 });
    const inputIds = P.tensor(Int32Array.from({ length: 8 }, (_, i) => i + 1), { shape: [2, 4], backend });
    const labels = P.tensor(Int32Array.from([0, 1]), { backend });
    const step = async () => {
      P.tidy(() => model.forward({ inputIds, labels }).loss!.backward());
      P.clipGradNorm(opt.params, 1).dispose();
      opt.update();
      opt.zeroGrad();
      await model.classifier.weight.data();
    };
    for (let i = 0; i < 6; i++) await step();
    const before = backend.bindGroupStats;
    for (let i = 0; i < 3; i++) await step();
    const after = backend.bindGroupStats;
    expect(after.hits).toBeGreaterThan(before.hits);
    // the params and moments AdamW writes alternate between pooled buffers: a few groups may still be new
    expect(after.misses - before.misses).toBeLessThanOrEqual((after.hits - before.hits) / 20);
    for (const t of [inputIds, labels]) t.dispose();
    opt.dispose();
    model.dispose();
  });
});
