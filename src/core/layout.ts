/**
 * Layout: how a tensor's elements sit in its storage (shape, strides in elements, offset), kept apart from
 * the storage itself as candle does. Every view (reshape, permute, slice, expand) is a new layout over the
 * same storage; backends receive layouts and never assume contiguity.
 */
import { ShapeError, fmtShape } from './errors.ts';

export interface Layout {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function contiguousLayout(shape: readonly number[]): Layout {
  return { shape: [...shape], strides: contiguousStrides(shape), offset: 0 };
}

/** Row-major contiguous from offset 0 (size-1 dims may have any stride). */
export function isContiguous(l: Layout): boolean {
  let s = 1;
  for (let i = l.shape.length - 1; i >= 0; i--) {
    if (l.shape[i] !== 1 && l.strides[i] !== s) return false;
    s *= l.shape[i];
  }
  return true;
}

export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) {
    throw new ShapeError(`${op}: axis ${axis} out of range for a ${ndim}-d tensor`);
  }
  return a;
}

export function broadcastShapes(op: string, ...shapes: (readonly number[])[]): number[] {
  const nd = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = nd - s.length + i;
      const d = s[i];
      if (d === out[j] || d === 1) continue;
      if (out[j] === 1) out[j] = d;
      else throw new ShapeError(`${op}: shapes ${shapes.map(fmtShape).join(' and ')} do not broadcast`);
    }
  }
  return out;
}

/** View of `l` broadcast to `shape` (stride 0 on new or size-1 dims). */
export function expandLayout(op: string, l: Layout, shape: readonly number[]): Layout {
  const nd = shape.length;
  if (l.shape.length > nd) throw new ShapeError(`${op}: cannot expand ${fmtShape(l.shape)} to ${fmtShape(shape)}`);
  const strides = new Array<number>(nd);
  for (let j = 0; j < nd; j++) {
    const i = j - (nd - l.shape.length);
    if (i < 0) {
      strides[j] = 0;
    } else if (l.shape[i] === shape[j]) {
      strides[j] = l.strides[i];
    } else if (l.shape[i] === 1) {
      strides[j] = 0;
    } else {
      throw new ShapeError(`${op}: cannot expand ${fmtShape(l.shape)} to ${fmtShape(shape)}`);
    }
  }
  return { shape: [...shape], strides, offset: l.offset };
}

export function permuteLayout(op: string, l: Layout, perm: readonly number[]): Layout {
  const nd = l.shape.length;
  const axes = perm.map((p) => normAxis(op, p, nd));
  if (axes.length !== nd || new Set(axes).size !== nd) {
    throw new ShapeError(`${op}: [${perm.join(', ')}] is not a permutation of ${nd} axes (shape ${fmtShape(l.shape)})`);
  }
  return { shape: axes.map((a) => l.shape[a]), strides: axes.map((a) => l.strides[a]), offset: l.offset };
}

/**
 * Reshape without copying when the layout allows it (the usual stride-merging rule: each group of old dims
 * that makes one new dim must be contiguous among itself). Returns null when a copy is needed.
 */
export function reshapeLayout(l: Layout, shape: readonly number[]): Layout | null {
  if (isContiguous(l) || sizeOf(shape) === 0) {
    return { shape: [...shape], strides: contiguousStrides(shape), offset: l.offset };
  }
  const oldShape = l.shape.filter((d) => d !== 1);
  const oldStrides = l.strides.filter((_, i) => l.shape[i] !== 1);
  const strides = new Array<number>(shape.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (ni < shape.length) {
    if (shape[ni] === 1) {
      strides[ni] = 1;
      ni++;
      continue;
    }
    // take old dims until their product equals the product of new dims in the group
    let oldProd = oldShape[oi];
    const groupStart = oi;
    let newProd = shape[ni];
    const newStart = ni;
    while (oldProd !== newProd) {
      if (oldProd < newProd) oldProd *= oldShape[++oi];
      else newProd *= shape[++ni];
    }
    for (let k = groupStart; k < oi; k++) {
      if (oldStrides[k] !== oldStrides[k + 1] * oldShape[k + 1]) return null;
    }
    let s = oldStrides[oi];
    for (let k = ni; k >= newStart; k--) {
      strides[k] = s;
      s *= shape[k];
    }
    oi++;
    ni++;
  }
  return { shape: [...shape], strides, offset: l.offset };
}

/** Resolve one `-1` in a requested shape against a known size. */
export function inferShape(op: string, size: number, shape: readonly number[]): number[] {
  const out = [...shape];
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const rest = sizeOf(out.filter((_, i) => i !== neg));
    if (rest === 0 || size % rest !== 0) throw new ShapeError(`${op}: cannot infer -1 in ${fmtShape(shape)} for ${size} elements`);
    out[neg] = size / rest;
  }
  if (out.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(out) !== size) {
    throw new ShapeError(`${op}: cannot view ${size} elements as ${fmtShape(shape)}`);
  }
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
