/**
 * Reverse-mode autograd. Ops record a node (inputs + vector-Jacobian product) on their output when grad
 * mode is on and an input requires grad; `backward` walks the recorded graph in reverse topological order.
 * Backward rules run with grad mode off (no double backward), and the engine — not each op — sums a
 * gradient over broadcast dims back to its input's shape, so every op's rule may ignore broadcasting.
 */
import { PriloraError, ShapeError, fmtShape } from '../errors.ts';
import { isFloat } from '../tensor/dtype.ts';
import { sameShape } from '../tensor/layout.ts';
import { keep } from '../tensor/scope.ts';
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

const RELEASED: GradNode = {
  op: 'released',
  inputs: [],
  backward: () => {
    throw new PriloraError('backward: this graph was already used; pass { retainGraph: true } to backward twice');
  },
};

export interface BackwardOptions {
  /** Keep the recorded graph so that backward can run through it again. */
  retainGraph?: boolean;
}

// Set by src/ops (which imports this module) to break the import cycle: reducing broadcast gradients and
// accumulating them are ops themselves.
export const gradHooks = {
  sumTo: null as unknown as (g: Tensor, shape: readonly number[]) => Tensor,
  add: null as unknown as (a: Tensor, b: Tensor) => Tensor,
  onesLike: null as unknown as (t: Tensor) => Tensor,
  contiguous: null as unknown as (t: Tensor) => Tensor,
};

/**
 * Accumulate d(root)/d(leaf) into `leaf.grad` for every leaf that requires grad. `seed` is the gradient of
 * the root (default: 1, allowed only for one-element roots). Leaf gradients are contiguous and kept out of
 * every tidy scope; intermediate gradients are disposed as soon as they have been propagated.
 */
export function backward(root: Tensor, seed?: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new PriloraError(`backward: ${root} does not require grad`);
  if (!seed && root.size !== 1) {
    throw new ShapeError(`backward: a seed gradient is needed for a non-scalar root of shape ${fmtShape(root.shape)}`);
  }
  if (seed && !sameShape(seed.shape, root.shape)) {
    throw new ShapeError(`backward: seed shape ${fmtShape(seed.shape)} differs from root shape ${fmtShape(root.shape)}`);
  }
  noGrad(() => {
    const order = topoOrder(root);
    const grads = new Map<Tensor, Tensor>();
    grads.set(root, seed ? seed.withLayout(seed.layout) : gradHooks.onesLike(root));
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.node;
      if (!node) {
        accumulateLeaf(t, g);
        continue;
      }
      const inputGrads = node.backward(g);
      node.inputs.forEach((input, k) => {
        const gi = inputGrads[k];
        if (!gi || !input.requiresGrad) return;
        const reduced = sameShape(gi.shape, input.shape) ? gi.withLayout(gi.layout) : gradHooks.sumTo(gi, input.shape);
        const prev = grads.get(input);
        if (prev) {
          grads.set(input, gradHooks.add(prev, reduced));
          prev.dispose();
          reduced.dispose();
        } else {
          grads.set(input, reduced);
        }
      });
      for (const gi of inputGrads) if (gi && gi !== g) gi.dispose();
      g.dispose();
      if (!opts.retainGraph) t.node = RELEASED;
    }
  });
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.grad) {
    const sum = gradHooks.add(leaf.grad, g);
    leaf.grad.dispose();
    leaf.grad = keep(sum);
  } else {
    leaf.grad = keep(gradHooks.contiguous(g));
  }
  g.dispose();
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // iterative DFS: BERT graphs are deep enough to overflow a recursive walk
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const inputs = top[0].node?.inputs ?? [];
    if (top[1] < inputs.length) {
      const next = inputs[top[1]++];
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(top[0]);
      stack.pop();
    }
  }
  return order;
}
