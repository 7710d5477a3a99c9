/**
 * The fast path's vectorised exp, log, tanh and erf against Math.* (and the float64 series erf) on dense
 * sweeps: ≤ 2 ulp of the correctly rounded float32 result, special values exact. GELU is checked against
 * an accurate float64 x·Φ(x) (erfc from its continued fraction in the tail, where the plain formula cancels).
 */
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { cpuInfo, setCpuPath } from '../src/backends/cpu/index.ts';
import { erf } from '../src/backends/pointwise.ts';

const info = cpuInfo();

function sweep(lo: number, hi: number, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

function ulpOf(x: number): number {
  const a = Math.fround(Math.abs(x));
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** Largest error in ulps of `ref` (rounded to float32) over the sweep, and where. */
function worstUlps(op: (x: P.Tensor) => P.Tensor, xs: Float32Array, ref: (x: number) => number): { ulps: number; at: number } {
  setCpuPath('fast');
  const got = P.tidy(() => op(P.tensor(xs)).dataSync());
  let worst = { ulps: 0, at: NaN };
  for (let i = 0; i < xs.length; i++) {
    const r = Math.fround(ref(xs[i]));
    const g = got[i];
    if (!Number.isFinite(r)) {
      expect(Object.is(g, r) || (Number.isNaN(g) && Number.isNaN(r)), `at ${xs[i]}: ${g} vs ${r}`).toBe(true);
      continue;
    }
    const u = Math.abs(g - r) / ulpOf(r);
    if (u > worst.ulps) worst = { ulps: u, at: xs[i] };
  }
  return worst;
}

const erfc = (x: number): number => {
  if (x < 3) return 1 - erf(x);
  let f = x;
  for (let n = 60; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / (1.772453850905516 * f);
};

describe.skipIf(!info.enabled)('fast-path math on dense sweeps', () => {
  it('exp ≤ 2 ulp over [-104, 89] (denormal results, overflow to inf)', () => {
    expect(worstUlps(P.exp, sweep(-104, 89, 400_003), Math.exp).ulps).toBeLessThanOrEqual(2);
    expect(worstUlps(P.exp, sweep(-1, 1, 100_003), Math.exp).ulps).toBeLessThanOrEqual(2);
  });

  it('log ≤ 2 ulp from denormals to 3e38', () => {
    const xs = Float32Array.from({ length: 300_000 }, (_, i) => 2 ** (-149 + (277 * i) / 299_999));
    expect(worstUlps(P.log, xs, Math.log).ulps).toBeLessThanOrEqual(2);
    expect(worstUlps(P.log, sweep(0.5, 2, 100_003), Math.log).ulps).toBeLessThanOrEqual(2);
  });

  it('tanh ≤ 2 ulp over [-12, 12]', () => {
    expect(worstUlps(P.tanh, sweep(-12, 12, 400_003), Math.tanh).ulps).toBeLessThanOrEqual(2);
    expect(worstUlps(P.tanh, sweep(-0.01, 0.01, 100_003), Math.tanh).ulps).toBeLessThanOrEqual(2);
  });

  it('erf ≤ 2 ulp (and ≤ 1e-7 absolute) over [-6, 6]', () => {
    const xs = sweep(-6, 6, 400_003);
    expect(worstUlps(P.erf, xs, erf).ulps).toBeLessThanOrEqual(2);
    expect(worstUlps(P.erf, sweep(-1e-3, 1e-3, 10_001), erf).ulps).toBeLessThanOrEqual(2);
    setCpuPath('fast');
    const got = P.erf(P.tensor(xs)).dataSync();
    let worst = 0;
    xs.forEach((x, i) => (worst = Math.max(worst, Math.abs(got[i] - erf(x)))));
    expect(worst).toBeLessThanOrEqual(1e-7);
  });

  it('GELU keeps its relative accuracy in the negative tail; special values pass through', () => {
    const gelu = (x: number) => 0.5 * x * erfc(-x / Math.SQRT2);
    const xs = sweep(-12, 12, 200_003);
    setCpuPath('fast');
    const got = P.gelu(P.tensor(xs)).dataSync();
    xs.forEach((x, i) => {
      const r = gelu(x);
      // e^{−x²/2} of a rounded x² costs ≈ x²·2⁻²⁴ relative in the tail
      if (!(Math.abs(got[i] - r) <= 4 * ulpOf(r) + (1e-7 * x * x + 1e-6) * Math.abs(r))) expect.fail(`gelu(${x}) = ${got[i]}, want ${r}`);
    });
    const specials = [0, -0, Infinity, -Infinity, NaN, 1e-40, -1e-40, 88.72, 88.73, -87.5, -103.5, -104.5].map(Math.fround);
    const want = {
      exp: specials.map(Math.exp), log: specials.map(Math.log), tanh: specials.map(Math.tanh), erf: specials.map(erf),
    };
    for (const [name, op] of [['exp', P.exp], ['log', P.log], ['tanh', P.tanh], ['erf', P.erf]] as const) {
      const y = [...op(P.tensor(specials)).dataSync()];
      y.forEach((v, i) => {
        const r = Math.fround(want[name][i]);
        if (Number.isNaN(r)) expect(v, `${name}(${specials[i]})`).toBeNaN();
        else if (!Number.isFinite(r)) expect(v, `${name}(${specials[i]})`).toBe(r);
        else expect(Math.abs(v - r), `${name}(${specials[i]}) = ${v}, want ${r}`).toBeLessThanOrEqual(2 * ulpOf(r));
      });
    }
  });
});
