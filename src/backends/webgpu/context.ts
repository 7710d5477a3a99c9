/// <reference types="@webgpu/types" />
/**
 * The device-side state every kernel shares: storages (pooled buffers with their dtype and length), the
 * command queue, the pipeline cache, and `launch`, which binds storages and parameters to a kernel.
 */
import { BackendError, DTypeError } from '../../core/errors.ts';
import type { DType, TypedArray } from '../../core/dtype.ts';
import type { Storage } from '../backend.ts';
import { CommandQueue } from './commands.ts';
import type { OpenedDevice } from './device.ts';
import type { Params } from './layouts.ts';
import { PipelineCache, type Kernel } from './pipelines.ts';
import { BufferPool, type PoolStats } from './pool.ts';
import { gridFor } from './wgsl.ts';

export class GpuStorage implements Storage {
  freed = false;
  /** allocated from the pool without clearing; zeroed lazily, unless a full write comes first */
  needsZero = false;
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
}

export class GpuContext {
  /** held for the device's lifetime (see OpenedDevice.gpu) */
  readonly gpu: GPU;
  readonly device: GPUDevice;
  readonly limits: OpenedDevice['limits'];
  readonly queue: CommandQueue;
  readonly pipelines: PipelineCache;
  private readonly pool: BufferPool;
  private live = 0;

  constructor(opened: OpenedDevice, opts: ContextOptions) {
    this.gpu = opened.gpu;
    this.device = opened.device;
    this.limits = opened.limits;
    this.pool = new BufferPool(this.device, opts.maxPooledBytes);
    this.pipelines = new PipelineCache(this.device);
    this.queue = new CommandQueue(this.device, {
      maxCommands: opts.maxCommandsPerSubmit,
      arenaBytes: 1 << 20,
      uniformAlign: Math.max(16, opened.limits.uniformOffsetAlignment),
    });
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
    const { buffer, size, fresh } = this.pool.acquire(bytes);
    const s = new GpuStorage(dtype, length, buffer, size);
    // a new buffer is zeroed by WebGPU itself; only a recycled one needs the fill
    s.needsZero = zeroed && !fresh;
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
    this.pool.release(s.buffer, s.size);
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
    if (data.length === 0) return;
    if (s.needsZero && !(offset === 0 && data.length === s.length)) this.materialize(s);
    s.needsZero = false;
    const typed = data instanceof Float64Array ? Float32Array.from(data) : data;
    this.queue.upload(typed, s.buffer, offset * 4);
  }

  async read(storage: Storage): Promise<TypedArray> {
    const s = this.own(storage);
    if (s.length === 0) return s.dtype === 'int32' ? new Int32Array(0) : new Float32Array(0);
    this.materialize(s);
    const bytes = await this.queue.read(s.buffer, s.bytes);
    return s.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
  }

  /** Encode the pending zero fill of a lazily zeroed storage. */
  materialize(s: GpuStorage): void {
    if (!s.needsZero) return;
    s.needsZero = false;
    this.queue.clear(s.buffer, 0, s.size);
  }

  clear(s: GpuStorage): void {
    s.needsZero = false;
    this.queue.clear(s.buffer, 0, s.size);
  }

  copyBytes(src: GpuStorage, srcElement: number, dst: GpuStorage, dstElement: number, elements: number): void {
    this.materialize(src);
    this.materialize(dst);
    this.queue.copy(src.buffer, srcElement * 4, dst.buffer, dstElement * 4, elements * 4);
  }

  /**
   * Record one dispatch: `storages` bind to @binding 0.. in order, the parameters to the next binding.
   * Pending zero fills of the storages are recorded first.
   */
  launch(kernel: Kernel, storages: readonly GpuStorage[], params: Params, grid: readonly [number, number, number]): void {
    for (const s of storages) this.materialize(s);
    const { pipeline, layout } = this.pipelines.get(kernel);
    const uniform = this.queue.uniform(params.toArray());
    const entries: GPUBindGroupEntry[] = storages.map((s, binding) => ({ binding, resource: { buffer: s.buffer, offset: 0, size: s.size } }));
    entries.push({ binding: storages.length, resource: { buffer: uniform.buffer, offset: uniform.offset, size: uniform.size } });
    const bindGroup = this.device.createBindGroup({ layout, entries });
    this.queue.dispatch(pipeline, bindGroup, grid);
  }

  /** Grid for one invocation per item with workgroups of `workgroupSize`. */
  flatGrid(items: number, workgroupSize: number): [number, number, number] {
    return gridFor(items, workgroupSize, this.limits.maxWorkgroupsPerDimension);
  }

  /** Wait until everything submitted so far has run (benchmarks and shutdown). */
  async idle(): Promise<void> {
    this.queue.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.queue.raiseFailure();
  }

  destroy(): void {
    this.queue.flush();
    this.pool.trim();
    this.device.destroy();
  }
}
