/** Shared plumbing of the ops: operand checks and wrapping kernel results as tensors. */
import type { Backend, Storage } from '../backends/backend.ts';
import { BackendError, DTypeError } from '../core/errors.ts';
import { full } from '../tensor/create.ts';
import { keep } from '../tensor/scope.ts';
import type { DType } from '../core/dtype.ts';
import type { Layout } from '../core/layout.ts';
import { Tensor } from '../tensor/tensor.ts';
import './methods.ts';

export type TensorLike = Tensor | number;

export function wrap(backend: Backend, storage: Storage, shape: Layout | readonly number[]): Tensor {
  return Tensor.fromStorage(backend, storage, shape);
}

/** Turn numbers into 0-d tensors matching `like`, and check that tensors share a backend and dtype. */
export function operands(op: string, xs: readonly TensorLike[], opts: { sameDtype?: boolean } = {}): Tensor[] {
  const like = xs.find((x): x is Tensor => typeof x !== 'number');
  if (!like) throw new DTypeError(`${op}: at least one operand must be a tensor`);
  for (const x of xs) if (typeof x !== 'number') x.view(op); // throws DisposedError naming the op
  const ts = xs.map((x) => (typeof x === 'number' ? scalarLike(like, x) : x));
  for (const t of ts) {
    if (t.backend !== like.backend) throw new BackendError(`${op}: operands on backends ${like.backend.name} and ${t.backend.name}`);
    if (opts.sameDtype !== false && t.dtype !== like.dtype) {
      throw new DTypeError(`${op}: dtype mismatch ${ts.map((u) => u.dtype).join(' vs ')}`);
    }
  }
  return ts;
}

export function sameDtype(op: string, dtype: DType, expected: DType): void {
  if (dtype !== expected) throw new DTypeError(`${op}: expected ${expected}, got ${dtype}`);
}

/** 0-d tensors made from numbers and not yet owned by the result of the op that consumes them. */
const unowned = new WeakSet<Tensor>();

/**
 * A 0-d tensor holding `value` with `like`'s dtype and backend, outside every scope: the result of the op
 * that consumes it takes it over (`adoptScalars`), so `mul(x, 2)` leaks nothing outside a scope, and a
 * result returned from a scope keeps the constant its gradient rule reads.
 */
export function scalarLike(like: Tensor, value: number): Tensor {
  const t = keep(full([], value, { dtype: like.dtype, backend: like.backend }));
  unowned.add(t);
  return t;
}

/** `out` takes over those of `inputs` that are unowned number-made scalars. Returns `out`. */
export function adoptScalars(out: Tensor, ...inputs: Tensor[]): Tensor {
  for (const t of inputs) if (unowned.delete(t)) out._own(t);
  return out;
}
