/**
 * Row kernels over a contiguous [rows, cols] input, one invocation per row or one workgroup per row (tree
 * combines in workgroup memory, shaders-reduce.ts): softmax / log-softmax with attention's scale and
 * additive mask folded in, its backward, layer norm and its backward. Each replaces a chain of pointwise
 * and reduction dispatches (layer norm's backward was ten, attention's softmax with its scale and mask
 * three forward and five backward) with one pass, or two where a column reduction follows.
 */
import type { Kernel } from './pipelines.ts';
import { rowEntry, workgroupCombine } from './shaders-reduce.ts';
import { helpersFor, paramsBlock, stridedOffsets } from './wgsl.ts';

const SUM = (x: string, y: string) => `${x} + ${y}`;

export interface SoftmaxSpec {
  log: boolean;
  threads: number;
  /** rank of the mask's row coordinates (0: no mask) */
  maskRank: number;
}

/**
 * Softmax / log-softmax of scale·x + mask per row. Parameters: [rows, cols, x offset, scale (f32 bits),
 * mask col stride, mask offset, mask row shape[r], mask row strides[r]]; the mask (any strides, e.g. a
 * [batch, 1, 1, keys] padding mask broadcast over heads and queries) is addressed per row from the row's
 * coordinates. The max skips +inf and NaN (as the CPU's `v > max && v !== Infinity`); a row without a finite
 * entry gives zeros (softmax) or -inf (log-softmax).
 */
export function softmaxKernel(s: SoftmaxSpec): Kernel {
  const { log, threads, maskRank } = s;
  const masked = maskRank > 0;
  const value = `X[base + j] * sc${masked ? ' + M[mo + j * p(4u)]' : ''}`;
  const write = log
    ? `  let ls = log(s);
  for (var j = lid; j < cols; j += ${threads}u) { Y[ob + j] = ${value} - m - ls; }`
    : `  for (var j = lid; j < cols; j += ${threads}u) { Y[ob + j] = exp_shifted_(${value} - m) / s; }`;
  const maskBase = masked ? stridedOffsets(maskRank, 6, [{ name: 'mo', stridesAt: 6 + maskRank, offsetAt: 5 }], 'row') : '';
  const body = `  let cols = p(1u);
  let base = p(2u) + row * cols;
  let ob = row * cols;
  let sc = bitcast<f32>(p(3u));
${maskBase}
  let INF = inf_();
  var m = -INF;
  for (var j = lid; j < cols; j += ${threads}u) {
    let v = ${value};
    if (v > m && v != INF) { m = v; }
  }
  m = max_row_(m, lid);
  if (m == -INF) {
    for (var j = lid; j < cols; j += ${threads}u) { Y[ob + j] = ${log ? '-INF' : '0.0'}; }
    return;
  }
  var s = 0.0;
  for (var j = lid; j < cols; j += ${threads}u) { s += exp_shifted_(${value} - m); }
  s = sum_row_(s, lid);
${write}`;
  const source = `@group(0) @binding(0) var<storage, read> X: array<f32>;
${masked ? '@group(0) @binding(1) var<storage, read> M: array<f32>;\n' : ''}@group(0) @binding(${masked ? 2 : 1}) var<storage, read_write> Y: array<f32>;
${paramsBlock(masked ? 3 : 2, 6 + 2 * maskRank)}
${helpersFor(body)}
${workgroupCombine('max_row_', 'f32', threads, (x, y) => `max(${x}, ${y})`)}
${workgroupCombine('sum_row_', 'f32', threads, SUM)}
${rowEntry(threads, body)}`;
  const label = `${log ? 'logSoftmax' : 'softmax'}${masked ? ' masked' : ''}`;
  return { label, source, bindings: masked ? ['read', 'read', 'write', 'uniform'] : ['read', 'write', 'uniform'] };
}

/**
 * The softmax VJP per row, times `scale` (attention's 1/√d): softmax dx = sc·y·(g − Σ g·y); log-softmax
 * dx = sc·(g − e^y·Σ g). Parameters: [rows, cols, y offset, g offset, scale (f32 bits)].
 */
export function softmaxBackwardKernel(log: boolean, threads: number): Kernel {
  const body = `  let cols = p(1u);
  let yb = p(2u) + row * cols;
  let gb = p(3u) + row * cols;
  let ob = row * cols;
  let sc = bitcast<f32>(p(4u));
  var s = 0.0;
  for (var j = lid; j < cols; j += ${threads}u) { s += G[gb + j]${log ? '' : ' * Y[yb + j]'}; }
  s = sum_row_(s, lid);
  for (var j = lid; j < cols; j += ${threads}u) {
    ${log ? 'DX[ob + j] = sc * (G[gb + j] - exp(Y[yb + j]) * s);' : 'let y = Y[yb + j];\n    DX[ob + j] = sc * y * (G[gb + j] - s);'}
  }`;
  const source = `@group(0) @binding(0) var<storage, read> Y: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> DX: array<f32>;
${paramsBlock(3, 5)}
${workgroupCombine('sum_row_', 'f32', threads, SUM)}
${rowEntry(threads, body)}`;
  return { label: `${log ? 'logSoftmax' : 'softmax'} backward`, source, bindings: ['read', 'read', 'write', 'uniform'] };
}

/**
 * Layer norm over the rows, two passes (mean, then the squared deviations) as the CPU does. Parameters:
 * [rows, cols, x offset, w stride, w offset, b stride, b offset, eps bits].
 */
export function layerNormKernel(threads: number): Kernel {
  const body = `  let cols = p(1u);
  let base = p(2u) + row * cols;
  let ob = row * cols;
  var s = 0.0;
  for (var j = lid; j < cols; j += ${threads}u) { s += X[base + j]; }
  let mu = sum_row_(s, lid) / f32(cols);
  var v = 0.0;
  for (var j = lid; j < cols; j += ${threads}u) { let d = X[base + j] - mu; v += d * d; }
  let rs = 1.0 / sqrt(sumsq_row_(v, lid) / f32(cols) + bitcast<f32>(p(7u)));
  if (lid == 0u) { MEAN[row] = mu; RSTD[row] = rs; }
  for (var j = lid; j < cols; j += ${threads}u) {
    Y[ob + j] = (X[base + j] - mu) * rs * W[p(4u) + j * p(3u)] + B[p(6u) + j * p(5u)];
  }`;
  const source = `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read_write> MEAN: array<f32>;
@group(0) @binding(5) var<storage, read_write> RSTD: array<f32>;
${paramsBlock(6, 8)}
${workgroupCombine('sum_row_', 'f32', threads, SUM)}
${workgroupCombine('sumsq_row_', 'f32', threads, SUM)}
${rowEntry(threads, body)}`;
  return { label: 'layerNorm', source, bindings: ['read', 'read', 'read', 'write', 'write', 'write', 'uniform'] };
}

/**
 * Layer norm's input gradient per row, from the saved mean and 1/σ: with x̂ = (x − μ)/σ and d = g·w,
 * dx = (d − mean(d) − x̂·mean(d·x̂))/σ, the composite's formula in one pass. Parameters: [rows, cols,
 * x offset, w stride, w offset, g offset, mean offset, rstd offset].
 */
export function layerNormBackwardKernel(threads: number): Kernel {
  const body = `  let cols = p(1u);
  let xb = p(2u) + row * cols;
  let gb = p(5u) + row * cols;
  let ob = row * cols;
  let mu = MEAN[p(6u) + row];
  let rs = RSTD[p(7u) + row];
  var a = 0.0;
  var b = 0.0;
  for (var j = lid; j < cols; j += ${threads}u) {
    let xh = (X[xb + j] - mu) * rs;
    let d = G[gb + j] * W[p(4u) + j * p(3u)];
    a += d;
    b += d * xh;
  }
  a = sum_d_(a, lid) / f32(cols);
  b = sum_dx_(b, lid) / f32(cols);
  for (var j = lid; j < cols; j += ${threads}u) {
    let xh = (X[xb + j] - mu) * rs;
    let d = G[gb + j] * W[p(4u) + j * p(3u)];
    DX[ob + j] = rs * (d - a - xh * b);
  }`;
  const source = `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> MEAN: array<f32>;
@group(0) @binding(4) var<storage, read> RSTD: array<f32>;
@group(0) @binding(5) var<storage, read_write> DX: array<f32>;
${paramsBlock(6, 8)}
${workgroupCombine('sum_d_', 'f32', threads, SUM)}
${workgroupCombine('sum_dx_', 'f32', threads, SUM)}
${rowEntry(threads, body)}`;
  return { label: 'layerNorm backward', source, bindings: ['read', 'read', 'read', 'read', 'read', 'write', 'uniform'] };
}

/**
 * Layer norm's weight and bias gradients, Σ_rows g·x̂ and Σ_rows g, for `cw` adjacent columns per
 * workgroup: `lanes` invocations per column walk the rows (each row's `cw` loads are adjacent, so they
 * coalesce), then combine. Parameters: [rows, cols, x offset, g offset, mean offset, rstd offset].
 * Launch grid: ⌈cols / cw⌉ workgroups.
 */
export function layerNormParamGradKernel(cw: number, lanes: number): Kernel {
  const source = `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> MEAN: array<f32>;
@group(0) @binding(3) var<storage, read> RSTD: array<f32>;
@group(0) @binding(4) var<storage, read_write> DW: array<f32>;
@group(0) @binding(5) var<storage, read_write> DB: array<f32>;
${paramsBlock(6, 6)}
var<workgroup> sw: array<f32, ${cw * lanes}>;
var<workgroup> sb: array<f32, ${cw * lanes}>;
@compute @workgroup_size(${cw}, ${lanes})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let rows = p(0u);
  let cols = p(1u);
  let c = wid.x * ${cw}u + lid.x;
  var dw = 0.0;
  var db = 0.0;
  if (c < cols) {
    for (var r = lid.y; r < rows; r += ${lanes}u) {
      let g = G[p(3u) + r * cols + c];
      dw += g * (X[p(2u) + r * cols + c] - MEAN[p(4u) + r]) * RSTD[p(5u) + r];
      db += g;
    }
  }
  let at = lid.y * ${cw}u + lid.x;
  sw[at] = dw;
  sb[at] = db;
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s = s >> 1u) {
    if (lid.y < s) {
      sw[at] = sw[at] + sw[at + s * ${cw}u];
      sb[at] = sb[at] + sb[at + s * ${cw}u];
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && c < cols) {
    DW[c] = sw[lid.x];
    DB[c] = sb[lid.x];
  }
}`;
  return { label: 'layerNorm weight/bias grads', source, bindings: ['read', 'read', 'read', 'read', 'write', 'write', 'uniform'] };
}
