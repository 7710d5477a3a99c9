/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend: storage is pooled GPU buffers, every kernel a WGSL compute shader generated for its
 * op, dtypes and rank (pointwise ones from the same declarations as the CPU's, ../pointwise.ts). Commands
 * are batched and submitted together; only `read` waits for the device, so there is no `readSync`.
 * float32 and int32 only: WebGPU has no float64. Sums accumulate in float32 (the CPU uses float64), and
 * pointwise ops on int32 compute in float32 (exact up to 2^24; copies move the bits). Gather and
 * scatter-add clamp out-of-range indices, which the CPU rejects on the host.
 *
 * Registered as 'webgpu'. Importing this module starts nothing: Dawn (in Node) or `navigator.gpu` (in a
 * browser) is opened by `createWebGPUBackend()`.
 */
import type { AdamWItem, AdamWResult, AdamWStep, Backend, CensusReport, LayerNormGrads, LayerNormResult, MatmulEpilogue, RandomKind, ReduceOp, StepReplays, Storage, View } from '../backend.ts';
import { BINARY, TERNARY, UNARY, type BinaryOp, type TernaryOp, type UnaryOp } from '../pointwise.ts';
import type { DType, TypedArray } from '../../core/dtype.ts';
import { GpuContext } from './context.ts';
import { describeAdapter, openDevice, type AdapterDescription, type OpenedDevice } from './device.ts';
import { adamwAll } from './kernels-multi.ts';
import { Kernels, type KernelPolicy } from './kernels.ts';
import { LONG_K_MAX_NARROW } from './shaders-matmul-long-k.ts';
import type { PoolStats } from './pool.ts';

export interface WebGPUBackendOptions {
  /** the GPU to use; default: `navigator.gpu` in a browser, Dawn in Node */
  gpu?: GPU;
  /** matmul kernel: 'auto' picks the tiled one for products big enough to fill its tiles */
  matmul?: KernelPolicy['matmul'];
  /** long-k products (the long-k kernel where a side is ≤ 16, else split-k): 'auto', 'always' (tests), 'never' */
  splitK?: KernelPolicy['splitK'];
  /** vec4 loads in the tiled matmul where aligned (default on) */
  vec4?: boolean;
  /** workgroup-memory combines for long rows and reductions (default on) */
  workgroupReductions?: boolean;
  /** commands recorded before a submit is forced (default 256) */
  maxCommandsPerSubmit?: number;
  /**
   * freed buffers kept for reuse, in bytes (default 4 GiB: a BERT-base step at batch 32 × 128 frees more
   * than 1 GiB of activations, which a smaller pool would destroy and create again every step)
   */
  maxPooledBytes?: number;
  /**
   * replayable step recordings kept at once (default 4; src/backends/webgpu/replay.ts): each keeps its
   * step's working set out of the pool, so a run over many batch shapes keeps the most recent ones
   */
  maxRecordings?: number;
}

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  readonly adapter: AdapterDescription;
  private readonly ctx: GpuContext;
  private readonly kernels: Kernels;

  constructor(opened: OpenedDevice, opts: WebGPUBackendOptions = {}) {
    this.adapter = opened.adapter;
    this.ctx = new GpuContext(opened, {
      maxCommandsPerSubmit: opts.maxCommandsPerSubmit ?? 256,
      maxPooledBytes: opts.maxPooledBytes ?? 2 ** 32,
      maxRecordings: opts.maxRecordings ?? 4,
    });
    this.kernels = new Kernels(this.ctx, {
      matmul: opts.matmul ?? 'auto',
      splitK: opts.splitK ?? 'auto',
      vec4: opts.vec4 ?? true,
      workgroupReductions: opts.workgroupReductions ?? true,
      ...chooseTilings(opened.limits),
    });
  }

  /** Where the kernels run, for logs: vendor / architecture / device (API, feature level). */
  describe(): string {
    return describeAdapter(this.adapter);
  }

  alloc(dtype: DType, length: number): Storage {
    return this.ctx.allocZeroed(dtype, length);
  }

  free(storage: Storage): void {
    this.ctx.free(storage);
  }

  write(storage: Storage, data: TypedArray, offset = 0): void {
    this.ctx.write(storage, data, offset);
  }

  read(storage: Storage): Promise<TypedArray> {
    return this.ctx.read(storage);
  }

  liveBuffers(): number {
    return this.ctx.liveStorages;
  }

  unary(op: UnaryOp, x: View, outDtype: DType): Storage {
    return this.kernels.pointwise(UNARY[op].wgsl, [x], outDtype);
  }

  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage {
    return this.kernels.pointwise(BINARY[op].wgsl, [a, b], outDtype);
  }

  ternary(op: TernaryOp, a: View, b: View, c: View, outDtype: DType): Storage {
    return this.kernels.pointwise(TERNARY[op].wgsl, [a, b, c], outDtype);
  }

  copy(x: View, outDtype: DType): Storage {
    return this.kernels.copy(x, outDtype);
  }

  assign(dst: View, src: View): void {
    this.kernels.assign(dst, src);
  }

  reduce(op: ReduceOp, x: View, axes: readonly number[]): Storage {
    return this.kernels.reduce(op, x, axes);
  }

  matmul(a: View, b: View): Storage {
    return this.kernels.matmul(a, b);
  }

  gather(x: View, axis: number, index: View): Storage {
    return this.kernels.gather(x, axis, index);
  }

  scatterAdd(shape: readonly number[], dtype: DType, axis: number, index: View, src: View): Storage {
    return this.kernels.scatterAdd(shape, dtype, axis, index, src);
  }

  softmax(x: View, log: boolean): Storage {
    return this.kernels.softmax(x, log);
  }

  layerNorm(x: View, weight: View, bias: View, eps: number): LayerNormResult {
    return this.kernels.layerNorm(x, weight, bias, eps);
  }

  matmulEpilogue(a: View, b: View, e: MatmulEpilogue): Storage {
    return this.kernels.matmul(a, b, e);
  }

  scaledMaskedSoftmax(x: View, scale: number, mask: View | null): Storage {
    return this.kernels.softmax(x, false, scale, mask);
  }

  softmaxBackward(y: View, g: View, log: boolean, scale: number): Storage {
    return this.kernels.softmaxBackward(y, g, log, scale);
  }

  layerNormBackward(g: View, x: View, weight: View, mean: View, rstd: View, paramGrads: boolean): LayerNormGrads {
    return this.kernels.layerNormBackward(g, x, weight, mean, rstd, paramGrads);
  }

  random(kind: RandomKind, dtype: DType, length: number, seed: number, offset: number): Storage {
    return this.kernels.random(kind, dtype, length, seed, offset);
  }

  adamw(p: View, g: View, m: View, v: View, mask: View | null, h: AdamWStep): AdamWResult | null {
    return this.kernels.adamw(p, g, m, v, mask, h);
  }

  adamwAll(items: readonly AdamWItem[], h: AdamWStep): AdamWResult[] | null {
    return adamwAll(this.ctx, items, h);
  }

  sumOfSquares(xs: readonly View[]): Storage | null {
    return this.kernels.sumOfSquares(xs);
  }

  scaleAll(xs: readonly View[], factor: View): Storage[] | null {
    return this.kernels.scaleAll(xs, factor);
  }

  columnNormEma(x: View, rowMask: View | null, prev: View, beta: number, inPlace = false): Storage {
    return this.kernels.columnNormEma(x, rowMask, prev, beta, inPlace);
  }

  /** Submit the recorded commands now instead of at the end of the current task. */
  flush(): void {
    this.ctx.queue.flush();
  }

  /** Resolve when every command recorded so far has run on the device. */
  idle(): Promise<void> {
    return this.ctx.idle();
  }

  /** Backend.replays: recorded-step replay (replay.ts). */
  get replays(): StepReplays {
    return this.ctx.replays;
  }

  /** Backend.startCensus: count (and, with timestamps where the device has them, time) every dispatch. */
  startCensus(opts: { dryRun?: boolean; timestamps?: boolean } = {}): void {
    this.ctx.startCensus(opts);
  }

  stopCensus(): Promise<CensusReport> {
    return this.ctx.stopCensus();
  }

  /** The limits the kernels size themselves by. */
  get limits(): OpenedDevice['limits'] {
    return this.ctx.limits;
  }

  /** The optional device features in use (device.ts OPTIONAL_FEATURES). */
  get features(): string[] {
    return [...this.ctx.features];
  }

  /** Bind groups served from the cache and created, since start. */
  get bindGroupStats(): { hits: number; misses: number; cached: number } {
    const c = this.ctx.bindGroups;
    return { hits: c.hits, misses: c.misses, cached: c.size };
  }

  poolStats(): PoolStats {
    return this.ctx.poolStats();
  }

  /** Distinct compute pipelines compiled so far. */
  get pipelineCount(): number {
    return this.ctx.pipelines.size;
  }

  /** Kernel dispatches recorded so far. */
  get dispatchCount(): number {
    return this.ctx.queue.dispatchCount;
  }

  /** Host seconds spent in submits so far (Backend.submitSeconds). */
  get submitSeconds(): number {
    return this.ctx.queue.submitSeconds;
  }

  /** Command buffers submitted so far. */
  get submitCount(): number {
    return this.ctx.queue.submitCount;
  }

  /** Keep a device error to raise at the next read (errors arrive asynchronously, between calls). */
  recordDeviceError(message: string): void {
    this.ctx.queue.recordFailure(message);
  }

  /** Release the device (pooled buffers included); the backend is unusable afterwards. */
  destroy(): void {
    this.ctx.destroy();
  }
}

/**
 * Matmul tiles: 64×64 outputs with 4×4 per invocation where 256 invocations fit (else 32×32 with 64), and
 * for products of at least 512×512 a 128×128 tile with 8×8 per invocation, which halves the loads per
 * multiply-add again at the price of 64 accumulators per invocation. Both need 8 KiB of workgroup memory.
 * A side of at most 16 (LoRA's rank) gets a 128×16 (or 16×128) tile of 128 invocations instead.
 */
function chooseTilings(l: OpenedDevice['limits']): Pick<KernelPolicy, 'tiling' | 'largeTiling' | 'narrowTiling' | 'shortTiling' | 'longKNarrowMax'> {
  const fits256 = l.maxInvocationsPerWorkgroup >= 256 && l.maxWorkgroupSizeX >= 16 && l.maxWorkgroupSizeY >= 16 && l.maxWorkgroupStorageBytes >= 8192;
  const skinny = l.maxInvocationsPerWorkgroup >= 128 && l.maxWorkgroupSizeX >= 32 && l.maxWorkgroupSizeY >= 32 && l.maxWorkgroupStorageBytes >= 10240;
  const narrowTiling = skinny ? { wx: 4, wy: 32, tm: 4, tn: 4, bk: 16 } : null;
  const shortTiling = skinny ? { wx: 32, wy: 4, tm: 4, tn: 4, bk: 16 } : null;
  if (!fits256) return { tiling: { wx: 8, wy: 8, tm: 4, tn: 4, bk: 16 }, largeTiling: null, narrowTiling, shortTiling, longKNarrowMax: 0 };
  return { tiling: { wx: 16, wy: 16, tm: 4, tn: 4, bk: 16 }, largeTiling: { wx: 16, wy: 16, tm: 8, tn: 8, bk: 8 }, narrowTiling, shortTiling, longKNarrowMax: LONG_K_MAX_NARROW };
}

/** Open a device (see WebGPUBackendOptions.gpu) and build a backend on it. */
export async function createWebGPUBackend(opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  // device errors arrive asynchronously; they are kept until the backend exists to report them
  let backend: WebGPUBackend | null = null;
  const early: string[] = [];
  const onError = (message: string) => {
    if (backend) backend.recordDeviceError(message);
    else early.push(message);
  };
  const browserGpu = opts.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  const opened = browserGpu
    ? await openDevice(browserGpu, { api: opts.gpu ? 'given GPU' : 'browser', onError })
    : await (await import('./dawn-node.ts')).openDawnDevice(onError);
  backend = new WebGPUBackend(opened, opts);
  for (const m of early) onError(m);
  return backend;
}

