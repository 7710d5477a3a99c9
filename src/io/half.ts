/**
 * IEEE float16 and bfloat16 ⇄ float32, as safetensors stores them: round to nearest even, NaN payloads
 * and -0 kept (decoding goes through bit patterns).
 */
// 16-bit floats. Decoding goes through bit patterns so NaN payloads and -0 survive exactly.

let halfTable: Uint32Array | undefined;

/** float32 bit patterns of all 65536 halves, built once: decoding is then one lookup per element. */
export function halfToF32Bits(): Uint32Array {
  if (halfTable) return halfTable;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 0x1f) t[h] = sign | 0x7f800000 | (mant << 13);
    else if (exp !== 0) t[h] = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant === 0) t[h] = sign;
    else {
      // Subnormal half = mant·2^-24: shift the leading 1 into the implicit bit, one exponent step per shift.
      let e = 113;
      while ((mant & 0x400) === 0) {
        mant <<= 1;
        e--;
      }
      t[h] = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
  }
  return (halfTable = t);
}

const scratch32 = new Uint32Array(1);
const scratchF32 = new Float32Array(scratch32.buffer);

export function halfToFloat(bits: number): number {
  scratch32[0] = halfToF32Bits()[bits & 0xffff]!;
  return scratchF32[0]!;
}

export function bf16ToFloat(bits: number): number {
  scratch32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

/**
 * Round-to-nearest-even of a double to a 16-bit float with `mant` stored mantissa bits, from the
 * exact value: float64 input is rounded once, never first to float32 and then again. NaN becomes
 * the canonical quiet NaN.
 */
function encode16(x: number, mant: number, bias: number): number {
  const inf = 0x7fff & ~((1 << mant) - 1);
  if (x !== x) return inf | (1 << (mant - 1));
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | inf;
  const minExp = 1 - bias;
  let e = minExp;
  if (a >= 2 ** minExp) {
    e = Math.floor(Math.log2(a));
    if (2 ** e > a) e--; // log2 may be off by an ulp next to powers of two
    else if (2 ** (e + 1) <= a) e++;
    if (e > bias) return sign | inf;
  }
  const q = a * 2 ** (mant - e); // exact: scaling by a power of two
  const f = Math.floor(q);
  const d = q - f;
  let m = d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
  if (m === 2 ** (mant + 1)) {
    m /= 2;
    e++;
    if (e > bias) return sign | inf;
  }
  // Below 2^mant the result is subnormal (exponent field 0); a subnormal that rounded up to 2^mant
  // takes the other branch and becomes the smallest normal.
  return m < 2 ** mant ? sign | m : sign | ((e + bias) << mant) | (m - 2 ** mant);
}

export function floatToHalf(x: number): number {
  return encode16(x, 10, 15);
}

export function floatToBf16(x: number): number {
  return encode16(x, 7, 127);
}

/**
 * Same rounding as `floatToHalf`, on float32 bits: about 30× faster, and a NaN keeps its sign and
 * top payload bits, so decoding and re-encoding a file gives back the same bytes.
 */
export function f32BitsToHalf(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant === 0 ? 0 : mant >>> 13 || 0x200);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  // Normal halves drop 13 mantissa bits; subnormal ones drop more, with the implicit 1 made explicit.
  const shift = e > 0 ? 13 : 14 - e;
  if (shift > 24) return sign; // below half the smallest subnormal
  const m = e > 0 ? mant : mant | 0x800000;
  let h = (e > 0 ? e << 10 : 0) | (m >>> shift);
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  // A carry out of the mantissa bumps the exponent, which is the right answer (up to inf) too.
  if (rest > half || (rest === half && (h & 1) === 1)) h++;
  return sign | h;
}

export function f32BitsToBf16(b: number): number {
  if ((b & 0x7fffffff) > 0x7f800000) {
    const h = b >>> 16;
    return h & 0x7f ? h : h | 0x40; // keep it a NaN when the payload sat only in the dropped bits
  }
  return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}
