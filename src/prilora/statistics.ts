/**
 * PRILoRA's input statistics (docs/METHOD.md §3): s ← β s + (1 − β) ‖X_{:,j}‖₂ over the batch's real tokens.
 * Declared once as ops (mask, square, column sum, square root, EMA) and run as the backend's fused kernel
 * where it has one (`Backend.columnNormEma`: one pass over X instead of two plus five small dispatches).
 */
import { add, mul, sqrt } from '../ops/elementwise.ts';
import { wrap } from '../ops/util.ts';
import { sum } from '../ops/reduce.ts';
import { reshape } from '../ops/shape.ts';
import { isContiguous } from '../core/layout.ts';
import { tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';

/** rows: [n, cols]; rowMask: [n] of 0/1 or null; prev: [cols]. */
export function columnNormEmaComposite(rows: Tensor, rowMask: Tensor | null, prev: Tensor, beta: number): Tensor {
  return tidy(() => {
    const sq = mul(rows, rows);
    const norms = sqrt(sum(rowMask ? mul(sq, reshape(castLike(rowMask, rows), [-1, 1])) : sq, 0));
    return add(mul(prev, beta), mul(norms, 1 - beta));
  });
}

/**
 * The same on the backend's fused kernel when it has one and the operands fit it, else the composite.
 * Where no view shares prev's storage the kernel may update it in place: the result is then prev itself.
 */
export function columnNormEma(rows: Tensor, rowMask: Tensor | null, prev: Tensor, beta: number): Tensor {
  const b = rows.backend;
  const fits = isContiguous(rows.layout) && isContiguous(prev.layout) && (!rowMask || (isContiguous(rowMask.layout) && rowMask.size === rows.shape[0]));
  if (!b.columnNormEma || !fits) return columnNormEmaComposite(rows, rowMask, prev, beta);
  return tidy(() => {
    const mask = rowMask && castLike(rowMask, rows);
    const before = prev.view('columnNormEma');
    const r = b.columnNormEma!(rows.view('columnNormEma'), mask?.view('columnNormEma') ?? null, before, beta, prev.ownsStorage);
    if (!r) return columnNormEmaComposite(rows, rowMask, prev, beta);
    return r === before.storage ? prev : wrap(b, r, prev.shape);
  });
}

function castLike(mask: Tensor, like: Tensor): Tensor {
  return mask.dtype === like.dtype ? mask : mask.cast(like.dtype);
}
