/**
 * LoRA's linear as one op (PEFT's unmerged LoraLayer): y = x·Wᵀ + b + s·(x_d·Aᵀ)·Bᵀ, where x_d is the
 * branch's input (dropout(x), or x itself), with a gradient rule of its own. As ops the branch costs five
 * kernels forward and seven backward (its products, the scaling both ways, the add of the branch, the sum
 * of x's two gradients); here the scaling and the adds ride in the products' epilogues
 * (Backend.matmulEpilogue), so a GPU runs three products forward and five back. Its composite twin is
 * loraLinearComposite (composite.ts).
 */
import { record } from '../autograd/record.ts';
import { ShapeError, fmtShape } from '../core/errors.ts';
import { assertFloat } from '../core/dtype.ts';
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

/** x: [..., in] (at least 2-d), weight: [out, in], bias: [out] or null. */
export function loraLinear(x: Tensor, weight: Tensor, bias: Tensor | null, lora: LoraBranch): Tensor {
  const { a, b, scaling: s } = lora;
  const xd = lora.input ?? x;
  const inputs = [x, weight, a, b, ...(bias ? [bias] : []), ...(xd !== x ? [xd] : [])];
  operands('loraLinear', inputs);
  assertFloat('loraLinear', x.dtype);
  const [out, inF] = weight.shape;
  const r = a.shape[0];
  if (x.ndim < 2 || weight.ndim !== 2 || x.shape[x.ndim - 1] !== inF || a.ndim !== 2 || a.shape[1] !== inF || b.ndim !== 2
    || b.shape[0] !== out || b.shape[1] !== r || (bias && (bias.ndim !== 1 || bias.shape[0] !== out)) || xd.shape.join() !== x.shape.join()) {
    throw new ShapeError(`loraLinear: x ${fmtShape(x.shape)}, weight ${fmtShape(weight.shape)}, A ${fmtShape(a.shape)}, B ${fmtShape(b.shape)}${bias ? `, bias ${fmtShape(bias.shape)}` : ''} do not fit`);
  }
  const base = productEpilogue(x, transpose(weight), 1, bias);
  // the scaling applied to the rank-r intermediate, as the adapter always did: a pass over [tokens, r]
  const h = productEpilogue(xd, transpose(a), s);
  const y = productEpilogue(h, transpose(b), 1, null, base);
  base.dispose();
  return record('loraLinear', y, inputs, (g, soFar) => {
    const rows = (t: Tensor) => reshape(t, [-1, t.shape[t.ndim - 1]]);
    const g2 = rows(g);
    const needGh = a.requiresGrad || xd.requiresGrad;
    // d/d(x_d·Aᵀ) = s·g·B: the scaling in the product's epilogue
    const gh = needGh ? productEpilogue(g, b, s) : null;
    let dx = x.requiresGrad ? productEpilogue(g, weight, 1, null, soFar(0)) : null;
    let dxd: Tensor | null = null;
    if (gh && xd.requiresGrad) {
      if (xd !== x) dxd = productEpilogue(gh, a, 1, null, soFar(inputs.length - 1));
      else {
        // x's two gradients summed in the second product's epilogue
        const both = productEpilogue(gh, a, 1, null, dx);
        dx!.dispose();
        dx = both;
      }
    }
    const grads = [
      dx,
      weight.requiresGrad ? productEpilogue(transpose(g2), rows(x)) : null,
      a.requiresGrad ? productEpilogue(transpose(rows(gh!)), rows(xd)) : null,
      b.requiresGrad ? productEpilogue(transpose(g2), rows(h)) : null,
    ];
    gh?.dispose();
    if (bias) grads.push(bias.requiresGrad ? sum(g2, 0) : null);
    if (xd !== x) grads.push(dxd);
    return grads;
  });
}
