/// <reference types="@webgpu/types" />
/**
 * Command batching. Kernels, host→device copies and clears are recorded into one command encoder and
 * submitted together: when a read needs the results, when the batch grows past `maxCommands`, or at the
 * end of the current JavaScript task (a microtask), so a synchronous training step becomes one submit.
 *
 * Host data goes through an upload arena: a buffer mapped at creation that commands reference while it
 * is still mapped (validation looks at the mapping only at submit), unmapped just before the submit and
 * destroyed right after it (WebGPU keeps it alive until the GPU is done). Uploads therefore stay in command
 * order, which `queue.writeBuffer` would not: it would run before commands recorded earlier but submitted
 * later, and break the reuse of pooled buffers. Kernel parameters are different: each dispatch has its
 * own slot of the submit's parameter block (bindings.ts), so they may all be written at once before it.
 */
import { BackendError } from '../../core/errors.ts';
import { ParamArena } from './bindings.ts';
import { USAGE } from './pool.ts';
import type { TimestampTimer } from './timestamps.ts';

const MAP_MODE_READ = 1;

interface Arena {
  buffer: GPUBuffer;
  bytes: Uint8Array;
  used: number;
}

export interface CommandOptions {
  /** commands recorded before a submit is forced */
  maxCommands: number;
  /** size of one upload arena; larger uploads get a buffer of their own */
  arenaBytes: number;
  /** the device's minUniformBufferOffsetAlignment */
  uniformAlign: number;
}

export class CommandQueue {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private arena: Arena | null = null;
  /** upload buffers referenced by the recorded commands: unmapped at submit, then destroyed */
  private uploads: GPUBuffer[] = [];
  /** buffers given up while recorded commands may still use them: destroyed after the submit */
  private retired: GPUBuffer[] = [];
  /** the kernel parameters of the commands being recorded */
  readonly params: ParamArena;
  /** while set, every dispatch runs in a pass of its own with timestamps (the census) */
  timer: TimestampTimer | null = null;
  private lastPipeline: GPUComputePipeline | null = null;
  /** bind groups set in the open pass, by index (the one with the parameters is set every time) */
  private bound: (GPUBindGroup | null)[] = [];
  private recorded = 0;
  private flushQueued = false;
  private submits = 0;
  private failure: string | null = null;

  constructor(
    private readonly device: GPUDevice,
    private readonly opts: CommandOptions,
  ) {
    // 256 dispatches of up to 1 KiB of parameters each, before a submit is forced
    this.params = new ParamArena(device, Math.max(1 << 16, opts.maxCommands * Math.max(opts.uniformAlign, 256) * 4), opts.uniformAlign);
  }

  /** Number of submits so far (tests check that commands are batched). */
  get submitCount(): number {
    return this.submits;
  }

  /** Number of kernel dispatches so far (tests count what a fused kernel saves). */
  dispatchCount = 0;
  /** Host seconds inside queue.submit (and the parameter upload before it) so far. */
  submitSeconds = 0;

  /** Remember the first device error; it is raised at the next read, where the caller can handle it. */
  recordFailure(message: string): void {
    this.failure ??= message;
  }

  /**
   * Stage a dispatch's parameters (`bytes`: their padded size) and return their dynamic offset. Call right
   * before `dispatch`: when the block is full this submits first, so the offset belongs to the next submit.
   */
  stageParams(words: readonly number[], bytes: number): number {
    if (!this.params.fits(bytes) || this.timer?.full) this.flush();
    this.commandEncoder();
    return this.params.push(words, bytes);
  }

  /**
   * Record a dispatch whose parameters `stageParams` just placed at `paramOffset`; `owner`: its census row.
   * `groups`: one bind group holding everything, or one per binding with the parameter block last (split
   * pipelines); a group already bound at its index is not bound again.
   */
  dispatch(pipeline: GPUComputePipeline, groups: readonly GPUBindGroup[], paramOffset: number, grid: readonly [number, number, number], owner = -1): void {
    if (this.timer && owner >= 0) {
      this.endPass();
      this.pass = this.commandEncoder().beginComputePass(this.timer.pass(owner));
    } else if (!this.pass) {
      this.pass = this.commandEncoder().beginComputePass();
    }
    if (pipeline !== this.lastPipeline) {
      this.pass.setPipeline(pipeline);
      this.lastPipeline = pipeline;
    }
    const last = groups.length - 1;
    for (let i = 0; i < last; i++) {
      if (this.bound[i] === groups[i]) continue;
      this.pass.setBindGroup(i, groups[i]);
      this.bound[i] = groups[i];
    }
    this.pass.setBindGroup(last, groups[last], [paramOffset]);
    this.bound[last] = null;
    this.pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    if (this.timer && owner >= 0) this.endPass();
    this.dispatchCount++;
    this.counted();
  }

  /** Copy host data into `dst` at `dstOffset` bytes, in command order. */
  upload(data: ArrayBufferView, dst: GPUBuffer, dstOffset: number): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const src = this.stage(bytes, 4);
    this.outsidePass().copyBufferToBuffer(src.buffer, src.offset, dst, dstOffset, bytes.byteLength);
    this.counted();
  }

  clear(buffer: GPUBuffer, offset: number, size: number): void {
    if (size === 0) return;
    this.outsidePass().clearBuffer(buffer, offset, size);
    this.counted();
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    if (size === 0) return;
    this.outsidePass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    this.counted();
  }

  /** Submit everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const timed = this.timer?.resolve(this.encoder) ?? null;
    for (const b of this.uploads) b.unmap();
    const commands = this.encoder.finish();
    this.encoder = null;
    this.arena = null;
    this.recorded = 0;
    const t0 = performance.now();
    this.params.upload();
    this.device.queue.submit([commands]);
    this.submitSeconds += (performance.now() - t0) / 1000;
    this.submits++;
    if (timed) this.timer!.collect(timed);
    for (const b of [...this.uploads, ...this.retired]) b.destroy();
    this.uploads = [];
    this.retired = [];
  }

  /**
   * Destroy `buffer` once the commands recorded so far are submitted (WebGPU keeps a destroyed buffer
   * alive for submitted work, not for recorded work: destroying it now would fail the next submit).
   */
  destroyAfterSubmit(buffer: GPUBuffer): void {
    if (this.encoder) this.retired.push(buffer);
    else buffer.destroy();
  }

  /** The first `byteSize` bytes of `src` once every command recorded before this call has run. */
  async read(src: GPUBuffer, byteSize: number): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(byteSize / 4) * 4);
    const staging = this.device.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.outsidePass().copyBufferToBuffer(src, 0, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(MAP_MODE_READ);
      return staging.getMappedRange(0, size).slice(0, byteSize);
    } catch (e) {
      throw new BackendError(`webgpu: reading back failed: ${this.failure ?? (e as Error).message}`);
    } finally {
      if (staging.mapState === 'mapped') staging.unmap();
      staging.destroy();
      this.raiseFailure();
    }
  }

  /** Throw the first device error seen, once. */
  raiseFailure(): void {
    const f = this.failure;
    if (f === null) return;
    this.failure = null;
    throw new BackendError(`webgpu: ${f}`);
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.encoder = this.device.createCommandEncoder();
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => {
          this.flushQueued = false;
          this.flush();
        });
      }
    }
    return this.encoder;
  }

  /** The encoder with no compute pass open (copies and clears are not pass commands). */
  private outsidePass(): GPUCommandEncoder {
    const enc = this.commandEncoder();
    this.endPass();
    return enc;
  }

  private endPass(): void {
    if (!this.pass) return;
    this.pass.end();
    this.pass = null;
    // a new pass starts with no pipeline or bind group set
    this.lastPipeline = null;
    this.bound = [];
  }

  private counted(): void {
    if (++this.recorded >= this.opts.maxCommands) this.flush();
  }

  destroy(): void {
    this.params.destroy();
  }

  private stage(bytes: Uint8Array, align: number): { buffer: GPUBuffer; offset: number } {
    // the encoder must exist before the arena: a flush (which retires the arena) may only come after both
    this.commandEncoder();
    if (bytes.byteLength > this.opts.arenaBytes / 4) {
      const own = this.newUploadBuffer(Math.ceil(bytes.byteLength / 4) * 4);
      own.bytes.set(bytes);
      return { buffer: own.buffer, offset: 0 };
    }
    let a = this.arena;
    let offset = a ? Math.ceil(a.used / align) * align : 0;
    if (!a || offset + bytes.byteLength > a.bytes.byteLength) {
      a = this.arena = this.newUploadBuffer(this.opts.arenaBytes);
      offset = 0;
    }
    a.bytes.set(bytes, offset);
    a.used = offset + bytes.byteLength;
    return { buffer: a.buffer, offset };
  }

  private newUploadBuffer(size: number): Arena {
    const buffer = this.device.createBuffer({ size, usage: USAGE.COPY_SRC, mappedAtCreation: true });
    this.uploads.push(buffer);
    return { buffer, bytes: new Uint8Array(buffer.getMappedRange()), used: 0 };
  }
}
