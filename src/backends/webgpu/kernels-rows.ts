/**
 * Host side of the row kernels (shaders-rows.ts): softmax with an optional scale and additive mask, its
 * backward, layer norm and its backward. Row kernels read rows at `offset + row·cols`; an operand in any
 * other layout is copied into that form first. Long rows get a workgroup each (threads from `rowThreads`).
 */
import { contiguousLayout, isContiguous, type Layout } from '../../core/layout.ts';
import type { LayerNormGrads, LayerNormResult, View } from '../backend.ts';
import type { GpuContext, GpuStorage } from './context.ts';
import { coalesceWithOutput, Params } from './layouts.ts';
import { generatedKernel } from './pipelines.ts';
import { FLAT_WORKGROUP } from './shaders-elementwise.ts';
import { layerNormBackwardKernel, layerNormKernel, layerNormParamGradKernel, softmaxBackwardKernel, softmaxKernel } from './shaders-rows.ts';

/** The largest power of two ≤ n. */
export const pow2Floor = (n: number): number => 2 ** Math.floor(Math.log2(Math.max(1, n)));

export class RowKernels {
  constructor(
    private readonly ctx: GpuContext,
    private readonly workgroupReductions: boolean,
    /** copies a view into contiguous storage (Kernels.copy) */
    private readonly copy: (x: View) => GpuStorage,
  ) {}

  /**
   * softmax(scale·x + mask) (or log-softmax) over the last dim of [rows, cols]; `mask` has shape
   * [...row dims, cols] with rows = Π row dims, any strides (broadcast included).
   */
  softmax(x: View, log: boolean, scale = 1, mask: View | null = null): GpuStorage {
    const [rows, cols] = x.layout.shape;
    const out = this.ctx.allocRaw('float32', rows * cols);
    if (rows * cols === 0) return out;
    const { view, temp } = this.rows(x);
    const threads = this.rowThreads(cols);
    const params = new Params();
    params.push(rows, cols, view.layout.offset);
    params.pushFloat(scale);
    let maskRank = 0;
    const storages = [this.ctx.own(view.storage)];
    if (mask) {
      const ml = mask.layout;
      const rowDims = ml.shape.slice(0, -1);
      const c = coalesceWithOutput(rowDims, [ml.strides.slice(0, -1)]);
      // a mask whose row coordinates all coalesce away (one row pattern) still needs rank ≥ 1
      const shape = c.shape.length ? c.shape : [1];
      const strides = c.shape.length ? c.strides[0] : [0];
      maskRank = shape.length;
      params.push(ml.strides[ml.shape.length - 1], ml.offset, ...shape, ...strides);
      storages.push(this.ctx.own(mask.storage));
    } else {
      params.push(0, 0);
    }
    const spec = { log, threads, maskRank };
    const kernel = generatedKernel(`softmax ${Object.values(spec)}`, () => softmaxKernel(spec));
    this.ctx.launch(kernel, [...storages, out], params, this.rowGrid(rows, threads), () => ({
      shape: `${rows}x${cols}${mask ? ' +mask' : ''}${scale !== 1 ? ' ·scale' : ''}`, flops: 5 * rows * cols, bytes: 4 * rows * cols * (mask ? 3 : 2),
    }));
    if (temp) this.ctx.free(temp);
    return out;
  }

  /** The softmax (log-softmax) VJP from the output y and the incoming gradient g, times `scale`. */
  softmaxBackward(y: View, g: View, log: boolean, scale: number): GpuStorage {
    const [rows, cols] = y.layout.shape;
    const out = this.ctx.allocRaw('float32', rows * cols);
    if (rows * cols === 0) return out;
    const ys = this.rows(y), gs = this.rows(g);
    const threads = this.rowThreads(cols);
    const params = new Params();
    params.push(rows, cols, ys.view.layout.offset, gs.view.layout.offset);
    params.pushFloat(scale);
    const kernel = generatedKernel(`softmax backward ${log} ${threads}`, () => softmaxBackwardKernel(log, threads));
    this.ctx.launch(kernel, [this.ctx.own(ys.view.storage), this.ctx.own(gs.view.storage), out], params, this.rowGrid(rows, threads), () => ({
      shape: `${rows}x${cols}`, flops: 4 * rows * cols, bytes: 12 * rows * cols,
    }));
    for (const t of [ys.temp, gs.temp]) if (t) this.ctx.free(t);
    return out;
  }

  layerNorm(x: View, weight: View, bias: View, eps: number): LayerNormResult {
    const [rows, cols] = x.layout.shape;
    const { view, temp } = this.rows(x);
    const y = this.ctx.allocRaw('float32', rows * cols);
    const mean = this.ctx.allocRaw('float32', rows);
    const rstd = this.ctx.allocRaw('float32', rows);
    if (rows > 0) {
      const threads = this.rowThreads(cols);
      const params = new Params();
      params.push(rows, cols, view.layout.offset, weight.layout.strides[0] ?? 0, weight.layout.offset, bias.layout.strides[0] ?? 0, bias.layout.offset);
      params.pushFloat(eps);
      const storages = [this.ctx.own(view.storage), this.ctx.own(weight.storage), this.ctx.own(bias.storage), y, mean, rstd];
      this.ctx.launch(generatedKernel(`layerNorm ${threads}`, () => layerNormKernel(threads)), storages, params, this.rowGrid(rows, threads), () => ({
        shape: `${rows}x${cols}`, flops: 8 * rows * cols, bytes: 8 * rows * cols,
      }));
    }
    if (temp) this.ctx.free(temp);
    return { y, mean, rstd };
  }

  /** Backend.layerNormBackward: dx per row, and with `paramGrads` the weight and bias gradients. */
  layerNormBackward(g: View, x: View, weight: View, mean: View, rstd: View, paramGrads: boolean): LayerNormGrads {
    const [rows, cols] = x.layout.shape;
    const dx = this.ctx.allocRaw('float32', rows * cols);
    const dweight = paramGrads ? this.ctx.allocRaw('float32', cols) : null;
    const dbias = paramGrads ? this.ctx.allocRaw('float32', cols) : null;
    if (rows === 0) {
      for (const s of [dweight, dbias]) if (s) this.ctx.clear(s);
      return { dx, dweight, dbias };
    }
    const xs = this.rows(x), gs = this.rows(g);
    const X = this.ctx.own(xs.view.storage), G = this.ctx.own(gs.view.storage), M = this.ctx.own(mean.storage), R = this.ctx.own(rstd.storage);
    const threads = this.rowThreads(cols);
    const params = new Params();
    params.push(rows, cols, xs.view.layout.offset, weight.layout.strides[0] ?? 0, weight.layout.offset, gs.view.layout.offset, mean.layout.offset, rstd.layout.offset);
    const kernel = generatedKernel(`layerNorm backward ${threads}`, () => layerNormBackwardKernel(threads));
    this.ctx.launch(kernel, [X, this.ctx.own(weight.storage), G, M, R, dx], params, this.rowGrid(rows, threads), () => ({
      shape: `${rows}x${cols}`, flops: 10 * rows * cols, bytes: 12 * rows * cols,
    }));
    if (dweight && dbias) {
      // 32 adjacent columns per workgroup, the rest of the workgroup's invocations walking the rows
      const cw = Math.min(32, pow2Floor(this.ctx.limits.maxWorkgroupSizeX));
      const lanes = Math.max(2, Math.min(8, pow2Floor(this.ctx.limits.maxInvocationsPerWorkgroup / cw), pow2Floor(this.ctx.limits.maxWorkgroupSizeY)));
      const pk = new Params();
      pk.push(rows, cols, xs.view.layout.offset, gs.view.layout.offset, mean.layout.offset, rstd.layout.offset);
      const grads = generatedKernel(`layerNorm param grads ${cw} ${lanes}`, () => layerNormParamGradKernel(cw, lanes));
      this.ctx.launch(grads, [X, G, M, R, dweight, dbias], pk, this.ctx.flatGrid(Math.ceil(cols / cw), 1), () => ({
        shape: `${rows}x${cols} → 2x${cols}`, flops: 4 * rows * cols, bytes: 8 * rows * cols,
      }));
    }
    for (const t of [xs.temp, gs.temp]) if (t) this.ctx.free(t);
    return { dx, dweight, dbias };
  }

  private rows(x: View): { view: View; temp: GpuStorage | null } {
    if (isContiguous(x.layout)) return { view: x, temp: null };
    const temp = this.copy(x);
    return { view: { storage: temp, layout: contiguousLayout(x.layout.shape) as Layout }, temp };
  }

  rowThreads(cols: number): number {
    if (!this.workgroupReductions || cols < 64) return 1;
    return this.workgroupThreads(cols >= 1024 ? 256 : 64);
  }

  workgroupThreads(wanted: number): number {
    return Math.min(wanted, pow2Floor(Math.min(this.ctx.limits.maxInvocationsPerWorkgroup, this.ctx.limits.maxWorkgroupSizeX)));
  }

  rowGrid(rows: number, threads: number): [number, number, number] {
    return threads === 1 ? this.ctx.flatGrid(rows, FLAT_WORKGROUP) : this.ctx.flatGrid(rows, 1);
  }
}
