/**
 * LoRA's linear as one op (PEFT's unmerged LoraLayer): y = x·Wᵀ + b + s·(x_d·Aᵀ)·Bᵀ (+ a residual), where
 * x_d is the branch's input (dropout(x), or x itself), with a gradient rule of its own. As ops the branch
 * costs five kernels forward and seven backward (its products, the scaling both ways, the add of the branch,
 * the sum of x's two gradients); here the scaling rides in a product's epilogue and the two products into
 * one output run as one (Backend.matmulEpilogue's `plus`): y = x·Wᵀ + h·Bᵀ and dx = g·W + g_h·A, so a GPU
 * runs two products forward and four back. Its composite twin is loraLinearComposite (composite.ts).
 */
import { record } from '../autograd/record.ts';
import { ShapeError, fmtShape } from '../core/errors.ts';
import { assertFloat } from '../core/dtype.ts';
import { sameShape } from '../core/layout.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { productEpilogue } from './fused.ts';
import { sum } from './reduce.ts';
import { reshape, transpose } from './shape.ts';
import { operands } from './util.ts';

export interface LoraBranch {
  /** [r, in] */
  a: Tensor;
  /** [out, r] */
  b: Tensor;
  scaling: number;
  /** the branch's input (dropout applied), x's shape; x itself when absent */
  input?: Tensor | null;
}

/** x: [..., in] (at least 2-d), weight: [out, in], bias: [out] or null; residual: the output's shape, or null. */
export function loraLinear(x: Tensor, weight: Tensor, bias: Tensor | null, lora: LoraBranch, residual: Tensor | null = null): Tensor {
  const { a, b, scaling: s } = lora;
  const xd = lora.input ?? x;
  const inputs = [x, weight, a, b, ...(bias ? [bias] : []), ...(xd !== x ? [xd] : []), ...(residual ? [residual] : [])];
  operands('loraLinear', inputs);
  assertFloat('loraLinear', x.dtype);
  const [out, inF] = weight.shape;
  const r = a.shape[0];
  const outShape = [...x.shape.slice(0, -1), out];
  if (x.ndim < 2 || weight.ndim !== 2 || x.shape[x.ndim - 1] !== inF || a.ndim !== 2 || a.shape[1] !== inF || b.ndim !== 2
    || b.shape[0] !== out || b.shape[1] !== r || (bias && (bias.ndim !== 1 || bias.shape[0] !== out)) || !sameShape(xd.shape, x.shape)
    || (residual && !sameShape(residual.shape, outShape))) {
    const rest = `${bias ? `, bias ${fmtShape(bias.shape)}` : ''}${residual ? `, residual ${fmtShape(residual.shape)}` : ''}`;
    throw new ShapeError(`loraLinear: x ${fmtShape(x.shape)}, weight ${fmtShape(weight.shape)}, A ${fmtShape(a.shape)}, B ${fmtShape(b.shape)}${rest} do not fit`);
  }
  // the scaling applied to the rank-r intermediate, as the adapter always did: a pass over [tokens, r]
  const h = productEpilogue(xd, transpose(a), { scale: s });
  const y = productEpilogue(x, transpose(weight), { bias, addend: residual, plus: [h, transpose(b)] });
  const at = (t: Tensor | null) => (t ? inputs.indexOf(t, 4) : -1);
  return record('loraLinear', y, inputs, (g, soFar) => {
    const rows = (t: Tensor) => reshape(t, [-1, t.shape[t.ndim - 1]]);
    const g2 = rows(g);
    // d/d(x_d·Aᵀ) = s·g·B: the scaling in the product's epilogue
    const gh = a.requiresGrad || xd.requiresGrad ? productEpilogue(g, b, { scale: s }) : null;
    const sameInput = xd === x && gh !== null;
    const grads: (Tensor | null)[] = [
      x.requiresGrad ? productEpilogue(g, weight, { addend: soFar(0), plus: sameInput ? [gh, a] : null }) : null,
      weight.requiresGrad ? productEpilogue(transpose(g2), rows(x)) : null,
      a.requiresGrad ? productEpilogue(transpose(rows(gh!)), rows(xd)) : null,
      b.requiresGrad ? productEpilogue(transpose(g2), rows(h)) : null,
    ];
    if (bias) grads.push(bias.requiresGrad ? sum(g2, 0) : null);
    if (xd !== x) grads.push(xd.requiresGrad ? productEpilogue(gh!, a, { addend: soFar(at(xd)) }) : null);
    if (residual) grads.push(residual.requiresGrad ? g : null);
    gh?.dispose();
    return grads;
  });
}
