/**
 * The plain-TypeScript CPU kernels that are not pointwise: reductions, matmul, gather/scatter, softmax and
 * layer norm, and the fused AdamW update and LoRA input statistics. They are the readable reference the
 * fast paths are tested against, so clarity wins over cleverness here; every sum is accumulated in float64.
 */
import type { TypedArray } from '../../core/dtype.ts';
import { permuteLayout, sizeOf, type Layout } from '../../core/layout.ts';
import type { AdamWStep, ReduceOp } from '../backend.ts';
import { elementOffsets, type Operand } from './strided.ts';

/** Reduce over sorted `axes`; `out` has one element per kept index, in row-major order. */
export function reduceInto(op: ReduceOp, x: Operand, axes: readonly number[], out: TypedArray): void {
  const nd = x.layout.shape.length;
  const kept = [...Array(nd).keys()].filter((d) => !axes.includes(d));
  // reduced dims innermost: each output's inputs are then one consecutive run of offsets
  const offsets = elementOffsets(permuteLayout('reduce', x.layout, [...kept, ...axes]));
  const group = sizeOf(axes.map((a) => x.layout.shape[a]));
  const data = x.data;
  for (let o = 0, p = 0; o < out.length; o++) {
    let acc = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
    for (let j = 0; j < group; j++, p++) {
      const v = data[offsets[p]];
      if (op === 'sum') acc += v;
      else if (v !== v) acc = NaN;
      else if (op === 'max' ? v > acc : v < acc) acc = v;
      if (acc !== acc && op !== 'sum') {
        p += group - j - 1;
        break;
      }
    }
    out[o] = acc;
  }
}

/** Batched matmul: [...batch, m, k] × [...batch, k, n] → contiguous [...batch, m, n]. */
export function matmulInto(a: Operand, b: Operand, out: TypedArray): void {
  const la = a.layout;
  const lb = b.layout;
  const nd = la.shape.length;
  const m = la.shape[nd - 2], k = la.shape[nd - 1], n = lb.shape[nd - 1];
  const batchShape = la.shape.slice(0, nd - 2);
  const batch = sizeOf(batchShape);
  const aOffsets = elementOffsets({ shape: batchShape, strides: la.strides.slice(0, nd - 2), offset: la.offset });
  const bOffsets = elementOffsets({ shape: batchShape, strides: lb.strides.slice(0, nd - 2), offset: lb.offset });
  const pa = new Float64Array(m * k);
  const pb = new Float64Array(k * n);
  const acc = new Float64Array(m * n);
  for (let t = 0; t < batch; t++) {
    pack(a.data, aOffsets[t], la.strides[nd - 2], la.strides[nd - 1], m, k, pa);
    pack(b.data, bOffsets[t], lb.strides[nd - 2], lb.strides[nd - 1], k, n, pb);
    gemm(pa, pb, acc, m, k, n);
    out.set(acc, t * m * n);
  }
}

function pack(src: TypedArray, offset: number, rs: number, cs: number, rows: number, cols: number, dst: Float64Array): void {
  for (let i = 0, p = 0; i < rows; i++) {
    for (let j = 0, at = offset + i * rs; j < cols; j++, at += cs) dst[p++] = src[at];
  }
}

/** C = A·B on packed row-major operands: four rows of C at a time over column blocks that stay in cache. */
function gemm(A: Float64Array, B: Float64Array, C: Float64Array, m: number, k: number, n: number): void {
  C.fill(0);
  const NB = 256;
  for (let j0 = 0; j0 < n; j0 += NB) {
    const j1 = Math.min(n, j0 + NB);
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const c0 = i * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
      for (let p = 0; p < k; p++) {
        const a0 = A[i * k + p], a1 = A[(i + 1) * k + p], a2 = A[(i + 2) * k + p], a3 = A[(i + 3) * k + p];
        const bRow = p * n;
        for (let j = j0; j < j1; j++) {
          const bv = B[bRow + j];
          C[c0 + j] += a0 * bv;
          C[c1 + j] += a1 * bv;
          C[c2 + j] += a2 * bv;
          C[c3 + j] += a3 * bv;
        }
      }
    }
    for (; i < m; i++) {
      const c0 = i * n;
      for (let p = 0; p < k; p++) {
        const a0 = A[i * k + p];
        const bRow = p * n;
        for (let j = j0; j < j1; j++) C[c0 + j] += a0 * B[bRow + j];
      }
    }
  }
}

/** Offsets into x for gather/scatter: x's layout over index's shape with the gathered axis' stride zeroed. */
function baseOffsets(x: Layout, axis: number, indexShape: readonly number[]): Int32Array {
  const strides = x.strides.map((s, d) => (d === axis ? 0 : s));
  return elementOffsets({ shape: indexShape, strides, offset: x.offset });
}

export function gatherInto(x: Operand, axis: number, index: Operand, out: TypedArray): void {
  const base = baseOffsets(x.layout, axis, index.layout.shape);
  const idx = elementOffsets(index.layout);
  const step = x.layout.strides[axis];
  for (let i = 0; i < out.length; i++) out[i] = x.data[base[i] + index.data[idx[i]] * step];
}

export function scatterAddInto(out: TypedArray, outLayout: Layout, axis: number, index: Operand, src: Operand): void {
  const base = baseOffsets(outLayout, axis, index.layout.shape);
  const idx = elementOffsets(index.layout);
  const srcOff = elementOffsets(src.layout);
  const step = outLayout.strides[axis];
  for (let i = 0; i < idx.length; i++) out[base[i] + index.data[idx[i]] * step] += src.data[srcOff[i]];
}

/** Row-wise (log-)softmax of a contiguous input; the max is over finite entries so masks never give NaN. */
export function softmaxInto(x: Operand, rows: number, cols: number, log: boolean, out: TypedArray): void {
  const d = x.data;
  for (let r = 0; r < rows; r++) {
    const at = x.layout.offset + r * cols;
    const o = r * cols;
    let max = -Infinity;
    let nan = false;
    for (let j = 0; j < cols; j++) {
      const v = d[at + j];
      if (v > max && v !== Infinity) max = v;
      else if (v !== v) nan = true;
    }
    if (nan) {
      // NaN propagates (as in torch) rather than passing for a masked entry: training must notice it
      out.fill(NaN, o, o + cols);
      continue;
    }
    if (max === -Infinity) {
      out.fill(log ? -Infinity : 0, o, o + cols);
      continue;
    }
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(d[at + j] - max);
    if (log) {
      // (x − max) − log Σ, not x − (max + log Σ): with max near -3.4e38 the latter rounds log Σ away
      const logSum = Math.log(sum);
      for (let j = 0; j < cols; j++) out[o + j] = d[at + j] - max - logSum;
    } else {
      for (let j = 0; j < cols; j++) out[o + j] = Math.exp(d[at + j] - max) / sum;
    }
  }
}

export function layerNormInto(
  x: Operand, w: Operand, b: Operand, rows: number, cols: number, eps: number,
  y: TypedArray, mean: TypedArray, rstd: TypedArray,
): void {
  const d = x.data;
  const wOff = elementOffsets(w.layout);
  const bOff = elementOffsets(b.layout);
  for (let r = 0; r < rows; r++) {
    const at = x.layout.offset + r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += d[at + j];
    const mu = s / cols;
    let v = 0;
    for (let j = 0; j < cols; j++) v += (d[at + j] - mu) * (d[at + j] - mu);
    const rs = 1 / Math.sqrt(v / cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let j = 0; j < cols; j++) y[r * cols + j] = (d[at + j] - mu) * rs * w.data[wOff[j]] + b.data[bOff[j]];
  }
}

/** Backend.adamw over contiguous operands (each an array and the offset its elements start at). */
export function adamwInto(
  [p, g, m, v, mask]: readonly { data: TypedArray; offset: number }[],
  n: number,
  h: AdamWStep,
  out: { p: TypedArray; m: TypedArray; v: TypedArray },
): void {
  const decay = 1 - h.lr * h.weightDecay, stepSize = h.lr / h.bc1;
  for (let i = 0; i < n; i++) {
    const gi = g.data[g.offset + i];
    const mi = h.beta1 * m.data[m.offset + i] + (1 - h.beta1) * gi;
    const vi = h.beta2 * v.data[v.offset + i] + (1 - h.beta2) * gi * gi;
    const pi = p.data[p.offset + i] * decay - (mi / (Math.sqrt(vi) / h.bc2Sqrt + h.eps)) * stepSize;
    const keep = mask ? mask.data[mask.offset + i] : 1;
    out.p[i] = pi * keep;
    out.m[i] = mi * keep;
    out.v[i] = vi * keep;
  }
}

/** Backend.columnNormEma over contiguous operands; squares summed row by row, in float64. */
export function columnNormEmaInto(
  x: { data: TypedArray; offset: number },
  mask: { data: TypedArray; offset: number } | null,
  prev: { data: TypedArray; offset: number },
  rows: number,
  cols: number,
  beta: number,
  out: TypedArray,
): void {
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const k = mask ? mask.data[mask.offset + r] : 1;
    if (k === 0) continue;
    const base = x.offset + r * cols;
    for (let c = 0; c < cols; c++) acc[c] += k * x.data[base + c] * x.data[base + c];
  }
  for (let c = 0; c < cols; c++) out[c] = beta * prev.data[prev.offset + c] + (1 - beta) * Math.sqrt(acc[c]);
}
