/**
 * Independent float64 reference implementations: naive loops over multi-indices, written for the tests
 * and sharing no code with the kernels under test. An NDArray is a row-major list of numbers and a shape.
 */
export interface NDArray {
  shape: number[];
  data: number[];
}

export const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d] + idx[d];
  return i;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const nd = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < nd; i++) {
    const x = a[a.length - nd + i] ?? 1;
    const y = b[b.length - nd + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error('ref: no broadcast');
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Value of `a` at an index of a (larger) broadcast shape. */
function at(a: NDArray, idx: readonly number[]): number {
  const off = idx.length - a.shape.length;
  return a.data[ravel(a.shape.map((d, i) => (d === 1 ? 0 : idx[i + off])), a.shape)];
}

export function map(a: NDArray, f: (x: number) => number): NDArray {
  return { shape: [...a.shape], data: a.data.map(f) };
}

export function zip(arrays: NDArray[], f: (...xs: number[]) => number): NDArray {
  const shape = arrays.map((a) => a.shape).reduce(broadcastShape);
  const data = Array.from({ length: size(shape) }, (_, i) => {
    const idx = unravel(i, shape);
    return f(...arrays.map((a) => at(a, idx)));
  });
  return { shape, data };
}

export function reduce(a: NDArray, axes: number[], keepdim: boolean, f: (xs: number[]) => number): NDArray {
  const keptShape = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const groups = new Map<number, number[]>();
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape).map((v, d) => (axes.includes(d) ? 0 : v));
    const key = ravel(idx, keptShape);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(a.data[i]);
  }
  const data = Array.from({ length: size(keptShape) }, (_, k) => f(groups.get(k) ?? []));
  return { shape: keepdim ? keptShape : a.shape.filter((_, i) => !axes.includes(i)), data };
}

export const sumOf = (xs: number[]): number => xs.reduce((s, x) => s + x, 0);

export function matmul(a: NDArray, b: NDArray): NDArray {
  const m = a.shape[a.shape.length - 2], k = a.shape[a.shape.length - 1], n = b.shape[b.shape.length - 1];
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, m, n];
  const data = Array.from({ length: size(shape) }, (_, o) => {
    const idx = unravel(o, shape);
    const bi = idx.slice(0, -2);
    let s = 0;
    for (let p = 0; p < k; p++) s += at(a, [...bi, idx[idx.length - 2], p]) * at(b, [...bi, p, idx[idx.length - 1]]);
    return s;
  });
  return { shape, data };
}

export function transposeLast(a: NDArray): NDArray {
  const nd = a.shape.length;
  const shape = [...a.shape.slice(0, -2), a.shape[nd - 1], a.shape[nd - 2]];
  const data = Array.from({ length: a.data.length }, (_, o) => {
    const idx = unravel(o, shape);
    [idx[nd - 1], idx[nd - 2]] = [idx[nd - 2], idx[nd - 1]];
    return a.data[ravel(idx, a.shape)];
  });
  return { shape, data };
}

export function permute(a: NDArray, perm: number[]): NDArray {
  const shape = perm.map((p) => a.shape[p]);
  const data = Array.from({ length: a.data.length }, (_, o) => {
    const idx = unravel(o, shape);
    const src = new Array<number>(perm.length);
    perm.forEach((p, i) => (src[p] = idx[i]));
    return a.data[ravel(src, a.shape)];
  });
  return { shape, data };
}

/** Rows along the last axis: apply f to each row. */
export function rows(a: NDArray, f: (row: number[]) => number[]): NDArray {
  const c = a.shape[a.shape.length - 1];
  const out: number[] = [];
  for (let r = 0; r * c < a.data.length; r++) out.push(...f(a.data.slice(r * c, r * c + c)));
  return { shape: [...a.shape], data: out };
}

export function softmaxRow(row: number[], log: boolean): number[] {
  if (row.some(Number.isNaN)) return row.map(() => NaN);
  const finite = row.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return row.map(() => (log ? -Infinity : 0));
  const m = Math.max(...finite);
  const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
  return row.map((v) => (log ? v - m - Math.log(z) : Math.exp(v - m) / z));
}

export function layerNormRow(row: number[], w: number[], b: number[], eps: number): number[] {
  const mu = sumOf(row) / row.length;
  const v = row.reduce((s, x) => s + (x - mu) ** 2, 0) / row.length;
  return row.map((x, j) => ((x - mu) / Math.sqrt(v + eps)) * w[j] + b[j]);
}

/** erf by numerical integration of 2/√π e^{-t²} (Simpson, fine grid): slow but independent. */
export function erfRef(x: number): number {
  if (x === 0) return 0;
  const n = 2000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
}
