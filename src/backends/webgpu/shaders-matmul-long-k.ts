/**
 * The long-k skinny product: one side of the output at most 16 wide (LoRA's rank-r weight gradients,
 * hᵀ·g and xᵀ·g_h: 8 × 768 outputs summed over 4,096 tokens). The tiled kernel would run k / BK serial
 * slices on a handful of workgroups, and split-k needs a second dispatch to sum its partial products; here
 * a workgroup owns 16 columns of the wide side and the whole k: its 16 × 16 invocations take every 16th k
 * each (neighbouring invocations read neighbouring addresses of a row-major wide operand; the narrow
 * operand's r values at a k are read alike by the 16 invocations of that k lane, so they broadcast), keep
 * r sums in registers and combine their 16 partial sums per output in workgroup memory. One dispatch, no
 * partial products in memory.
 *
 * Parameters: the tiled kernel's (shaders-matmul.ts), of which it reads [m, n, k, a row stride, a col
 * stride, b row stride, b col stride, a offset, b offset]; batch must be 1. Grid: (ceil(wide / 16), 1, 1).
 */
import type { Kernel } from './pipelines.ts';
import { paramsBlock } from './wgsl.ts';
import { MATMUL_FIXED_PARAMS } from './shaders-matmul.ts';

const LANES = 16;
/** The most a narrow side may be (at most one k lane per output in the final sum). */
export const LONG_K_MAX_NARROW = LANES;
/** Workgroup memory per unit of the narrow side: 16 k lanes × 16 wide partial sums of f32. */
export const LONG_K_BYTES_PER_NARROW = LANES * LANES * 4;

export interface LongKVariant {
  /** which side of the output is narrow: 'n' (A is the wide operand, m × k) or 'm' (B is, k × n) */
  narrow: 'm' | 'n';
  /**
   * the narrow side's width, 1…16 (a compile-time loop bound, so the sums stay in registers); the kernel
   * takes 256 invocations and r · LONG_K_BYTES_PER_NARROW bytes of workgroup memory
   */
  r: number;
}

export const longKLabel = (v: LongKVariant): string => `matmul long-k ${LANES}x${LANES} narrow ${v.narrow} = ${v.r}`;

export function matmulLongKKernel(v: LongKVariant): Kernel {
  if (!Number.isInteger(v.r) || v.r < 1 || v.r > LONG_K_MAX_NARROW) throw new Error(`matmul long-k: narrow width ${v.r} outside 1…${LONG_K_MAX_NARROW}`);
  // wide operand: element (w, q) at wideBase + w·wideStride + q·wideK; narrow operand: (j, q) likewise
  const [wide, narrow] = v.narrow === 'n'
    ? [{ name: 'A', base: 'p(8u)', stride: 'p(4u)', kStride: 'p(5u)', size: 'p(1u)' }, { name: 'B', base: 'p(9u)', stride: 'p(7u)', kStride: 'p(6u)' }]
    : [{ name: 'B', base: 'p(9u)', stride: 'p(7u)', kStride: 'p(6u)', size: 'p(2u)' }, { name: 'A', base: 'p(8u)', stride: 'p(4u)', kStride: 'p(5u)' }];
  const out = v.narrow === 'n' ? 'w * n + j' : 'j * n + w';
  const source = `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${paramsBlock(3, MATMUL_FIXED_PARAMS)}
var<workgroup> partial: array<f32, ${LANES * v.r * LANES}>;
@compute @workgroup_size(${LANES}, ${LANES})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n = p(2u); let k = p(3u);
  let wideSize = ${wide.size};
  let w = wid.x * ${LANES}u + lid.x;
  var acc: array<f32, ${v.r}>;
  if (w < wideSize) {
    let wideStride = ${wide.stride}; let wideK = ${wide.kStride};
    let narrowStride = ${narrow.stride}; let narrowK = ${narrow.kStride};
    var pw = ${wide.base} + w * wideStride + lid.y * wideK;
    var pn = ${narrow.base} + lid.y * narrowK;
    for (var q = lid.y; q < k; q += ${LANES}u) {
      let x = ${wide.name}[pw];
      for (var j = 0u; j < ${v.r}u; j++) { acc[j] += x * ${narrow.name}[pn + j * narrowStride]; }
      pw += ${LANES}u * wideK;
      pn += ${LANES}u * narrowK;
    }
  }
  for (var j = 0u; j < ${v.r}u; j++) { partial[(lid.y * ${v.r}u + j) * ${LANES}u + lid.x] = acc[j]; }
  workgroupBarrier();
  // row j of the workgroup sums output j's 16 lanes, in lane order
  let j = lid.y;
  if (j < ${v.r}u && w < wideSize) {
    var s = 0.0;
    for (var lane = 0u; lane < ${LANES}u; lane++) { s += partial[(lane * ${v.r}u + j) * ${LANES}u + lid.x]; }
    Y[${out}] = s;
  }
}`;
  return { label: longKLabel(v), source, bindings: ['read', 'read', 'write', 'uniform'] };
}

/** Launch grid for a wide side of `wide` outputs. */
export const longKGrid = (wide: number): [number, number, number] => [Math.ceil(wide / LANES), 1, 1];
