/**
 * Whole-row gather and scatter-add for the embedding pattern (index [N, D] broadcast along its last dim, so
 * each output row is one input row): row copies instead of per-element offset tables. Used by the fast
 * path; each returns false when the pattern does not match and the plain kernel runs.
 */
import type { TypedArray } from '../../core/dtype.ts';
import { isContiguous, type Layout } from '../../core/layout.ts';
import type { Operand } from './strided.ts';

/** Row index positions when `index` is [N, D] with one index per row (stride 0 along D), else null. */
function rowIndices(index: Operand, x: Layout, axis: number): { rows: number; dim: number; at: (i: number) => number } | null {
  const l = index.layout;
  if (axis !== 0 || l.shape.length !== 2 || x.shape.length !== 2) return null;
  const [rows, dim] = l.shape;
  if (dim !== x.shape[1] || (dim > 1 && l.strides[1] !== 0) || !isContiguous(x)) return null;
  const s = l.strides[0], o = l.offset, d = index.data;
  return { rows, dim, at: (i) => d[o + i * s] };
}

export function gatherRows(x: Operand, axis: number, index: Operand, out: TypedArray): boolean {
  const r = rowIndices(index, x.layout, axis);
  if (!r) return false;
  const src = x.data, base = x.layout.offset;
  for (let i = 0; i < r.rows; i++) {
    const from = base + r.at(i) * r.dim;
    out.set(src.subarray(from, from + r.dim), i * r.dim);
  }
  return true;
}

export function scatterAddRows(out: TypedArray, outLayout: Layout, axis: number, index: Operand, src: Operand): boolean {
  const r = rowIndices(index, outLayout, axis);
  if (!r || !isContiguous(src.layout)) return false;
  const s = src.data, so = src.layout.offset;
  for (let i = 0; i < r.rows; i++) {
    const to = r.at(i) * r.dim, from = so + i * r.dim;
    for (let j = 0; j < r.dim; j++) out[to + j] += s[from + j];
  }
  return true;
}
