/**
 * The fused kernels (Backend.adamw, Backend.columnNormEma), the fused LoRA linear, and the op composites
 * they replace, on every backend, against the arithmetic written out in float64 (plain loops, nothing
 * shared with src). Contiguous and offset operands take the fused kernel; strided ones fall back to the composite.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as P from '../src/index.ts';
import type { AdamWStep } from '../src/backends/backend.ts';
import { adamwAllStep, adamwComposite, adamwStep } from '../src/optim/adamw-step.ts';
import { columnNormEma, columnNormEmaComposite } from '../src/prilora/statistics.ts';
import { isContiguous } from '../src/core/layout.ts';
import { BACKENDS, RUNS, make, scoped, shapeArb, stored, values, valuesArb, type LayoutKind } from './helpers.ts';
import type { NDArray } from './reference.ts';

/** [m, k] · [k, n] of row-major arrays, transposing either operand when asked, in float64. */
function mm(x: number[], y: number[], m: number, k: number, n: number, tx = false, ty = false): number[] {
  const out = new Array<number>(m * n).fill(0);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let q = 0; q < k; q++) out[i * n + j] += x[tx ? q * m + i : i * k + q] * y[ty ? j * k + q : q * n + j];
  return out;
}

interface LoraData { x: number[]; w: number[]; a: number[]; b: number[]; bias: number[] | null; keep: number[] | null; res: number[] | null; g: number[] }

/** LoRA's linear and every gradient for upstream g, written out: y = xWᵀ + bias + s·((x⊙keep)Aᵀ)Bᵀ + res. */
function loraReference(d: LoraData, t: number, i: number, o: number, r: number, s: number) {
  const xd = d.keep ? d.x.map((v, j) => v * d.keep![j]) : d.x;
  const h = mm(xd, d.a, t, i, r, false, true).map((v) => v * s);
  const base = mm(d.x, d.w, t, i, o, false, true);
  const y = mm(h, d.b, t, r, o, false, true).map((v, j) => v + base[j] + (d.bias ? d.bias[j % o] : 0) + (d.res ? d.res[j] : 0));
  const gh = mm(d.g, d.b, t, o, r).map((v) => v * s);
  const dxd = mm(gh, d.a, t, r, i);
  const dxBase = mm(d.g, d.w, t, o, i);
  return {
    y,
    x: dxBase.map((v, j) => v + dxd[j] * (d.keep ? d.keep[j] : 1)),
    w: mm(d.g, d.x, o, t, i, true),
    a: mm(gh, xd, r, t, i, true),
    b: mm(d.g, h, o, t, r, true),
    bias: Array.from({ length: o }, (_, c) => d.g.reduce((acc, v, j) => acc + (j % o === c ? v : 0), 0)),
    res: d.g,
  };
}

/** torch.optim.AdamW's step for one element, in float64. */
function referenceStep(p: number, g: number, m: number, v: number, keep: number, h: AdamWStep) {
  const m1 = h.beta1 * m + (1 - h.beta1) * g;
  const v1 = h.beta2 * v + (1 - h.beta2) * g * g;
  const decayed = p * (1 - h.lr * h.weightDecay);
  const step = (m1 / (Math.sqrt(v1) / h.bc2Sqrt + h.eps)) * (h.lr / h.bc1);
  return { p: (decayed - step) * keep, m: m1 * keep, v: v1 * keep, scale: Math.abs(decayed) + Math.abs(step) };
}

const hyperArb = fc
  .record({
    lr: fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
    beta1: fc.double({ min: 0, max: 0.99, noNaN: true }),
    beta2: fc.double({ min: 0.9, max: 0.9999, noNaN: true }),
    eps: fc.double({ min: 1e-8, max: 1e-3, noNaN: true }),
    weightDecay: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.2, noNaN: true })),
    t: fc.integer({ min: 1, max: 1000 }),
  })
  .map(({ t, ...h }): AdamWStep => ({ ...h, bc1: 1 - h.beta1 ** t, bc2Sqrt: Math.sqrt(1 - h.beta2 ** t) }));

const caseArb = shapeArb({ allowZero: true }).chain((shape) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const arr = (min: number, max: number) => fc.array(fc.double({ min, max, noNaN: true }), { minLength: n, maxLength: n });
  return fc.record({
    shape: fc.constant(shape),
    p: arr(-3, 3),
    g: arr(-3, 3),
    m: arr(-1, 1),
    v: arr(0, 2),
    mask: fc.option(fc.array(fc.constantFrom(0, 1), { minLength: n, maxLength: n })),
    layout: fc.constantFrom<LayoutKind>('contiguous', 'offset', 'strided'),
    h: hyperArb,
  });
});

afterEach(() => vi.restoreAllMocks());

for (const c of BACKENDS) {
  describe(`fused kernels on ${c.name}/${c.dtype}${c.path ? ` (${c.path})` : ''}`, () => {
    const backend = () => c.backend;

    it('fused where the backend has a kernel, composite otherwise; both equal the float64 update', async () => {
      const spy = backend().adamw ? vi.spyOn(backend() as Required<P.Backend>, 'adamw') : null;
      await fc.assert(
        fc.asyncProperty(caseArb, fc.boolean(), scoped(async (k, composite) => {
          const nd = (data: number[]): NDArray => stored({ shape: k.shape, data }, c);
          const [p, g, m, v] = [k.p, k.g, k.m, k.v].map((d) => nd(d));
          const t = (a: NDArray) => make(a, c, k.layout);
          const mask = k.mask ? t(nd(k.mask)) : null;
          spy?.mockClear();
          const [tp, tg, tm, tv] = [p, g, m, v].map(t);
          const r = (composite ? adamwComposite : adamwStep)(tp, tg, { m: tm, v: tv }, mask, k.h);
          // a 'strided' view whose last dim has size ≤ 1 is contiguous after all
          const fusedExpected = !composite && spy !== null && isContiguous(tp.layout);
          expect(spy?.mock.calls.length ?? 0, 'fused kernel calls').toBe(fusedExpected ? 1 : 0);
          const [gp, gm, gv] = await Promise.all([values(r.p), values(r.m), values(r.v)]);
          for (let i = 0; i < p.data.length; i++) {
            const want = referenceStep(p.data[i], g.data[i], m.data[i], v.data[i], k.mask ? k.mask[i] : 1, k.h);
            const tol = 8 * c.tol;
            expect(Math.abs(gp[i] - want.p), `p[${i}]: got ${gp[i]}, want ${want.p}`).toBeLessThanOrEqual(tol * (1 + want.scale));
            expect(Math.abs(gm[i] - want.m), `m[${i}]`).toBeLessThanOrEqual(tol * (1 + Math.abs(want.m)));
            expect(Math.abs(gv[i] - want.v), `v[${i}]`).toBeLessThanOrEqual(tol * (1 + Math.abs(want.v)));
            if (k.mask?.[i] === 0) expect([gp[i], gm[i], gv[i]].map(Math.abs), `masked element ${i}`).toEqual([0, 0, 0]);
          }
        })),
        RUNS,
      );
    });

    it.runIf(backend().adamw !== undefined)('a device that declines the kernel (null) gets the composite', async () => {
      const spy = vi.spyOn(backend() as Required<P.Backend>, 'adamw').mockReturnValue(null);
      await scoped(async () => {
        const h: AdamWStep = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, bc1: 0.1, bc2Sqrt: Math.sqrt(0.001) };
        const o = { dtype: c.dtype, backend: c.backend };
        const r = adamwStep(P.tensor([1, -2], o), P.tensor([0.5, 0.25], o), { m: P.zeros([2], o), v: P.zeros([2], o) }, null, h);
        expect(spy).toHaveBeenCalledOnce();
        const want = [1, -2].map((p, i) => referenceStep(p, [0.5, 0.25][i], 0, 0, 1, h).p);
        (await values(r.p)).forEach((x, i) => expect(x).toBeCloseTo(want[i], 5));
      })();
    });

    it('the multi-tensor update (Backend.adamwAll) equals the float64 update; in place exactly where no view shares a storage', async () => {
      const itemArb = caseArb.chain((k) => fc.record({ k: fc.constant(k), weightDecay: fc.double({ min: 0, max: 0.2, noNaN: true }), viewed: fc.boolean() }));
      await fc.assert(
        fc.asyncProperty(fc.array(itemArb, { minLength: 1, maxLength: 11 }), hyperArb, scoped(async (cases, h) => {
          const items = cases.map(({ k, weightDecay, viewed }) => {
            // contiguous, or at an offset in a storage that no other tensor holds any more
            const t = (d: number[]) => {
              if (k.layout === 'contiguous' || k.shape.length === 0) return make(stored({ shape: k.shape, data: d }, c), c);
              const row = k.shape.slice(1).reduce((a, b) => a * b, 1);
              const base = P.tensor([...new Array(row).fill(-7e29), ...d], { dtype: c.dtype, backend: c.backend, shape: [k.shape[0] + 1, ...k.shape.slice(1)] });
              const tail = P.slice(base, 0, 1);
              base.dispose();
              return tail;
            };
            const [p, g, m, v] = [k.p, k.g, k.m, k.v].map(t);
            // another tensor over p's storage: the update must not change it, so it cannot be in place
            const view = viewed ? p.withLayout(p.layout) : null;
            return { p, g, mo: { m, v }, mask: k.mask ? t(k.mask) : null, weightDecay, view, k };
          });
          const r = adamwAllStep(items, { ...h, weightDecay: 0 });
          if (!backend().adamwAll) return expect(r).toBeNull();
          expect(r, 'adamwAll declined contiguous float32 operands').not.toBeNull();
          for (const [j, it] of items.entries()) {
            const out = r![j];
            expect(out.p === it.p, `item ${j}: updated in place`).toBe(it.view === null);
            const got = await Promise.all([values(out.p), values(out.m), values(out.v)]);
            if (it.view) expect(await values(it.view), `item ${j}: the view is unchanged`).toEqual(stored({ shape: it.k.shape, data: it.k.p }, c).data);
            for (let i = 0; i < it.k.p.length; i++) {
              const want = referenceStep(it.k.p[i], it.k.g[i], it.k.m[i], it.k.v[i], it.k.mask ? it.k.mask[i] : 1, { ...h, weightDecay: it.weightDecay });
              const tol = 8 * c.tol;
              expect(Math.abs(got[0][i] - want.p), `item ${j} p[${i}]`).toBeLessThanOrEqual(tol * (1 + want.scale));
              expect(Math.abs(got[1][i] - want.m), `item ${j} m[${i}]`).toBeLessThanOrEqual(tol * (1 + Math.abs(want.m)));
              expect(Math.abs(got[2][i] - want.v), `item ${j} v[${i}]`).toBeLessThanOrEqual(tol * (1 + Math.abs(want.v)));
            }
          }
        })),
        RUNS,
      );
    });

    it('LoRA linear: the fused op equals the formula written out (with a residual), values and gradients, any operand frozen', async () => {
      const spy = backend().matmulEpilogue ? vi.spyOn(backend() as Required<P.Backend>, 'matmulEpilogue') : null;
      const loraArb = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }))
        .chain(([t, i, o, r]) => fc.record({
          dims: fc.constant([t, i, o, r] as const),
          x: valuesArb([t, i]), w: valuesArb([o, i]), a: valuesArb([r, i]), b: valuesArb([o, r]), g: valuesArb([t, o]),
          bias: fc.option(valuesArb([o])), res: fc.option(valuesArb([t, o])),
          keep: fc.option(fc.array(fc.constantFrom(0, 1 / 0.7), { minLength: t * i, maxLength: t * i })),
          trains: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
          scaling: fc.double({ min: 0.1, max: 4, noNaN: true }),
          layout: fc.constantFrom<LayoutKind>('contiguous', 'transposed', 'offset'),
        }));
      await fc.assert(
        fc.asyncProperty(loraArb, scoped(async (k) => {
          const [t, i, o, r] = k.dims;
          const st = (data: number[], shape: number[]) => stored({ shape, data }, c);
          const d: LoraData = {
            x: st(k.x, [t, i]).data, w: st(k.w, [o, i]).data, a: st(k.a, [r, i]).data, b: st(k.b, [o, r]).data,
            bias: k.bias && st(k.bias, [o]).data, keep: k.keep && st(k.keep, [t, i]).data, res: k.res && st(k.res, [t, o]).data, g: st(k.g, [t, o]).data,
          };
          const leaf = (data: number[], shape: number[], trains: boolean, kind: LayoutKind = 'contiguous') => {
            const v = make({ shape, data }, c, kind);
            v.requiresGrad = trains;
            return v;
          };
          const [x, w, a, b] = [leaf(d.x, [t, i], k.trains[0], k.layout), leaf(d.w, [o, i], k.trains[1]), leaf(d.a, [r, i], k.trains[2]), leaf(d.b, [o, r], k.trains[3], k.layout)];
          const bias = d.bias && leaf(d.bias, [o], k.trains[4]), res = d.res && leaf(d.res, [t, o], k.trains[5]);
          const input = d.keep ? P.mul(x, make({ shape: [t, i], data: d.keep }, c)) : null;
          spy?.mockClear();
          const y = P.ops.loraLinear(x, w, bias, { a, b, scaling: k.scaling, input }, res);
          expect(spy?.mock.calls.length ?? 0, 'products with an epilogue, forward').toBe(spy ? 2 : 0);
          const want = loraReference(d, t, i, o, r, k.scaling);
          // magnitudes: the same formula on |operands| bounds each result's rounding
          const abs = (v: number[] | null) => v && v.map(Math.abs);
          const size = loraReference({ x: abs(d.x)!, w: abs(d.w)!, a: abs(d.a)!, b: abs(d.b)!, bias: abs(d.bias), keep: d.keep, res: abs(d.res), g: abs(d.g)! }, t, i, o, r, k.scaling);
          const close = (got: number[], ref: number[], mag: number[], what: string) => ref.forEach((v, j) =>
            expect(Math.abs(got[j] - v), `${what}[${j}]: got ${got[j]}, want ${v}`).toBeLessThanOrEqual(16 * c.tol * (1 + mag[j])));
          close(await values(y), want.y, size.y, 'y');
          if (!y.requiresGrad) return;
          y.backward(make({ shape: [t, o], data: d.g }, c));
          const named = [['x', x], ['w', w], ['a', a], ['b', b], ['bias', bias], ['res', res]] as const;
          for (const [name, p] of named) {
            if (!p) continue;
            if (!p.requiresGrad) expect(p.grad, `${name} frozen`).toBeNull();
            else close(await values(p.grad!), want[name], size[name], `d${name}`);
          }
        })),
        RUNS,
      );
    });

    it('gradient accumulation: a tensor read by three products (one the residual of another) and a residual gets their sum, added in the products', async () => {
      const sumArb = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })).chain(([t, i, o]) =>
        fc.record({ dims: fc.constant([t, i, o] as const), x: valuesArb([t, i]), w1: valuesArb([o, i]), w2: valuesArb([o, i]), m: valuesArb([i, o]), g: valuesArb([t, o]) }));
      await fc.assert(
        fc.asyncProperty(sumArb, scoped(async (k) => {
          const [t, i, o] = k.dims;
          const st = (data: number[], shape: number[]) => stored({ shape, data }, c);
          const [x, w1, w2, m, g] = [st(k.x, [t, i]), st(k.w1, [o, i]), st(k.w2, [o, i]), st(k.m, [i, o]), st(k.g, [t, o])];
          const xt = make(x, c);
          xt.requiresGrad = true;
          // a square residual keeps every term [t, o]: x's own share of the sum is g's first i columns
          // the second linear is the first one's residual: added in its product where the backend can
          const y = P.add(P.add(P.linear(xt, make(w1, c), null, P.linear(xt, make(w2, c))), P.matmul(xt, make(m, c))), i === o ? xt : 0);
          const forward = [mm(x.data, w1.data, t, i, o, false, true), mm(x.data, w2.data, t, i, o, false, true), mm(x.data, m.data, t, i, o)]
            .reduce((acc, v) => acc.map((a, j) => a + v[j]))
            .map((v, j) => v + (i === o ? x.data[j] : 0));
          const gotY = await values(y);
          forward.forEach((v, j) => expect(Math.abs(gotY[j] - v), `y[${j}]`).toBeLessThanOrEqual(64 * c.tol * (1 + Math.abs(v))));
          const b = backend();
          b.startCensus?.();
          y.backward(make(g, c));
          const census = await b.stopCensus?.();
          if (census) expect(census.rows.filter((r) => !r.kernel.startsWith('matmul')).map((r) => r.kernel), 'kernels other than products').toEqual([]);
          const want = [mm(g.data, w1.data, t, o, i), mm(g.data, w2.data, t, o, i), mm(g.data, m.data, t, o, i, false, true)]
            .reduce((acc, v) => acc.map((a, j) => a + v[j]))
            .map((v, j) => v + (i === o ? g.data[j] : 0));
          const got = await values(xt.grad!);
          want.forEach((v, j) => expect(Math.abs(got[j] - v), `dx[${j}]`).toBeLessThanOrEqual(64 * c.tol * (1 + Math.abs(v))));
        })),
        RUNS,
      );
    });

    it('LoRA input statistics: fused column-norm EMA equals the float64 formula; masked rows never count; in place only where prev owns its storage', async () => {
      const spy = backend().columnNormEma ? vi.spyOn(backend() as Required<P.Backend>, 'columnNormEma') : null;
      const statsArb = fc.tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 1, max: 40 })).chain(([rows, cols]) =>
        fc.record({
          x: valuesArb([rows, cols]).map((data) => ({ shape: [rows, cols], data })),
          prev: valuesArb([cols], 0, 3).map((data) => ({ shape: [cols], data })),
          mask: fc.option(fc.array(fc.constantFrom(0, 1), { minLength: rows, maxLength: rows })),
          beta: fc.double({ min: 0, max: 0.999, noNaN: true }),
          layout: fc.constantFrom<LayoutKind>('contiguous', 'offset', 'transposed'),
          // an offset prev is a view into a larger tensor that must not change
          prevLayout: fc.constantFrom<LayoutKind>('contiguous', 'offset'),
          composite: fc.boolean(),
        }),
      );
      await fc.assert(
        fc.asyncProperty(statsArb, scoped(async (k) => {
          spy?.mockClear();
          const x = stored(k.x, c), prev = stored(k.prev, c);
          const [rows, cols] = x.shape;
          // more rows than a workgroup has lanes, more columns than it has; a masked row holds large values that
          // must not leak into the statistics
          const junk = { shape: x.shape, data: x.data.map((v, i) => (k.mask?.[Math.floor(i / cols)] === 0 ? 1e3 : v)) };
          const tx = make(junk, c, k.layout);
          const mask = k.mask ? P.tensor(k.mask, { dtype: 'int32', backend: c.backend }) : null;
          const prevT = make(prev, c, k.prevLayout), owned = prevT.ownsStorage;
          const result = (k.composite ? columnNormEmaComposite : columnNormEma)(tx, mask, prevT, k.beta);
          const got = await values(result);
          const fused = !k.composite && spy !== null && isContiguous(tx.layout);
          if (!k.composite) expect(spy?.mock.calls.length ?? 0, 'fused kernel calls').toBe(fused ? 1 : 0);
          if (fused) expect(spy!.mock.calls[0][4], 'asked to work in place').toBe(owned);
          expect(result === prevT, 'the result is prev, updated in place').toBe(fused && owned);
          if (result !== prevT) expect(await values(prevT), 'prev unchanged').toEqual(prev.data);
          for (let j = 0; j < cols; j++) {
            let sq = 0;
            for (let r = 0; r < rows; r++) {
              const v = x.data[r * cols + j];
              if (!k.mask || k.mask[r] === 1) sq += v * v;
            }
            const want = k.beta * prev.data[j] + (1 - k.beta) * Math.sqrt(sq);
            expect(Math.abs(got[j] - want), `column ${j}: got ${got[j]}, want ${want}`).toBeLessThanOrEqual(8 * c.tol * (1 + want));
          }
        })),
        RUNS,
      );
    });
  });
}
