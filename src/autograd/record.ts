/**
 * Grad mode and the recording of the autograd graph. Ops record a node (inputs + vector-Jacobian product)
 * on their output when grad mode is on and an input requires grad; ./backward.ts walks it. This file sits
 * below the ops (they import it), the walk above them (it uses ops to sum and reduce gradients).
 */
import { PriloraError } from '../core/errors.ts';
import { isFloat } from '../core/dtype.ts';
import type { GradNode, Tensor } from '../tensor/tensor.ts';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run `fn` without recording anything for autograd (evaluation, optimiser updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Attach `backward` to `out` when autograd is recording and some input requires grad. Returns `out`. */
export function record(op: string, out: Tensor, inputs: readonly Tensor[], backward: GradNode['backward']): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    if (!isFloat(out.dtype)) throw new PriloraError(`${op}: an ${out.dtype} result cannot carry a gradient`);
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}
