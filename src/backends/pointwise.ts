/**
 * Pointwise operations, declared once. Each entry gives the expression for every target: `js` is inlined
 * into the CPU backend's generated strided loops, `wgsl` into the WebGPU backend's generated shaders, `glsl`
 * (GLSL ES 1.00, float32) into the gpu.js backend's fragment shaders. The operands are named `a`, `b` (and
 * `c` for ternary ops); helpers such as `erf` exist on every target.
 * Gradient rules live with the ops (src/ops), not here: this table is only about evaluation.
 */

export interface PointwiseDef {
  readonly js: string;
  readonly wgsl: string;
  readonly glsl: string;
}

export const UNARY = {
  neg: { js: '-a', wgsl: '-a', glsl: '-a' },
  abs: { js: 'Math.abs(a)', wgsl: 'abs(a)', glsl: 'abs(a)' },
  sign: { js: 'Math.sign(a)', wgsl: 'sign(a)', glsl: 'sign_(a)' },
  exp: { js: 'Math.exp(a)', wgsl: 'exp(a)', glsl: 'exp(a)' },
  log: { js: 'Math.log(a)', wgsl: 'log(a)', glsl: 'log(a)' },
  sqrt: { js: 'Math.sqrt(a)', wgsl: 'sqrt(a)', glsl: 'sqrt(a)' },
  rsqrt: { js: '1 / Math.sqrt(a)', wgsl: 'inverseSqrt(a)', glsl: '1.0 / sqrt(a)' },
  tanh: { js: 'Math.tanh(a)', wgsl: 'tanh_(a)', glsl: 'tanh_(a)' },
  erf: { js: 'erf(a)', wgsl: 'erf_(a)', glsl: 'erf_(a)' },
  floor: { js: 'Math.floor(a)', wgsl: 'floor(a)', glsl: 'floor(a)' },
  // GELU in BERT's exact form x·Φ(x), and the tanh approximation (their backward: BINARY's gelu_backward)
  gelu: {
    js: '0.5 * a * (1 + erf(a * 0.7071067811865476))',
    wgsl: 'gelu_(a)',
    glsl: '0.5 * a * (1.0 + erf_(a * 0.7071067811865476))',
  },
  gelu_tanh: {
    js: '0.5 * a * (1 + Math.tanh(0.7978845608028654 * (a + 0.044715 * a * a * a)))',
    wgsl: '0.5 * a * (1.0 + tanh_(0.7978845608028654 * (a + 0.044715 * a * a * a)))',
    glsl: '0.5 * a * (1.0 + tanh_(0.7978845608028654 * (a + 0.044715 * a * a * a)))',
  },
} satisfies Record<string, PointwiseDef>;

export const BINARY = {
  add: { js: 'a + b', wgsl: 'a + b', glsl: 'a + b' },
  // GELU's backward from its input a and the output's gradient b: b·GELU'(a), in one pass
  gelu_backward: {
    js: 'b * (0.5 * (1 + erf(a * 0.7071067811865476)) + a * 0.3989422804014327 * Math.exp(-0.5 * a * a))',
    wgsl: 'b * gelu_grad_(a)',
    glsl: 'b * (0.5 * (1.0 + erf_(a * 0.7071067811865476)) + a * 0.3989422804014327 * exp(-0.5 * a * a))',
  },
  gelu_tanh_backward: { js: 'b * geluTanhGrad(a)', wgsl: 'b * gelu_tanh_grad_(a)', glsl: 'b * gelu_tanh_grad_(a)' },
  sub: { js: 'a - b', wgsl: 'a - b', glsl: 'a - b' },
  mul: { js: 'a * b', wgsl: 'a * b', glsl: 'a * b' },
  div: { js: 'a / b', wgsl: 'a / b', glsl: 'a / b' },
  pow: { js: 'Math.pow(a, b)', wgsl: 'pow_(a, b)', glsl: 'pow_(a, b)' },
  // NaN propagates, as in torch.maximum / torch.minimum
  maximum: { js: '(a !== a || a >= b ? a : b)', wgsl: 'max_(a, b)', glsl: 'max_(a, b)' },
  minimum: { js: '(a !== a || a <= b ? a : b)', wgsl: 'min_(a, b)', glsl: 'min_(a, b)' },
  eq: { js: '(a === b ? 1 : 0)', wgsl: 'select(0.0, 1.0, a == b)', glsl: '(a == b ? 1.0 : 0.0)' },
  ne: { js: '(a !== b ? 1 : 0)', wgsl: 'select(0.0, 1.0, a != b)', glsl: '(a != b ? 1.0 : 0.0)' },
  lt: { js: '(a < b ? 1 : 0)', wgsl: 'select(0.0, 1.0, a < b)', glsl: '(a < b ? 1.0 : 0.0)' },
  le: { js: '(a <= b ? 1 : 0)', wgsl: 'select(0.0, 1.0, a <= b)', glsl: '(a <= b ? 1.0 : 0.0)' },
  gt: { js: '(a > b ? 1 : 0)', wgsl: 'select(0.0, 1.0, a > b)', glsl: '(a > b ? 1.0 : 0.0)' },
  ge: { js: '(a >= b ? 1 : 0)', wgsl: 'select(0.0, 1.0, a >= b)', glsl: '(a >= b ? 1.0 : 0.0)' },
} satisfies Record<string, PointwiseDef>;

export const TERNARY = {
  where: { js: '(a !== 0 ? b : c)', wgsl: 'select(c, b, a != 0.0)', glsl: '(a != 0.0 ? b : c)' },
} satisfies Record<string, PointwiseDef>;

export type UnaryOp = keyof typeof UNARY;
export type BinaryOp = keyof typeof BINARY;
export type TernaryOp = keyof typeof TERNARY;

/**
 * erf to ~1e-16 (float64 gradchecks need better than the 1e-7 of Abramowitz–Stegun). |x| ≤ 3: the series
 * erf x = 2/√π · e^{-x²} · Σ 2ⁿ x^{2n+1} / (1·3·…·(2n+1)), whose terms are all positive (no cancellation);
 * beyond: 1 − erfc from its continued fraction, where erfc < 2.3e-5 so its relative error hardly matters.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax > 3) {
    let f = ax;
    for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
    r = 1 - Math.exp(-ax * ax) / (1.7724538509055160 * f);
  } else {
    const x2 = ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; term > sum * 1e-17; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
    }
    r = 1.1283791670955126 * Math.exp(-x2) * sum;
  }
  return x < 0 ? -r : r;
}

export function geluTanhGrad(x: number): number {
  const k = 0.7978845608028654;
  const u = k * (x + 0.044715 * x * x * x);
  const t = Math.tanh(u);
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
}

/** Names the generated CPU kernels may call. */
export const JS_HELPERS = { erf, geluTanhGrad } as const;
