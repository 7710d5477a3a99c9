/**
 * The allocator for float32 storage in the (shared) wasm memory. Blocks come in size classes (four per
 * power of two, 64-byte aligned) with a free list each, so the buffers a training step frees are exactly
 * the ones the next step reuses and memory stops growing after the first step. New space comes from a
 * bump pointer; the memory grows by at least a quarter at a time. Shared memory never moves or shrinks,
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
    const list = this.free.get(size);
    if (list && list.length) {
      this.inUse += size;
      return list.pop()!;
    }
    const end = this.top + size;
    if (end > this.buffer.byteLength && !this.grow(end)) return -1;
    const ptr = this.top;
    this.top = end;
    this.inUse += size;
    return ptr;
  }

  release(ptr: number, bytes: number): void {
    const size = sizeClass(bytes);
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(ptr);
    this.inUse -= size;
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
