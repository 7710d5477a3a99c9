/**
 * Host side of every kernel: shapes and strides are coalesced, packed into the parameter block, the
 * variant is chosen for the sizes and the device, and the dispatch is recorded. Nothing here waits for
 * the GPU; results stay on the device until someone reads them.
 */
import { BackendError } from '../../core/errors.ts';
import type { DType } from '../../core/dtype.ts';
import { contiguousLayout, contiguousStrides, isContiguous, sizeOf, type Layout } from '../../core/layout.ts';
import type { AdamWResult, AdamWStep, LayerNormGrads, LayerNormResult, RandomKind, ReduceOp, View } from '../backend.ts';
import type { GpuContext, GpuStorage } from './context.ts';
import { coalesce, coalesceWithOutput, Params } from './layouts.ts';
import { generatedKernel } from './pipelines.ts';
import { adamwKernel, FLAT_WORKGROUP, gatherKernel, pointwiseKernel, randomKernel } from './shaders-elementwise.ts';
import { recordMatmul, type MatmulOptions, type MatmulPolicy } from './kernels-matmul.ts';
import { columnNormEmaKernel, reduceColumnsKernel, reduceKernel, scatterAddKernel } from './shaders-reduce.ts';
import { scaleAll, sumOfSquares } from './kernels-multi.ts';
import { pow2Floor, RowKernels } from './kernels-rows.ts';

export interface KernelPolicy extends MatmulPolicy {
  /** workgroup-memory combines for long rows and long reductions */
  workgroupReductions: boolean;
}

/** Shape for census rows: 4096x768 (a scalar is '1'). */
const dims = (shape: readonly number[]): string => (shape.length ? shape.join('x') : '1');

export class Kernels {
  private readonly rows: RowKernels;

  constructor(
    private readonly ctx: GpuContext,
    private readonly policy: KernelPolicy,
  ) {
    this.rows = new RowKernels(ctx, policy.workgroupReductions, (x) => this.copy(x, x.storage.dtype));
  }

  /** out = expr(views) over views[0]'s shape, contiguous. */
  pointwise(expr: string, views: readonly View[], outDtype: DType): GpuStorage {
    const shape = views[0].layout.shape;
    const n = sizeOf(shape);
    const out = this.ctx.allocRaw(outDtype, n);
    if (n === 0) return out;
    const inputs = views.map((v) => this.ctx.own(v.storage));
    const c = coalesceWithOutput(shape, views.map((v) => v.layout.strides));
    const params = new Params();
    params.push(n, ...c.shape);
    views.forEach((v, j) => params.push(...c.strides[j], v.layout.offset));
    const dtypes = inputs.map((s) => s.dtype);
    const kernel = generatedKernel(`pointwise ${expr} ${dtypes} ${outDtype} ${c.shape.length}`, () =>
      pointwiseKernel({ expr, inputs: dtypes, out: outDtype, rank: c.shape.length, stridedOut: false }));
    this.ctx.launch(kernel, [...inputs, out], params, this.ctx.flatGrid(n, FLAT_WORKGROUP), () => ({ shape: dims(shape), flops: n, bytes: 4 * n * (views.length + 1) }));
    return out;
  }

  copy(x: View, outDtype: DType): GpuStorage {
    const src = this.ctx.own(x.storage);
    const n = sizeOf(x.layout.shape);
    if (src.dtype === outDtype && isContiguous(x.layout) && n > 0) {
      const out = this.ctx.allocRaw(outDtype, n);
      this.ctx.copyBytes(src, x.layout.offset, out, 0, n);
      return out;
    }
    return this.pointwise('a', [x], outDtype);
  }

  assign(dst: View, src: View): void {
    const shape = dst.layout.shape;
    const n = sizeOf(shape);
    if (n === 0) return;
    const target = this.ctx.own(dst.storage);
    // reading and writing one buffer in one dispatch would race: go through a copy
    const aliased = src.storage === dst.storage;
    const from: View = aliased ? { storage: this.copy(src, src.storage.dtype), layout: contiguousLayout(shape) } : src;
    const c = coalesce(shape, [from.layout.strides, dst.layout.strides]);
    const params = new Params();
    params.push(n, ...c.shape, ...c.strides[0], from.layout.offset, ...c.strides[1], dst.layout.offset);
    const source = this.ctx.own(from.storage);
    const kernel = generatedKernel(`assign ${source.dtype} ${target.dtype} ${c.shape.length}`, () =>
      pointwiseKernel({ expr: 'a', inputs: [source.dtype], out: target.dtype, rank: c.shape.length, stridedOut: true }));
    this.ctx.launch(kernel, [source, target], params, this.ctx.flatGrid(n, FLAT_WORKGROUP), () => ({ shape: dims(shape), flops: 0, bytes: 8 * n }));
    if (aliased) this.ctx.free(from.storage);
  }

  reduce(op: ReduceOp, x: View, axes: readonly number[]): GpuStorage {
    const { shape, strides, offset } = x.layout;
    const kept = shape.map((_, d) => d).filter((d) => !axes.includes(d));
    const keptShape = kept.map((d) => shape[d]);
    const redShape = axes.map((d) => shape[d]);
    const outputs = sizeOf(keptShape);
    const src = this.ctx.own(x.storage);
    const out = this.ctx.allocRaw(src.dtype, outputs);
    if (outputs === 0) return out;
    const k = coalesce(keptShape, [kept.map((d) => strides[d]), contiguousStrides(keptShape)]);
    const r = coalesce(redShape, [axes.map((d) => strides[d])]);
    const group = sizeOf(redShape);
    const info = () => ({ shape: `${dims(shape)} → ${dims(keptShape)}`, flops: outputs * group, bytes: 4 * (outputs * group + outputs) });
    // contiguous outputs over one long strided dim: adjacent outputs share a workgroup (reduceColumnsKernel)
    const columns = this.policy.workgroupReductions && k.shape.length === 1 && k.strides[0][0] === 1 && r.shape.length === 1 && group >= 256 && outputs < 65536;
    if (columns && this.ctx.limits.maxInvocationsPerWorkgroup >= 256 && this.ctx.limits.maxWorkgroupSizeY >= 8) {
      const params = new Params();
      params.push(outputs, group, r.strides[0][0], offset);
      const kernel = generatedKernel(`reduce columns ${op} ${src.dtype}`, () => reduceColumnsKernel(op, src.dtype, 32, 8));
      this.ctx.launch(kernel, [src, out], params, this.ctx.flatGrid(Math.ceil(outputs / 32), 1), info);
      return out;
    }
    // long groups get a workgroup each while there are few enough outputs to give every one a workgroup
    const threads = this.policy.workgroupReductions && group >= 256 && outputs <= 16384 ? this.workgroupThreads(group >= 1024 ? 256 : 64) : 1;
    const params = new Params();
    params.push(outputs, ...k.shape, ...k.strides[0], ...r.shape, ...r.strides[0], offset, group);
    const spec = { op, dtype: src.dtype, keptRank: k.shape.length, reducedRank: r.shape.length, threads };
    const kernel = generatedKernel(`reduce ${Object.values(spec)}`, () => reduceKernel(spec));
    this.ctx.launch(kernel, [src, out], params, threads === 1 ? this.ctx.flatGrid(outputs, FLAT_WORKGROUP) : this.ctx.flatGrid(outputs, 1), info);
    return out;
  }

  matmul(a: View, b: View, opts?: MatmulOptions): GpuStorage {
    return recordMatmul(this.ctx, this.policy, a, b, opts);
  }

  gather(x: View, axis: number, index: View): GpuStorage {
    const shape = index.layout.shape;
    const n = sizeOf(shape);
    const src = this.ctx.own(x.storage);
    const out = this.ctx.allocRaw(src.dtype, n);
    if (n === 0) return out;
    const xStrides = x.layout.strides.map((s, d) => (d === axis ? 0 : s));
    const c = coalesceWithOutput(shape, [index.layout.strides, xStrides]);
    const params = new Params();
    params.push(n, x.layout.shape[axis], x.layout.strides[axis], ...c.shape, ...c.strides[0], index.layout.offset, ...c.strides[1], x.layout.offset);
    const kernel = generatedKernel(`gather ${src.dtype} ${c.shape.length}`, () => gatherKernel(src.dtype, c.shape.length));
    this.ctx.launch(kernel, [src, this.ctx.own(index.storage), out], params, this.ctx.flatGrid(n, FLAT_WORKGROUP), () => ({ shape: dims(shape), flops: 0, bytes: 12 * n }));
    return out;
  }

  scatterAdd(shape: readonly number[], dtype: DType, axis: number, index: View, src: View): GpuStorage {
    const out = this.ctx.allocZeroed(dtype, sizeOf(shape));
    const is = index.layout.shape;
    const lines = sizeOf(is.filter((_, d) => d !== axis));
    if (lines === 0 || is[axis] === 0) return out;
    const others = (v: readonly number[]) => v.filter((_, d) => d !== axis);
    const outStrides = contiguousStrides(shape);
    const c = coalesce(others(is), [others(index.layout.strides), others(src.layout.strides), others(outStrides)]);
    const params = new Params();
    params.push(lines, is[axis], shape[axis], index.layout.strides[axis], src.layout.strides[axis], outStrides[axis]);
    params.push(...c.shape, ...c.strides[0], index.layout.offset, ...c.strides[1], src.layout.offset, ...c.strides[2]);
    const inputs = [this.ctx.own(index.storage), this.ctx.own(src.storage), out];
    const kernel = generatedKernel(`scatterAdd ${dtype} ${c.shape.length}`, () => scatterAddKernel(dtype, c.shape.length));
    this.ctx.launch(kernel, inputs, params, this.ctx.flatGrid(lines, FLAT_WORKGROUP), () => ({ shape: `${dims(is)} → ${dims(shape)}`, flops: sizeOf(is), bytes: 12 * sizeOf(is) }));
    return out;
  }

  softmax(x: View, log: boolean, scale?: number, mask?: View | null): GpuStorage {
    return this.rows.softmax(x, log, scale, mask);
  }

  softmaxBackward(y: View, g: View, log: boolean, scale: number): GpuStorage {
    return this.rows.softmaxBackward(y, g, log, scale);
  }

  layerNorm(x: View, weight: View, bias: View, eps: number): LayerNormResult {
    return this.rows.layerNorm(x, weight, bias, eps);
  }

  layerNormBackward(g: View, x: View, weight: View, mean: View, rstd: View, paramGrads: boolean): LayerNormGrads {
    return this.rows.layerNormBackward(g, x, weight, mean, rstd, paramGrads);
  }

  random(kind: RandomKind, dtype: DType, length: number, seed: number, offset: number): GpuStorage {
    if (dtype === 'int32') throw new BackendError('webgpu: random numbers are float, not int32');
    const out = this.ctx.allocRaw(dtype, length);
    if (length === 0) return out;
    const blocks = Math.ceil(length / 4);
    const params = new Params();
    params.push(blocks, length, seed >>> 0, Math.floor(seed / 4294967296) >>> 0, offset >>> 0, Math.floor(offset / 4294967296) >>> 0);
    this.ctx.launch(generatedKernel(`random ${kind}`, () => randomKernel(kind)), [out], params, this.ctx.flatGrid(blocks, FLAT_WORKGROUP), () => ({ shape: `${length}`, flops: 0, bytes: 4 * length }));
    return out;
  }

  /** Null where the device cannot bind the kernel's storage buffers (compatibility mode allows 4). */
  adamw(p: View, g: View, m: View, v: View, mask: View | null, h: AdamWStep): AdamWResult | null {
    const inputs = [p, g, m, v, ...(mask ? [mask] : [])];
    if (inputs.length + 3 > this.ctx.limits.maxStorageBuffersPerStage) return null;
    const n = sizeOf(p.layout.shape);
    const out = { p: this.ctx.allocRaw('float32', n), m: this.ctx.allocRaw('float32', n), v: this.ctx.allocRaw('float32', n) };
    if (n === 0) return out;
    const params = new Params();
    params.push(n, ...inputs.map((x) => x.layout.offset));
    for (const x of [h.beta1, 1 - h.beta1, h.beta2, 1 - h.beta2, h.eps, 1 - h.lr * h.weightDecay, h.lr / h.bc1, h.bc2Sqrt]) params.pushFloat(x);
    const storages = [...inputs.map((x) => this.ctx.own(x.storage)), out.p, out.m, out.v];
    this.ctx.launch(generatedKernel(`adamw ${mask !== null}`, () => adamwKernel(mask !== null)), storages, params, this.ctx.flatGrid(n, FLAT_WORKGROUP), () => ({
      shape: dims(p.layout.shape), flops: 12 * n, bytes: 4 * n * storages.length,
    }));
    return out;
  }

  sumOfSquares(xs: readonly View[]): GpuStorage | null {
    return sumOfSquares(this.ctx, xs, (v) => this.reduce('sum', v, [0]));
  }

  scaleAll(xs: readonly View[], factor: View): GpuStorage[] | null {
    return scaleAll(this.ctx, xs, factor);
  }

  columnNormEma(x: View, rowMask: View | null, prev: View, beta: number, inPlace: boolean): GpuStorage {
    const [rows, cols] = x.layout.shape;
    const out = inPlace ? this.ctx.own(prev.storage) : this.ctx.allocRaw('float32', cols);
    if (cols === 0) return out;
    const params = new Params();
    params.push(cols, rows, x.layout.offset, rowMask?.layout.offset ?? 0, prev.layout.offset);
    params.pushFloat(beta);
    const inputs = [x, ...(rowMask ? [rowMask] : []), ...(inPlace ? [] : [prev])].map((v) => this.ctx.own(v.storage));
    const l = this.ctx.limits, cw = Math.min(32, pow2Floor(l.maxWorkgroupSizeX));
    const lanes = this.policy.workgroupReductions ? Math.max(1, Math.min(32, pow2Floor(l.maxInvocationsPerWorkgroup / cw), pow2Floor(l.maxWorkgroupSizeY))) : 1;
    const kernel = generatedKernel(`columnNormEma ${rowMask !== null} ${inPlace} ${cw} ${lanes}`, () => columnNormEmaKernel(rowMask !== null, inPlace, cw, lanes));
    this.ctx.launch(kernel, [...inputs, out], params, this.ctx.flatGrid(Math.ceil(cols / cw), 1), () => ({ shape: `${rows}x${cols}`, flops: 3 * rows * cols, bytes: 4 * rows * cols }));
    return out;
  }

  private workgroupThreads(wanted: number): number {
    return this.rows.workgroupThreads(wanted);
  }
}
