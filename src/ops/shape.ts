/** View ops (no copies), copies into new layouts, joining and indexing — each with its gradient rule. */
import { record } from '../autograd/record.ts';
import { DTypeError, IndexError, ShapeError, fmtShape } from '../core/errors.ts';
import { zeros } from '../tensor/create.ts';
import {
  contiguousLayout, expandLayout, inferShape, normAxis, permuteLayout, reshapeLayout, sameShape, sizeOf, type Layout,
} from '../core/layout.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { operands, wrap } from './util.ts';

/** A contiguous copy (or a view when `x` already is contiguous). */
export function contiguous(x: Tensor): Tensor {
  const out = x.isContiguous ? x.withLayout(x.layout) : wrap(x.backend, x.backend.copy(x.view('contiguous'), x.dtype), x.shape);
  return record('contiguous', out, [x], (g) => [g]);
}

/** Reshape; a view when the layout allows it, else a copy. One dim may be -1. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = inferShape('reshape', x.size, shape);
  const layout = reshapeLayout(x.layout, target);
  let out: Tensor;
  if (layout) {
    out = x.withLayout(layout);
  } else {
    const copy = x.backend.copy(x.view('reshape'), x.dtype);
    out = wrap(x.backend, copy, target);
  }
  return record('reshape', out, [x], (g) => [reshape(g, x.shape)]);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const layout = permuteLayout('permute', x.layout, perm);
  const axes = perm.map((p) => normAxis('permute', p, x.ndim));
  const inverse = axes.map((_, i) => axes.indexOf(i));
  return record('permute', x.withLayout(layout), [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  const perm = [...Array(x.ndim).keys()];
  const a = normAxis('transpose', d0, x.ndim), b = normAxis('transpose', d1, x.ndim);
  [perm[a], perm[b]] = [perm[b], perm[a]];
  return permute(x, perm);
}

/** Broadcast to `shape` without copying (stride 0); the engine sums the gradient back. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const target = shape.map((d, i) => (d === -1 ? x.shape[i - (shape.length - x.ndim)] : d));
  return record('expand', x.withLayout(expandLayout('expand', x.layout, target)), [x], (g) => [g]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis('unsqueeze', axis, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const a = normAxis('squeeze', axis, x.ndim);
  if (x.shape[a] !== 1) throw new ShapeError(`squeeze: dim ${axis} of ${fmtShape(x.shape)} is not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

/** x[start:end:step] along `axis` as a view (Python semantics for negative / out-of-range bounds). */
export function slice(x: Tensor, axis: number, start = 0, end?: number, step = 1): Tensor {
  const a = normAxis('slice', axis, x.ndim);
  if (!Number.isInteger(step) || step <= 0) throw new ShapeError(`slice: step must be a positive integer, got ${step}`);
  const n = x.shape[a];
  const clampIdx = (i: number) => Math.min(n, Math.max(0, i < 0 ? i + n : i));
  const s = clampIdx(start);
  const e = Math.max(s, clampIdx(end ?? n));
  const len = Math.ceil((e - s) / step);
  const view = (l: Layout): Layout => ({
    shape: l.shape.map((d, i) => (i === a ? len : d)),
    strides: l.strides.map((st, i) => (i === a ? st * step : st)),
    offset: l.offset + (len > 0 ? s * l.strides[a] : 0),
  });
  return record('slice', x.withLayout(view(x.layout)), [x], (g) => {
    const whole = zeros(x.shape, { dtype: g.dtype, backend: g.backend });
    if (len > 0) whole.backend.assign({ storage: whole.view('slice').storage, layout: view(whole.layout) }, g.view('slice'));
    return [whole];
  });
}

/** Join along an existing axis. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('concat: no tensors');
  operands('concat', xs);
  const a = normAxis('concat', axis, xs[0].ndim);
  for (const t of xs) {
    if (t.ndim !== xs[0].ndim || t.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) {
      throw new ShapeError(`concat: shapes ${xs.map((u) => fmtShape(u.shape)).join(', ')} differ outside axis ${axis}`);
    }
  }
  const shape = xs[0].shape.map((d, i) => (i === a ? xs.reduce((s, t) => s + t.shape[a], 0) : d));
  const backend = xs[0].backend;
  const storage = backend.alloc(xs[0].dtype, sizeOf(shape));
  const strides = contiguousLayout(shape).strides;
  let at = 0;
  const starts: number[] = [];
  for (const t of xs) {
    starts.push(at);
    if (t.size > 0) backend.assign({ storage, layout: { shape: t.shape, strides, offset: at * strides[a] } }, t.view('concat'));
    at += t.shape[a];
  }
  const out = wrap(backend, storage, shape);
  return record('concat', out, xs, (g) => xs.map((t, i) => (t.requiresGrad ? slice(g, a, starts[i], starts[i] + t.shape[a]) : null)));
}

/** Join along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('stack: no tensors');
  if (xs.some((t) => !sameShape(t.shape, xs[0].shape))) throw new ShapeError(`stack: shapes ${xs.map((u) => fmtShape(u.shape)).join(', ')} differ`);
  const a = normAxis('stack', axis, xs[0].ndim + 1);
  return concat(xs.map((t) => unsqueeze(t, a)), a);
}

function checkIndex(op: string, index: Tensor, bound: number): void {
  if (index.dtype !== 'int32') throw new DTypeError(`${op}: indices must be int32, got ${index.dtype}`);
  if (!index.backend.readSync) return; // device backends clamp in the kernel instead of reading back
  const data = index.dataSync();
  for (let i = 0; i < data.length; i++) {
    if (data[i] < 0 || data[i] >= bound) throw new IndexError(`${op}: index ${data[i]} out of range [0, ${bound})`);
  }
}

/** torch.gather / take_along_axis: out[i] = x[i with `axis` ← index[i]]. */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normAxis('gather', axis, x.ndim);
  operands('gather', [x, index], { sameDtype: false });
  if (index.ndim !== x.ndim || index.shape.some((d, i) => i !== a && d > x.shape[i])) {
    throw new ShapeError(`gather: index shape ${fmtShape(index.shape)} does not fit input ${fmtShape(x.shape)} on axis ${axis}`);
  }
  checkIndex('gather', index, x.shape[a]);
  const out = wrap(x.backend, x.backend.gather(x.view('gather'), a, index.view('gather')), index.shape);
  return record('gather', out, [x], (g) => [scatterAdd(x.shape, a, index, g)]);
}

/** Zeros of `shape` with src added at out[i with `axis` ← index[i]] (the adjoint of gather). */
export function scatterAdd(shape: readonly number[], axis: number, index: Tensor, src: Tensor): Tensor {
  const a = normAxis('scatterAdd', axis, shape.length);
  operands('scatterAdd', [src, index], { sameDtype: false });
  if (!sameShape(index.shape, src.shape)) throw new ShapeError(`scatterAdd: index ${fmtShape(index.shape)} and src ${fmtShape(src.shape)} differ`);
  checkIndex('scatterAdd', index, shape[a]);
  const s = src.backend.scatterAdd(shape, src.dtype, a, index.view('scatterAdd'), src.view('scatterAdd'));
  return record('scatterAdd', wrap(src.backend, s, shape), [src], (g) => [gather(g, a, index)]);
}

/** Rows (or slices along `axis`) picked by a 1-d int32 index. */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normAxis('indexSelect', axis, x.ndim);
  if (index.ndim !== 1) throw new ShapeError(`indexSelect: index must be 1-d, got ${fmtShape(index.shape)}`);
  const shape = x.shape.map((d, i) => (i === a ? index.shape[0] : d));
  const idx = expand(reshape(index, shape.map((d, i) => (i === a ? d : 1))), shape);
  return gather(x, a, idx);
}

