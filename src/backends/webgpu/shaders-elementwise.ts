/**
 * Shaders with one invocation per output element: pointwise ops (from the WGSL expressions of
 * ../pointwise.ts), copies and casts, strided assignment, gather and Philox random numbers.
 * Each generator returns the kernel and the order in which the host packs its parameters.
 */
import type { DType } from '../../core/dtype.ts';
import type { RandomKind } from '../backend.ts';
import type { Kernel } from './pipelines.ts';
import { flatEntry, helpersFor, paramsBlock, stridedOffsets, wgslType } from './wgsl.ts';

export const FLAT_WORKGROUP = 64;

const OPERAND_NAMES = ['a', 'b', 'c'];

export interface PointwiseSpec {
  /** WGSL expression over `a`, `b`, `c` (f32 values); 'a' with equal dtypes is a raw copy */
  expr: string;
  inputs: readonly DType[];
  out: DType;
  rank: number;
  /** write through the output's strides and offset (assign) instead of contiguously */
  stridedOut: boolean;
}

/**
 * Parameters: [count, shape[rank], per input: strides[rank], offset, (stridedOut: strides[rank], offset)].
 * Values are computed in f32 whatever the storage dtype (int32 operands are exact up to 2^24), except a
 * same-dtype copy, which moves the stored bits.
 */
export function pointwiseKernel(s: PointwiseSpec): Kernel {
  const k = s.inputs.length;
  const layoutAt = (j: number) => 1 + s.rank + j * (s.rank + 1);
  const layouts = s.inputs.map((_, j) => ({ name: `o${j}`, stridesAt: layoutAt(j), offsetAt: layoutAt(j) + s.rank }));
  if (s.stridedOut) layouts.push({ name: 'oy', stridesAt: layoutAt(k), offsetAt: layoutAt(k) + s.rank });
  const paramCount = layoutAt(k + (s.stridedOut ? 1 : 0));
  const target = s.stridedOut ? 'oy' : 'i';
  const rawCopy = s.expr === 'a' && k === 1 && s.inputs[0] === s.out;
  const loads = s.inputs.map((_, j) => `  let ${OPERAND_NAMES[j]} = f32(X${j}[o${j}]);`).join('\n');
  const store = rawCopy
    ? `  Y[${target}] = X0[o0];`
    : `${loads}\n  Y[${target}] = ${s.out === 'int32' ? `i32(${s.expr})` : `${s.expr}`};`;
  const decls = s.inputs.map((dt, j) => `@group(0) @binding(${j}) var<storage, read> X${j}: array<${wgslType(dt)}>;`);
  const source = [
    ...decls,
    `@group(0) @binding(${k}) var<storage, read_write> Y: array<${wgslType(s.out)}>;`,
    paramsBlock(k + 1, paramCount),
    helpersFor(s.expr),
    flatEntry(FLAT_WORKGROUP, `${stridedOffsets(s.rank, 1, layouts)}\n${store}`),
  ].join('\n');
  return { label: `pointwise ${s.expr.slice(0, 40)}`, source, bindings: [...s.inputs.map(() => 'read' as const), 'write', 'uniform'] };
}

/**
 * gather as a strided kernel over the index's shape: x's layout has its gathered axis' stride set to 0
 * (the host does that), and the index picks the position along the axis. Parameters: [count, axis size,
 * axis stride, shape[rank], index strides[rank], index offset, x strides[rank], x offset]. Out-of-range
 * indices are clamped: the CPU checks them on the host, a device backend cannot without a readback.
 */
export function gatherKernel(dtype: DType, rank: number): Kernel {
  const shapeAt = 3, idxAt = shapeAt + rank, xAt = idxAt + rank + 1;
  const offsets = stridedOffsets(rank, shapeAt, [
    { name: 'oi', stridesAt: idxAt, offsetAt: idxAt + rank },
    { name: 'ox', stridesAt: xAt, offsetAt: xAt + rank },
  ]);
  const source = `@group(0) @binding(0) var<storage, read> X: array<${wgslType(dtype)}>;
@group(0) @binding(1) var<storage, read> IDX: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<${wgslType(dtype)}>;
${paramsBlock(3, xAt + rank + 1)}
${flatEntry(FLAT_WORKGROUP, `${offsets}
  let t = u32(clamp(IDX[oi], 0, i32(p(1u)) - 1));
  Y[i] = X[ox + t * p(2u)];`)}`;
  return { label: 'gather', source, bindings: ['read', 'read', 'write', 'uniform'] };
}

/**
 * Philox-4x32-10 exactly as tensor/random.ts, one invocation per block of four numbers. The 32×32→64-bit
 * products are split into 16-bit halves (WGSL has no 64-bit integers). Parameters: [blocks, length,
 * seed lo, seed hi, offset lo, offset hi]. Uniforms match the CPU bit for bit; normals go through the
 * device's log/cos/sin in float32, so they agree to a few ulp.
 */
export function randomKernel(kind: RandomKind): Kernel {
  const write = kind === 'uniform'
    ? `  for (var l = 0u; l < 4u; l++) { if (base + l < n) { Y[base + l] = uniform_(r[l]); } }`
    : `  for (var pair = 0u; pair < 4u; pair += 2u) {
    if (base + pair >= n) { break; }
    let rad = sqrt(-2.0 * log(uniform_(r[pair])));
    let theta = 6.283185307179586 * uniform_(r[pair + 1u]);
    Y[base + pair] = rad * cos(theta);
    if (base + pair + 1u < n) { Y[base + pair + 1u] = rad * sin(theta); }
  }`;
  const source = `@group(0) @binding(0) var<storage, read_write> Y: array<f32>;
${paramsBlock(1, 6)}
fn mulhi_(a: u32, b: u32) -> u32 {
  let aH = a >> 16u; let aL = a & 0xffffu; let bH = b >> 16u; let bL = b & 0xffffu;
  let ll = aL * bL; let lh = aL * bH; let hl = aH * bL;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return aH * bH + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}
fn philox_(ctr: vec4u, key: vec2u) -> vec4u {
  var c = ctr;
  var k = key;
  for (var round = 0; round < 10; round++) {
    let hi0 = mulhi_(0xd2511f53u, c.x); let lo0 = 0xd2511f53u * c.x;
    let hi1 = mulhi_(0xcd9e8d57u, c.z); let lo1 = 0xcd9e8d57u * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2u(0x9e3779b9u, 0xbb67ae85u);
  }
  return c;
}
// 24 random bits plus one half, scaled by 2^-24: one rounding, as the CPU's float64 value stored to float32
fn uniform_(u: u32) -> f32 { return (f32(u >> 8u) + 0.5) * 5.9604644775390625e-8; }
${flatEntry(FLAT_WORKGROUP, `  let n = p(1u);
  let lo = p(4u) + i;
  let carry = select(0u, 1u, lo < i);
  let r = philox_(vec4u(lo, p(5u) + carry, 0u, 0u), vec2u(p(2u), p(3u)));
  let base = i * 4u;
${write}`)}`;
  return { label: `random ${kind}`, source, bindings: ['write', 'uniform'] };
}

/**
 * Backend.adamw in one pass: per element, the moments and the parameter in the documented order, times
 * the 0/1 mask where there is one. Parameters: [count, offsets of p, g, m, v(, mask), then as f32 bits:
 * β1, 1 − β1, β2, 1 − β2, eps, 1 − lr·wd, lr/bc1, bc2Sqrt] (differences taken in float64 on the host,
 * as the composite's scalars are).
 */
export function adamwKernel(masked: boolean): Kernel {
  // W is the parameter (P is the uniform block of every kernel)
  const inputs = masked ? ['W', 'G', 'M', 'V', 'K'] : ['W', 'G', 'M', 'V'];
  const k = inputs.length;
  const f = (j: number) => `bitcast<f32>(p(${1 + k + j}u))`;
  const decls = [
    ...inputs.map((name, j) => `@group(0) @binding(${j}) var<storage, read> ${name}: array<f32>;`),
    ...['WO', 'MO', 'VO'].map((name, j) => `@group(0) @binding(${k + j}) var<storage, read_write> ${name}: array<f32>;`),
  ];
  const body = `  let g = G[p(2u) + i];
  let m = ${f(0)} * M[p(3u) + i] + ${f(1)} * g;
  let v = ${f(2)} * V[p(4u) + i] + ${f(3)} * (g * g);
  let next = W[p(1u) + i] * ${f(5)} - (m / (sqrt(v) / ${f(7)} + ${f(4)})) * ${f(6)};
  let keep = ${masked ? 'K[p(5u) + i]' : '1.0'};
  WO[i] = next * keep;
  MO[i] = m * keep;
  VO[i] = v * keep;`;
  const source = [...decls, paramsBlock(k + 3, 1 + k + 8), flatEntry(FLAT_WORKGROUP, body)].join('\n');
  return { label: `adamw${masked ? ' masked' : ''}`, source, bindings: [...inputs.map(() => 'read' as const), 'write', 'write', 'write', 'uniform'] };
}
