/// <reference types="@webgpu/types" />
/**
 * The device-side state every kernel shares: storages (pooled buffers with their dtype and length), the
 * command queue, the pipeline and bind group caches, and `launch`, which binds storages and parameters to
 * a kernel. A census (census.ts) counts the launches; in a dry run storages are placeholders and nothing
 * reaches the device.
 */
import { BackendError, DTypeError } from '../../core/errors.ts';
import type { DType, TypedArray } from '../../core/dtype.ts';
import type { CensusReport, Storage } from '../backend.ts';
import { BindGroupCache } from './bindings.ts';
import { Census, type KernelInfo } from './census.ts';
import { CommandQueue } from './commands.ts';
import type { OpenedDevice } from './device.ts';
import type { Params } from './layouts.ts';
import { PipelineCache, type Kernel } from './pipelines.ts';
import { BufferPool, USAGE, type PoolStats } from './pool.ts';
import { GpuReplays, type Replayable } from './replay.ts';
import { TimestampTimer } from './timestamps.ts';
import { gridFor } from './wgsl.ts';

export class GpuStorage implements Storage {
  freed = false;
  /** allocated from the pool without clearing; zeroed lazily, unless a full write comes first */
  needsZero = false;
  /** allocated during a dry run: no buffer of its own, never pooled */
  placeholder = false;
  /** lent by a replayable recording (its output): freeing it returns the buffer to the recording, not the pool */
  lentBy: Replayable | null = null;
  constructor(
    readonly dtype: DType,
    readonly length: number,
    readonly buffer: GPUBuffer,
    /** bytes of the buffer (its size class) */
    readonly size: number,
  ) {}
  get bytes(): number {
    return this.length * 4;
  }
}

export interface ContextOptions {
  maxCommandsPerSubmit: number;
  maxPooledBytes: number;
  /** replayable recordings kept at once (replay.ts) */
  maxRecordings: number;
}

export class GpuContext {
  /** held for the device's lifetime (see OpenedDevice.gpu) */
  readonly gpu: GPU;
  readonly device: GPUDevice;
  readonly limits: OpenedDevice['limits'];
  readonly queue: CommandQueue;
  readonly pipelines: PipelineCache;
  readonly bindGroups: BindGroupCache;
  readonly features: ReadonlySet<string>;
  readonly replays: GpuReplays;
  private readonly pool: BufferPool;
  private readonly retired = new WeakSet<GPUBuffer>();
  private live = 0;
  private census: Census | null = null;
  private timer: TimestampTimer | null = null;
  /** the buffer every placeholder storage of a dry run names */
  private placeholderBuffer: GPUBuffer | null = null;

  constructor(opened: OpenedDevice, opts: ContextOptions) {
    this.gpu = opened.gpu;
    this.device = opened.device;
    this.limits = opened.limits;
    this.features = opened.features;
    this.queue = new CommandQueue(this.device, {
      maxCommands: opts.maxCommandsPerSubmit,
      arenaBytes: 1 << 20,
      uniformAlign: Math.max(16, opened.limits.uniformOffsetAlignment),
    });
    this.bindGroups = new BindGroupCache(this.device, this.queue.params);
    this.pool = new BufferPool(this.device, opts.maxPooledBytes, (b) => {
      this.retired.add(b);
      this.bindGroups.forget(b);
      this.queue.destroyAfterSubmit(b);
    });
    this.pipelines = new PipelineCache(this.device, opened.limits.maxBindGroups);
    this.replays = new GpuReplays({
      queue: this.queue,
      pool: this.pool,
      busy: () => this.census !== null,
      retired: (b) => this.retired.has(b),
      own: (st) => this.own(st),
      materialize: (st) => this.materialize(st),
      lend: (slot, owner) => {
        const lent = new GpuStorage(slot.dtype, slot.length, slot.buffer, slot.size);
        lent.lentBy = owner;
        this.live++;
        return lent;
      },
    }, { maxRecordings: opts.maxRecordings });
  }

  get dryRun(): boolean {
    return this.census?.dryRun ?? false;
  }

  /** Start (or restart) a census; see Backend.startCensus. */
  startCensus(opts: { dryRun?: boolean; timestamps?: boolean }): void {
    this.queue.flush();
    this.endTimer();
    const timed = !opts.dryRun && opts.timestamps === true && this.features.has('timestamp-query');
    const census = new Census(opts.dryRun === true, timed ? 'timestamp-query' : 'none');
    this.census = census;
    if (timed) this.queue.timer = this.timer = new TimestampTimer(this.device, (row, s) => census.addTime(row, s));
  }

  async stopCensus(): Promise<CensusReport> {
    const census = this.census;
    if (!census) throw new BackendError('webgpu: stopCensus without startCensus');
    try {
      if (!census.dryRun) await this.idle();
      await this.timer?.settle();
    } finally {
      // a device error surfacing here still ends the census
      this.endTimer();
      this.census = null;
    }
    return census.report();
  }

  private endTimer(): void {
    if (!this.timer) return;
    this.queue.flush();
    this.queue.timer = null;
    const t = this.timer;
    this.timer = null;
    // destroyed once its last reads are in
    void t.settle().finally(() => t.destroy());
  }

  /** Storage whose contents the caller overwrites completely (kernel outputs). */
  allocRaw(dtype: DType, length: number): GpuStorage {
    return this.allocate(dtype, length, false);
  }

  /** Zero-filled storage (a recycled buffer is cleared before its first use, not right away). */
  allocZeroed(dtype: DType, length: number): GpuStorage {
    return this.allocate(dtype, length, true);
  }

  private allocate(dtype: DType, length: number, zeroed: boolean): GpuStorage {
    if (dtype === 'float64') throw new DTypeError('webgpu: float64 is not supported by WebGPU (float32 and int32 only)');
    const bytes = length * 4;
    if (bytes > this.limits.maxStorageBindingBytes || bytes > this.limits.maxBufferBytes) {
      throw new BackendError(`webgpu: ${length} ${dtype} elements exceed the device's largest storage binding (${this.limits.maxStorageBindingBytes} bytes)`);
    }
    if (this.dryRun) {
      this.placeholderBuffer ??= this.device.createBuffer({ size: 256, usage: USAGE.STORAGE });
      const s = new GpuStorage(dtype, length, this.placeholderBuffer, 256);
      s.placeholder = true;
      this.live++;
      return s;
    }
    const { buffer, size, fresh } = this.pool.acquire(bytes);
    const s = new GpuStorage(dtype, length, buffer, size);
    const recording = this.replays.recording;
    recording?.acquired.add(buffer);
    // a new buffer is zeroed by WebGPU itself; only a recycled one needs the fill (and any in a recording,
    // whose replays find it used)
    s.needsZero = zeroed && (!fresh || recording !== null);
    this.live++;
    return s;
  }

  own(s: Storage): GpuStorage {
    if (!(s instanceof GpuStorage)) throw new BackendError('webgpu: storage belongs to another backend');
    if (s.freed) throw new BackendError('webgpu: use of freed storage');
    return s;
  }

  free(storage: Storage): void {
    const s = this.own(storage);
    s.freed = true;
    this.live--;
    if (s.lentBy) return this.replays.lentFreed(s.lentBy, s.buffer, s.size);
    if (s.placeholder) return;
    if (!this.replays.released(s.buffer)) this.pool.release(s.buffer, s.size);
  }

  get liveStorages(): number {
    return this.live;
  }

  poolStats(): PoolStats {
    return this.pool.stats();
  }

  write(storage: Storage, data: TypedArray, offset: number): void {
    const s = this.own(storage);
    if (offset < 0 || offset + data.length > s.length) {
      throw new BackendError(`webgpu: write of ${data.length} elements at ${offset} overflows a storage of ${s.length}`);
    }
    if (data.length === 0 || this.dryRun || s.placeholder) return;
    if (s.needsZero && !(offset === 0 && data.length === s.length)) this.materialize(s);
    s.needsZero = false;
    const typed = data instanceof Float64Array ? Float32Array.from(data) : data;
    this.replays.recording?.upload(typed, s, offset * 4);
    this.queue.upload(typed, s.buffer, offset * 4);
  }

  async read(storage: Storage): Promise<TypedArray> {
    const s = this.own(storage);
    if (s.length === 0 || this.dryRun || s.placeholder) return s.dtype === 'int32' ? new Int32Array(s.length) : new Float32Array(s.length);
    this.materialize(s);
    const bytes = await this.queue.read(s.buffer, s.bytes);
    return s.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
  }

  /** Encode the pending zero fill of a lazily zeroed storage. */
  materialize(s: GpuStorage): void {
    if (!s.needsZero || this.dryRun) return;
    s.needsZero = false;
    this.replays.recording?.clear(s);
    this.queue.clear(s.buffer, 0, s.size);
  }

  clear(s: GpuStorage): void {
    s.needsZero = false;
    if (this.dryRun) return;
    this.replays.recording?.clear(s);
    this.queue.clear(s.buffer, 0, s.size);
  }

  copyBytes(src: GpuStorage, srcElement: number, dst: GpuStorage, dstElement: number, elements: number): void {
    if (this.dryRun) return;
    this.materialize(src);
    this.materialize(dst);
    this.replays.recording?.copy(src, srcElement * 4, dst, dstElement * 4, elements * 4);
    this.queue.copy(src.buffer, srcElement * 4, dst.buffer, dstElement * 4, elements * 4);
  }

  /**
   * Record one dispatch: `storages` bind to @binding 0.. in order, the parameters to the next binding.
   * Pending zero fills of the storages are recorded first. `info` describes it to a census.
   */
  launch(kernel: Kernel, storages: readonly GpuStorage[], params: Params, grid: readonly [number, number, number], info?: () => KernelInfo): void {
    const census = this.census;
    if (census?.dryRun) {
      census.record(kernel.label, info);
      this.queue.dispatchCount++;
      return;
    }
    for (const s of storages) this.materialize(s);
    const compiled = this.pipelines.get(kernel);
    const words = params.words;
    // the 16-byte rows WGSL reads the block in
    const bytes = Math.max(16, Math.ceil(words.length / 4) * 16);
    const offset = this.queue.stageParams(words, bytes);
    let groups: GPUBindGroup[];
    if (compiled.mode === 'split') {
      const gl = compiled.groupLayouts;
      groups = storages.map((s, j) => this.bindGroups.single(gl[j], kernel.bindings[j], s));
      groups.push(this.bindGroups.params(gl[storages.length], bytes));
    } else {
      groups = [this.bindGroups.get(compiled.layout, compiled.layoutKey, storages, bytes)];
    }
    this.replays.recording?.dispatch(compiled.pipeline, groups, words, bytes, grid, storages);
    this.queue.dispatch(compiled.pipeline, groups, offset, grid, census ? census.record(kernel.label, info) : -1);
  }

  /** Grid for one invocation per item with workgroups of `workgroupSize`. */
  flatGrid(items: number, workgroupSize: number): [number, number, number] {
    return gridFor(items, workgroupSize, this.limits.maxWorkgroupsPerDimension);
  }

  /** Wait until everything submitted so far has run (benchmarks and shutdown). */
  async idle(): Promise<void> {
    if (this.dryRun) return;
    this.queue.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.queue.raiseFailure();
  }

  destroy(): void {
    this.queue.flush();
    this.endTimer();
    this.replays.invalidate('the device was destroyed');
    this.pool.trim();
    this.bindGroups.clear();
    this.queue.destroy();
    this.placeholderBuffer?.destroy();
    this.device.destroy();
  }
}
