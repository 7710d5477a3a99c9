import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import * as R from './reference.ts';
import { BACKENDS, RUNS, computed, expectClose, item, layoutArb, make, ndArb, scoped, shapeArb, stored } from './helpers.ts';

/** A shape, a subset of its axes (possibly given negative), and keepdim. */
const reduceArb = (allowZero: boolean) =>
  ndArb(shapeArb({ minDims: 1, allowZero })).chain((a) =>
    fc.tuple(
      fc.constant(a),
      fc.subarray([...a.shape.keys()], { minLength: 1 }),
      fc.boolean(),
      fc.boolean(),
    ),
  );

const neg = (axes: number[], nd: number, useNeg: boolean) => axes.map((x) => (useNeg ? x - nd : x));

for (const c of BACKENDS) {
  describe(`reductions on ${c.name}/${c.dtype}`, () => {
    it('sum and mean over any axes, keepdim or not (size-0 dims sum to 0)', async () => {
      await fc.assert(
        fc.asyncProperty(reduceArb(true), layoutArb, scoped(async ([a, axes, keep, useNeg], layout) => {
          const x = make(a, c, layout);
          const ref = stored(a, c);
          await expectClose(P.sum(x, neg(axes, a.shape.length, useNeg), keep), R.reduce(ref, axes, keep, R.sumOf), c.tol * 10, 'sum');
          if (axes.every((d) => a.shape[d] > 0)) {
            await expectClose(P.mean(x, axes, keep), R.reduce(ref, axes, keep, (v) => R.sumOf(v) / v.length), c.tol * 10, 'mean');
          }
        })),
        RUNS,
      );
    });

    it('max, min and variance over any axes', async () => {
      await fc.assert(
        fc.asyncProperty(reduceArb(false), layoutArb, fc.integer({ min: 0, max: 1 }), scoped(async ([a, axes, keep], layout, corr) => {
          const x = make(a, c, layout);
          const ref = computed(a, c);
          await expectClose(P.max(x, axes, keep), R.reduce(ref, axes, keep, (v) => Math.max(...v)), 0, 'max');
          await expectClose(P.min(x, axes, keep), R.reduce(ref, axes, keep, (v) => Math.min(...v)), 0, 'min');
          const n = axes.reduce((p, d) => p * a.shape[d], 1);
          if (n > corr) {
            const varRef = (v: number[]) => {
              const mu = R.sumOf(v) / v.length;
              return v.reduce((s, u) => s + (u - mu) ** 2, 0) / (v.length - corr);
            };
            await expectClose(P.variance(x, axes, keep, corr), R.reduce(ref, axes, keep, varRef), c.tol * 20, 'variance');
          }
        })),
        RUNS,
      );
    });

    it('sum with no axes reduces everything to a 0-d tensor', async () => {
      const x = make({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, c);
      const s = P.sum(x);
      expect(s.shape).toEqual([]);
      expect(await item(s)).toBe(21);
    });
  });

  describe(`matmul on ${c.name}/${c.dtype}`, () => {
    it('batched matmul with broadcast batch dims and transposed / strided operands', async () => {
      const arb = fc
        .tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }), shapeArb({ maxDims: 2, maxSide: 3 }))
        .chain(([m, k, n, batch]) =>
          fc.tuple(
            ndArb(fc.constant([...batch, m, k])),
            ndArb(fc.constant([...batch.map((d, i) => (i % 2 ? 1 : d)), k, n]).map((s) => s.slice(batch.length > 1 ? 1 : 0))),
          ),
        );
      await fc.assert(
        fc.asyncProperty(arb, layoutArb, layoutArb, fc.boolean(), scoped(async ([a, b], la, lb, viaTranspose) => {
          const ta = make(a, c, la);
          // b given either directly or as the transpose view of its transposed copy
          const tb = viaTranspose ? P.transpose(make(R.transposeLast(b), c, lb)) : make(b, c, lb);
          await expectClose(P.matmul(ta, tb), R.matmul(stored(a, c), stored(b, c)), c.tol * 10, 'matmul');
        })),
        RUNS,
      );
    });

    it('1-d operands are promoted and squeezed as in NumPy', async () => {
      const v = make({ shape: [3], data: [1, 2, 3] }, c);
      const m = make({ shape: [3, 2], data: [1, 0, 0, 1, 1, 1] }, c);
      expect(await P.matmul(v, m).toArray()).toEqual([4, 5]);
      expect(await P.matmul(v, v).toArray()).toEqual(14);
    });

    it('linear is x·Wᵀ + b', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })).chain(([n, i, o]) =>
            fc.tuple(ndArb(fc.constant([n, i])), ndArb(fc.constant([o, i])), ndArb(fc.constant([o]))),
          ),
          scoped(async ([x, w, b]) => {
            const ref = R.zip([R.matmul(stored(x, c), R.transposeLast(stored(w, c))), stored(b, c)], (u, v) => u + v);
            await expectClose(P.linear(make(x, c), make(w, c, 'transposed'), make(b, c)), ref, c.tol * 10, 'linear');
          }),
        ),
        RUNS,
      );
    });
  });
}
