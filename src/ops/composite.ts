/**
 * Composite ops written only with primitives (tinygrad's first step). The fused kernels in nn.ts and
 * elementwise.ts and the fused op in lora.ts must agree with these, forward and backward. Attention is
 * composite too, except that a backend with a scaled, masked softmax kernel (ops/fused.ts) runs scale,
 * mask and softmax as one.
 */
import type { Tensor } from '../tensor/tensor.ts';
import { add, div, erf, exp, log, mul, rsqrt, sub, tanh, where, isFiniteMask } from './elementwise.ts';
import type { LoraBranch } from './lora.ts';
import { linear, matmul } from './matmul.ts';
import { scaledMaskedSoftmax } from './fused.ts';
import { softmax } from './nn.ts';
import { max, mean, sum } from './reduce.ts';
import { transpose } from './shape.ts';

/** exp(x - max) / Σ exp(x - max), with the max taken over finite entries only (mask-safe). */
export function softmaxComposite(x: Tensor, axis = -1): Tensor {
  const e = exp(sub(x, stableMax(x, axis)));
  return div(e, sum(e, axis, true));
}

export function logSoftmaxComposite(x: Tensor, axis = -1): Tensor {
  const shifted = sub(x, stableMax(x, axis));
  return sub(shifted, log(sum(exp(shifted), axis, true)));
}

function stableMax(x: Tensor, axis: number): Tensor {
  const finite = where(isFiniteMask(x), x, -Infinity);
  const m = max(finite, axis, true);
  return where(isFiniteMask(m), m, 0);
}

export function layerNormComposite(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-12): Tensor {
  const mu = mean(x, -1, true);
  const d = sub(x, mu);
  const v = mean(mul(d, d), -1, true);
  return add(mul(mul(d, rsqrt(add(v, eps))), weight), bias);
}

export const geluComposite = (x: Tensor): Tensor => mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));

export const geluTanhComposite = (x: Tensor): Tensor =>
  mul(mul(x, 0.5), add(tanh(mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI))), 1));

/**
 * Scaled dot-product attention softmax(q kᵀ / √d + mask) v for q, k, v: [..., T, d]; `mask` is additive
 * and broadcasts against the scores [..., Tq, Tk]; `dropProbs` (attention dropout) applies to the
 * probabilities. Returns the output and the probabilities as used (after dropout, as transformers does).
 */
export function attention(
  q: Tensor, k: Tensor, v: Tensor, mask?: Tensor | null, dropProbs?: (probs: Tensor) => Tensor,
): { out: Tensor; probs: Tensor } {
  const d = q.shape[q.ndim - 1];
  const raw = matmul(q, transpose(k));
  let probs = scaledMaskedSoftmax(raw, 1 / Math.sqrt(d), mask ?? null);
  if (!probs) {
    let scores = div(raw, Math.sqrt(d));
    if (mask) scores = add(scores, mask);
    probs = softmax(scores, -1);
  }
  if (dropProbs) probs = dropProbs(probs);
  return { out: matmul(probs, v), probs };
}

/** loraLinear (lora.ts) as ops: the linear plus its branch, the scaling on the rank-r intermediate. */
export function loraLinearComposite(x: Tensor, weight: Tensor, bias: Tensor | null, lora: LoraBranch, residual: Tensor | null = null): Tensor {
  const h = mul(linear(lora.input ?? x, lora.a), lora.scaling);
  const y = add(linear(x, weight, bias), linear(h, lora.b));
  return residual ? add(y, residual) : y;
}
