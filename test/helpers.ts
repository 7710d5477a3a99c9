/** Test plumbing: the backends every suite runs on, tensors in several layouts, and closeness checks. */
import fc from 'fast-check';
import { expect } from 'vitest';
import * as P from '../src/index.ts';
import { setCpuPath, type CpuPath } from '../src/backends/cpu/index.ts';
import { openBackend, type BackendName } from '../src/cli/devices.ts';
import type { NDArray } from './reference.ts';

export interface BackendCase {
  /** the backend's name, for test titles */
  name: BackendName;
  backend: P.Backend;
  dtype: P.FloatDType;
  /** relative tolerance for results computed in this dtype */
  tol: number;
  /** the device's arithmetic treats float32 subnormals as zero (GPUs may; llvmpipe does): see `computed` */
  flushesSubnormals?: boolean;
  /** cpu float32 kernels: 'fast' (wasm SIMD + threads, the default) or 'plain' (the reference); set by `make` */
  path?: CpuPath;
}

/**
 * The gpujs case when its GL mode starts (headless-gl needs an X display: `xvfb-run -a`). Without one it is
 * skipped locally; in CI (CI=true) the start error propagates, so a missing GL mode fails every suite.
 * headless-gl (GLX) and Dawn's OpenGL adapter (EGL) cannot share a thread, so the gpujs case runs in test
 * processes of its own: vitest.config.ts's `gpujs` project sets PRILORA_TEST_GPU=gpujs.
 */
async function gpujsCases(): Promise<BackendCase[]> {
  let backend: P.Backend;
  try {
    backend = await openBackend('gpujs');
  } catch (e) {
    if (process.env.CI) throw e;
    console.warn(`${(e as Error).message}; the gpujs suites are skipped on this machine`);
    return [];
  }
  return [{ name: 'gpujs', backend, dtype: 'float32', tol: 2e-6, flushesSubnormals: true }];
}

/**
 * The WebGPU case joins when a device can be opened (Mesa's llvmpipe serves one on machines without a
 * GPU). CI installs what it needs and must not lose these suites silently, so there a failure to start
 * fails the run; elsewhere the suites are skipped with the reason. PRILORA_TEST_WEBGPU=0 skips them.
 */
async function deviceBackends(): Promise<BackendCase[]> {
  if (process.env.PRILORA_TEST_WEBGPU === '0') return [];
  try {
    const backend = await openBackend('webgpu');
    // float32 computed in float32 (the CPU rounds float64 results once): device exp/log/pow are a few ulp
    return [{ name: 'webgpu', backend, dtype: 'float32', tol: 1e-5 }];
  } catch (e) {
    const why = `WebGPU could not start: ${(e as Error).message}`;
    if (process.env.CI) throw new Error(`${why} (CI expects WebGPU through Mesa's llvmpipe: see .ci/run)`);
    console.warn(`${why}; the webgpu suites are skipped on this machine`);
    return [];
  }
}

/** Every op suite runs on each of these (the gpujs project: on gpujs alone). */
export const BACKENDS: BackendCase[] =
  process.env.PRILORA_TEST_GPU === 'gpujs'
    ? await gpujsCases()
    : [
        { name: 'cpu', backend: P.cpuBackend(), dtype: 'float64', tol: 1e-12 },
        { name: 'cpu', backend: P.cpuBackend(), dtype: 'float32', tol: 2e-6 },
        { name: 'cpu', backend: P.cpuBackend(), dtype: 'float32', tol: 2e-6, path: 'plain' },
        ...(await deviceBackends()),
      ];

export type LayoutKind = 'contiguous' | 'transposed' | 'strided' | 'offset';
export const LAYOUTS: LayoutKind[] = ['contiguous', 'transposed', 'strided', 'offset'];

/** A tensor with `a`'s values laid out as `kind` says (all but 'contiguous' are non-contiguous views). */
export function make(a: NDArray, c: BackendCase, kind: LayoutKind = 'contiguous', dtype: P.DType = c.dtype): P.Tensor {
  if (c.name === 'cpu') setCpuPath(c.path ?? 'fast');
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
export async function expectClose(t: P.Tensor, ref: NDArray, tol: number, what = ''): Promise<void> {
  expect([...t.shape], `${what} shape`).toEqual(ref.shape);
  const got = await t.data();
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

/** A tensor's elements as plain numbers, read from any backend. */
export async function values(t: P.Tensor): Promise<number[]> {
  return [...(await t.data())];
}

/** The single value of a one-element tensor, read from any backend. */
export async function item(t: P.Tensor): Promise<number> {
  expect(t.size, 'item of a one-element tensor').toBe(1);
  return (await t.data())[0];
}

/**
 * Wrap an async property body so that every tensor it creates is disposed when it ends: device memory
 * then stays bounded over hundreds of runs.
 */
export function scoped<A extends unknown[]>(body: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const scope = P.beginScope();
    try {
      await body(...args);
    } finally {
      scope.end();
    }
  };
}

/** int32 tensor on a case's backend. */
export function int32(c: BackendCase, data: readonly number[], shape: readonly number[] = [data.length]): P.Tensor {
  return P.tensor(Int32Array.from(data), { shape, backend: c.backend });
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

/**
 * The inputs as the device's arithmetic sees them: stored, and subnormals read as (signed) zero where the
 * device flushes them. Data movement keeps their bits, so exact copies compare against `stored`.
 */
export function computed(a: NDArray, c: BackendCase): NDArray {
  const s = stored(a, c);
  return c.flushesSubnormals ? { shape: s.shape, data: s.data.map((v) => (Math.abs(v) < 2 ** -126 ? v * 0 : v)) } : s;
}

export const RUNS = { numRuns: 60 };
