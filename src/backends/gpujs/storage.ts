/**
 * Where a gpujs storage's values live. float32 storage is GPU-resident: kernel results stay in their texture
 * and are read back only when the host asks (the host copy is then kept until the texture changes). Host
 * writes go to a host copy that is uploaded on the next kernel use, so building a tensor costs one upload.
 *
 * int32 storage lives on the host: WebGL 1 textures hold floats, and a float32 holds every integer only up
 * to 2^24. Kernels that read int32 (gather indices, where conditions, casts) get a float mirror texture,
 * used only when every value is within ±2^24; kernels that would write int32 run on the CPU (fallback.ts).
 */
import { BackendError } from '../../core/errors.ts';
import type { Storage } from '../backend.ts';
import type { GlDevice, GlTexture } from './device.ts';

/** Largest magnitude below which every integer is exact in float32. */
const EXACT_INT = 2 ** 24;

export class GlStorage implements Storage {
  /** float32: the device copy; int32: the float mirror of `host` */
  tex: GlTexture | null = null;
  /** float32: the host copy, or null; both null means all zeros (nothing uploaded yet) */
  host: Float32Array | Int32Array | null = null;
  /** int32 only: whether the mirror in `tex` is exact */
  exact = true;
  freed = false;

  constructor(
    readonly dtype: 'float32' | 'int32',
    readonly length: number,
  ) {
    if (dtype === 'int32') this.host = new Int32Array(length);
  }
}

export class Residency {
  /** textures held by live storages (leak checks) */
  textures = 0;

  constructor(private readonly dev: GlDevice) {}

  /** The values as a texture, uploading (or filling zeros) on first use; null for an inexact int32 mirror. */
  texture(s: GlStorage): GlTexture | null {
    if (s.length === 0) throw new BackendError('gpujs: no texture for an empty storage');
    if (!s.tex) {
      if (s.dtype === 'int32') {
        const ints = s.host as Int32Array;
        s.exact = ints.every((v) => v <= EXACT_INT && v >= -EXACT_INT);
        this.adoptTexture(s, this.dev.toTexture(Float32Array.from(ints)));
      } else if (s.host) {
        this.adoptTexture(s, this.dev.toTexture(s.host as Float32Array));
      } else {
        this.adoptTexture(s, fill(this.dev, s.length, 0));
      }
    }
    return s.dtype === 'int32' && !s.exact ? null : s.tex;
  }

  /** The host copy (not a copy: callers that hand it out must slice). */
  host(s: GlStorage): Float32Array | Int32Array {
    if (!s.host) s.host = s.tex ? s.tex.toArray().slice(0, s.length) : new Float32Array(s.length);
    return s.host;
  }

  /** New device values from a kernel: the old texture and any host copy are stale. */
  setTexture(s: GlStorage, tex: GlTexture): void {
    if (s.dtype !== 'float32') throw new BackendError('gpujs: int32 storage cannot take kernel output');
    this.dropTexture(s);
    this.adoptTexture(s, tex);
    s.host = null;
  }

  /** New host values (a write or a CPU fallback): the texture is stale. */
  setHost(s: GlStorage, data: Float32Array | Int32Array): void {
    this.dropTexture(s);
    s.host = data;
  }

  dropTexture(s: GlStorage): void {
    if (!s.tex) return;
    s.tex.delete();
    s.tex = null;
    this.textures--;
  }

  private adoptTexture(s: GlStorage, tex: GlTexture): void {
    s.tex = tex;
    this.textures++;
  }
}

/** A texture of `length` copies of `value`, made on the GPU (no upload). */
export function fill(dev: GlDevice, length: number, value: number): GlTexture {
  const k = dev.kernel('fill', () => ({ textures: [], ints: [], floats: ['v'], glsl: 'float main_() { return user_v; }' }));
  return k.run(length, [], [], [value]);
}
