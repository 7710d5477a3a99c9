/**
 * Host side of the matmul kernels: the product is normalised before a variant is chosen, so that one
 * kernel serves many layouts well.
 *
 * - A weight broadcast over batch dims (`x·Wᵀ` on [batch, t, in]) is one [batch·t, in] product: the batch
 *   folds into m whenever A's batch stride continues its rows and B's is 0, so linears get the big tiles.
 * - The tiled kernel's loads follow each operand's layout (which of its strides is 1).
 * - Products with one side at most 16 wide (LoRA's rank-r products) whose tiles would be too few for the
 *   device, or whose k is long, run on the skinny kernel: a workgroup per 8 outputs of the wide side,
 *   its invocations sharing k (shaders-matmul-long-k.ts); other long-k products with few output tiles split
 *   k over the grid's z and sum the partial products in a second dispatch.
 * - An epilogue (scale, bias, addend) is applied as the outputs are stored, after an optional second
 *   product of the same output shape has been summed in (LoRA's two products into one output).
 */
import { contiguousStrides, sizeOf } from '../../core/layout.ts';
import type { MatmulEpilogue as MatmulEpilogueOperands, View } from '../backend.ts';
import type { KernelInfo } from './census.ts';
import type { GpuContext, GpuStorage } from './context.ts';
import { coalesce, Params } from './layouts.ts';
import { generatedKernel } from './pipelines.ts';
import { FLAT_WORKGROUP } from './shaders-elementwise.ts';
import { matmulSimpleKernel, matmulTiledKernel, tiledLabel, tileM, tileN, vec4Fits, type MatmulEpilogue, type MatmulTiling, type OperandLoads, type TiledVariant } from './shaders-matmul.ts';
import { longKBytes, longKGrid, longKLabel, matmulLongKKernel, type LongKVariant } from './shaders-matmul-long-k.ts';
import type { DeviceLimits } from './device.ts';
import { reduceKernel } from './shaders-reduce.ts';

export interface MatmulPolicy {
  /** 'auto': the tiled kernel where the product is big enough to fill its tiles */
  matmul: 'auto' | 'tiled' | 'simple';
  /**
   * Long-k products: 'auto' gives those with a side ≤ 16 the long-k kernel and splits k of others where few
   * output tiles face it; 'always' (tests) does so wherever it can (any k); 'never' leaves them tiled.
   */
  splitK: 'auto' | 'always' | 'never';
  /** vec4 loads of operands read along k where aligned */
  vec4: boolean;
  tiling: MatmulTiling;
  /** a bigger tile for big products (more reuse per loaded value), where the device fits it */
  largeTiling: MatmulTiling | null;
  /** tiles for one skinny side (≤ 16: LoRA's rank-r products), tall and wide: no 64-wide tile mostly idle */
  narrowTiling: MatmulTiling | null;
  shortTiling: MatmulTiling | null;
  /** the widest narrow side the long-k kernel takes on this device (0: none, 256 invocations do not fit) */
  longKNarrowMax: number;
}

/** The epilogue's operands, as Backend.matmulEpilogue takes them. */
export type MatmulOptions = MatmulEpilogueOperands;

/** Workgroups that keep a big GPU busy: split-k aims for about this many. */
const TARGET_WORKGROUPS = 256;
/** From this k on, a product with few output tiles is worth spreading over k ('auto'). */
const LONG_K = 1024;

export function recordMatmul(ctx: GpuContext, policy: MatmulPolicy, a: View, b: View, opts: MatmulOptions = {}): GpuStorage {
  const la = a.layout, lb = b.layout;
  const nd = la.shape.length;
  let m = la.shape[nd - 2];
  const k = la.shape[nd - 1], n = lb.shape[nd - 1];
  const batchShape = la.shape.slice(0, nd - 2);
  const total = sizeOf(batchShape) * m * n;
  const out = ctx.allocRaw('float32', total);
  if (total === 0) return out;
  const sar = la.strides[nd - 2], sac = la.strides[nd - 1], sbr = lb.strides[nd - 2], sbc = lb.strides[nd - 1];
  const l2 = opts.plus ? { a: opts.plus.a.layout, b: opts.plus.b.layout } : null;
  const k2 = l2 ? l2.a.shape[nd - 1] : 0;
  const s2 = l2 ? [l2.a.strides[nd - 2], l2.a.strides[nd - 1], l2.b.strides[nd - 2], l2.b.strides[nd - 1]] : [0, 0, 0, 0];
  const outBatchStrides = contiguousStrides(batchShape).map((s) => s * m * n);
  const none = l2 ? [] : batchShape.map(() => 0);
  let c = coalesce(batchShape, [la.strides.slice(0, nd - 2), lb.strides.slice(0, nd - 2), l2 ? l2.a.strides.slice(0, nd - 2) : none, l2 ? l2.b.strides.slice(0, nd - 2) : none, outBatchStrides]);
  // a shared B (batch stride 0) under an A whose batch continues its rows: one taller product (both
  // products alike, with a second one)
  if (c.shape.length === 1 && c.strides[1][0] === 0 && c.strides[0][0] === m * sar && (!l2 || (c.strides[3][0] === 0 && c.strides[2][0] === m * s2[0]))) {
    m *= c.shape[0];
    c = { shape: [], strides: [[], [], [], [], []] };
  }
  const batch = sizeOf(c.shape);
  const rb = c.shape.length;
  const e: MatmulEpilogue = { scale: opts.scale !== undefined && opts.scale !== 1, bias: Boolean(opts.bias), addend: Boolean(opts.addend), plus: Boolean(l2) };
  const params = new Params();
  params.push(batch * m * n, m, n, k, sar, sac, sbr, sbc, la.offset, lb.offset, batch);
  params.pushFloat(opts.scale ?? 1);
  params.push(opts.bias?.layout.strides[0] ?? 0, opts.bias?.layout.offset ?? 0, 0);
  const kPerSplitAt = params.next - 1;
  params.push(opts.addend?.layout.offset ?? 0, k2, ...s2, l2?.a.offset ?? 0, l2?.b.offset ?? 0);
  params.push(...c.shape, ...c.strides[0], ...c.strides[1], ...c.strides[2], ...c.strides[3]);
  const inputs = [a, b, opts.plus?.a, opts.plus?.b, opts.bias, opts.addend].flatMap((v) => (v ? [ctx.own(v.storage)] : []));
  // census rows only: built when a census asks (a step records ~800 dispatches)
  const info = (): KernelInfo => ({
    shape: `${batch > 1 ? `${batch}×` : ''}${productLabel(m, n, k, sac, sbr, sbc)}${l2 ? ` + ${productLabel(m, n, k2, s2[1], s2[2], s2[3])}` : ''}`,
    flops: 2 * batch * m * n * (k + k2),
    bytes: 4 * ((copies(c.strides[0], batch) * m + copies(c.strides[1], batch) * n) * k + (copies(c.strides[2], batch) * m + copies(c.strides[3], batch) * n) * k2 + (e.addend ? 2 : 1) * batch * m * n),
  });

  const t = chooseTiling(policy, m, n);
  const tiles: [number, number, number] = [Math.ceil(n / tileN(t)), Math.ceil(m / tileM(t)), batch];
  const fits = tiles.every((g) => g <= ctx.limits.maxWorkgroupsPerDimension);
  // skinny products with a long k (LoRA's rank-r gradients) too: the long-k kernel spreads them over the device
  const worthIt = k + k2 >= 8 && (m * n >= 1024 || k >= 1024);
  const tiled = fits && (policy.matmul === 'tiled' || (policy.matmul === 'auto' && worthIt));
  if (!tiled) {
    const kernel = generatedKernel(`matmul simple ${rb} ${Object.values(e)}`, () => matmulSimpleKernel(rb, e));
    ctx.launch(kernel, [...inputs, out], params, ctx.flatGrid(batch * m * n, FLAT_WORKGROUP), info);
    return out;
  }
  const plain = batch === 1 && !e.scale && !e.bias && !e.addend && !e.plus;
  const longK = batch === 1 && !e.bias && !e.addend && !e.plus && chooseLongK(policy, ctx.limits, m, n, k, tiles[0] * tiles[1], { sar, sac, sbr, sbc }, e.scale);
  if (longK) {
    const kernel = generatedKernel(longKLabel(longK), () => matmulLongKKernel(longK));
    ctx.launch(kernel, [...inputs, out], params, longKGrid(longK, Math.max(m, n)), info);
    return out;
  }
  const splits = plain ? chooseSplits(policy.splitK, tiles[0] * tiles[1], k, t.bk) : 1;
  const variant: TiledVariant = {
    tiling: t, splitK: splits > 1, epilogue: e,
    ...operandLoads(policy.vec4, t, k, sar, sac, sbr, sbc, la.offset, lb.offset, c.strides[0], c.strides[1]),
    plus: l2 && operandLoads(policy.vec4, t, k2, s2[0], s2[1], s2[2], s2[3], l2.a.offset, l2.b.offset, c.strides[2], c.strides[3]),
  };
  const kernel = generatedKernel(`matmul tiled ${rb} ${Object.values(t)} ${tiledLabel(variant)}`, () => matmulTiledKernel(rb, variant));
  if (splits === 1) {
    ctx.launch(kernel, [...inputs, out], params, tiles, info);
    return out;
  }
  // k per split, a multiple of the slice depth; the last split may be shorter
  const chunk = Math.ceil(k / splits / t.bk) * t.bk;
  const used = Math.ceil(k / chunk);
  params.set(kPerSplitAt, chunk);
  const partial = ctx.allocRaw('float32', used * m * n);
  ctx.launch(kernel, [...inputs, partial], params, [tiles[0], tiles[1], used], () => {
    const whole = info();
    return { ...whole, shape: `${whole.shape}, k in ${used} splits` };
  });
  sumSplits(ctx, partial, out, used, m * n);
  ctx.free(partial);
  return out;
}

/** How many distinct copies of an operand a batch reads (1 when it is broadcast). */
function copies(batchStrides: readonly number[], batch: number): number {
  return batchStrides.every((s) => s === 0) ? 1 : batch;
}

/** `m x k · k x n` with ᵀ on an operand read along its other axis (census rows). */
function productLabel(m: number, n: number, k: number, aColStride: number, bRowStride: number, bColStride: number): string {
  return `${m}x${k}${aColStride === 1 ? '' : 'ᵀ'} · ${k}x${n}${bRowStride === 1 && bColStride !== 1 ? 'ᵀ' : ''}`;
}

/**
 * How one product's operands load in the tiled kernel: along k where their elements are adjacent along k,
 * as vec4s where every row also starts 16-byte aligned and k comes in fours (batch offsets too).
 */
function operandLoads(vec4: boolean, t: MatmulTiling, k: number, sar: number, sac: number, sbr: number, sbc: number, oa: number, ob: number, batchA: readonly number[], batchB: readonly number[]): OperandLoads {
  const aAlongK = sac === 1 && sar !== 1, bAlongK = sbr === 1 && sbc !== 1;
  const aligned = vec4 && k % 4 === 0;
  return {
    aAlongK, bAlongK,
    aVec4: aAlongK && aligned && oa % 4 === 0 && sar % 4 === 0 && batchA.every((s) => s % 4 === 0) && vec4Fits(t, tileM(t)),
    bVec4: bAlongK && aligned && ob % 4 === 0 && sbc % 4 === 0 && batchB.every((s) => s % 4 === 0) && vec4Fits(t, tileN(t)),
  };
}

function chooseTiling(p: MatmulPolicy, m: number, n: number): MatmulTiling {
  if (p.narrowTiling && n <= 16 && m >= 256) return p.narrowTiling;
  if (p.shortTiling && m <= 16 && n >= 256) return p.shortTiling;
  if (p.largeTiling && m >= 512 && n >= 512) return p.largeTiling;
  return p.tiling;
}

/**
 * Whether a product runs on the skinny kernel, in which shape: a long k, or (from k = 256 on) tiles too few
 * to keep the device busy. 8 wide outputs per workgroup (32 contiguous bytes where the wide operand is
 * stored along the wide side) and as many k lanes as the device's invocations and workgroup memory allow,
 * up to 128; where it is stored along k, 32 lanes (128 contiguous bytes) for 8 outputs.
 */
function chooseLongK(
  p: MatmulPolicy, l: DeviceLimits, m: number, n: number, k: number, tiles: number,
  s: { sar: number; sac: number; sbr: number; sbc: number }, scaled: boolean,
): LongKVariant | null {
  const wanted = p.splitK === 'always' || (p.splitK === 'auto' && (k >= LONG_K || (k >= 256 && tiles * 4 < TARGET_WORKGROUPS)));
  const narrow = n <= m ? 'n' : 'm';
  const r = Math.min(m, n);
  if (!wanted || r > p.longKNarrowMax) return null;
  // the wide operand's k stride against its stride along the wide side
  const [wideK, wideStride] = narrow === 'n' ? [s.sac, s.sar] : [s.sbr, s.sbc];
  const kAlongX = wideK === 1 && wideStride !== 1;
  const wide = 8;
  let lanes = kAlongX ? 32 : 128;
  while (lanes > 16 && (wide * lanes > l.maxInvocationsPerWorkgroup || longKBytes({ r, wide, lanes }) > l.maxWorkgroupStorageBytes)) lanes /= 2;
  const v: LongKVariant = { narrow, r, kAlongX, wide, lanes, scaled };
  const fits = wide * lanes <= l.maxInvocationsPerWorkgroup && longKBytes(v) <= l.maxWorkgroupStorageBytes && (kAlongX ? l.maxWorkgroupSizeX >= lanes && l.maxWorkgroupSizeY >= wide : l.maxWorkgroupSizeX >= wide && l.maxWorkgroupSizeY >= lanes);
  return fits && longKGrid(v, Math.max(m, n))[0] <= l.maxWorkgroupsPerDimension ? v : null;
}

/** How many ranges of k: 1 unless few tiles face a long k (or the policy forces it). */
function chooseSplits(mode: MatmulPolicy['splitK'], tiles: number, k: number, bk: number): number {
  const most = Math.floor(k / bk);
  if (mode === 'never' || most < 2) return 1;
  if (mode === 'always') return Math.min(most, 4);
  // each split keeps at least 16 slices of k, so the partial sums stay few
  if (tiles * 4 > TARGET_WORKGROUPS || k < LONG_K) return 1;
  return Math.max(1, Math.min(Math.floor(TARGET_WORKGROUPS / tiles), Math.floor(k / (16 * bk))));
}

/** out[j] = Σ_s partial[s, j], in order of s (one invocation per output; reads coalesce across j). */
function sumSplits(ctx: GpuContext, partial: GpuStorage, out: GpuStorage, splits: number, outputs: number): void {
  const spec = { op: 'sum' as const, dtype: 'float32' as const, keptRank: 1, reducedRank: 1, threads: 1 };
  const params = new Params();
  params.push(outputs, outputs, 1, splits, outputs, 0, splits);
  const kernel = generatedKernel(`reduce ${Object.values(spec)}`, () => reduceKernel(spec));
  ctx.launch(kernel, [partial, out], params, ctx.flatGrid(outputs, FLAT_WORKGROUP), () => ({ shape: `${splits}x${outputs} → ${outputs} (split-k sum)`, flops: splits * outputs, bytes: 4 * (splits + 1) * outputs }));
}
