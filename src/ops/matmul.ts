/** Matrix products: batched with NumPy broadcasting of batch dims; transposed operands are views. */
import { record } from '../autograd/record.ts';
import { ShapeError, fmtShape } from '../core/errors.ts';
import { assertFloat } from '../core/dtype.ts';
import { broadcastShapes, expandLayout, isContiguous, sameShape } from '../core/layout.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { add } from './elementwise.ts';
import { productEpilogue } from './fused.ts';
import { sum } from './reduce.ts';
import { reshape, transpose } from './shape.ts';
import { operands, wrap } from './util.ts';

/** a @ b for a: [..., m, k], b: [..., k, n] (1-d operands are promoted and squeezed as in NumPy). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  operands('matmul', [a, b]);
  assertFloat('matmul', a.dtype);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: operands must be at least 1-d, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.ndim === 1 || b.ndim === 1) {
    const r = matmul(a.ndim === 1 ? reshape(a, [1, a.shape[0]]) : a, b.ndim === 1 ? reshape(b, [b.shape[0], 1]) : b);
    const drop = (i: number) => (a.ndim === 1 && i === r.ndim - 2) || (b.ndim === 1 && i === r.ndim - 1);
    return reshape(r, r.shape.filter((_, i) => !drop(i)));
  }
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) throw new ShapeError(`matmul: inner sizes differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const va = { storage: a.view('matmul').storage, layout: expandLayout('matmul', a.layout, [...batch, m, k]) };
  const vb = { storage: b.view('matmul').storage, layout: expandLayout('matmul', b.layout, [...batch, k, n]) };
  const out = wrap(a.backend, a.backend.matmul(va, vb), [...batch, m, n]);
  return record('matmul', out, [a, b], (g, soFar) => [
    a.requiresGrad ? inputGrad(a, b, g, soFar) : null,
    b.requiresGrad ? weightGrad(a, b, g) : null,
  ]);
}

/** d(a@b)/da = g·bᵀ, added to a's gradient so far where a is not broadcast (the product then has its shape). */
function inputGrad(a: Tensor, b: Tensor, g: Tensor, soFar: (k: number) => Tensor | null): Tensor {
  const unbroadcast = b.ndim <= a.ndim && a.shape.slice(0, -2).join() === g.shape.slice(0, -2).join();
  return unbroadcast ? productEpilogue(g, transpose(b), { addend: soFar(0) }) : matmul(g, transpose(b));
}

/**
 * d(a@b)/db. For a shared 2-d weight applied to a batch ([..., m, k] @ [k, n]) one [k, B·m] × [B·m, n]
 * product replaces B batched products and the sum over them.
 */
function weightGrad(a: Tensor, b: Tensor, g: Tensor): Tensor {
  if (b.ndim !== 2 || a.ndim <= 2) return matmul(transpose(a), g);
  const k = a.shape[a.ndim - 1];
  return matmul(transpose(reshape(a, [-1, k])), reshape(g, [-1, g.shape[g.ndim - 1]]));
}

/**
 * y = x Wᵀ + b (+ residual) with W: [out, in] as PyTorch stores it (Wᵀ is a view, not a copy); a residual
 * of the output's shape is added in the product's epilogue where the backend has one.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, residual?: Tensor | null): Tensor {
  if (x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new ShapeError(`linear: input ${fmtShape(x.shape)} does not match weight ${fmtShape(weight.shape)}`);
  }
  const fused = fusedLinear(x, weight, bias ?? null, residual ?? null);
  if (fused) return fused;
  const y = matmul(x, transpose(weight));
  const biased = bias ? add(y, bias) : y;
  return residual ? add(biased, residual) : biased;
}

/**
 * linear as one product with the bias (and a residual) added as it is stored (Backend.matmulEpilogue), and
 * a gradient rule of its own: dW = gᵀ·x over all rows at once comes out [out, in], contiguous, as the
 * parameter is (the generic rule's (xᵀ·g)ᵀ is a transposed view that must be copied before it accumulates).
 * Null where the backend has no such kernel, declines it, or the operands are not the plain case (the
 * caller composes).
 */
function fusedLinear(x: Tensor, weight: Tensor, bias: Tensor | null, residual: Tensor | null): Tensor | null {
  const b = x.backend;
  if (!b.matmulEpilogue || x.ndim < 2 || weight.ndim !== 2 || (bias && bias.ndim !== 1)) return null;
  const [out, inF] = weight.shape;
  const outShape = [...x.shape.slice(0, -1), out];
  if (residual && !(sameShape(residual.shape, outShape) && isContiguous(residual.layout))) return null;
  const inputs = [x, weight, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  operands('linear', inputs);
  assertFloat('linear', x.dtype);
  const batch = x.shape.slice(0, -2);
  const wt = transpose(weight);
  const vw = { storage: wt.view('linear').storage, layout: expandLayout('linear', wt.layout, [...batch, inF, out]) };
  const s = b.matmulEpilogue(x.view('linear'), vw, { bias: bias?.view('linear') ?? null, addend: residual?.view('linear') ?? null });
  if (!s) return null;
  const y = wrap(b, s, outShape);
  return record('linear', y, inputs, (g, soFar) => {
    const g2 = reshape(g, [-1, out]);
    return [
      x.requiresGrad ? productEpilogue(g, weight, { addend: soFar(0) }) : null,
      weight.requiresGrad ? matmul(transpose(g2), reshape(x, [-1, inF])) : null,
      ...(bias ? [bias.requiresGrad ? sum(g2, 0) : null] : []),
      ...(residual ? [residual.requiresGrad ? g : null] : []),
    ];
  });
}
