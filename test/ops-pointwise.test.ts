import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import * as R from './reference.ts';
import { BACKENDS, RUNS, broadcastPairArb, computed, expectClose, layoutArb, make, ndArb, scoped, shapeArb, stored, values, valuesArb } from './helpers.ts';

const geluRef = (x: number) => 0.5 * x * (1 + R.erfRef(x / Math.SQRT2));
const geluTanhRef = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

const UNARY: [string, (x: P.Tensor) => P.Tensor, (x: number) => number, [number, number]][] = [
  ['neg', P.neg, (x) => -x, [-5, 5]],
  ['abs', P.abs, Math.abs, [-5, 5]],
  ['exp', P.exp, Math.exp, [-5, 5]],
  ['log', P.log, Math.log, [0.01, 50]],
  ['sqrt', P.sqrt, Math.sqrt, [0, 50]],
  ['rsqrt', P.rsqrt, (x) => 1 / Math.sqrt(x), [0.01, 50]],
  ['tanh', P.tanh, Math.tanh, [-5, 5]],
  ['erf', P.erf, R.erfRef, [-4, 4]],
  ['gelu', P.gelu, geluRef, [-6, 6]],
  ['geluTanh', P.geluTanh, geluTanhRef, [-6, 6]],
  ['geluComposite', P.geluComposite, geluRef, [-6, 6]],
  ['clamp', (x) => P.clamp(x, -0.5, 1.5), (x) => Math.min(1.5, Math.max(-0.5, x)), [-3, 3]],
  ['sign', P.sign, Math.sign, [-3, 3]],
];

const BINARY: [string, (a: P.Tensor, b: P.Tensor) => P.Tensor, (a: number, b: number) => number, [number, number]?][] = [
  ['add', P.add, (a, b) => a + b],
  ['sub', P.sub, (a, b) => a - b],
  ['mul', P.mul, (a, b) => a * b],
  ['div', P.div, (a, b) => a / b, [0.5, 4]],
  ['pow', P.pow, Math.pow, [0.1, 3]],
  ['maximum', P.maximum, Math.max],
  ['minimum', P.minimum, Math.min],
  ['eq', P.eq, (a, b) => +(a === b)],
  ['ne', P.ne, (a, b) => +(a !== b)],
  ['lt', P.lt, (a, b) => +(a < b)],
  ['le', P.le, (a, b) => +(a <= b)],
  ['gt', P.gt, (a, b) => +(a > b)],
  ['ge', P.ge, (a, b) => +(a >= b)],
];

for (const c of BACKENDS) {
  describe(`pointwise ops on ${c.name}/${c.dtype}`, () => {
    for (const [name, op, ref, [lo, hi]] of UNARY) {
      it(`${name} matches the float64 reference on any shape and layout`, async () => {
        await fc.assert(
          fc.asyncProperty(ndArb(shapeArb({ allowZero: true }), lo, hi), layoutArb, scoped(async (a, layout) => {
            const x = make(a, c, layout);
            // erf-based refs integrate numerically (~1e-13); float32 also rounds the result
            await expectClose(op(x), R.map(computed(a, c), ref), Math.max(c.tol, 1e-11), name);
          })),
          RUNS,
        );
      });
    }

    for (const [name, op, ref, range] of BINARY) {
      it(`${name} broadcasts like NumPy and matches the reference`, async () => {
        await fc.assert(
          fc.asyncProperty(
            broadcastPairArb().chain(([sa, sb]) => fc.tuple(valuesArb(sa, ...(range ?? [-3, 3])), valuesArb(sb, ...(range ?? [-3, 3])), fc.constant([sa, sb]))),
            layoutArb,
            fc.boolean(),
            scoped(async ([da, db, [sa, sb]], layout, shareValues) => {
              // comparisons need ties: reuse a's values for b where shapes allow
              if (shareValues && sa.length === sb.length && sa.every((d, i) => d === sb[i])) db = [...da];
              const a = { shape: sa, data: da }, b = { shape: sb, data: db };
              const out = op(make(a, c, layout), make(b, c));
              await expectClose(out, R.zip([computed(a, c), computed(b, c)], ref), c.tol * 4, name);
            }),
          ),
          RUNS,
        );
      });
    }

    it('where / maskedFill select per element with broadcasting', async () => {
      await fc.assert(
        fc.asyncProperty(
          broadcastPairArb(true).chain(([sa, sb]) => fc.tuple(fc.constant(sa), fc.constant(sb), valuesArb(sa), valuesArb(sb), valuesArb(sb))),
          layoutArb,
          scoped(async ([sa, sb, da, db, dc], layout) => {
            const x = { shape: sa, data: da }, y = { shape: sb, data: db }, cond = { shape: sb, data: dc.map((v) => +(v > 0)) };
            const out = P.where(make(cond, c, layout), make(x, c), make(y, c, layout));
            await expectClose(out, R.zip([stored(cond, c), stored(x, c), stored(y, c)], (k, u, v) => (k ? u : v)), c.tol, 'where');
            const filled = P.maskedFill(make(x, c, layout), make(cond, c), -1e9);
            await expectClose(filled, R.zip([stored(x, c), cond], (u, k) => (k ? -1e9 : u)), c.tol, 'maskedFill');
          }),
        ),
        RUNS,
      );
    });

    it('numbers act as 0-d tensors of the other operand’s dtype', async () => {
      const x = make({ shape: [2, 2], data: [1, 2, 3, 4] }, c);
      expect(x.add(1).dtype).toBe(c.dtype);
      expect(await values(P.sub(10, x))).toEqual([9, 8, 7, 6]);
      expect(await values(P.pow(x, 2))).toEqual([1, 4, 9, 16]);
    });

    it('maximum/minimum propagate NaN as torch does', async () => {
      const a = make({ shape: [3], data: [NaN, 1, 2] }, c);
      const b = make({ shape: [3], data: [0, NaN, 1] }, c);
      const mx = await values(P.maximum(a, b));
      expect(Number.isNaN(mx[0]) && Number.isNaN(mx[1])).toBe(true);
      expect(mx[2]).toBe(2);
    });
  });
}

describe('cast', () => {
  it('float → int32 truncates toward zero; int32 → float is exact', () => {
    const t = P.tensor([-1.7, -0.2, 0.9, 2.5], { dtype: 'float64' });
    expect([...P.cast(t, 'int32').dataSync()]).toEqual([-1, 0, 0, 2]);
    expect([...P.cast(P.tensor([3, -4], { dtype: 'int32' }), 'float32').dataSync()]).toEqual([3, -4]);
  });
});
