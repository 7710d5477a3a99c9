/**
 * The skinny product: one side of the output at most 16 wide (LoRA's rank-r products: the weight gradients
 * hᵀ·g and xᵀ·g_h, 8 × 768 outputs summed over 4,096 tokens, and x·Aᵀ, g·B, 4,096 × 8 over k = 768).
 * The tiled kernel gives such a product a few workgroups of 128 wide outputs (32 for 4,096 rows; 6 for
 * 768), each walking k serially, and split-k needs a second dispatch to sum its partial products. Here a
 * workgroup owns `wide` outputs of the wide side (all r of the narrow side each) and `lanes` invocations
 * per output share k: every lanes-th k each, r sums in registers, then the lanes' partial sums combined
 * in workgroup memory, in lane order. One dispatch, no partial products in memory, and ⌈wide side / wide⌉
 * workgroups of up to 1,024 invocations: enough to fill a big GPU.
 *
 * Invocations along x are the contiguous direction of the wide operand, so its loads coalesce: its wide
 * index where it is stored along the wide side (xᵀ·g: rows of x), its k lane where it is stored along k
 * (x·Aᵀ). The narrow operand's r values at one k are read alike by the invocations of that k lane.
 *
 * Parameters: the tiled kernel's (shaders-matmul.ts), of which it reads [m, n, k, a row stride, a col
 * stride, b row stride, b col stride, a offset, b offset, -, -, scale]; batch must be 1.
 */
import type { Kernel } from './pipelines.ts';
import { paramsBlock } from './wgsl.ts';
import { MATMUL_FIXED_PARAMS } from './shaders-matmul.ts';

/** The most a narrow side may be (the final sums take one k lane per output, and lanes ≥ 16). */
export const LONG_K_MAX_NARROW = 16;

export interface LongKVariant {
  /** which side of the output is narrow: 'n' (A is the wide operand, m × k) or 'm' (B is, k × n) */
  narrow: 'm' | 'n';
  /** the narrow side's width, 1…16 (a compile-time loop bound, so the sums stay in registers) */
  r: number;
  /** the wide operand is stored along k (k stride 1): invocations along x are k lanes */
  kAlongX: boolean;
  /** wide outputs per workgroup, and invocations per output sharing k (wide · lanes invocations) */
  wide: number;
  lanes: number;
  /** multiply by the scale parameter as the outputs are stored (LoRA's x·Aᵀ·s) */
  scaled: boolean;
}

/** Workgroup memory the variant needs: one partial sum per lane and output. */
export const longKBytes = (v: Pick<LongKVariant, 'r' | 'wide' | 'lanes'>): number => 4 * v.r * v.wide * v.lanes;

export const longKLabel = (v: LongKVariant): string =>
  `matmul skinny ${v.wide}x${v.lanes} ${v.kAlongX ? 'k' : 'wide'} along x, narrow ${v.narrow} = ${v.r}${v.scaled ? ' ·scale' : ''}`;

export function matmulLongKKernel(v: LongKVariant): Kernel {
  if (!Number.isInteger(v.r) || v.r < 1 || v.r > LONG_K_MAX_NARROW) throw new Error(`matmul long-k: narrow width ${v.r} outside 1…${LONG_K_MAX_NARROW}`);
  if (v.lanes < v.r) throw new Error(`matmul long-k: ${v.lanes} lanes cannot sum ${v.r} outputs`);
  // wide operand: element (w, q) at wideBase + w·wideStride + q·wideK; narrow operand: (j, q) likewise
  const [wide, narrow] = v.narrow === 'n'
    ? [{ name: 'A', base: 'p(8u)', stride: 'p(4u)', kStride: 'p(5u)', size: 'p(1u)' }, { name: 'B', base: 'p(9u)', stride: 'p(7u)', kStride: 'p(6u)' }]
    : [{ name: 'B', base: 'p(9u)', stride: 'p(7u)', kStride: 'p(6u)', size: 'p(2u)' }, { name: 'A', base: 'p(8u)', stride: 'p(4u)', kStride: 'p(5u)' }];
  const out = v.narrow === 'n' ? 'w * n + j' : 'j * n + w';
  const [wl, kl] = v.kAlongX ? ['lid.y', 'lid.x'] : ['lid.x', 'lid.y'];
  const size = v.kAlongX ? `${v.lanes}, ${v.wide}` : `${v.wide}, ${v.lanes}`;
  const source = `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${paramsBlock(3, MATMUL_FIXED_PARAMS)}
var<workgroup> partial: array<f32, ${v.lanes * v.r * v.wide}>;
@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n = p(2u); let k = p(3u);
  let wideSize = ${wide.size};
  let wl = ${wl}; let kl = ${kl};
  let w = wid.x * ${v.wide}u + wl;
  var acc: array<f32, ${v.r}>;
  if (w < wideSize) {
    let wideStride = ${wide.stride}; let wideK = ${wide.kStride};
    let narrowStride = ${narrow.stride}; let narrowK = ${narrow.kStride};
    var pw = ${wide.base} + w * wideStride + kl * wideK;
    var pn = ${narrow.base} + kl * narrowK;
    for (var q = kl; q < k; q += ${v.lanes}u) {
      let x = ${wide.name}[pw];
      for (var j = 0u; j < ${v.r}u; j++) { acc[j] += x * ${narrow.name}[pn + j * narrowStride]; }
      pw += ${v.lanes}u * wideK;
      pn += ${v.lanes}u * narrowK;
    }
  }
  for (var j = 0u; j < ${v.r}u; j++) { partial[(kl * ${v.r}u + j) * ${v.wide}u + wl] = acc[j]; }
  workgroupBarrier();
  // the invocation of k lane j sums output j of its wide index over the lanes, in lane order
  let j = kl;
  if (j < ${v.r}u && w < wideSize) {
    var s = 0.0;
    for (var lane = 0u; lane < ${v.lanes}u; lane++) { s += partial[(lane * ${v.r}u + j) * ${v.wide}u + wl]; }
    Y[${out}] = s${v.scaled ? ' * bitcast<f32>(p(11u))' : ''};
  }
}`;
  return { label: longKLabel(v), source, bindings: ['read', 'read', 'write', 'uniform'] };
}

/** Launch grid for a wide side of `wideSize` outputs. */
export const longKGrid = (v: LongKVariant, wideSize: number): [number, number, number] => [Math.ceil(wideSize / v.wide), 1, 1];
