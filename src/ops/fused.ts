/**
 * Fused forms of a few hot spots of a transformer step, for backends that have the kernels (the optional
 * members of Backend: matmulEpilogue, softmaxBackward, scaledMaskedSoftmax, layerNormBackward). Each
 * computes what the composite formula beside it computes; a backend without the kernel, or one that
 * declines (null), gets the composite. Internal to the ops (not exported as ops of their own): softmax,
 * layerNorm, attention and loraLinear use them, so the gradchecks and op suites of those ops cover them.
 */
import { noGrad, record } from '../autograd/record.ts';
import { expandLayout, isContiguous } from '../core/layout.ts';
import { tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { add, exp, mul, sub } from './elementwise.ts';
import { sum } from './reduce.ts';
import { contiguous, reshape } from './shape.ts';
import { wrap } from './util.ts';

export interface ProductEpilogue {
  scale?: number;
  /** [n] */
  bias?: Tensor | null;
  /** the result's shape */
  addend?: Tensor | null;
  /** a second product [a2, w2] of the result's shape (a2 with a's batch dims), summed before the scaling */
  plus?: readonly [Tensor, Tensor] | null;
}

/** A matrix operand's view with its batch dims broadcast to `batch`. */
function batchedOperand(t: Tensor, batch: readonly number[]) {
  return { storage: t.view('matmul').storage, layout: expandLayout('matmul', t.layout, [...batch, ...t.shape.slice(-2)]) };
}

/**
 * scale·(a @ w + a2 @ w2) + bias + addend for a: [..., m, k] and w: [..., k, n] whose batch dims broadcast
 * to a's (any layouts), recording nothing (for fused ops' forwards and gradient rules): one kernel where
 * the backend has the epilogue, else products and pointwise ops.
 */
export function productEpilogue(a: Tensor, w: Tensor, e: ProductEpilogue = {}): Tensor {
  const b = a.backend;
  const batch = a.shape.slice(0, -2);
  const shape = [...a.shape.slice(0, -1), w.shape[w.ndim - 1]];
  const vw = batchedOperand(w, batch);
  const plus = e.plus ? { a: batchedOperand(e.plus[0], batch), b: batchedOperand(e.plus[1], batch) } : null;
  const scale = e.scale ?? 1;
  if (b.matmulEpilogue && (!e.addend || isContiguous(e.addend.layout))) {
    const s = b.matmulEpilogue(a.view('matmul'), vw, { scale, bias: e.bias?.view('matmul') ?? null, addend: e.addend?.view('matmul') ?? null, plus });
    if (s) return wrap(b, s, shape);
  }
  return noGrad(() => tidy(() => {
    let y = wrap(b, b.matmul(a.view('matmul'), vw), shape);
    if (plus) y = add(y, wrap(b, b.matmul(plus.a, plus.b), shape));
    if (scale !== 1) y = mul(y, scale);
    if (e.bias) y = add(y, e.bias);
    return e.addend ? add(y, e.addend) : y;
  }));
}

/** The softmax (log-softmax) VJP over the last dim of [rows, cols], times `scale`. */
export function softmaxGrad(y: Tensor, g: Tensor, log: boolean, scale = 1): Tensor {
  const s = y.backend.softmaxBackward?.(y.view('softmax'), g.view('softmax'), log, scale);
  if (s) return wrap(y.backend, s, y.shape);
  const dx = log ? sub(g, mul(exp(y), sum(g, -1, true))) : mul(y, sub(g, sum(mul(g, y), -1, true)));
  return scale === 1 ? dx : mul(dx, scale);
}

/**
 * softmax(scale·x + mask) over the last dim in one kernel (attention's scores), mask broadcasting to x and
 * receiving no gradient; null where the backend has no such kernel (or declines it), and the caller composes.
 */
export function scaledMaskedSoftmax(x: Tensor, scale: number, mask: Tensor | null): Tensor | null {
  const b = x.backend;
  if (!b.scaledMaskedSoftmax || !b.softmaxBackward || (mask && (mask.requiresGrad || mask.dtype !== x.dtype))) return null;
  const cols = x.shape[x.ndim - 1];
  const x2 = reshape(contiguous(x), [x.size / Math.max(cols, 1), cols]);
  const m = mask ? { storage: mask.view('attention').storage, layout: expandLayout('attention', mask.layout, x.shape) } : null;
  const s = b.scaledMaskedSoftmax(x2.view('attention'), scale, m);
  if (!s) return null;
  const y = wrap(b, s, x2.shape);
  return reshape(record('softmax', y, [x2], (g) => [softmaxGrad(y, g, false, scale)]), x.shape);
}

/**
 * Layer norm's VJP for x2 [rows, cols] from the saved mean and rstd ([rows, 1]), with the weight and bias
 * gradients where asked; null where the backend has no such kernel (the caller composes).
 */
export function layerNormGrad(
  g: Tensor, x2: Tensor, weight: Tensor, mu: Tensor, rstd: Tensor, want: { weight: boolean; bias: boolean },
): [Tensor, Tensor | null, Tensor | null] | null {
  const b = x2.backend;
  const r = b.layerNormBackward?.(g.view('layerNorm'), x2.view('layerNorm'), weight.view('layerNorm'), mu.view('layerNorm'), rstd.view('layerNorm'), want.weight || want.bias);
  if (!r) return null;
  const cols = [x2.shape[1]];
  const keep = (s: typeof r.dweight, wanted: boolean): Tensor | null => {
    if (!s) return null;
    if (wanted) return wrap(b, s, cols);
    b.free(s);
    return null;
  };
  return [wrap(b, r.dx, x2.shape), keep(r.dweight, want.weight), keep(r.dbias, want.bias)];
}
