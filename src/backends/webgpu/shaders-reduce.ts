/**
 * Shaders that combine many inputs per output: reductions over arbitrary axes, scatter-add, and PRILoRA's
 * column-norm statistics (row kernels — softmax, layer norm — are in shaders-rows.ts).
 *
 * A reduction runs either one invocation per output (many outputs, short groups) or one workgroup per
 * output with a tree combine in workgroup memory (few outputs, long groups). Both orders are fixed, so
 * results are reproducible run to run. Scatter-add needs no float atomics (WGSL has none): one invocation
 * owns one line along the scattered axis and adds its sources in index order, which is also the CPU's
 * order, so float32 results match the CPU's bit for bit.
 */
import type { DType } from '../../core/dtype.ts';
import type { ReduceOp } from '../backend.ts';
import { FLAT_WORKGROUP } from './shaders-elementwise.ts';
import type { Kernel } from './pipelines.ts';
import { flatEntry, helpersFor, paramsBlock, stridedOffsets, wgslType } from './wgsl.ts';

/**
 * A function `name(v, lid)` that combines `v` over the workgroup's `threads` invocations and returns the
 * result to all of them (uniformly, so callers may branch on it). With one thread it is the identity.
 * Call each such function once per invocation: its workgroup array is not reused. Reusing one array for
 * two combines in a row is race-free with the barriers in place, yet on Mesa 22's llvmpipe every 8-lane
 * chunk but the first then read the second combine's partial sums as the first one's result.
 */
export function workgroupCombine(name: string, type: string, threads: number, combine: (x: string, y: string) => string): string {
  if (threads === 1) return `fn ${name}(v: ${type}, lid: u32) -> ${type} { return v; }`;
  const buf = `${name}buf`;
  return `var<workgroup> ${buf}: array<${type}, ${threads}>;
fn ${name}(v: ${type}, lid: u32) -> ${type} {
  ${buf}[lid] = v;
  workgroupBarrier();
  for (var s = ${threads / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${buf}[lid] = ${combine(`${buf}[lid]`, `${buf}[lid + s]`)}; }
    workgroupBarrier();
  }
  return workgroupUniformLoad(&${buf}[0]);
}`;
}

/** Entry point giving `row` and `lid`: one invocation per row, or one workgroup of `threads` per row. */
export function rowEntry(threads: number, body: string): string {
  if (threads === 1) return flatEntry(FLAT_WORKGROUP, `  let row = i;\n  let lid = 0u;\n${body}`);
  return `@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid3: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p(0u)) { return; }
  let lid = lid3.x;
${body}
}`;
}

function combineFor(op: ReduceOp, dtype: DType): (x: string, y: string) => string {
  if (op === 'sum') return (x, y) => `${x} + ${y}`;
  if (dtype === 'int32') return (x, y) => `${op}(${x}, ${y})`;
  return (x, y) => `${op}_(${x}, ${y})`;
}

function initFor(op: ReduceOp, dtype: DType): string {
  if (dtype === 'int32') return op === 'sum' ? '0i' : op === 'max' ? 'i32(-2147483647 - 1)' : '2147483647i';
  return op === 'sum' ? '0.0' : op === 'max' ? '-inf_()' : 'inf_()';
}

export interface ReduceSpec {
  op: ReduceOp;
  dtype: DType;
  keptRank: number;
  reducedRank: number;
  /** invocations per output: 1, or a power of two for the workgroup variant */
  threads: number;
}

/**
 * Parameters: [outputs, kept shape[kr], kept strides[kr], reduced shape[rr], reduced strides[rr], offset,
 * group size]. Outputs are contiguous in the kept dims' row-major order.
 */
export function reduceKernel(s: ReduceSpec): Kernel {
  const keptShapeAt = 1, keptStridesAt = 1 + s.keptRank, redShapeAt = keptStridesAt + s.keptRank;
  const redStridesAt = redShapeAt + s.reducedRank, offsetAt = redStridesAt + s.reducedRank, groupAt = offsetAt + 1;
  const type = wgslType(s.dtype);
  const combine = combineFor(s.op, s.dtype);
  const base = stridedOffsets(s.keptRank, keptShapeAt, [{ name: 'ob', stridesAt: keptStridesAt, offsetAt }], 'row');
  let loop: string;
  if (s.threads === 1) {
    // nested loops over the reduced dims: no division per element
    const open: string[] = [];
    let at = 'ob';
    for (let d = 0; d < s.reducedRank; d++) {
      open.push(`for (var j${d} = 0u; j${d} < p(${redShapeAt + d}u); j${d}++) { let q${d} = ${at} + j${d} * p(${redStridesAt + d}u);`);
      at = `q${d}`;
    }
    loop = `  ${open.join('\n  ')}\n    acc = ${combine('acc', `X[${at}]`)};\n  ${'}'.repeat(s.reducedRank)}`;
  } else {
    const unravel = stridedOffsets(s.reducedRank, redShapeAt, [{ name: 'q', stridesAt: redStridesAt, offsetAt: null }], 'j');
    loop = `  for (var j = lid; j < p(${groupAt}u); j += ${s.threads}u) {
${unravel}
    acc = ${combine('acc', 'X[ob + q]')};
  }`;
  }
  const body = `${base}
  var acc: ${type} = ${initFor(s.op, s.dtype)};
${loop}
  acc = combine_(acc, lid);
  if (lid == 0u) { Y[row] = acc; }`;
  const source = `@group(0) @binding(0) var<storage, read> X: array<${type}>;
@group(0) @binding(1) var<storage, read_write> Y: array<${type}>;
${paramsBlock(2, groupAt + 1)}
${helpersFor(body + combine('a', 'b'))}
${workgroupCombine('combine_', type, s.threads, combine)}
${rowEntry(s.threads, body)}`;
  return { label: `reduce ${s.op}`, source, bindings: ['read', 'write', 'uniform'] };
}

/**
 * scatter-add, one invocation per line (all coordinates but the axis). Parameters: [lines, axis length
 * (index's), axis size (output's), index axis stride, src axis stride, out axis stride, shape[rank] (the
 * other dims), index strides[rank], index offset, src strides[rank], src offset, out strides[rank]].
 * The output must be zeroed before the launch.
 */
export function scatterAddKernel(dtype: DType, rank: number): Kernel {
  const shapeAt = 6, idxAt = shapeAt + rank, srcAt = idxAt + rank + 1, outAt = srcAt + rank + 1;
  const offsets = stridedOffsets(rank, shapeAt, [
    { name: 'oi', stridesAt: idxAt, offsetAt: idxAt + rank },
    { name: 'os', stridesAt: srcAt, offsetAt: srcAt + rank },
    { name: 'oo', stridesAt: outAt, offsetAt: null },
  ]);
  const type = wgslType(dtype);
  const source = `@group(0) @binding(0) var<storage, read> IDX: array<i32>;
@group(0) @binding(1) var<storage, read> SRC: array<${type}>;
@group(0) @binding(2) var<storage, read_write> Y: array<${type}>;
${paramsBlock(3, outAt + rank)}
${flatEntry(FLAT_WORKGROUP, `${offsets}
  let last = i32(p(2u)) - 1;
  for (var j = 0u; j < p(1u); j++) {
    let t = u32(clamp(IDX[oi + j * p(3u)], 0, last));
    let q = oo + t * p(5u);
    Y[q] = Y[q] + SRC[os + j * p(4u)];
  }`)}`;
  return { label: 'scatterAdd', source, bindings: ['read', 'read', 'write', 'uniform'] };
}

/**
 * Backend.columnNormEma: `cw` adjacent columns per workgroup (a row's loads coalesce), whose `lanes`
 * invocations each sum the squares of every lanes-th row, then combine in workgroup memory (a tree, as
 * reduceColumnsKernel). With one invocation per column, a [4096, 768] input would be 768 serial walks of
 * 4,096 rows on 3 workgroups. Parameters: [cols, rows, x offset, mask offset, prev offset, β as f32 bits];
 * `masked` adds the row-mask binding; launch grid ⌈cols / cw⌉.
 */
export function columnNormEmaKernel(masked: boolean, inPlace: boolean, cw: number, lanes: number): Kernel {
  // in place, PREV is the output: the invocation that writes an element is the one that read it
  const inputs = ['X', ...(masked ? ['MASK'] : []), ...(inPlace ? [] : ['PREV'])];
  const output = inPlace ? 'PREV' : 'Y';
  const source = `${inputs.map((name, j) => `@group(0) @binding(${j}) var<storage, read> ${name}: array<f32>;`).join('\n')}
@group(0) @binding(${inputs.length}) var<storage, read_write> ${output}: array<f32>;
${paramsBlock(inputs.length + 1, 6)}
var<workgroup> buf: array<f32, ${cw * lanes}>;
@compute @workgroup_size(${cw}, ${lanes})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let cols = p(0u);
  let i = wid.x * ${cw}u + lid.x;
  var acc = 0.0;
  if (i < cols) {
    for (var r = lid.y; r < p(1u); r += ${lanes}u) {
      let v = X[p(2u) + r * cols + i];
      ${masked ? 'let k = MASK[p(3u) + r];\n      if (k != 0.0) { acc += k * v * v; }' : 'acc += v * v;'}
    }
  }
  let at = lid.y * ${cw}u + lid.x;
  buf[at] = acc;
  workgroupBarrier();
  for (var s = ${Math.max(1, lanes / 2)}u; s > 0u && s < ${lanes}u; s = s >> 1u) {
    if (lid.y < s) { buf[at] += buf[at + s * ${cw}u]; }
    workgroupBarrier();
  }
  if (lid.y == 0u && i < cols) {
    let beta = bitcast<f32>(p(5u));
    ${inPlace ? 'PREV[p(4u) + i]' : 'Y[i]'} = beta * PREV[p(4u) + i] + (1.0 - beta) * sqrt(buf[lid.x]);
  }
}`;
  return { label: `columnNormEma${masked ? ' masked' : ''}${inPlace ? ' in place' : ''}`, source, bindings: [...inputs.map(() => 'read' as const), 'write', 'uniform'] };
}

/**
 * A reduction over one strided dim into contiguous outputs (a column sum such as a bias gradient, Σ over
 * 4096 tokens of [4096, 768]): `cw` adjacent outputs per workgroup, whose `lanes` invocations each walk a
 * share of the reduced dim (a row's `cw` loads are adjacent, so they coalesce) and then combine. The serial
 * kernel would give each output one invocation: too few for a big device. Parameters: [outputs, reduced
 * length, reduced stride, offset]; launch grid ⌈outputs / cw⌉.
 */
export function reduceColumnsKernel(op: ReduceOp, dtype: DType, cw: number, lanes: number): Kernel {
  const type = wgslType(dtype);
  const combine = combineFor(op, dtype);
  const body = `  let c = wid.x * ${cw}u + lid.x;
  var acc: ${type} = ${initFor(op, dtype)};
  if (c < p(0u)) {
    for (var r = lid.y; r < p(1u); r += ${lanes}u) { acc = ${combine('acc', 'X[p(3u) + c + r * p(2u)]')}; }
  }
  let at = lid.y * ${cw}u + lid.x;
  buf[at] = acc;
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s = s >> 1u) {
    if (lid.y < s) { buf[at] = ${combine('buf[at]', `buf[at + s * ${cw}u]`)}; }
    workgroupBarrier();
  }
  if (lid.y == 0u && c < p(0u)) { Y[c] = buf[lid.x]; }`;
  const source = `@group(0) @binding(0) var<storage, read> X: array<${type}>;
@group(0) @binding(1) var<storage, read_write> Y: array<${type}>;
${paramsBlock(2, 4)}
${helpersFor(body + combine('a', 'b'))}
var<workgroup> buf: array<${type}, ${cw * lanes}>;
@compute @workgroup_size(${cw}, ${lanes})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
${body}
}`;
  return { label: `reduce ${op} columns`, source, bindings: ['read', 'write', 'uniform'] };
}
