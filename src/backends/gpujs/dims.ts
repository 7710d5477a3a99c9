/**
 * Shape bookkeeping before a kernel launch: fewer, larger dims mean less index arithmetic per element and,
 * more importantly here, fewer distinct programs. Each program costs ~80 ms to compile on llvmpipe, so
 * kernels are compiled per rank *bucket* (1, 4, or the exact rank above 4) with unused dims padded as size 1.
 */
import type { Layout } from '../../core/layout.ts';

export interface Dims {
  shape: number[];
  /** strides[k][d]: operand k's stride along dim d */
  strides: number[][];
}

/**
 * Drop size-1 dims and merge neighbours that every operand walks contiguously (stride[d] = stride[d+1] ·
 * shape[d+1]), so a contiguous or uniformly broadcast operand becomes a single dim.
 */
export function coalesce(shape: readonly number[], layouts: readonly Layout[]): Dims {
  const out: Dims = { shape: [], strides: layouts.map(() => []) };
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = out.shape.length - 1;
    if (last >= 0 && layouts.every((l, k) => out.strides[k][last] === l.strides[d] * shape[d])) {
      out.shape[last] *= shape[d];
      layouts.forEach((l, k) => (out.strides[k][last] = l.strides[d]));
    } else {
      out.shape.push(shape[d]);
      layouts.forEach((l, k) => out.strides[k].push(l.strides[d]));
    }
  }
  return out;
}

/** The rank a program is compiled for. */
export function bucket(rank: number): number {
  return rank <= 1 ? 1 : rank <= 4 ? 4 : rank;
}

/** Pad with leading size-1 dims (stride 0) to `rank`. */
export function padTo(d: Dims, rank: number): Dims {
  const extra = rank - d.shape.length;
  return { shape: [...Array<number>(extra).fill(1), ...d.shape], strides: d.strides.map((s) => [...Array<number>(extra).fill(0), ...s]) };
}

/** coalesce, then pad to the bucket rank. */
export function launchDims(shape: readonly number[], layouts: readonly Layout[]): Dims {
  const d = coalesce(shape, layouts);
  return padTo(d, bucket(d.shape.length));
}
