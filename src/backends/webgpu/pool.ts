/// <reference types="@webgpu/types" />
/**
 * Storage buffers by size class. Creating a GPU buffer is slow next to a kernel on small tensors, and a
 * training step frees and allocates the same shapes again and again, so freed buffers wait here for the
 * next request of their class. Reuse is safe without waiting for the GPU: every command goes through one
 * queue in order, so a kernel that writes a recycled buffer runs after every earlier command that read it.
 */

/** GPUBufferUsage bits (numeric, so that nothing depends on WebGPU globals being installed in Node). */
export const USAGE = { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;

const ids = new WeakMap<GPUBuffer, number>();
let nextId = 1;

/** A small number naming a buffer, in creation order (cache keys, the pool's order). */
export function bufferId(b: GPUBuffer): number {
  let id = ids.get(b);
  if (id === undefined) ids.set(b, (id = nextId++));
  return id;
}

const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
const MIN_CLASS = 256;

/**
 * The size class of a request: four classes per power of two (at most 25% slack), 256 bytes at least so
 * that the many scalars and short vectors share a few classes.
 */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  const pow = 2 ** Math.floor(Math.log2(bytes - 1));
  const step = pow / 4;
  return Math.ceil(bytes / step) * step;
}

export interface PoolStats {
  /** buffers created on the device since start */
  created: number;
  /** requests served from the pool */
  reused: number;
  /** buffers waiting in the pool, and their bytes */
  pooled: number;
  pooledBytes: number;
}

export class BufferPool {
  private readonly idle = new Map<number, GPUBuffer[]>();
  private created = 0;
  private reused = 0;
  private pooled = 0;
  private pooledBytes = 0;

  /**
   * Buffers beyond `maxPooledBytes` go to `retire` on release instead of being kept: commands recorded but
   * not yet submitted may still use them, so only the owner of the command queue knows when to destroy them.
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly maxPooledBytes: number,
    private readonly retire: (buffer: GPUBuffer) => void,
  ) {}

  /** A buffer of at least `bytes`; `fresh` is true when it was just created (and so holds zeros). */
  acquire(bytes: number): { buffer: GPUBuffer; size: number; fresh: boolean } {
    const size = sizeClass(bytes);
    const list = this.idle.get(size);
    const buffer = list?.pop();
    if (buffer) {
      this.reused++;
      this.pooled--;
      this.pooledBytes -= size;
      return { buffer, size, fresh: false };
    }
    this.created++;
    return { buffer: this.device.createBuffer({ size, usage: STORAGE_USAGE }), size, fresh: true };
  }

  release(buffer: GPUBuffer, size: number): void {
    if (this.pooledBytes + size > this.maxPooledBytes) {
      this.retire(buffer);
      return;
    }
    let list = this.idle.get(size);
    if (!list) this.idle.set(size, (list = []));
    // kept in descending id order, so acquire (pop) hands out the oldest buffer of the class
    const id = bufferId(buffer);
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (bufferId(list[mid]) > id) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buffer);
    this.pooled++;
    this.pooledBytes += size;
  }

  /**
   * Take `buffer` out of the pool if it waits there (a recorded step reserves the buffers it names, see
   * replay.ts); false when it is not idle (a live storage holds it, or it was retired).
   */
  take(buffer: GPUBuffer, size: number): boolean {
    const list = this.idle.get(size);
    const at = list ? list.indexOf(buffer) : -1;
    if (at < 0) return false;
    list!.splice(at, 1);
    this.pooled--;
    this.pooledBytes -= size;
    return true;
  }

  /** Retire every idle buffer (device memory back to the driver). */
  trim(): void {
    for (const list of this.idle.values()) for (const b of list) this.retire(b);
    this.idle.clear();
    this.pooled = 0;
    this.pooledBytes = 0;
  }

  stats(): PoolStats {
    return { created: this.created, reused: this.reused, pooled: this.pooled, pooledBytes: this.pooledBytes };
  }
}
