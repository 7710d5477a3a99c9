/**
 * Batched matmul shaders over arbitrary strides (a transposed operand is just other strides, never a copy).
 *
 * The tiled kernel stages BK-deep slices of a BM×BN output tile's operands in workgroup memory and gives
 * every invocation a TM×TN block of outputs held in registers, so each loaded value is reused TM (or TN)
 * times: the standard shape of a fast GPU GEMM. How a slice is loaded follows the operand's layout, so that
 * neighbouring invocations read neighbouring addresses (coalesced) for row- and column-major operands alike:
 * `x·Wᵀ` reads both x and W along k. With `splitK`, the z index of the grid picks a range of k and the
 * kernel writes partial products [splits, m, n] for a reduction to sum (long-k, small-output products such
 * as LoRA's weight gradients, which would otherwise run k/BK serial slices on a handful of workgroups).
 * The simple kernel (one invocation per output, the whole dot product from global memory) serves small
 * products. Both accumulate in float32, in order of k, and may apply an epilogue: out = scale·acc + bias[col]
 * + addend[index] (an existing contiguous tensor of the output's shape: a gradient accumulated into, without
 * a dispatch of its own). With `plus`, acc sums a second product A2·B2 of the same m × n over its own k2
 * after the first (LoRA: x·Wᵀ + h·Bᵀ, and g·W + g_h·A for the input gradient, each one dispatch).
 *
 * Parameters, shared by all: [outputs, m, n, k, a row stride, a col stride, b row stride, b col stride,
 * a offset, b offset, batch count, scale (f32 bits), bias stride, bias offset, k per split, addend offset,
 * k2, a2 row stride, a2 col stride, b2 row stride, b2 col stride, a2 offset, b2 offset, batch shape[rb],
 * a batch strides[rb], b batch strides[rb], a2 batch strides[rb], b2 batch strides[rb]].
 */
import type { Kernel } from './pipelines.ts';
import { FLAT_WORKGROUP } from './shaders-elementwise.ts';
import { flatEntry, paramsBlock, stridedOffsets } from './wgsl.ts';

export const MATMUL_FIXED_PARAMS = 23;
const paramCount = (batchRank: number): number => MATMUL_FIXED_PARAMS + 5 * batchRank;

export interface MatmulEpilogue {
  /** multiply the product by p(11) as f32 */
  scale: boolean;
  /** add BIAS[p(13) + col·p(12)] */
  bias: boolean;
  /** add ADDEND[p(15) + output index] */
  addend: boolean;
  /** add the product A2·B2 (parameters 16–22) to the accumulator */
  plus: boolean;
}

/** Storage bindings in order: A, B, A2 and B2, BIAS, ADDEND where used, then Y. */
function inputs(e: MatmulEpilogue, vec4: readonly boolean[]): [string, boolean][] {
  const names = ['A', 'B', ...(e.plus ? ['A2', 'B2'] : []), ...(e.bias ? ['BIAS'] : []), ...(e.addend ? ['ADDEND'] : [])];
  return names.map((name, i) => [name, vec4[i] ?? false]);
}

function header(e: MatmulEpilogue, vec4: readonly boolean[] = []): string {
  const ins = inputs(e, vec4);
  return `${ins.map(([name, v4], i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<${v4 ? 'vec4f' : 'f32'}>;\n`).join('')}@group(0) @binding(${ins.length}) var<storage, read_write> Y: array<f32>;`;
}

function bindings(e: MatmulEpilogue): Kernel['bindings'] {
  return [...inputs(e, []).map(() => 'read' as const), 'write', 'uniform'];
}

const uniformBinding = (e: MatmulEpilogue): number => inputs(e, []).length + 1;

/** The value stored for accumulator `acc` at output `index`, in column `col`. */
function epilogue(e: MatmulEpilogue, acc: string, col: string, index: string): string {
  let v = acc;
  if (e.scale) v = `${v} * bitcast<f32>(p(11u))`;
  if (e.bias) v = `${v} + BIAS[p(13u) + ${col} * p(12u)]`;
  if (e.addend) v = `${v} + ADDEND[p(15u) + ${index}]`;
  return v;
}

function batchOffsets(batchRank: number, index: string, plus: boolean): string {
  const shapeAt = MATMUL_FIXED_PARAMS;
  return stridedOffsets(batchRank, shapeAt, [
    { name: 'oa', stridesAt: shapeAt + batchRank, offsetAt: 8 },
    { name: 'ob', stridesAt: shapeAt + 2 * batchRank, offsetAt: 9 },
    ...(plus ? [{ name: 'oa2', stridesAt: shapeAt + 3 * batchRank, offsetAt: 21 }, { name: 'ob2', stridesAt: shapeAt + 4 * batchRank, offsetAt: 22 }] : []),
  ], index);
}

export function matmulSimpleKernel(batchRank: number, e: MatmulEpilogue): Kernel {
  const body = `  let m = p(1u); let n = p(2u); let k = p(3u);
  let col = i % n;
  let t = i / n;
  let rowIdx = t % m;
  let batch = t / m;
${batchOffsets(batchRank, 'batch', e.plus)}
  var acc = 0.0;
  {
    var pa = oa + rowIdx * p(4u);
    var pb = ob + col * p(7u);
    let sa = p(5u); let sb = p(6u);
    for (var q = 0u; q < k; q++) {
      acc = acc + A[pa] * B[pb];
      pa += sa;
      pb += sb;
    }
  }${e.plus ? `
  {
    var pa = oa2 + rowIdx * p(17u);
    var pb = ob2 + col * p(20u);
    let sa = p(18u); let sb = p(19u);
    for (var q = 0u; q < p(16u); q++) {
      acc = acc + A2[pa] * B2[pb];
      pa += sa;
      pb += sb;
    }
  }` : ''}
  Y[i] = ${epilogue(e, 'acc', 'col', 'i')};`;
  const source = `${header(e)}
${paramsBlock(uniformBinding(e), paramCount(batchRank))}
${flatEntry(FLAT_WORKGROUP, body)}`;
  return { label: 'matmul simple', source, bindings: bindings(e) };
}

export interface MatmulTiling {
  /** invocations per workgroup along n (x) and m (y) */
  wx: number;
  wy: number;
  /** outputs per invocation along m and n */
  tm: number;
  tn: number;
  /** depth of one staged slice of k */
  bk: number;
}

export const tileM = (t: MatmulTiling): number => t.wy * t.tm;
export const tileN = (t: MatmulTiling): number => t.wx * t.tn;

export interface TiledVariant {
  tiling: MatmulTiling;
  /** A's elements are adjacent along k (row-major A): load k fastest */
  aAlongK: boolean;
  /** B's elements are adjacent along k (column-major B, e.g. Wᵀ): load k fastest */
  bAlongK: boolean;
  /** grid z is the split of k, the output [splits, m, n] partial products (batch must be 1) */
  splitK: boolean;
  /**
   * load four adjacent k at once (the operand is read as vec4s): along k with k, the row stride and the
   * offset multiples of 4 (the host checks)
   */
  aVec4: boolean;
  bVec4: boolean;
  epilogue: MatmulEpilogue;
  /** how A2 and B2 load, where the epilogue has `plus` */
  plus: OperandLoads | null;
}

/** How a pair of operands loads its slices (TiledVariant's flags, for the second product). */
export interface OperandLoads {
  aAlongK: boolean;
  bAlongK: boolean;
  aVec4: boolean;
  bVec4: boolean;
}

export function tiledLabel(v: TiledVariant): string {
  const t = v.tiling;
  const order = `${v.aAlongK ? 'k' : 'm'}${v.bAlongK ? 'k' : 'n'}`;
  const vec = v.aVec4 || v.bVec4 ? ` vec4 ${v.aVec4 ? 'a' : ''}${v.bVec4 ? 'b' : ''}` : '';
  const p = v.plus;
  const plus = p ? ` + ${p.aAlongK ? 'k' : 'm'}${p.bAlongK ? 'k' : 'n'}${p.aVec4 || p.bVec4 ? ` vec4 ${p.aVec4 ? 'a' : ''}${p.bVec4 ? 'b' : ''}` : ''}` : '';
  return `matmul tiled ${tileM(t)}x${tileN(t)}x${t.bk} ${order}${vec}${plus}${v.splitK ? ' split-k' : ''}${v.epilogue.bias ? ' +bias' : ''}${v.epilogue.scale ? ' ·scale' : ''}${v.epilogue.addend ? ' +addend' : ''}`;
}

/**
 * Load one operand's BK-deep slice into workgroup memory `dst` laid out [bk][rows(+pad)]. Along k: element
 * e of the slice is (row e / bk, k e % bk), so consecutive invocations read consecutive k; else
 * (row e % rows, k e / rows). The padding of the k-fastest layout spreads its strided stores over banks.
 */
function loadSlice(name: string, dst: string, rows: number, pitch: number, bk: number, threads: number, alongK: boolean, rowBase: string, rowLimit: string, rowStride: string, kStride: string, base: string, vec4 = false): string {
  if (vec4) {
    // (row, 4 adjacent k) per invocation: k is a multiple of 4, so a vec4 is all in or all out of range
    const q4 = bk / 4;
    return `    for (var q = 0u; q < ${(q4 * rows) / threads}u; q++) {
      let e = tid + q * ${threads}u;
      let lr = e / ${q4}u;
      let lk = (e % ${q4}u) * 4u;
      let gr = ${rowBase} + lr;
      let gk = k0 + lk;
      var v = vec4f(0.0);
      if (gr < ${rowLimit} && gk < kEnd) { v = ${name}[(${base} + gr * ${rowStride} + gk) / 4u]; }
      ${dst}[lk * ${pitch}u + lr] = v.x;
      ${dst}[(lk + 1u) * ${pitch}u + lr] = v.y;
      ${dst}[(lk + 2u) * ${pitch}u + lr] = v.z;
      ${dst}[(lk + 3u) * ${pitch}u + lr] = v.w;
    }`;
  }
  const [r, kk] = alongK ? [`e / ${bk}u`, `e % ${bk}u`] : [`e % ${rows}u`, `e / ${rows}u`];
  return `    for (var q = 0u; q < ${(bk * rows) / threads}u; q++) {
      let e = tid + q * ${threads}u;
      let lr = ${r};
      let lk = ${kk};
      let gr = ${rowBase} + lr;
      let gk = k0 + lk;
      var v = 0.0;
      if (gr < ${rowLimit} && gk < kEnd) { v = ${name}[${base} + gr * ${rowStride} + gk * ${kStride}]; }
      ${dst}[lk * ${pitch}u + lr] = v;
    }`;
}

/** Whether a slice of `rows` rows loads as vec4s evenly over the workgroup. */
export function vec4Fits(t: MatmulTiling, rows: number): boolean {
  return t.bk % 4 === 0 && ((t.bk / 4) * rows) % (t.wx * t.wy) === 0;
}

/** Launch grid: (n tiles, m tiles, batch or splits). */
export function matmulTiledKernel(batchRank: number, v: TiledVariant): Kernel {
  const t = v.tiling;
  const bm = tileM(t), bn = tileN(t), threads = t.wx * t.wy;
  const pairs: OperandLoads[] = [v, ...(v.plus ? [v.plus] : [])];
  if ((t.bk * bm) % threads || (t.bk * bn) % threads) throw new Error('matmul tiling: a slice must split evenly over the workgroup');
  if (pairs.some((l) => (l.aVec4 && !vec4Fits(t, bm)) || (l.bVec4 && !vec4Fits(t, bn)))) throw new Error('matmul tiling: vec4 loads must split evenly over the workgroup');
  if (v.plus && v.splitK) throw new Error('matmul tiling: a second product cannot split k');
  const pitchA = (l: OperandLoads) => bm + (l.aAlongK ? 1 : 0), pitchB = (l: OperandLoads) => bn + (l.bAlongK ? 1 : 0);
  /** The k loop of one product: slices of A (rows of the tile) and B (its columns), multiplied into acc. */
  const kLoop = (l: OperandLoads, a: string, b: string, strides: [string, string, string, string], oa: string, ob: string, kBegin: string, kEnd: string) => {
    const pa = pitchA(l), pb = pitchB(l);
    return `  {
  let sar = ${strides[0]}; let sac = ${strides[1]}; let sbr = ${strides[2]}; let sbc = ${strides[3]};
  let kEnd = ${kEnd};
  for (var k0 = ${kBegin}; k0 < kEnd; k0 += ${t.bk}u) {
${loadSlice(a, 'As', bm, pa, t.bk, threads, l.aAlongK, 'row0', 'm', 'sar', 'sac', oa, l.aVec4)}
${loadSlice(b, 'Bs', bn, pb, t.bk, threads, l.bAlongK, 'col0', 'n', 'sbc', 'sbr', ob, l.bVec4)}
    workgroupBarrier();
    for (var kk = 0u; kk < ${t.bk}u; kk++) {
      var af: array<f32, ${t.tm}>;
      var bf: array<f32, ${t.tn}>;
      for (var r = 0u; r < ${t.tm}u; r++) { af[r] = As[kk * ${pa}u + lid.y + r * ${t.wy}u]; }
      for (var c = 0u; c < ${t.tn}u; c++) { bf[c] = Bs[kk * ${pb}u + lid.x + c * ${t.wx}u]; }
      for (var r = 0u; r < ${t.tm}u; r++) {
        for (var c = 0u; c < ${t.tn}u; c++) { acc[r * ${t.tn}u + c] += af[r] * bf[c]; }
      }
    }
    workgroupBarrier();
  }
  }`;
  };
  const body = `  let m = p(1u); let n = p(2u); let k = p(3u);
  ${v.splitK ? `let batch = 0u;
  let kBegin = wid.z * p(14u);
  let kStop = min(k, kBegin + p(14u));
  let outBase = wid.z * m * n;` : `let batch = wid.z;
  let kBegin = 0u;
  let kStop = k;
  let outBase = batch * m * n;`}
${batchOffsets(batchRank, 'batch', Boolean(v.plus))}
  let row0 = wid.y * ${bm}u;
  let col0 = wid.x * ${bn}u;
  let tid = lid.y * ${t.wx}u + lid.x;
  var acc: array<f32, ${t.tm * t.tn}>;
${kLoop(v, 'A', 'B', ['p(4u)', 'p(5u)', 'p(6u)', 'p(7u)'], 'oa', 'ob', 'kBegin', 'kStop')}
${v.plus ? kLoop(v.plus, 'A2', 'B2', ['p(17u)', 'p(18u)', 'p(19u)', 'p(20u)'], 'oa2', 'ob2', '0u', 'p(16u)') : ''}
  for (var r = 0u; r < ${t.tm}u; r++) {
    let gr = row0 + lid.y + r * ${t.wy}u;
    for (var c = 0u; c < ${t.tn}u; c++) {
      let gc = col0 + lid.x + c * ${t.wx}u;
      let o = outBase + gr * n + gc;
      if (gr < m && gc < n) { Y[o] = ${v.splitK ? `acc[r * ${t.tn}u + c]` : epilogue(v.epilogue, `acc[r * ${t.tn}u + c]`, 'gc', 'o')}; }
    }
  }`;
  // rows of a tile are spread over lid.y with stride wy (and columns over lid.x with stride wx) so that
  // neighbouring invocations touch neighbouring addresses, in workgroup memory and in Y
  const vec4 = [v.aVec4, v.bVec4, ...(v.plus ? [v.plus.aVec4, v.plus.bVec4] : [])];
  const source = `${header(v.epilogue, vec4)}
${paramsBlock(uniformBinding(v.epilogue), paramCount(batchRank))}
var<workgroup> As: array<f32, ${t.bk * Math.max(...pairs.map(pitchA))}>;
var<workgroup> Bs: array<f32, ${t.bk * Math.max(...pairs.map(pitchB))}>;
@compute @workgroup_size(${t.wx}, ${t.wy})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
${body}
}`;
  return { label: tiledLabel(v), source, bindings: bindings(v.epilogue) };
}
