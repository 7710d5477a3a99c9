import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import * as R from './reference.ts';
import { BACKENDS, RUNS, expectClose, int32, item, layoutArb, make, ndArb, scoped, shapeArb, stored, values } from './helpers.ts';

for (const c of BACKENDS) {
  describe(`shape ops on ${c.name}/${c.dtype}`, () => {
    it('reshape keeps row-major order from any layout (view when possible, copy otherwise)', async () => {
      await fc.assert(
        fc.asyncProperty(ndArb(shapeArb({ allowZero: true })), layoutArb, fc.boolean(), scoped(async (a, layout, inferLast) => {
          const x = make(a, c, layout);
          const n = a.data.length;
          const target = n === 0 ? [0, 3] : inferLast ? [n, -1] : [1, n];
          const y = P.reshape(x, target);
          expect(y.size).toBe(n);
          expect(await values(y)).toEqual(stored(a, c).data);
          if (x.isContiguous) expect(y.isContiguous).toBe(true);
        })),
        RUNS,
      );
    });

    it('permute and transpose are views that reorder axes', async () => {
      await fc.assert(
        fc.asyncProperty(ndArb(shapeArb({ minDims: 1, allowZero: true })), layoutArb, fc.integer(), scoped(async (a, layout, seed) => {
          const nd = a.shape.length;
          const perm = [...Array(nd).keys()].sort((i, j) => Math.sin(seed + i * 7.1) - Math.sin(seed + j * 7.1));
          const live = P.liveTensors();
          const x = make(a, c, layout);
          const y = P.permute(x, perm);
          await expectClose(y, R.permute(stored(a, c), perm), 0, 'permute');
          expect(P.liveTensors()).toBeGreaterThan(live);
        })),
        RUNS,
      );
    });

    it('expand broadcasts size-1 and new leading dims without copying', async () => {
      const x = make({ shape: [3, 1], data: [1, 2, 3] }, c);
      const y = P.expand(x, [2, 3, 4]);
      expect(y.layout.strides).toEqual([0, 1, 0]);
      expect(await item(P.sum(y))).toBe(2 * 4 * 6);
      expect(() => P.expand(x, [3, 2, 2])).toThrow(/expand: cannot expand \[3, 1\] to \[3, 2, 2\]/);
    });

    it('slice with start / end / step matches Python slicing, as a view', async () => {
      await fc.assert(
        fc.asyncProperty(
          ndArb(shapeArb({ minDims: 1, maxSide: 6 })),
          layoutArb,
          fc.nat(),
          fc.integer({ min: -7, max: 7 }),
          fc.option(fc.integer({ min: -7, max: 7 })),
          fc.integer({ min: 1, max: 3 }),
          scoped(async (a, layout, axisSeed, start, end, step) => {
            const axis = axisSeed % a.shape.length;
            const n = a.shape[axis];
            const norm = (i: number) => Math.min(n, Math.max(0, i < 0 ? i + n : i));
            const keep: number[] = [];
            for (let i = norm(start); i < norm(end ?? n); i += step) keep.push(i);
            const shape = a.shape.map((d, i) => (i === axis ? keep.length : d));
            const data = Array.from({ length: R.size(shape) }, (_, o) => {
              const idx = R.unravel(o, shape);
              idx[axis] = keep[idx[axis]];
              return stored(a, c).data[R.ravel(idx, a.shape)];
            });
            await expectClose(P.slice(make(a, c, layout), axis, start, end ?? undefined, step), { shape, data }, 0, 'slice');
          }),
        ),
        RUNS,
      );
    });

    it('concat and stack join along any axis', async () => {
      await fc.assert(
        fc.asyncProperty(
          shapeArb({ minDims: 1, allowZero: true }).chain((s) =>
            fc.tuple(fc.nat({ max: s.length - 1 }), fc.integer({ min: 0, max: 3 })).chain(([axis, extra]) =>
              fc.tuple(ndArb(fc.constant(s)), ndArb(fc.constant(s.map((d, i) => (i === axis ? extra : d)))), fc.constant(axis)),
            ),
          ),
          layoutArb,
          scoped(async ([a, b, axis], layout) => {
            const shape = a.shape.map((d, i) => (i === axis ? d + b.shape[axis] : d));
            const data = Array.from({ length: R.size(shape) }, (_, o) => {
              const idx = R.unravel(o, shape);
              if (idx[axis] < a.shape[axis]) return stored(a, c).data[R.ravel(idx, a.shape)];
              idx[axis] -= a.shape[axis];
              return stored(b, c).data[R.ravel(idx, b.shape)];
            });
            await expectClose(P.concat([make(a, c, layout), make(b, c)], axis), { shape, data }, 0, 'concat');
            const st = P.stack([make(a, c, layout), make(a, c)], axis);
            expect([...st.shape]).toEqual([...a.shape.slice(0, axis), 2, ...a.shape.slice(axis)]);
            await expectClose(P.slice(st, axis, 1, 2), { shape: st.shape.map((d, i) => (i === axis ? 1 : d)), data: stored(a, c).data }, 0, 'stack');
          }),
        ),
        RUNS,
      );
    });

    it('gather (take_along_axis) and its adjoint scatterAdd', async () => {
      await fc.assert(
        fc.asyncProperty(
          ndArb(shapeArb({ minDims: 1, maxDims: 3 })).chain((a) =>
            fc.tuple(fc.constant(a), fc.nat({ max: a.shape.length - 1 })).chain(([a2, axis]) => {
              const ishape = a2.shape.map((d, i) => (i === axis ? 3 : d));
              return fc.tuple(fc.constant(a2), fc.constant(axis), fc.array(fc.nat({ max: a2.shape[axis] - 1 }), { minLength: R.size(ishape), maxLength: R.size(ishape) }), fc.constant(ishape));
            }),
          ),
          layoutArb,
          scoped(async ([a, axis, idx, ishape], layout) => {
            const ref = (o: number) => {
              const i = R.unravel(o, ishape);
              i[axis] = idx[o];
              return R.ravel(i, a.shape);
            };
            const gathered = { shape: ishape, data: idx.map((_, o) => stored(a, c).data[ref(o)]) };
            await expectClose(P.gather(make(a, c, layout), axis, int32(c, idx, ishape)), gathered, 0, 'gather');
            const scattered = new Array(a.data.length).fill(0);
            idx.forEach((_, o) => (scattered[ref(o)] += gathered.data[o]));
            const got = P.scatterAdd(a.shape, axis, int32(c, idx, ishape), make(gathered, c, layout));
            await expectClose(got, { shape: a.shape, data: scattered }, c.tol * 4, 'scatterAdd');
          }),
        ),
        RUNS,
      );
    });

    it('indexSelect and embedding pick rows', async () => {
      const w = make({ shape: [4, 2], data: [0, 1, 10, 11, 20, 21, 30, 31] }, c, 'transposed');
      expect(await P.embedding(w, int32(c, [3, 0, 3, 1], [2, 2])).toArray()).toEqual([[[30, 31], [0, 1]], [[30, 31], [10, 11]]]);
      expect(await P.indexSelect(w, 1, int32(c, [1, 1, 0], [3])).toArray()).toEqual([[1, 1, 0], [11, 11, 10], [21, 21, 20], [31, 31, 30]]);
    });
  });
}
