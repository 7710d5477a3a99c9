import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import * as R from './reference.ts';
import { BACKENDS, RUNS, expectClose, int32, item, layoutArb, make, ndArb, scoped, shapeArb, stored, values } from './helpers.ts';

const MASKS = [-Infinity, -1e9, -3.4e38];

/** Values with some entries replaced by a mask value (whole rows sometimes). */
const maskedArb = ndArb(shapeArb({ minDims: 1, maxSide: 5 })).chain((a) =>
  fc.tuple(
    fc.constant(a),
    fc.array(fc.boolean(), { minLength: a.data.length, maxLength: a.data.length }),
    fc.constantFrom(...MASKS),
    fc.nat({ max: a.shape.length - 1 }),
  ),
);

function moveAxisLast(a: R.NDArray, axis: number): { moved: R.NDArray; back: (m: R.NDArray) => R.NDArray } {
  const nd = a.shape.length;
  const perm = [...Array(nd).keys()].filter((d) => d !== axis).concat(axis);
  const inv = perm.map((_, i) => perm.indexOf(i));
  return { moved: R.permute(a, perm), back: (m) => R.permute(m, inv) };
}

for (const c of BACKENDS) {
  describe(`softmax family on ${c.name}/${c.dtype}`, () => {
    it('softmax / logSoftmax along any axis, stable for -inf, -1e9 and -3.4e38 masks', async () => {
      await fc.assert(
        fc.asyncProperty(maskedArb, layoutArb, scoped(async ([a, masked, maskValue, axis], layout) => {
          const x = { shape: a.shape, data: stored(a, c).data.map((v, i) => (masked[i] ? maskValue : v)) };
          const xs = make(x, c, layout);
          const { moved, back } = moveAxisLast(stored(x, c), axis);
          for (const log of [false, true]) {
            const y = log ? P.logSoftmax(xs, axis) : P.softmax(xs, axis);
            const ref = back(R.rows(moved, (row) => R.softmaxRow(row, log)));
            await expectClose(y, ref, c.tol * 10, log ? 'logSoftmax' : 'softmax');
            const vals = await values(y);
            expect(vals.some((v) => Number.isNaN(v))).toBe(false);
            if (!log) expect(vals.every((v) => v >= 0 && v <= 1)).toBe(true);
          }
        })),
        RUNS,
      );
    });

    it('a fully masked row gives zeros (softmax) and no NaN or 3.4e38 anywhere (tfjs #5394)', async () => {
      for (const m of MASKS) {
        const x = make({ shape: [2, 3], data: [m, m, m, 1, m, 2] }, c);
        const y = await values(P.softmax(x));
        expect(y.some(Number.isNaN)).toBe(false);
        expect(y.some((v) => Math.abs(v) > 1)).toBe(false);
        if (m === -Infinity) expect(y.slice(0, 3)).toEqual([0, 0, 0]);
        else y.slice(0, 3).forEach((v) => expect(v).toBeCloseTo(1 / 3, 6));
        expect(y[4]).toBe(0);
        // the gradient through a masked softmax is finite too
        const xg = make({ shape: [2, 3], data: [m, m, m, 1, m, 2] }, c);
        xg.requiresGrad = true;
        P.sum(P.mul(P.softmax(xg), make({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, c))).backward();
        expect((await values(xg.grad!)).every(Number.isFinite)).toBe(true);
      }
    });

    it('a NaN anywhere in a row makes the row NaN (it must not pass for a mask)', async () => {
      const y = await values(P.logSoftmax(make({ shape: [2, 3], data: [NaN, 1, 2, 0, 1, 2] }, c)));
      expect(y.slice(0, 3).every(Number.isNaN)).toBe(true);
      expect(y.slice(3).some(Number.isNaN)).toBe(false);
    });

    it('fused softmax / log-softmax agree with their composite twins, forward and backward', async () => {
      await fc.assert(
        fc.asyncProperty(ndArb(shapeArb({ minDims: 1, maxSide: 5 })), fc.nat(), scoped(async (a, axisSeed) => {
          const axis = axisSeed % a.shape.length;
          for (const [fused, comp] of [[P.softmax, P.softmaxComposite], [P.logSoftmax, P.logSoftmaxComposite]] as const) {
            const grads: { y: number[]; g: number[] }[] = [];
            for (const f of [fused, comp]) {
              const x = make(a, c);
              x.requiresGrad = true;
              const y = f(x, axis);
              P.sum(P.mul(y, P.tanh(P.add(y, 0.3)))).backward();
              grads.push({ y: await values(y), g: await values(x.grad!) });
              x.grad!.dispose();
            }
            grads[0].y.forEach((v, i) => expect(Math.abs(v - grads[1].y[i])).toBeLessThanOrEqual(c.tol * 10 * (1 + Math.abs(v))));
            grads[0].g.forEach((v, i) => expect(Math.abs(v - grads[1].g[i])).toBeLessThanOrEqual(c.tol * 50 * (1 + Math.abs(v))));
          }
        })),
        RUNS,
      );
    });
  });

  describe(`layer norm, dropout and losses on ${c.name}/${c.dtype}`, () => {
    it('layerNorm matches the reference and its composite twin', async () => {
      await fc.assert(
        fc.asyncProperty(
          shapeArb({ minDims: 1, maxSide: 6 }).chain((s) => fc.tuple(ndArb(fc.constant(s)), ndArb(fc.constant([s[s.length - 1]])), ndArb(fc.constant([s[s.length - 1]])))),
          layoutArb,
          fc.constantFrom(1e-12, 1e-5),
          scoped(async ([x, w, b], layout, eps) => {
            const ref = R.rows(stored(x, c), (row) => R.layerNormRow(row, stored(w, c).data, stored(b, c).data, eps));
            // a row of equal values has zero variance: eps dominates and float32 cannot resolve 1e-12
            const tol = c.dtype === 'float32' ? 1e-4 : 1e-9;
            await expectClose(P.layerNorm(make(x, c, layout), make(w, c), make(b, c, layout), eps), ref, tol, 'layerNorm');
            await expectClose(P.layerNormComposite(make(x, c, layout), make(w, c), make(b, c), eps), ref, tol, 'layerNormComposite');
          }),
        ),
        RUNS,
      );
    });

    it('dropout: seeded and reproducible, scaled by 1/(1-p), identity in eval', async () => {
      const x = P.ones([4000], { dtype: c.dtype, backend: c.backend });
      const a = P.dropout(x, 0.25, { training: true, generator: new P.Generator(7) });
      const b = P.dropout(x, 0.25, { training: true, generator: new P.Generator(7) });
      expect(await values(a)).toEqual(await values(b));
      const vals = await values(a);
      expect(new Set(vals.map((v) => v.toFixed(5)))).toEqual(new Set(['0.00000', (1 / 0.75).toFixed(5)]));
      const dropped = vals.filter((v) => v === 0).length / vals.length;
      expect(dropped).toBeGreaterThan(0.22);
      expect(dropped).toBeLessThan(0.28);
      expect(await values(P.dropout(x, 0.25, { training: false }))).toEqual(vals.map(() => 1));
    });

    it('crossEntropy: mean over non-ignored rows, with label smoothing, as torch', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 5 })).chain(([n, k]) =>
            fc.tuple(ndArb(fc.constant([n, k]), -5, 5), fc.array(fc.oneof(fc.nat({ max: k - 1 }), fc.constant(-100)), { minLength: n, maxLength: n })),
          ),
          fc.constantFrom(0, 0.1),
          scoped(async ([logits, labels], eps) => {
            const k = logits.shape[1];
            const logp = R.rows(stored(logits, c), (row) => R.softmaxRow(row, true)).data;
            let total = 0;
            let count = 0;
            labels.forEach((y, i) => {
              if (y === -100) return;
              const row = logp.slice(i * k, i * k + k);
              total += (1 - eps) * -row[y] + eps * -(R.sumOf(row) / k);
              count++;
            });
            const loss = P.crossEntropy(make(logits, c, 'transposed'), int32(c, labels), { labelSmoothing: eps });
            if (count === 0) expect(Number.isNaN(await item(loss))).toBe(true);
            else await expectClose(loss, { shape: [], data: [total / count] }, c.tol * 10, 'crossEntropy');
          }),
        ),
        RUNS,
      );
    });

    it('binaryCrossEntropyWithLogits: mean of softplus(z) − y·z over non-ignored rows, stable for large |z|', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 8 }).chain((n) =>
            fc.tuple(ndArb(fc.constant([n]), -60, 60), fc.array(fc.constantFrom(0, 1, -100), { minLength: n, maxLength: n })),
          ),
          scoped(async ([logits, labels]) => {
            const z = stored(logits, c).data;
            let total = 0;
            let count = 0;
            labels.forEach((y, i) => {
              if (y === -100) return;
              // softplus(z) − y·z, written so neither exp overflows
              total += Math.max(z[i], 0) + Math.log1p(Math.exp(-Math.abs(z[i]))) - y * z[i];
              count++;
            });
            const loss = P.binaryCrossEntropyWithLogits(make(logits, c, 'strided'), int32(c, labels));
            if (count === 0) expect(Number.isNaN(await item(loss))).toBe(true);
            else await expectClose(loss, { shape: [], data: [total / count] }, c.tol * 10, 'binaryCrossEntropyWithLogits');
          }),
        ),
        RUNS,
      );
      expect(() => P.binaryCrossEntropyWithLogits(P.zeros([2, 1]), P.tensor(Int32Array.from([0, 1])))).toThrow(/binaryCrossEntropyWithLogits: logits \[2, 1\] and labels \[2\] must both be \[N\]/);
    });

    it('mseLoss is the mean squared difference', async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb({ minDims: 1 }).chain((s) => fc.tuple(ndArb(fc.constant(s)), ndArb(fc.constant(s)))), scoped(async ([a, b]) => {
          const d = R.zip([stored(a, c), stored(b, c)], (u, v) => (u - v) ** 2).data;
          await expectClose(P.mseLoss(make(a, c), make(b, c, 'strided')), { shape: [], data: [R.sumOf(d) / d.length] }, c.tol * 10, 'mse');
        })),
        RUNS,
      );
    });
  });
}
