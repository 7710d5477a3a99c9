/**
 * Host side of the multi-tensor kernels (shaders-multi.ts): Backend.sumOfSquares and Backend.scaleAll,
 * which gradient clipping runs over every gradient of a model, and Backend.adamwAll. As many tensors share a dispatch as the
 * device's storage-buffer limit allows (at most 15 for the sum, 7 for the scaling; 7 and 3 under the 8 buffers compatibility mode promises); a short last
 * group repeats its first tensor with length 0.
 */
import { contiguousLayout, isContiguous, sizeOf } from '../../core/layout.ts';
import type { AdamWItem, AdamWResult, AdamWStep, View } from '../backend.ts';
import type { GpuContext, GpuStorage } from './context.ts';
import { Params } from './layouts.ts';
import { generatedKernel } from './pipelines.ts';
import { FLAT_WORKGROUP } from './shaders-elementwise.ts';
import { adamwAllKernel, scaleAllKernel, sumSquaresKernel, SUMSQ_CHUNK } from './shaders-multi.ts';

const usable = (xs: readonly View[]): boolean => xs.length > 0 && xs.every((x) => x.storage.dtype === 'float32' && isContiguous(x.layout));

/** Groups of at most `per` tensors, in order. */
function groups<T>(xs: readonly T[], per: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += per) out.push(xs.slice(i, i + per));
  return out;
}

/**
 * Σ_x Σ x² as a [1] storage: partial sums per 4,096-element chunk of each tensor, then one reduction
 * over the partials (`reduceAll`, which sums a contiguous [n] view). Null for empty, non-float32 or
 * non-contiguous inputs.
 */
export function sumOfSquares(ctx: GpuContext, xs: readonly View[], reduceAll: (v: View) => GpuStorage): GpuStorage | null {
  if (!usable(xs)) return null;
  const per = Math.max(1, Math.min(15, ctx.limits.maxStorageBuffersPerStage - 1));
  const chunks = Math.max(1, Math.ceil(Math.max(...xs.map((x) => sizeOf(x.layout.shape))) / SUMSQ_CHUNK));
  if (chunks > ctx.limits.maxWorkgroupsPerDimension) return null;
  const parts = groups(xs, per);
  const partial = ctx.allocRaw('float32', parts.length * per * chunks);
  const kernel = generatedKernel(`sum of squares ${per}`, () => sumSquaresKernel(per));
  parts.forEach((group, g) => {
    const params = new Params();
    params.push(g * per * chunks);
    const slots = Array.from({ length: per }, (_, j) => group[j] ?? null);
    for (const x of slots) params.push(x ? x.layout.offset : 0, x ? sizeOf(x.layout.shape) : 0);
    const storages = slots.map((x) => ctx.own((x ?? group[0]).storage));
    const elements = group.reduce((n, x) => n + sizeOf(x.layout.shape), 0);
    ctx.launch(kernel, [...storages, partial], params, [chunks, per, 1], () => ({ shape: `${group.length} tensors, ${elements} elements`, flops: 2 * elements, bytes: 4 * elements }));
  });
  const total = reduceAll({ storage: partial, layout: contiguousLayout([parts.length * per * chunks]) });
  ctx.free(partial);
  return total;
}

/** x · factor for every x (fresh contiguous storages, in order); factor: a one-element float32 view. */
export function scaleAll(ctx: GpuContext, xs: readonly View[], factor: View): GpuStorage[] | null {
  if (!usable(xs) || factor.storage.dtype !== 'float32' || sizeOf(factor.layout.shape) !== 1) return null;
  const per = Math.max(1, Math.min(7, Math.floor((ctx.limits.maxStorageBuffersPerStage - 1) / 2)));
  const kernel = generatedKernel(`scale all ${per}`, () => scaleAllKernel(per, FLAT_WORKGROUP));
  const F = ctx.own(factor.storage);
  const outs: GpuStorage[] = [];
  for (const group of groups(xs, per)) {
    const lengths = group.map((x) => sizeOf(x.layout.shape));
    const ys = lengths.map((n) => ctx.allocRaw('float32', n));
    outs.push(...ys);
    const longest = Math.max(...lengths);
    if (longest === 0) continue;
    const params = new Params();
    params.push(factor.layout.offset);
    for (let j = 0; j < per; j++) params.push(group[j]?.layout.offset ?? 0, lengths[j] ?? 0);
    const ins = Array.from({ length: per }, (_, j) => ctx.own((group[j] ?? group[0]).storage));
    // missing slots of a short group write nothing (length 0), but their bindings must not alias another
    // writable one: each gets a one-element scratch
    const spare = Array.from({ length: per - group.length }, () => ctx.allocRaw('float32', 1));
    const targets = [...ys, ...spare];
    const [gx, gy] = ctx.flatGrid(longest, FLAT_WORKGROUP);
    const elements = lengths.reduce((a, b) => a + b, 0);
    ctx.launch(kernel, [...ins, F, ...targets], params, [gx, gy, per], () => ({ shape: `${group.length} tensors, ${elements} elements`, flops: elements, bytes: 8 * elements }));
    for (const s of spare) ctx.free(s);
  }
  return outs;
}

/**
 * Backend.adamwAll: as many parameters per dispatch as the storage-buffer limit allows (7 bindings each,
 * 8 with a mask; 4 and 5 for items updated in place; items grouped by mask and in-place). Null where fewer
 * than two fit a dispatch (one adamw per parameter is then as good) or an operand is not contiguous float32
 * of p's length.
 */
export function adamwAll(ctx: GpuContext, items: readonly AdamWItem[], h: Omit<AdamWStep, 'weightDecay'>): AdamWResult[] | null {
  const fits = items.every((it) => {
    const n = sizeOf(it.p.layout.shape);
    return [it.p, it.g, it.m, it.v, ...(it.mask ? [it.mask] : [])].every((x) => x.storage.dtype === 'float32' && isContiguous(x.layout) && sizeOf(x.layout.shape) === n);
  });
  if (!fits || items.length === 0) return null;
  const limit = ctx.limits.maxStorageBuffersPerStage;
  const bindings = (masked: boolean, inPlace: boolean) => (inPlace ? 4 : 7) + (masked ? 1 : 0);
  if (items.some((it) => Math.floor(limit / bindings(it.mask !== null, it.inPlace === true)) < 2)) return null;
  const results: AdamWResult[] = new Array(items.length);
  for (const [masked, inPlace] of [[false, false], [true, false], [false, true], [true, true]]) {
    const idx = items.map((_, i) => i).filter((i) => (items[i].mask !== null) === masked && (items[i].inPlace === true) === inPlace);
    const per = Math.min(8, Math.floor(limit / bindings(masked, inPlace)));
    const kernel = generatedKernel(`adamw all ${masked} ${per} ${inPlace}`, () => adamwAllKernel(masked, per, FLAT_WORKGROUP, inPlace));
    for (const group of groups(idx, per)) {
      const params = new Params();
      for (const x of [h.beta1, 1 - h.beta1, h.beta2, 1 - h.beta2, h.eps, h.lr / h.bc1, h.bc2Sqrt]) params.pushFloat(x);
      const storages: GpuStorage[] = [];
      const spare: GpuStorage[] = [];
      let longest = 0, elements = 0;
      for (let j = 0; j < per; j++) {
        const it = group[j] === undefined ? null : items[group[j]];
        const n = it ? sizeOf(it.p.layout.shape) : 0;
        longest = Math.max(longest, n);
        elements += n;
        const views = it ? [it.p, it.g, it.m, it.v, ...(masked ? [it.mask!] : [])] : null;
        params.push(n, ...(views ? views.map((v) => v.layout.offset) : new Array(masked ? 5 : 4).fill(0)));
        params.pushFloat(it ? 1 - h.lr * it.weightDecay : 1);
        if (inPlace) {
          // a missing slot binds scratch of its own (length 0): a buffer written twice in one dispatch is invalid
          const own = views ? views.map((v) => ctx.own(v.storage)) : Array.from({ length: masked ? 5 : 4 }, () => ctx.allocRaw('float32', 1));
          storages.push(...own);
          if (it) results[group[j]] = { p: own[0], m: own[2], v: own[3] };
          else spare.push(...own);
          continue;
        }
        // a missing slot reads the group's first parameter and writes scratch it never touches (length 0)
        const first = items[group[0]];
        storages.push(...(views ?? [first.p, first.g, first.m, first.v, ...(masked ? [first.mask!] : [])]).map((v) => ctx.own(v.storage)));
        const outs = [0, 1, 2].map(() => ctx.allocRaw('float32', it ? n : 1));
        storages.push(...outs);
        if (it) results[group[j]] = { p: outs[0], m: outs[1], v: outs[2] };
        else spare.push(...outs);
      }
      if (longest > 0) {
        const [gx, gy] = ctx.flatGrid(longest, FLAT_WORKGROUP);
        ctx.launch(kernel, storages, params, [gx, gy, per], () => ({ shape: `${group.length} tensors, ${elements} elements`, flops: 12 * elements, bytes: 4 * (masked ? 8 : 7) * elements }));
      }
      for (const s of spare) ctx.free(s);
    }
  }
  return results;
}
