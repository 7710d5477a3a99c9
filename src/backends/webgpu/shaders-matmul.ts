/**
 * Batched matmul shaders over arbitrary strides (a transposed operand is just other strides, never a copy).
 *
 * The tiled kernel stages BK-deep slices of a BM×BN output tile's operands in workgroup memory and gives
 * every invocation a TM×TN block of outputs held in registers, so each loaded value is reused TM (or TN)
 * times: the standard shape of a fast GPU GEMM. The simple kernel (one invocation per output, the whole
 * dot product from global memory) serves small or skinny products and devices where the tiled kernel is
 * not wanted. Both accumulate in float32, in order of k.
 *
 * Parameters, shared by both: [outputs, m, n, k, a row stride, a col stride, b row stride, b col stride,
 * a offset, b offset, batch count, batch shape[rb], a batch strides[rb], b batch strides[rb]].
 */
import type { Kernel } from './pipelines.ts';
import { FLAT_WORKGROUP } from './shaders-elementwise.ts';
import { flatEntry, paramsBlock, stridedOffsets } from './wgsl.ts';

export const MATMUL_FIXED_PARAMS = 11;

const HEADER = `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;`;

function batchOffsets(batchRank: number, index: string): string {
  const shapeAt = MATMUL_FIXED_PARAMS;
  return stridedOffsets(batchRank, shapeAt, [
    { name: 'oa', stridesAt: shapeAt + batchRank, offsetAt: 8 },
    { name: 'ob', stridesAt: shapeAt + 2 * batchRank, offsetAt: 9 },
  ], index);
}

export function matmulSimpleKernel(batchRank: number): Kernel {
  const body = `  let m = p(1u); let n = p(2u); let k = p(3u);
  let col = i % n;
  let t = i / n;
  let rowIdx = t % m;
  let batch = t / m;
${batchOffsets(batchRank, 'batch')}
  var pa = oa + rowIdx * p(4u);
  var pb = ob + col * p(7u);
  let sa = p(5u); let sb = p(6u);
  var acc = 0.0;
  for (var q = 0u; q < k; q++) {
    acc = acc + A[pa] * B[pb];
    pa += sa;
    pb += sb;
  }
  Y[i] = acc;`;
  const source = `${HEADER}
${paramsBlock(3, MATMUL_FIXED_PARAMS + 3 * batchRank)}
${flatEntry(FLAT_WORKGROUP, body)}`;
  return { label: 'matmul simple', source, bindings: ['read', 'read', 'write', 'uniform'] };
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

/** Launch grid: (n tiles, m tiles, batch). */
export function matmulTiledKernel(batchRank: number, t: MatmulTiling): Kernel {
  const bm = tileM(t), bn = tileN(t), threads = t.wx * t.wy;
  if ((t.bk * bm) % threads || (t.bk * bn) % threads) throw new Error('matmul tiling: a slice must split evenly over the workgroup');
  const body = `  let m = p(1u); let n = p(2u); let k = p(3u);
  let sar = p(4u); let sac = p(5u); let sbr = p(6u); let sbc = p(7u);
  let batch = wid.z;
${batchOffsets(batchRank, 'batch')}
  let row0 = wid.y * ${bm}u;
  let col0 = wid.x * ${bn}u;
  let tid = lid.y * ${t.wx}u + lid.x;
  var acc: array<f32, ${t.tm * t.tn}>;
  for (var k0 = 0u; k0 < k; k0 += ${t.bk}u) {
    for (var r = 0u; r < ${(t.bk * bm) / threads}u; r++) {
      let e = tid + r * ${threads}u;
      let gr = row0 + e % ${bm}u;
      let gk = k0 + e / ${bm}u;
      var v = 0.0;
      if (gr < m && gk < k) { v = A[oa + gr * sar + gk * sac]; }
      As[e] = v;
    }
    for (var r = 0u; r < ${(t.bk * bn) / threads}u; r++) {
      let e = tid + r * ${threads}u;
      let gc = col0 + e % ${bn}u;
      let gk = k0 + e / ${bn}u;
      var v = 0.0;
      if (gc < n && gk < k) { v = B[ob + gk * sbr + gc * sbc]; }
      Bs[e] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${t.bk}u; kk++) {
      var af: array<f32, ${t.tm}>;
      var bf: array<f32, ${t.tn}>;
      for (var r = 0u; r < ${t.tm}u; r++) { af[r] = As[kk * ${bm}u + lid.y + r * ${t.wy}u]; }
      for (var c = 0u; c < ${t.tn}u; c++) { bf[c] = Bs[kk * ${bn}u + lid.x + c * ${t.wx}u]; }
      for (var r = 0u; r < ${t.tm}u; r++) {
        for (var c = 0u; c < ${t.tn}u; c++) { acc[r * ${t.tn}u + c] += af[r] * bf[c]; }
      }
    }
    workgroupBarrier();
  }
  let outBase = batch * m * n;
  for (var r = 0u; r < ${t.tm}u; r++) {
    let gr = row0 + lid.y + r * ${t.wy}u;
    for (var c = 0u; c < ${t.tn}u; c++) {
      let gc = col0 + lid.x + c * ${t.wx}u;
      if (gr < m && gc < n) { Y[outBase + gr * n + gc] = acc[r * ${t.tn}u + c]; }
    }
  }`;
  // rows of a tile are spread over lid.y with stride wy (and columns over lid.x with stride wx) so that
  // neighbouring invocations touch neighbouring addresses, in workgroup memory and in Y
  const source = `${HEADER}
${paramsBlock(3, MATMUL_FIXED_PARAMS + 3 * batchRank)}
var<workgroup> As: array<f32, ${t.bk * bm}>;
var<workgroup> Bs: array<f32, ${t.bk * bn}>;
@compute @workgroup_size(${t.wx}, ${t.wy})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
${body}
}`;
  return { label: `matmul tiled ${bm}x${bn}x${t.bk}`, source, bindings: ['read', 'read', 'write', 'uniform'] };
}

