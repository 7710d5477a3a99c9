/**
 * Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-based
 * generator, so element i of any draw is a pure function of (seed, counter) and every backend — a CPU loop,
 * a WGSL shader — produces the same numbers without sharing state. Init and dropout are therefore
 * reproducible across runs, backends and dtypes.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High and low 32 bits of the 64-bit product of two uint32 (JS numbers lose bits past 2^53). */
function mulhilo(a: number, b: number, out: Uint32Array, hiAt: number, loAt: number): void {
  const aH = a >>> 16;
  const aL = a & 0xffff;
  const bH = b >>> 16;
  const bL = b & 0xffff;
  const ll = aL * bL;
  const lh = aL * bH;
  const hl = aH * bL;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  out[hiAt] = aH * bH + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536);
  out[loAt] = ((mid & 0xffff) << 16) | (ll & 0xffff);
}

const tmp = new Uint32Array(4);

/** One Philox-4x32-10 block: counter (c0..c3), key (k0, k1) → four uint32 written into `out`. */
export function philox4x32(c: Uint32Array, k0: number, k1: number, out: Uint32Array): void {
  let c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
  for (let round = 0; round < 10; round++) {
    mulhilo(M0, c0, tmp, 0, 1);
    mulhilo(M1, c2, tmp, 2, 3);
    const n0 = (tmp[2] ^ c1 ^ k0) >>> 0;
    const n2 = (tmp[0] ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = tmp[3];
    c2 = n2;
    c3 = tmp[1];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/**
 * uint32 → uniform in the open interval (0, 1) with 24 bits, identical in float32 and float64 so that a
 * float64 gradcheck model and its float32 twin start from the same numbers.
 */
export function u32ToUniform(u: number): number {
  return ((u >>> 8) + 0.5) * 5.9604644775390625e-8;
}

/**
 * Fill `out` with uniform (0,1) or standard normal numbers. Block b = offset + ⌊i/4⌋ uses counter
 * (b mod 2³², ⌊b / 2³²⌋, 0, 0) and key (seed mod 2³², ⌊seed / 2³²⌋). Normals use Box–Muller on lane pairs
 * (0,1) and (2,3): lanes 0/2 take the cosine, 1/3 the sine.
 */
export function fillRandom(kind: 'uniform' | 'normal', out: { length: number; [i: number]: number }, seed: number, offset: number): void {
  const ctr = new Uint32Array(4);
  const r = new Uint32Array(4);
  const k0 = seed >>> 0;
  const k1 = Math.floor(seed / 4294967296) >>> 0;
  const n = out.length;
  for (let i = 0; i < n; i += 4) {
    const block = offset + i / 4;
    ctr[0] = block >>> 0;
    ctr[1] = Math.floor(block / 4294967296) >>> 0;
    philox4x32(ctr, k0, k1, r);
    const m = Math.min(4, n - i);
    if (kind === 'uniform') {
      for (let l = 0; l < m; l++) out[i + l] = u32ToUniform(r[l]);
    } else {
      for (let pair = 0; pair < 4 && pair < m; pair += 2) {
        const rad = Math.sqrt(-2 * Math.log(u32ToUniform(r[pair])));
        const theta = 6.283185307179586 * u32ToUniform(r[pair + 1]);
        out[i + pair] = rad * Math.cos(theta);
        if (pair + 1 < m) out[i + pair + 1] = rad * Math.sin(theta);
      }
    }
  }
}

/** A seeded stream: each draw takes the next ⌈n/4⌉ Philox blocks. */
export class Generator {
  constructor(
    public seed: number,
    public offset = 0,
  ) {}

  /** Reserve blocks for `n` numbers; returns the first block's offset. */
  take(n: number): number {
    const at = this.offset;
    this.offset += Math.ceil(n / 4);
    return at;
  }

  state(): { seed: number; offset: number } {
    return { seed: this.seed, offset: this.offset };
  }
}

let globalGenerator = new Generator(0);

export function manualSeed(seed: number): Generator {
  globalGenerator = new Generator(seed);
  return globalGenerator;
}

export function defaultGenerator(): Generator {
  return globalGenerator;
}

/**
 * A small seeded generator for host-side choices (shuffles, random shapes): mulberry32. Not for tensor
 * values — those come from Philox so that every backend agrees.
 */
export class HostRng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** uniform in [0, 1) */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
}
