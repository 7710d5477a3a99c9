/**
 * Element-per-thread kernels: pointwise ops over strided and broadcast operands, and `assign` into a strided
 * view. One program per (op, arity, rank bucket); shapes, strides and offsets are uniforms.
 */
import { sizeOf, type Layout } from '../../core/layout.ts';
import type { GlDevice, GlTexture } from './device.ts';
import { bucket, coalesce, launchDims } from './dims.ts';
import { names, u, walk } from './glsl.ts';

export interface Operand {
  readonly tex: GlTexture;
  readonly layout: Layout;
}

const IDS = ['a', 'b', 'c'];

/** out[i] = expr(a[i], b[i], c[i]) over `shape` (every operand's layout already broadcast to it). */
export function pointwise(dev: GlDevice, op: string, expr: string, xs: readonly Operand[], shape: readonly number[]): GlTexture {
  const d = launchDims(shape, xs.map((x) => x.layout));
  const rank = d.shape.length;
  const ids = IDS.slice(0, xs.length);
  const k = dev.kernel(`pw:${op}:${xs.length}:${rank}`, () => ({
    textures: ids,
    ints: [...names('n', rank), ...ids.flatMap((id) => [...names(`s${id}`, rank), `o${id}`])],
    glsl: `float main_() {
  ${ids.map((id) => `int p${id} = ${u(`o${id}`)};`).join(' ')}
  ${walk(rank, 'threadId.x', 'n', ids.map((id) => ({ offset: `p${id}`, strides: `s${id}` })))}
  ${ids.map((id) => `float ${id} = ld(${u(id)}, ${u(`${id}Size`)}, p${id});`).join('\n  ')}
  return ${expr};
}`,
  }));
  const ints = [...d.shape, ...xs.flatMap((x, i) => [...d.strides[i], x.layout.offset])];
  return k.run(sizeOf(shape), xs.map((x) => x.tex), ints);
}

/**
 * A new texture for the whole destination storage (`length` elements, current values in `old`) with the
 * view `dst` replaced by `src` (broadcast to dst's shape). Each output element finds its coordinates in
 * the view by dividing its offset by the view's strides, largest first; that inverse exists when every
 * stride exceeds the span of the smaller ones (slices and permutations of a contiguous tensor, the views
 * concat and slice-backward write). Returns null for other views, which the caller runs on the CPU.
 */
export function assignView(dev: GlDevice, old: GlTexture, length: number, dst: Layout, src: Operand): GlTexture | null {
  const c = coalesce(dst.shape, [dst, src.layout]);
  const order = c.shape.map((_, i) => i).sort((i, j) => c.strides[0][j] - c.strides[0][i]);
  const shape = order.map((i) => c.shape[i]);
  const dstStrides = order.map((i) => c.strides[0][i]);
  const srcStrides = order.map((i) => c.strides[1][i]);
  let span = 0;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (!(dstStrides[i] > span)) return null;
    span += dstStrides[i] * (shape[i] - 1);
  }
  // padding goes last (innermost) as size-1 dims of stride 1: the remainder must be 0 there anyway
  const rank = bucket(shape.length);
  const pad = rank - shape.length;
  const ints = [
    ...shape, ...Array<number>(pad).fill(1),
    ...dstStrides, ...Array<number>(pad).fill(1),
    ...srcStrides, ...Array<number>(pad).fill(0),
    dst.offset, src.layout.offset,
  ];
  const k = dev.kernel(`assign:${rank}`, () => {
    const steps = Array.from({ length: rank }, (_, i) =>
      `c_ = rem / ${u(`t${i}`)}; inside = inside && c_ < ${u(`n${i}`)}; rem -= c_ * ${u(`t${i}`)}; ps += c_ * ${u(`s${i}`)};`,
    );
    return {
      textures: ['old', 'src'],
      ints: [...names('n', rank), ...names('t', rank), ...names('s', rank), 'od', 'os'],
      glsl: `float main_() {
  int rem = threadId.x - ${u('od')};
  if (rem < 0) return ld(${u('old')}, ${u('oldSize')}, threadId.x);
  int ps = ${u('os')};
  bool inside = true;
  int c_;
  ${steps.join('\n  ')}
  if (inside && rem == 0) return ld(${u('src')}, ${u('srcSize')}, ps);
  return ld(${u('old')}, ${u('oldSize')}, threadId.x);
}`,
    };
  });
  return k.run(length, [old, src.tex], ints);
}
