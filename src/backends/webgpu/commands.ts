/// <reference types="@webgpu/types" />
/**
 * Command batching. Kernels, host→device copies and clears are recorded into one command encoder and
 * submitted together: when a read needs the results, when the batch grows past `maxCommands`, or at the
 * end of the current JavaScript task (a microtask), so a synchronous training step becomes one submit.
 *
 * Host data and kernel parameters go through an upload arena: a buffer mapped at creation that commands
 * reference while it is still mapped (validation looks at the mapping only at submit), unmapped just
 * before the submit and destroyed right after it (WebGPU keeps it alive until the GPU is done). Uploads
 * therefore stay in command order, which `queue.writeBuffer` would not: it would run before commands
 * recorded earlier but submitted later, and break the reuse of pooled buffers.
 */
import { BackendError } from '../../core/errors.ts';
import { USAGE } from './pool.ts';

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

export interface UniformSlice {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export class CommandQueue {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private arena: Arena | null = null;
  /** upload buffers referenced by the recorded commands: unmapped at submit, then destroyed */
  private uploads: GPUBuffer[] = [];
  private recorded = 0;
  private flushQueued = false;
  private submits = 0;
  private failure: string | null = null;

  constructor(
    private readonly device: GPUDevice,
    private readonly opts: CommandOptions,
  ) {}

  /** Number of submits so far (tests check that commands are batched). */
  get submitCount(): number {
    return this.submits;
  }

  /** Number of kernel dispatches so far (tests count what a fused kernel saves). */
  dispatchCount = 0;

  /** Remember the first device error; it is raised at the next read, where the caller can handle it. */
  recordFailure(message: string): void {
    this.failure ??= message;
  }

  dispatch(pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, grid: readonly [number, number, number]): void {
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
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

  /** Kernel parameters as a uniform binding (u32 words, padded to the 16-byte rows WGSL reads). */
  uniform(words: Uint32Array): UniformSlice {
    const size = Math.max(16, Math.ceil(words.byteLength / 16) * 16);
    const padded = new Uint8Array(size);
    padded.set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
    const at = this.stage(padded, this.opts.uniformAlign);
    return { buffer: at.buffer, offset: at.offset, size };
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
    this.pass?.end();
    this.pass = null;
    for (const b of this.uploads) b.unmap();
    const commands = this.encoder.finish();
    this.encoder = null;
    this.arena = null;
    this.recorded = 0;
    this.device.queue.submit([commands]);
    this.submits++;
    for (const b of this.uploads) b.destroy();
    this.uploads = [];
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
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return enc;
  }

  private counted(): void {
    if (++this.recorded >= this.opts.maxCommands) this.flush();
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
    const buffer = this.device.createBuffer({ size, usage: USAGE.UNIFORM | USAGE.COPY_SRC, mappedAtCreation: true });
    this.uploads.push(buffer);
    return { buffer, bytes: new Uint8Array(buffer.getMappedRange()), used: 0 };
  }
}
