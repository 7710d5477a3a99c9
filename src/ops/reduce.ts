/** Reductions with their gradient rules. Axes may be negative; `keepdim` keeps reduced dims as size 1. */
import { record } from '../autograd/record.ts';
import type { ReduceOp } from '../backends/backend.ts';
import { ShapeError } from '../core/errors.ts';
import { normAxis, sameShape } from '../core/layout.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { div, eq, mul, sub } from './elementwise.ts';
import { expand, reshape } from './shape.ts';
import { operands, wrap } from './util.ts';

export type Axes = number | readonly number[] | undefined;

function resolveAxes(op: string, x: Tensor, axes: Axes): number[] {
  if (axes === undefined) return [...Array(x.ndim).keys()];
  const list = (typeof axes === 'number' ? [axes] : axes).map((a) => normAxis(op, a, x.ndim));
  if (new Set(list).size !== list.length) throw new ShapeError(`${op}: repeated axis in [${list.join(', ')}]`);
  return list.sort((a, b) => a - b);
}

function reduceRaw(op: ReduceOp, x: Tensor, axes: number[], keepdim: boolean, name: string): Tensor {
  operands(name, [x], { sameDtype: false });
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  if (op !== 'sum' && axes.some((a) => x.shape[a] === 0)) throw new ShapeError(`${name}: cannot reduce an empty dimension`);
  const shape = keepdim ? keptShape : x.shape.filter((_, i) => !axes.includes(i));
  return wrap(x.backend, x.backend.reduce(op, x.view(name), axes), shape);
}

/** Broadcast a reduction's gradient back over the reduced dims (a view, no copy). */
function spread(g: Tensor, x: Tensor, axes: number[]): Tensor {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return expand(reshape(g, kept), x.shape);
}

export function sum(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const ax = resolveAxes('sum', x, axes);
  return record('sum', reduceRaw('sum', x, ax, keepdim, 'sum'), [x], (g) => [spread(g, x, ax)]);
}

export function mean(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const ax = resolveAxes('mean', x, axes);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  return div(sum(x, ax, keepdim), n);
}

/** max over axes; where several entries tie for the max, the gradient is shared evenly (torch.amax). */
export function max(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return extreme('max', x, axes, keepdim);
}

export function min(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return extreme('min', x, axes, keepdim);
}

function extreme(op: 'max' | 'min', x: Tensor, axes: Axes, keepdim: boolean): Tensor {
  const ax = resolveAxes(op, x, axes);
  const out = reduceRaw(op, x, ax, keepdim, op);
  return record(op, out, [x], (g) => {
    const hit = eq(x, spread(out, x, ax));
    const ties = spread(reduceRaw('sum', hit, ax, true, op), x, ax);
    return [mul(spread(g, x, ax), div(hit, ties))];
  });
}

/** Variance with Bessel's `correction` (1 = unbiased, torch's default; 0 = population). */
export function variance(x: Tensor, axes?: Axes, keepdim = false, correction = 1): Tensor {
  const ax = resolveAxes('var', x, axes);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  const d = sub(x, mean(x, ax, true));
  return div(sum(mul(d, d), ax, keepdim), Math.max(0, n - correction));
}

/** Sum `g` down to `shape` over the dims that broadcasting expanded (autograd's reduction rule). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g.withLayout(g.layout);
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return reshape(sum(g, axes, true), shape);
}
