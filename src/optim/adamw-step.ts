/**
 * One AdamW update of one parameter, declared once as pointwise ops (the definition) and run as the
 * backend's fused kernel where it has one (`Backend.adamw`: one pass instead of about ten, no temporaries).
 * The tests hold every fused kernel to the composite.
 */
import type { AdamWStep, Storage } from '../backends/backend.ts';
import { add, div, mul, sqrt, sub } from '../ops/elementwise.ts';
import { wrap } from '../ops/util.ts';
import { isContiguous } from '../core/layout.ts';
import { tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';

export interface AdamWTensors {
  p: Tensor;
  m: Tensor;
  v: Tensor;
}

/** The update as pointwise ops, in Backend.adamw's documented order. New tensors; inputs unchanged. */
export function adamwComposite(p: Tensor, g: Tensor, mo: { m: Tensor; v: Tensor }, mask: Tensor | null, h: AdamWStep): AdamWTensors {
  return tidy(() => {
    const decayed = h.weightDecay ? mul(p, 1 - h.lr * h.weightDecay) : p;
    let m = add(mul(mo.m, h.beta1), mul(g, 1 - h.beta1));
    let v = add(mul(mo.v, h.beta2), mul(mul(g, g), 1 - h.beta2));
    const denom = add(div(sqrt(v), h.bc2Sqrt), h.eps);
    let next = sub(decayed, mul(div(m, denom), h.lr / h.bc1));
    if (mask) [next, m, v] = [mul(next, mask), mul(m, mask), mul(v, mask)];
    return { p: next, m, v };
  });
}

/** The update on the backend's fused kernel when it has one and the operands fit it, else the composite. */
export function adamwStep(p: Tensor, g: Tensor, mo: { m: Tensor; v: Tensor }, mask: Tensor | null, h: AdamWStep): AdamWTensors {
  const b = p.backend;
  const operands = [p, g, mo.m, mo.v, ...(mask ? [mask] : [])];
  const fits = operands.every((t) => t.dtype === p.dtype && t.shape.join() === p.shape.join() && isContiguous(t.layout));
  const r = fits ? b.adamw?.(p.view('adamw'), g.view('adamw'), mo.m.view('adamw'), mo.v.view('adamw'), mask?.view('adamw') ?? null, h) : null;
  if (!r) return adamwComposite(p, g, mo, mask, h);
  return { p: wrap(b, r.p, p.shape), m: wrap(b, r.m, p.shape), v: wrap(b, r.v, p.shape) };
}

/**
 * Every update in a few multi-tensor dispatches (Backend.adamwAll) where the backend has them and every
 * item fits (as adamwStep's); null otherwise, and the caller steps parameter by parameter.
 */
export function adamwAllStep(
  items: readonly { p: Tensor; g: Tensor; mo: { m: Tensor; v: Tensor }; mask: Tensor | null; weightDecay: number }[],
  h: AdamWStep,
): AdamWTensors[] | null {
  const b = items[0]?.p.backend;
  if (!b?.adamwAll || items.some((it) => it.p.backend !== b)) return null;
  const fits = items.every((it) =>
    [it.g, it.mo.m, it.mo.v, ...(it.mask ? [it.mask] : [])].every((t) => t.dtype === it.p.dtype && t.shape.join() === it.p.shape.join() && isContiguous(t.layout)) && isContiguous(it.p.layout));
  if (!fits) return null;
  // in place where no view shares the storages and no item repeats a tensor (a buffer written twice in one dispatch is invalid)
  const count = new Map<Tensor, number>();
  for (const it of items) for (const t of [it.p, it.mo.m, it.mo.v]) count.set(t, (count.get(t) ?? 0) + 1);
  const sole = (t: Tensor) => t.ownsStorage && count.get(t) === 1;
  const r = b.adamwAll(items.map((it) => ({
    p: it.p.view('adamw'), g: it.g.view('adamw'), m: it.mo.m.view('adamw'), v: it.mo.v.view('adamw'), mask: it.mask?.view('adamw') ?? null, weightDecay: it.weightDecay,
    inPlace: sole(it.p) && sole(it.mo.m) && sole(it.mo.v),
  })), h);
  if (!r) return null;
  // a storage given back as it came was updated in place: its tensor stays (assignFrom of itself does nothing)
  const keep = (t: Tensor, s: Storage) => (s === t.view('adamw').storage ? t : wrap(b, s, t.shape));
  return r.map((x, i) => ({ p: keep(items[i].p, x.p), m: keep(items[i].mo.m, x.m), v: keep(items[i].mo.v, x.v) }));
}
