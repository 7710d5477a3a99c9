/**
 * One-output-per-thread kernels that loop: reductions, gather and scatter-add. Fragment shaders cannot
 * scatter, so scatter-add is written as its gather form: each output element loops over the index entries
 * that could land on it and sums the sources whose index matches.
 *
 * Sums accumulate in float32 (the CPU uses float64) in blocks of 64 terms: the running total then takes
 * n/64 roundings of block-sized partial sums instead of n roundings of a growing one.
 */
import { sizeOf, type Layout } from '../../core/layout.ts';
import type { ReduceOp } from '../backend.ts';
import type { GlDevice, GlTexture } from './device.ts';
import { bucket, coalesce, launchDims, padTo } from './dims.ts';
import type { Operand } from './elementwise.ts';
import { names, u, walk } from './glsl.ts';

/** Sizes above which scatter-add's gather form (outputs × index length) is left to the CPU. */
export const SCATTER_WORK_LIMIT = 2 ** 26;

const ACCUMULATE: Record<ReduceOp, string> = {
  sum: 'part += v;\n    if (g - (g / 64) * 64 == 63) { acc += part; part = 0.0; }',
  // CPU semantics: NaN wins at once; otherwise GLSL's max/min (NaN is excluded here, where they are undefined)
  max: 'if (v != v) return v;\n    acc = max(acc, v);',
  min: 'if (v != v) return v;\n    acc = min(acc, v);',
};

/** Reduce x over `axes`; `init` is the empty reduction's value (0, -inf, inf). */
export function reduce(dev: GlDevice, op: ReduceOp, x: Operand, axes: readonly number[], init: number): GlTexture {
  const l = x.layout;
  const keptAxes = l.shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const part = (ds: readonly number[]) => {
    const shape = ds.map((d) => l.shape[d]);
    const c = coalesce(shape, [{ shape, strides: ds.map((d) => l.strides[d]), offset: 0 }]);
    return padTo(c, bucket(c.shape.length));
  };
  const kept = part(keptAxes), red = part(axes);
  const kr = kept.shape.length, rr = red.shape.length;
  const k = dev.kernel(`reduce:${op}:${kr}:${rr}`, () => ({
    textures: ['x'],
    ints: [...names('n', kr), ...names('s', kr), ...names('m', rr), ...names('r', rr), 'ox', 'G'],
    floats: ['init'],
    glsl: `float main_() {
  int base = ${u('ox')};
  ${walk(kr, 'threadId.x', 'n', [{ offset: 'base', strides: 's' }])}
  float acc = ${u('init')};
  float part = 0.0;
  for (int g = 0; g < LOOP_MAX; g++) {
    if (g >= ${u('G')}) break;
    int p = base;
    ${walk(rr, 'g', 'm', [{ offset: 'p', strides: 'r' }], 'r')}
    float v = ld(${u('x')}, ${u('xSize')}, p);
    ${ACCUMULATE[op]}
  }
  return ${op === 'sum' ? 'acc + part' : 'acc'};
}`,
  }));
  const ints = [...kept.shape, ...kept.strides[0], ...red.shape, ...red.strides[0], l.offset, sizeOf(red.shape)];
  return k.run(sizeOf(kept.shape), [x.tex], ints, [init]);
}

/** out[i] = x[i with dim `axis` replaced by index[i]]; out has index's shape. */
export function gather(dev: GlDevice, x: Operand, axis: number, index: Operand): GlTexture {
  const shape = index.layout.shape;
  const base: Layout = { shape, strides: x.layout.strides.map((s, d) => (d === axis ? 0 : s)), offset: x.layout.offset };
  const d = launchDims(shape, [base, index.layout]);
  const rank = d.shape.length;
  const k = dev.kernel(`gather:${rank}`, () => ({
    textures: ['x', 'i'],
    ints: [...names('n', rank), ...names('sx', rank), ...names('si', rank), 'ox', 'oi', 'step'],
    glsl: `float main_() {
  int px = ${u('ox')};
  int pi = ${u('oi')};
  ${walk(rank, 'threadId.x', 'n', [{ offset: 'px', strides: 'sx' }, { offset: 'pi', strides: 'si' }])}
  int j = int(ld(${u('i')}, ${u('iSize')}, pi));
  return ld(${u('x')}, ${u('xSize')}, px + j * ${u('step')});
}`,
  }));
  const ints = [...d.shape, ...d.strides[0], ...d.strides[1], base.offset, index.layout.offset, x.layout.strides[axis]];
  return k.run(sizeOf(shape), [x.tex, index.tex], ints);
}

/**
 * Zeros of `shape`, then out[i with axis ← index[i]] += src[i]. Output element c sums src over the index
 * entries that agree with c off the axis (c_d < index.shape[d] there) and whose index equals c_axis, in
 * increasing order along the axis, as the CPU's loop adds them.
 */
export function scatterAdd(dev: GlDevice, shape: readonly number[], axis: number, index: Operand, src: Operand): GlTexture {
  const nd = shape.length;
  const rank = bucket(nd);
  const pad = rank - nd;
  const lead = <T>(fillWith: T, xs: readonly T[]): T[] => [...Array<T>(pad).fill(fillWith), ...xs];
  const k = dev.kernel(`scatterAdd:${rank}`, () => {
    const steps: string[] = [];
    for (let d = rank - 1; d >= 0; d--) {
      const split = d > 0 ? `c_ = q_ - (q_ / ${u(`n${d}`)}) * ${u(`n${d}`)}; q_ = q_ / ${u(`n${d}`)};` : 'c_ = q_;';
      steps.push(`${split}
  if (${d} == ${u('ax')}) { cax = c_; } else { ok = ok && c_ < ${u(`m${d}`)}; pi += c_ * ${u(`si${d}`)}; ps += c_ * ${u(`ss${d}`)}; }`);
    }
    return {
      textures: ['i', 's'],
      ints: [...names('n', rank), ...names('m', rank), ...names('si', rank), ...names('ss', rank), 'ax', 'oi', 'os', 'J', 'ia', 'sa'],
      glsl: `float main_() {
  int q_ = threadId.x;
  int c_;
  int cax = 0;
  bool ok = true;
  int pi = ${u('oi')};
  int ps = ${u('os')};
  ${steps.join('\n  ')}
  if (!ok) return 0.0;
  float acc = 0.0;
  for (int j = 0; j < LOOP_MAX; j++) {
    if (j >= ${u('J')}) break;
    if (int(ld(${u('i')}, ${u('iSize')}, pi + j * ${u('ia')})) == cax) acc += ld(${u('s')}, ${u('sSize')}, ps + j * ${u('sa')});
  }
  return acc;
}`,
    };
  });
  const il = index.layout, sl = src.layout;
  const ints = [
    ...lead(1, shape), ...lead(1, il.shape), ...lead(0, il.strides), ...lead(0, sl.strides),
    axis + pad, il.offset, sl.offset, il.shape[axis], il.strides[axis], sl.strides[axis],
  ];
  return k.run(sizeOf(shape), [index.tex, src.tex], ints);
}
