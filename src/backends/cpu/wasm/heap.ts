/**
 * The allocator for float32 storage in the (shared) wasm memory. Blocks come in size classes (four per
 * power of two, 64-byte aligned) with a free list each, so the buffers a training step frees are exactly
 * the ones the next step reuses and memory stops growing after the first step. A request whose class is
 * empty takes a free block of up to twice its size before new space is cut: with length-bucketed batches
 * every step has other shapes, and exact classes alone kept a step's worth of blocks per sequence length
 * (4 GiB, the wasm limit, after ~30 pretraining steps of a 4×256 model; later steps then fell back to
 * plain arrays and ran 20× slower). New space comes from a bump pointer; the memory grows by at least a
 * quarter at a time. Shared memory never moves or shrinks,
 * so a typed-array view made before a grow stays valid after it; a non-shared memory detaches its old
 * buffer, so views must be remade against `buffer` (CpuStorage does).
 */
import { MAX_PAGES, PAGE } from './module.ts';

const ALIGN = 64;

/** The block size serving `bytes`: 64-byte aligned, at most 25% (typically 12%) larger than asked. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  const e = Math.floor(Math.log2(bytes));
  const step = 2 ** (e - 2);
  return Math.ceil(bytes / step) * step;
}

export class Heap {
  private readonly free = new Map<number, number[]>();
  /** the class size of every block handed out (a block may serve a smaller request than its class) */
  private readonly blockSize = new Map<number, number>();
  private top: number;
  /** the memory's current buffer (a new object after each grow) */
  buffer: ArrayBufferLike;
  /** the whole memory as i32 words (descriptors are written through it); replaced when the memory grows */
  words: Int32Array;
  /** bytes handed out and not yet released (blocks, not requests) */
  inUse = 0;

  constructor(readonly memory: WebAssembly.Memory, reserved: number) {
    this.buffer = memory.buffer;
    this.words = new Int32Array(this.buffer);
    // byte 0 stays unused so that 0 is never a valid block
    this.top = Math.max(ALIGN, Math.ceil(reserved / ALIGN) * ALIGN);
  }

  /** Byte address of a fresh block of at least `bytes`, or -1 when the memory cannot grow that far. */
  alloc(bytes: number): number {
    const size = sizeClass(bytes);
    let ptr = this.takeFree(size, 2 * size);
    if (ptr < 0) {
      const end = this.top + size;
      if (end <= this.buffer.byteLength || this.grow(end)) {
        ptr = this.top;
        this.top = end;
        this.blockSize.set(ptr, size);
      } else {
        // out of memory: any free block that fits beats failing
        ptr = this.takeFree(size, Infinity);
        if (ptr < 0) return -1;
      }
    }
    this.inUse += this.blockSize.get(ptr)!;
    return ptr;
  }

  release(ptr: number): void {
    const size = this.blockSize.get(ptr);
    if (size === undefined) throw new Error(`heap: release of unknown block ${ptr}`);
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(ptr);
    this.inUse -= size;
  }

  /** A free block of the smallest class in [size, limit], or -1. */
  private takeFree(size: number, limit: number): number {
    let best = -1;
    for (const [s, list] of this.free) if (s >= size && s <= limit && list.length && (best < 0 || s < best)) best = s;
    return best < 0 ? -1 : this.free.get(best)!.pop()!;
  }

  get byteLength(): number {
    return this.buffer.byteLength;
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.buffer, ptr, length);
  }
  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.buffer, ptr, length);
  }

  private grow(end: number): boolean {
    const have = this.memory.buffer.byteLength / PAGE;
    const need = Math.ceil(end / PAGE);
    if (need > MAX_PAGES) return false;
    const want = Math.min(MAX_PAGES, Math.max(need, Math.ceil(have * 1.25)));
    try {
      this.memory.grow(want - have);
    } catch {
      try {
        this.memory.grow(need - have);
      } catch {
        return false;
      }
    }
    this.buffer = this.memory.buffer;
    this.words = new Int32Array(this.buffer);
    return true;
  }
}
