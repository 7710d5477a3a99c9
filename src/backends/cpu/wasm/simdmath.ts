/**
 * Vectorised float32 exp, log, tanh and erf (four lanes), emitted inline into kernels. Each emitter reads
 * a v128 local and leaves its result on the stack. Accuracy, checked against Math.* on dense sweeps in
 * test/cpu-fast-math.test.ts:
 * - exp, log (Cephes expf/logf: Cody–Waite reduction and a minimax polynomial): ≤ 2 ulp, including
 *   denormal results and inputs, ±inf, NaN and ±0.
 * - tanh (Cephes tanhf: odd polynomial below 0.625, 1 − 2/(e^{2|x|}+1) above): ≤ 2 ulp.
 * - erf: x + x·P(x²) below |x| = 1 (coefficients fitted for float32 evaluation, ≈ 1 ulp); above,
 *   1 − e^{−x²}·Q(1/|x|) with Q ≈ erfc(x)·e^{x²} fitted on [1, 10] (fit error 1.4e-8; evaluated in float32
 *   ≈ 2e-7 relative up to |x| = 4, 5e-7 near 9). Absolute error ≤ 1e-7 everywhere. GELU uses the erfc tail
 *   itself for x < −√2, so x·Φ(x) keeps its relative accuracy instead of cancelling: ≲ x²·1e-7 (from
 *   e^{−x²/2} of a rounded x²; 1.5e-5 at x = −12, where GELU is 1e-32).
 * The float64 path never uses these: it keeps the plain kernels (Math.* and the series erf).
 */
import type { Fn } from './encoder.ts';
import { v128 } from './encoder.ts';
import { V } from './opcodes.ts';

export interface Emit {
  f: Fn;
  /** use f32x4.relaxed_madd (a fused multiply-add where the CPU has one) */
  fma: boolean;
}

const cbuf = new DataView(new ArrayBuffer(16));
/** v128.const with the same float32 in all lanes. */
export function fconst(f: Fn, v: number): Fn {
  for (let i = 0; i < 4; i++) cbuf.setFloat32(4 * i, v, true);
  return f.simd(V.const, ...new Uint8Array(cbuf.buffer));
}
export function iconst(f: Fn, v: number): Fn {
  for (let i = 0; i < 4; i++) cbuf.setInt32(4 * i, v, true);
  return f.simd(V.const, ...new Uint8Array(cbuf.buffer));
}

/** Push `a` where `mask` is set, else `b` (v128.bitselect takes a, b, mask in that order). */
export function select(f: Fn, a: () => void, b: () => void, mask: () => void): void {
  a();
  b();
  mask();
  f.simd(V.bitselect);
}

/** Stack: acc → acc·t + c (fused when FMA is on). */
function mulAddConst(e: Emit, t: number, c: number): void {
  const f = e.f;
  if (e.fma) {
    f.get(t);
    fconst(f, c).simd(V.f32x4_relaxed_madd);
  } else {
    f.get(t).simd(V.f32x4_mul);
    fconst(f, c).simd(V.f32x4_add);
  }
}

/** Horner's scheme in local t; coefficients from the highest degree down. Leaves P(t) on the stack. */
export function horner(e: Emit, t: number, coeffsHighFirst: readonly number[]): void {
  fconst(e.f, coeffsHighFirst[0]);
  for (let i = 1; i < coeffsHighFirst.length; i++) mulAddConst(e, t, coeffsHighFirst[i]);
}

/** 2^k for an i32x4 on the stack with k ≥ −126 (builds the exponent field). */
function pow2(f: Fn): void {
  iconst(f, 127).simd(V.i32x4_add).i32c(23).simd(V.i32x4_shl);
}

export function emitExp(e: Emit, x: number): void {
  const f = e.f;
  const xc = f.local(v128), n = f.local(v128), r = f.local(v128), ni = f.local(v128), n1 = f.local(v128);
  // clamped so that 2^n splits into two normal factors; the clamps still give 0 and inf where they should
  f.get(x);
  fconst(f, -104).simd(V.f32x4_max);
  fconst(f, 89).simd(V.f32x4_min).tee(xc);
  fconst(f, 1.4426950408889634).simd(V.f32x4_mul).simd(V.f32x4_nearest).set(n);
  // r = x − n·ln2 in two parts (n·0.693359375 is exact)
  f.get(xc).get(n);
  fconst(f, 0.693359375).simd(V.f32x4_mul).simd(V.f32x4_sub);
  f.get(n);
  fconst(f, -2.12194440e-4).simd(V.f32x4_mul).simd(V.f32x4_sub).set(r);
  horner(e, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]);
  f.get(r).get(r).simd(V.f32x4_mul).simd(V.f32x4_mul);
  f.get(r).simd(V.f32x4_add);
  fconst(f, 1).simd(V.f32x4_add);
  // × 2^n1 × 2^n2 with n1 = n >> 1, n2 = n − n1: a denormal result is rounded once, by the last product
  f.get(n).simd(V.i32x4_trunc_sat_f32x4_s).tee(ni).i32c(1).simd(V.i32x4_shr_s).tee(n1);
  pow2(f);
  f.simd(V.f32x4_mul);
  f.get(ni).get(n1).simd(V.i32x4_sub);
  pow2(f);
  f.simd(V.f32x4_mul);
}

export function emitLog(e: Emit, x: number): void {
  const f = e.f;
  const xs = f.local(v128), den = f.local(v128), ex = f.local(v128), m = f.local(v128), lo = f.local(v128);
  const z = f.local(v128), res = f.local(v128);
  // denormal inputs: scale by 2^23 first
  f.get(x);
  fconst(f, 1.1754943508222875e-38).simd(V.f32x4_lt).set(den);
  select(f, () => { f.get(x); fconst(f, 8388608).simd(V.f32x4_mul); }, () => f.get(x), () => f.get(den));
  f.set(xs);
  // x = m·2^e with m ∈ [0.5, 1)
  f.get(xs).i32c(23).simd(V.i32x4_shr_u);
  iconst(f, 0xff).simd(V.and);
  iconst(f, 126).simd(V.i32x4_sub);
  iconst(f, 23).get(den).simd(V.and).simd(V.i32x4_sub).set(ex);
  f.get(xs);
  iconst(f, 0x807fffff | 0).simd(V.and);
  iconst(f, 0x3f000000).simd(V.or).set(m);
  // m < √½: e −= 1 and m = 2m − 1; else m = m − 1
  f.get(m);
  fconst(f, 0.707106781186547524).simd(V.f32x4_lt).set(lo);
  f.get(ex).get(lo).simd(V.i32x4_add).simd(V.f32x4_convert_i32x4_s).set(ex);
  f.get(m).get(m).get(lo).simd(V.and).simd(V.f32x4_add);
  fconst(f, 1).simd(V.f32x4_sub).set(m);
  f.get(m).get(m).simd(V.f32x4_mul).set(z);
  horner(e, m, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
    2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]);
  f.get(m).simd(V.f32x4_mul).get(z).simd(V.f32x4_mul);
  f.get(ex);
  fconst(f, -2.12194440e-4).simd(V.f32x4_mul).simd(V.f32x4_add);
  f.get(z);
  fconst(f, 0.5).simd(V.f32x4_mul).simd(V.f32x4_sub);
  f.get(m).simd(V.f32x4_add);
  f.get(ex);
  fconst(f, 0.693359375).simd(V.f32x4_mul).simd(V.f32x4_add).set(res);
  // +inf and NaN pass through, 0 → −inf, negative → NaN
  select(f, () => f.get(res), () => f.get(x), () => { f.get(x); fconst(f, Infinity).simd(V.f32x4_lt); });
  f.set(res);
  select(f, () => fconst(f, -Infinity), () => f.get(res), () => { f.get(x); fconst(f, 0).simd(V.f32x4_eq); });
  f.set(res);
  select(f, () => fconst(f, NaN), () => f.get(res), () => { f.get(x); fconst(f, 0).simd(V.f32x4_lt); });
}

const SIGN = 0x80000000 | 0;

export function emitTanh(e: Emit, x: number): void {
  const f = e.f;
  const a = f.local(v128), s = f.local(v128), big = f.local(v128), t = f.local(v128);
  const bigMask = f.local(v128);
  f.get(x);
  iconst(f, 0x7fffffff).simd(V.and).tee(a);
  fconst(f, 0.625).simd(V.f32x4_gt).tee(bigMask);
  // |x| > 0.625: 1 − 2/(e^{2|x|} + 1), sign restored (skipped when no lane needs it)
  f.simd(V.any_true).if(() => {
    f.get(a).get(a).simd(V.f32x4_add).set(t);
    emitExp(e, t);
    fconst(f, 1).simd(V.f32x4_add).set(t);
    fconst(f, 1);
    fconst(f, 2).get(t).simd(V.f32x4_div).simd(V.f32x4_sub);
    f.get(x);
    iconst(f, SIGN).simd(V.and).simd(V.or).set(big);
  });
  // |x| ≤ 0.625: x + x·s·P(s), s = x²
  f.get(x).get(x).simd(V.f32x4_mul).set(s);
  select(
    f,
    () => f.get(big),
    () => {
      horner(e, s, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1]);
      f.get(s).simd(V.f32x4_mul).get(x).simd(V.f32x4_mul).get(x).simd(V.f32x4_add);
      // tanh keeps x's sign, −0 included
      iconst(f, 0x7fffffff).simd(V.and).get(x);
      iconst(f, SIGN).simd(V.and).simd(V.or);
    },
    () => f.get(bigMask),
  );
}

// erf(z) = z + z·P(z²) on |z| < 1; c0 − 1 leads so that the first term z is exact
const ERF_SMALL = [7.854221621528268e-05, -0.0008010311285033822, 0.005188342649489641, -0.02685382030904293,
  0.1128358542919159, -0.3761262595653534, 0.12837916612625122];
// erfc(z)·e^{z²} ≈ Q(1/z − 0.55) on z ∈ [1, 10]; centring the variable keeps float32 Horner well conditioned
const ERFC_Q = [
  -0.04826129600405693, 0.063336580991745, -0.019546989351511, -0.02585257962346077, 0.0569981187582016,
  -0.06928006559610367, 0.04496718943119049, 0.033722829073667526, -0.1812347024679184, 0.40883421897888184,
  0.27629438042640686,
];

/**
 * Shared by erf and GELU: for z in local `z`, sets `small` (mask |z| < 1), `poly` (z·P(z²), so erf = z + poly
 * there) and `tail` (erfc(|z|) = e^{−z²}·Q(1/|z|), valid where |z| ≥ 1). `ez` receives e^{−z²} when `needEz`,
 * else only where the tail is computed: the tail (an exp, a division, 11 terms) is skipped when every lane
 * is small, the common case for activations.
 */
function erfParts(e: Emit, z: number, out: { small: number; poly: number; tail: number; ez: number }, needEz: boolean): void {
  const f = e.f;
  const a = f.local(v128), s = f.local(v128), t = f.local(v128);
  f.get(z);
  iconst(f, 0x7fffffff).simd(V.and).set(a);
  f.get(a);
  fconst(f, 1).simd(V.f32x4_lt).set(out.small);
  f.get(z).get(z).simd(V.f32x4_mul).set(s);
  horner(e, s, ERF_SMALL);
  f.get(z).simd(V.f32x4_mul).set(out.poly);
  const ez = () => {
    f.get(s).simd(V.f32x4_neg).set(t);
    emitExp(e, t);
    f.set(out.ez);
  };
  if (needEz) ez();
  f.get(out.small).simd(V.i32x4_all_true).if(
    () => fconst(f, 0).set(out.tail),
    () => {
      if (!needEz) ez();
      fconst(f, 1).get(a).simd(V.f32x4_div);
      fconst(f, 0.55).simd(V.f32x4_sub).set(t);
      horner(e, t, ERFC_Q);
      f.get(out.ez).simd(V.f32x4_mul).set(out.tail);
    },
  );
}

export function emitErf(e: Emit, x: number): void {
  const f = e.f;
  const p = { small: f.local(v128), poly: f.local(v128), tail: f.local(v128), ez: f.local(v128) };
  erfParts(e, x, p, false);
  select(
    f,
    () => f.get(x).get(p.poly).simd(V.f32x4_add),
    () => {
      fconst(f, 1).get(p.tail).simd(V.f32x4_sub);
      f.get(x);
      iconst(f, SIGN).simd(V.and).simd(V.or);
    },
    () => f.get(p.small),
  );
}

/**
 * 1 + erf(x/√2) = 2Φ(x), computed as the erfc tail for x ≤ −√2 (no cancellation there). Sets `phi2`; with
 * `grad`, leaves GELU' = Φ(x) + x·φ(x) on the stack, else GELU = x·Φ(x).
 */
export function emitGelu(e: Emit, x: number, grad: boolean): void {
  const f = e.f;
  const z = f.local(v128), phi2 = f.local(v128);
  const p = { small: f.local(v128), poly: f.local(v128), tail: f.local(v128), ez: f.local(v128) };
  f.get(x);
  fconst(f, Math.SQRT1_2).simd(V.f32x4_mul).set(z);
  erfParts(e, z, p, grad);
  select(
    f,
    () => {
      fconst(f, 1).get(z).simd(V.f32x4_add).get(p.poly).simd(V.f32x4_add);
    },
    () =>
      select(
        f,
        () => f.get(p.tail),
        () => fconst(f, 2).get(p.tail).simd(V.f32x4_sub),
        () => { f.get(z); fconst(f, 0).simd(V.f32x4_lt); },
      ),
    () => f.get(p.small),
  );
  f.set(phi2);
  if (grad) {
    f.get(phi2);
    fconst(f, 0.5).simd(V.f32x4_mul);
    f.get(x).get(p.ez).simd(V.f32x4_mul);
    fconst(f, 0.3989422804014327).simd(V.f32x4_mul).simd(V.f32x4_add);
  } else {
    f.get(x).get(phi2).simd(V.f32x4_mul);
    fconst(f, 0.5).simd(V.f32x4_mul);
  }
}

/**
 * GELU's tanh form and its derivative (transformers' gelu_new / gelu_pytorch_tanh), through the logistic
 * function: 0.5·(1 + tanh u) = σ(2u) and 1 − tanh²u = 4σ(1 − σ), so neither tail cancels.
 */
export function emitGeluTanh(e: Emit, x: number, grad: boolean): void {
  const f = e.f;
  const z = f.local(v128), s = f.local(v128), ez = f.local(v128), x2 = f.local(v128);
  const k = 0.7978845608028654;
  f.get(x).get(x).simd(V.f32x4_mul).set(x2);
  // z = −2u clamped so that e^z stays finite, u = k·x·(1 + 0.044715·x²)
  f.get(x2);
  fconst(f, 0.044715).simd(V.f32x4_mul);
  fconst(f, 1).simd(V.f32x4_add).get(x).simd(V.f32x4_mul);
  fconst(f, -2 * k).simd(V.f32x4_mul);
  fconst(f, -88).simd(V.f32x4_max);
  fconst(f, 88).simd(V.f32x4_min).set(z);
  emitExp(e, z);
  f.set(ez);
  fconst(f, 1);
  fconst(f, 1).get(ez).simd(V.f32x4_add).simd(V.f32x4_div).set(s);
  if (!grad) {
    f.get(x).get(s).simd(V.f32x4_mul);
    return;
  }
  // σ + x·σ(1 − σ)·2k·(1 + 3·0.044715·x²), with σ(1 − σ) = e^z·σ²
  f.get(s);
  f.get(ez).get(s).simd(V.f32x4_mul).get(s).simd(V.f32x4_mul).get(x).simd(V.f32x4_mul);
  f.get(x2);
  fconst(f, 3 * 0.044715).simd(V.f32x4_mul);
  fconst(f, 1).simd(V.f32x4_add).simd(V.f32x4_mul);
  fconst(f, 2 * k).simd(V.f32x4_mul).simd(V.f32x4_add);
}
