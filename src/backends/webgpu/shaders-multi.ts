/**
 * Multi-tensor kernels: one dispatch serves up to `count` tensors bound side by side (as many as the
 * device's storage-buffer limit allows), the way gradient clipping touches every parameter's gradient.
 * Each tensor is contiguous from its offset; slot j's [offset, length] are parameters 1 + 2j and 2 + 2j.
 */
import type { Kernel } from './pipelines.ts';
import { paramsBlock } from './wgsl.ts';

/** Elements one workgroup of the sum of squares reduces (256 invocations × 16 each). */
export const SUMSQ_CHUNK = 4096;
const SUMSQ_THREADS = 256;

/**
 * Partial sums of squares: workgroup (c, j) sums chunk c of slot j's tensor into PART[p(0) + j·chunks + c]
 * (0 past the tensor's end), chunks = the grid's x size. Parameters: [partial offset, (offset, length) per
 * slot]. A fixed combine order: the result does not depend on timing.
 */
export function sumSquaresKernel(count: number, threads = SUMSQ_THREADS): Kernel {
  const decls = Array.from({ length: count }, (_, j) => `@group(0) @binding(${j}) var<storage, read> X${j}: array<f32>;`);
  const cases = Array.from({ length: count }, (_, j) => `    case ${j}u: { v = X${j}[off + e]; }`).join('\n');
  const source = `${decls.join('\n')}
@group(0) @binding(${count}) var<storage, read_write> PART: array<f32>;
${paramsBlock(count + 1, 1 + 2 * count)}
var<workgroup> buf: array<f32, ${threads}>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let j = wid.y;
  let off = p(1u + 2u * j);
  let len = p(2u + 2u * j);
  let start = wid.x * ${SUMSQ_CHUNK}u;
  var acc = 0.0;
  for (var q = lid.x; q < ${SUMSQ_CHUNK}u; q += ${threads}u) {
    let e = start + q;
    if (e < len) {
      var v = 0.0;
      switch j {
${cases}
        default: {}
      }
      acc += v * v;
    }
  }
  buf[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${threads / 2}u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { buf[lid.x] = buf[lid.x] + buf[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { PART[p(0u) + j * nwg.x + wid.x] = buf[0]; }
}`;
  return { label: `sum of squares ×${count}`, source, bindings: [...decls.map(() => 'read' as const), 'write', 'uniform'] };
}

/**
 * Y_j = X_j · F[p(0)] for `count` tensors, one invocation per element of the longest (grid y: the slot).
 * Parameters: [factor offset, (offset, length) per slot]. Bindings: X_0.., F, Y_0...
 */
export function scaleAllKernel(count: number, workgroup: number): Kernel {
  const ins = Array.from({ length: count }, (_, j) => `@group(0) @binding(${j}) var<storage, read> X${j}: array<f32>;`);
  const outs = Array.from({ length: count }, (_, j) => `@group(0) @binding(${count + 1 + j}) var<storage, read_write> Y${j}: array<f32>;`);
  const cases = Array.from({ length: count }, (_, j) => `    case ${j}u: { Y${j}[i] = X${j}[p(${1 + 2 * j}u) + i] * f; }`).join('\n');
  const source = `${ins.join('\n')}
@group(0) @binding(${count}) var<storage, read> F: array<f32>;
${outs.join('\n')}
${paramsBlock(2 * count + 1, 1 + 2 * count)}
@compute @workgroup_size(${workgroup})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.z;
  let i = gid.x + gid.y * nwg.x * ${workgroup}u;
  if (i >= p(2u + 2u * j)) { return; }
  let f = F[p(0u)];
  switch j {
${cases}
    default: {}
  }
}`;
  return {
    label: `scale ×${count}`,
    source,
    bindings: [...ins.map(() => 'read' as const), 'read', ...outs.map(() => 'write' as const), 'uniform'],
  };
}

/**
 * Backend.adamwAll: adamw (shaders-elementwise.ts) for `count` parameters per dispatch, grid z the slot.
 * Bindings per slot: W, G, M, V (, K mask) read; WO, MO, VO written, or with `inPlace` W, M and V read and
 * written where they are (each invocation reads and writes only its own element). Parameters: β1, 1 − β1,
 * β2, 1 − β2, eps, lr/bc1, bc2Sqrt (f32 bits), then per slot [length, offsets of W, G, M, V (, K), 1 − lr·wd bits].
 */
export function adamwAllKernel(masked: boolean, count: number, workgroup: number, inPlace: boolean): Kernel {
  const ins = masked ? ['W', 'G', 'M', 'V', 'K'] : ['W', 'G', 'M', 'V'];
  const written = inPlace ? ['W', 'M', 'V'] : ['WO', 'MO', 'VO'];
  const bound = inPlace ? ins : [...ins, ...written];
  const slotWords = ins.length + 2;
  const decls: string[] = [];
  const cases: string[] = [];
  for (let j = 0; j < count; j++) {
    const at = (k: number) => `p(${7 + j * slotWords + k}u)`;
    bound.forEach((name, k) => decls.push(`@group(0) @binding(${j * bound.length + k}) var<storage, ${written.includes(name) ? 'read_write' : 'read'}> ${name}${j}: array<f32>;`));
    const out = (k: number) => (inPlace ? `${written[k]}${j}[${at(k === 0 ? 1 : k + 2)} + i]` : `${written[k]}${j}[i]`);
    cases.push(`    case ${j}u: {
      if (i >= ${at(0)}) { return; }
      let g = G${j}[${at(2)} + i];
      let m = f(0u) * M${j}[${at(3)} + i] + f(1u) * g;
      let v = f(2u) * V${j}[${at(4)} + i] + f(3u) * (g * g);
      let next = W${j}[${at(1)} + i] * bitcast<f32>(${at(slotWords - 1)}) - (m / (sqrt(v) / f(6u) + f(4u))) * f(5u);
      let keep = ${masked ? `K${j}[${at(5)} + i]` : '1.0'};
      ${out(0)} = next * keep;
      ${out(1)} = m * keep;
      ${out(2)} = v * keep;
    }`);
  }
  const source = `${decls.join('\n')}
${paramsBlock(count * bound.length, 7 + count * slotWords)}
fn f(k: u32) -> f32 { return bitcast<f32>(p(k)); }
@compute @workgroup_size(${workgroup})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${workgroup}u;
  switch gid.z {
${cases.join('\n')}
    default: {}
  }
}`;
  const kinds = Array.from({ length: count }, () => bound.map((name) => (written.includes(name) ? ('write' as const) : ('read' as const)))).flat();
  return { label: `adamw ×${count}${masked ? ' masked' : ''}${inPlace ? ' in place' : ''}`, source, bindings: [...kinds, 'uniform'] };
}
