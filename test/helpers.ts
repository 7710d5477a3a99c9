/** Test plumbing: the backends every suite runs on, tensors in several layouts, and closeness checks. */
import fc from 'fast-check';
import { expect } from 'vitest';
import * as P from '../src/index.ts';
import type { NDArray } from './reference.ts';

export interface BackendCase {
  backend: string;
  dtype: P.FloatDType;
  /** relative tolerance for results computed in this dtype */
  tol: number;
}

/** Every op suite runs on each of these (the GPU backends join this list). */
export const BACKENDS: BackendCase[] = [
  { backend: 'cpu', dtype: 'float64', tol: 1e-12 },
  { backend: 'cpu', dtype: 'float32', tol: 2e-6 },
];

export type LayoutKind = 'contiguous' | 'transposed' | 'strided' | 'offset';
export const LAYOUTS: LayoutKind[] = ['contiguous', 'transposed', 'strided', 'offset'];

/** A tensor with `a`'s values laid out as `kind` says (all but 'contiguous' are non-contiguous views). */
export function make(a: NDArray, c: BackendCase, kind: LayoutKind = 'contiguous', dtype: P.DType = c.dtype): P.Tensor {
  const opts = { dtype, backend: c.backend };
  const nd = a.shape.length;
  switch (kind) {
    case 'transposed': {
      if (nd < 2) return make(a, c, 'strided', dtype);
      const perm = [...Array(nd).keys()].reverse();
      const t = P.tensor(permuteData(a, perm), { ...opts, shape: perm.map((p) => a.shape[p]) });
      return P.permute(t, perm);
    }
    case 'strided': {
      if (nd === 0) return P.tensor(a.data, { ...opts, shape: [] });
      // interleave junk along the last axis, then take every other element
      const last = a.shape[nd - 1];
      const data: number[] = [];
      for (let i = 0; i < a.data.length; i++) data.push(a.data[i], 1e30);
      return P.slice(P.tensor(data, { ...opts, shape: [...a.shape.slice(0, -1), last * 2] }), nd - 1, 0, undefined, 2);
    }
    case 'offset': {
      if (nd === 0) return P.tensor(a.data, { ...opts, shape: [] });
      const rowLen = a.shape.slice(1).reduce((p, d) => p * d, 1);
      const junk = new Array(rowLen).fill(-7e29);
      return P.slice(P.tensor([...junk, ...a.data], { ...opts, shape: [a.shape[0] + 1, ...a.shape.slice(1)] }), 0, 1);
    }
    default:
      return P.tensor(a.data, { ...opts, shape: a.shape });
  }
}

function permuteData(a: NDArray, perm: number[]): number[] {
  const shape = perm.map((p) => a.shape[p]);
  const out: number[] = [];
  const n = a.data.length;
  for (let o = 0; o < n; o++) {
    let rem = o;
    const idx = new Array<number>(shape.length);
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
    }
    const src = new Array<number>(perm.length);
    perm.forEach((p, i) => (src[p] = idx[i]));
    let flat = 0;
    for (let d = 0; d < a.shape.length; d++) flat = flat * a.shape[d] + src[d];
    out.push(a.data[flat]);
  }
  return out;
}

/** Assert `t` equals `ref` in shape and, elementwise, within tol·(1 + |ref|) (exact for non-finite refs). */
export function expectClose(t: P.Tensor, ref: NDArray, tol: number, what = ''): void {
  expect([...t.shape], `${what} shape`).toEqual(ref.shape);
  const got = t.dataSync();
  for (let i = 0; i < ref.data.length; i++) {
    const r = ref.data[i];
    const g = got[i];
    if (!Number.isFinite(r)) {
      expect(g, `${what} [${i}]`).toBe(r);
      continue;
    }
    const err = Math.abs(g - r);
    if (!(err <= tol * (1 + Math.abs(r)))) expect.fail(`${what} element ${i}: got ${g}, reference ${r} (|Δ| ${err})`);
  }
}

/** Shapes with 0–4 dims of size 0–4 (size-0 dims when allowZero). */
export const shapeArb = (opts: { minDims?: number; maxDims?: number; allowZero?: boolean; maxSide?: number } = {}) =>
  fc.array(fc.integer({ min: opts.allowZero ? 0 : 1, max: opts.maxSide ?? 4 }), { minLength: opts.minDims ?? 0, maxLength: opts.maxDims ?? 4 });

/** A shape and a second shape that broadcasts against it. */
export const broadcastPairArb = (allowZero = true) =>
  shapeArb({ allowZero }).chain((s) =>
    fc.tuple(
      fc.constant(s),
      fc.tuple(fc.integer({ min: 0, max: s.length }), fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length })).map(([drop, ones]) =>
        s.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)),
      ),
      fc.boolean(),
    ).map(([a, b, swap]) => (swap ? [b, a] : [a, b]) as [number[], number[]]),
  );

/** Random values for a shape (finite, moderate). */
export const valuesArb = (shape: readonly number[], min = -3, max = 3) =>
  fc.array(fc.double({ min, max, noNaN: true, noDefaultInfinity: true }), {
    minLength: shape.reduce((p, d) => p * d, 1),
    maxLength: shape.reduce((p, d) => p * d, 1),
  });

export const ndArb = (shapeA: fc.Arbitrary<number[]>, min = -3, max = 3): fc.Arbitrary<NDArray> =>
  shapeA.chain((shape) => valuesArb(shape, min, max).map((data) => ({ shape, data })));

export const layoutArb = fc.constantFrom(...LAYOUTS);

/** Round to float32 where the backend case computes in float32 (inputs are stored rounded). */
export function stored(a: NDArray, c: BackendCase): NDArray {
  return c.dtype === 'float32' ? { shape: a.shape, data: a.data.map(Math.fround) } : a;
}

export const RUNS = { numRuns: 60 };
