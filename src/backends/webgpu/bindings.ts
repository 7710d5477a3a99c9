/// <reference types="@webgpu/types" />
/**
 * What a dispatch binds, made cheap to repeat. Creating a bind group costs more host time than recording
 * the dispatch it serves (~15 µs in Dawn), and a training step binds the same pooled buffers to the same
 * kernels step after step. So kernel parameters do not live in the bind group: they go to one persistent
 * uniform buffer bound with a dynamic offset (`ParamArena`), and a bind group depends only on its layout and
 * its storage buffers (`BindGroupCache`), which repeat.
 */
import type { BindingKind } from './pipelines.ts';
import { bufferId, USAGE } from './pool.ts';

/**
 * The kernel parameters of one submit. They are collected on the host while commands are recorded and
 * written with `queue.writeBuffer` just before the submit: the queue runs that write after every earlier
 * submit and before this one, so one buffer serves every submit and no dispatch ever sees another's values.
 */
export class ParamArena {
  readonly buffer: GPUBuffer;
  private readonly host: Uint8Array;
  /** the same bytes as words (offsets are multiples of 16 bytes) */
  private readonly hostWords: Uint32Array;
  private used = 0;

  constructor(
    private readonly device: GPUDevice,
    readonly capacity: number,
    /** the device's minUniformBufferOffsetAlignment */
    private readonly align: number,
  ) {
    this.buffer = device.createBuffer({ size: capacity, usage: USAGE.UNIFORM | USAGE.COPY_DST });
    this.host = new Uint8Array(capacity);
    this.hostWords = new Uint32Array(this.host.buffer);
  }

  /** Room for `bytes` more in this submit. */
  fits(bytes: number): boolean {
    return Math.ceil(this.used / this.align) * this.align + bytes <= this.capacity;
  }

  /** Stage `words` (u32 values, padded with zeros to `bytes`, a multiple of 16); returns their dynamic offset. Check `fits` first. */
  push(words: readonly number[], bytes: number): number {
    const at = Math.ceil(this.used / this.align) * this.align;
    const first = at / 4;
    for (let i = 0; i < words.length; i++) this.hostWords[first + i] = words[i];
    this.hostWords.fill(0, first + words.length, first + bytes / 4);
    this.used = at + bytes;
    return at;
  }

  /** Write what this submit staged (call right before the submit). */
  upload(): void {
    if (this.used === 0) return;
    this.device.queue.writeBuffer(this.buffer, 0, this.host.buffer, this.host.byteOffset, Math.ceil(this.used / 4) * 4);
    this.used = 0;
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

export interface BoundBuffer {
  buffer: GPUBuffer;
  size: number;
}

/** A binding kind's slot in a buffer's own groups (split pipelines bind storage buffers as read or write). */
const SLOT: Record<BindingKind, number> = { read: 0, write: 1, uniform: 2 };

/**
 * Bind groups by (layout, storage buffers, parameter block size), or for split pipelines one per buffer and
 * binding kind, held by the buffer object itself so the lookup builds no key. Entries naming a buffer are
 * dropped when the pool destroys it (`forget`); past `maxEntries` the cache starts over, which bounds the
 * memory of runs whose shapes keep changing.
 */
export class BindGroupCache {
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly byBuffer = new Map<number, string[]>();
  /** split pipelines' groups of one buffer, by SLOT (a pooled buffer is always bound whole: its size class) */
  private readonly perBuffer = new Map<GPUBuffer, (GPUBindGroup | undefined)[]>();
  private perBufferCount = 0;
  /** the parameter block alone, by its size */
  private readonly paramGroups = new Map<number, GPUBindGroup>();
  private createdSinceClear = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly arena: ParamArena,
    private readonly maxEntries = 16384,
  ) {}

  get(layout: GPUBindGroupLayout, layoutKey: string, storages: readonly BoundBuffer[], paramBytes: number): GPUBindGroup {
    let key = `${layoutKey}|${paramBytes}`;
    for (const s of storages) key += `|${bufferId(s.buffer)}:${s.size}`;
    const have = this.groups.get(key);
    if (have) {
      this.hits++;
      return have;
    }
    const entries: GPUBindGroupEntry[] = storages.map((s, binding) => ({ binding, resource: { buffer: s.buffer, offset: 0, size: s.size } }));
    entries.push({ binding: storages.length, resource: { buffer: this.arena.buffer, offset: 0, size: paramBytes } });
    const group = this.create(layout, entries);
    this.groups.set(key, group);
    for (const s of storages) {
      const id = bufferId(s.buffer);
      let keys = this.byBuffer.get(id);
      if (!keys) this.byBuffer.set(id, (keys = []));
      keys.push(key);
    }
    return group;
  }

  /** A bind group of one binding, `buffer` whole, for split pipelines (pipelines.ts). */
  single(layout: GPUBindGroupLayout, kind: BindingKind, s: BoundBuffer): GPUBindGroup {
    const have = this.perBuffer.get(s.buffer)?.[SLOT[kind]];
    if (have) {
      this.hits++;
      return have;
    }
    const group = this.create(layout, [{ binding: 0, resource: { buffer: s.buffer, offset: 0, size: s.size } }]);
    // looked up after `create`, which may have started the cache over
    let own = this.perBuffer.get(s.buffer);
    if (!own) this.perBuffer.set(s.buffer, (own = []));
    this.perBufferCount++;
    own[SLOT[kind]] = group;
    return group;
  }

  /** The parameter block alone (bound with a dynamic offset), by its size. */
  params(layout: GPUBindGroupLayout, bytes: number): GPUBindGroup {
    const have = this.paramGroups.get(bytes);
    if (have) {
      this.hits++;
      return have;
    }
    const group = this.create(layout, [{ binding: 0, resource: { buffer: this.arena.buffer, offset: 0, size: bytes } }]);
    this.paramGroups.set(bytes, group);
    return group;
  }

  private create(layout: GPUBindGroupLayout, entries: GPUBindGroupEntry[]): GPUBindGroup {
    this.misses++;
    // the per-buffer key lists keep keys of groups dropped through another buffer: bound them too
    if (this.size >= this.maxEntries || this.createdSinceClear >= 4 * this.maxEntries) this.clear();
    this.createdSinceClear++;
    return this.device.createBindGroup({ layout, entries });
  }

  /** Drop every bind group that names `buffer` (it is about to be destroyed). */
  forget(buffer: GPUBuffer): void {
    const own = this.perBuffer.get(buffer);
    if (own) {
      this.perBufferCount -= own.filter(Boolean).length;
      this.perBuffer.delete(buffer);
    }
    const id = bufferId(buffer);
    const keys = this.byBuffer.get(id);
    if (!keys) return;
    for (const k of keys) this.groups.delete(k);
    this.byBuffer.delete(id);
  }

  clear(): void {
    this.groups.clear();
    this.byBuffer.clear();
    this.perBuffer.clear();
    this.perBufferCount = 0;
    this.paramGroups.clear();
    this.createdSinceClear = 0;
  }

  get size(): number {
    return this.groups.size + this.perBufferCount + this.paramGroups.size;
  }
}
