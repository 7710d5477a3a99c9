/**
 * Reverse-mode autograd: `backward` walks the graph that ops recorded (./record.ts) in reverse topological
 * order. Backward rules run with grad mode off (no double backward), and the engine — not each op — sums a
 * gradient over broadcast dims back to its input's shape, so every op's rule may ignore broadcasting. An
 * input's gradients from several ops are summed by the engine, or by the product of a rule that the engine
 * hands the sum so far (GradNode.backward's `soFar`: no add of its own). The engine sits below the ops:
 * its own arithmetic (summing, accumulating, copying gradients) calls the backend's kernels directly.
 */
import { PriloraError, ShapeError, fmtShape } from '../core/errors.ts';
import { contiguousLayout, isContiguous, sameShape } from '../core/layout.ts';
import { onesLike } from '../tensor/create.ts';
import { keep } from '../tensor/scope.ts';
import { Tensor, type GradNode } from '../tensor/tensor.ts';
import { noGrad } from './record.ts';

/** a + b for two gradients of one shape. */
function add(a: Tensor, b: Tensor): Tensor {
  const out = a.backend.binary('add', a.view('backward'), b.view('backward'), a.dtype);
  return Tensor.fromStorage(a.backend, out, a.shape);
}

/** g summed over the dims it was broadcast along, to `shape`. */
function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return Tensor.fromStorage(g.backend, g.backend.reduce('sum', g.view('backward'), axes), contiguousLayout(shape));
}

function contiguous(g: Tensor): Tensor {
  return g.isContiguous ? g.withLayout(g.layout) : Tensor.fromStorage(g.backend, g.backend.copy(g.view('backward'), g.dtype), g.shape);
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
    grads.set(root, seed ? seed.withLayout(seed.layout) : onesLike(root));
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
      const handedOver: Tensor[] = [];
      const soFar = (k: number): Tensor | null => {
        const input = node.inputs[k];
        const prev = grads.get(input);
        if (!prev || !isContiguous(prev.layout) || !sameShape(prev.shape, input.shape)) return null;
        grads.delete(input);
        handedOver.push(prev);
        return prev;
      };
      const inputGrads = node.backward(g, soFar);
      for (const prev of handedOver) if (!inputGrads.includes(prev)) prev.dispose();
      node.inputs.forEach((input, k) => {
        const gi = inputGrads[k];
        if (!gi || !input.requiresGrad) return;
        const reduced = sameShape(gi.shape, input.shape) ? gi.withLayout(gi.layout) : sumTo(gi, input.shape);
        const prev = grads.get(input);
        if (prev) {
          grads.set(input, add(prev, reduced));
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
    const sum = add(leaf.grad, g);
    leaf.grad.dispose();
    leaf.grad = keep(sum);
  } else {
    leaf.grad = keep(contiguous(g));
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
