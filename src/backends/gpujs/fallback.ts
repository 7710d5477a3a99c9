/**
 * Per-op fallback to the CPU backend, counted. gpu.js cannot express these exactly or efficiently:
 *
 * - `<kernel>(int32)`: any kernel writing int32 (casts to int32, comparisons and `where` on int32 tensors,
 *   int32 reductions, gathers and copies — `copy(int32)` is also every host read of a strided int32 view,
 *   such as the index range checks). WebGL 1 textures hold floats, so int32 storage lives on the host
 *   (storage.ts) and the CPU computes it with exact int32 semantics.
 * - `<kernel>(int32 > 2^24)`: a kernel reading int32 values that float32 cannot hold exactly.
 * - `random`: Philox-4x32-10 needs 32-bit unsigned multiplies and xor, which GLSL ES 1.00 lacks (no uint,
 *   no bitwise ops); the CPU draws the numbers and they are uploaded, so every backend gets the same ones.
 * - `assign(view)`: a destination view without an inverse (overlapping or interleaved strides, see
 *   elementwise.ts assignView).
 * - `scatterAdd(size)`: a scatter whose gather form would loop more than SCATTER_WORK_LIMIT times
 *   (e.g. a large vocabulary's embedding gradient).
 * - `layerNorm(empty rows)`: rows of zero columns, whose mean is 0/0 (exactly NaN on the CPU, undefined in
 *   GLSL).
 *
 * Operands are read back (the texture stays), the CPU kernel runs, and float32 results go back as host
 * copies that are uploaded when a GPU kernel next reads them.
 */
import type { DType, TypedArray } from '../../core/dtype.ts';
import type { Storage, View } from '../backend.ts';
import { CpuBackend } from '../cpu/index.ts';
import type { GlStorage, Residency } from './storage.ts';

export class Fallback {
  private readonly cpu = new CpuBackend();
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly res: Residency,
    private readonly own: (s: Storage) => GlStorage,
    private readonly adopt: (dtype: DType, data: TypedArray) => GlStorage,
  ) {}

  /**
   * Count a fallback under `name` and run `fn` on CPU copies of `views`; `fn` must turn the CPU storages it
   * creates into gpujs ones with `toGl` (the copies of the operands are freed afterwards).
   */
  run<R>(name: string, views: readonly View[], fn: (cpu: CpuBackend, views: View[]) => R): R {
    this.count(name);
    const copies = new Map<Storage, Storage>();
    const cpuViews = views.map((v) => {
      let c = copies.get(v.storage);
      if (!c) {
        const s = this.own(v.storage);
        c = this.cpu.alloc(s.dtype, s.length);
        if (s.length) this.cpu.write(c, this.res.host(s));
        copies.set(v.storage, c);
      }
      return { storage: c, layout: v.layout };
    });
    try {
      return fn(this.cpu, cpuViews);
    } finally {
      for (const c of copies.values()) this.cpu.free(c);
    }
  }

  /** A storage made by the CPU backend inside `run`, moved to this backend. */
  toGl(s: Storage): GlStorage {
    const g = this.adopt(s.dtype, this.cpu.readSync(s));
    this.cpu.free(s);
    return g;
  }

  /** Count a fallback done outside `run`. */
  count(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  counted(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  reset(): void {
    this.counts.clear();
  }
}
