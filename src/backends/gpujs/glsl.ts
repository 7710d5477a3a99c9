/**
 * GLSL ES 1.00 shared by every gpu.js kernel of this backend, and the code generator for strided index
 * arithmetic. Kernels are written directly in GLSL rather than as gpu.js-translated JavaScript: gpu.js
 * infers float types for index variables (inexact past 2^24 and wrong after a division), while here every
 * index is an int and only values are floats.
 *
 * Storage layout (gpu.js's "memory-optimised" float textures): element e lives in texel ⌊e/4⌋, channel
 * e mod 4, and texels are numbered row-major over the texture. gpu.js names a sampler argument `x` as the
 * uniform `user_x` with its texel size in `user_xSize`; int and float arguments become `user_<name>`.
 */

/** The uniform gpu.js declares for kernel argument `name`. */
export const u = (name: string): string => `user_${name}`;

export const GLSL_LIB = `
float ld(sampler2D t, ivec2 size, int e) {
  int texel = e / 4;
  int ch = e - texel * 4;
  int y = texel / size.x;
  vec4 v = texture2D(t, (vec2(float(texel - y * size.x), float(y)) + 0.5) / vec2(size));
  if (ch == 0) return v.r;
  if (ch == 1) return v.g;
  if (ch == 2) return v.b;
  return v.a;
}

// false for ±inf and NaN (NaN fails every comparison)
bool finite_(float v) {
  return abs(v) <= 3.4028234663852886e38;
}

// GLSL leaves sign, min and max of NaN undefined; these propagate it as Math.sign and torch.maximum do
float sign_(float a) {
  return a != a ? a : sign(a);
}
float max_(float a, float b) {
  return (a != a || a >= b) ? a : b;
}
float min_(float a, float b) {
  return (a != a || a <= b) ? a : b;
}

// GLSL ES 1.00 has no tanh, and gpu.js's own (e^2x - 1)/(e^2x + 1) is inf/inf = NaN past |x| ≈ 44.
// Cephes tanhf: a rational form near 0, where 1 - 2/(e^2x + 1) would cancel, the exponential form beyond.
float tanh_(float x) {
  float ax = abs(x);
  if (ax < 0.625) {
    float s = x * x;
    return ((((-5.70498872745e-3 * s + 2.06390887954e-2) * s - 5.37397155531e-2) * s + 1.33314422036e-1) * s
      - 3.33332819422e-1) * s * x + x;
  }
  float r = 1.0 - 2.0 / (exp(2.0 * ax) + 1.0);
  return x < 0.0 ? -r : r;
}

// Taylor series below 0.5 (relative accuracy near 0), Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7) beyond.
float erf_(float x) {
  float ax = abs(x);
  if (ax < 0.5) {
    float s = x * x;
    return x * (1.1283791670955126 + s * (-0.37612638903183754 + s * (0.11283791670955126 + s * (-0.026866170645131252
      + s * (0.005223977625442188 + s * (-0.0008548327023450852 + s * 0.00012055332981789664))))));
  }
  float t = 1.0 / (1.0 + 0.3275911 * ax);
  float y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    * exp(-ax * ax);
  return x < 0.0 ? -y : y;
}

float gelu_tanh_grad_(float x) {
  float t = tanh_(0.7978845608028654 * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 0.134145 * x * x);
}

// Math.pow semantics. Integer exponents (x², x⁻¹, the common case) by repeated squaring, so 3² is exactly 9
// and negative bases work; other exponents through exp2/log2, which is NaN for a negative base as in JS.
float pow_(float a, float b) {
  if (b == 0.0) return 1.0;
  if (floor(b) != b) return exp2(b * log2(a));
  float n = abs(b);
  if (n > 1048576.0) {
    float big = exp2(b * log2(abs(a)));
    return (a < 0.0 && mod(b, 2.0) == 1.0) ? -big : big;
  }
  float r = 1.0;
  float p = a;
  for (int i = 0; i < 21; i++) {
    float h = floor(n * 0.5);
    if (n - 2.0 * h == 1.0) r *= p;
    n = h;
    if (n == 0.0) break;
    p *= p;
  }
  return b < 0.0 ? 1.0 / r : r;
}
`;

/** One operand walked by `walk`: an int variable accumulating its offset, and its stride uniforms. */
export interface Walked {
  /** GLSL int variable, already declared and holding the base offset */
  offset: string;
  /** argument-name prefix of its strides: `${strides}0` … `${strides}${rank-1}` */
  strides: string;
}

/**
 * GLSL statements splitting the int expression `index` into row-major coordinates over the dims
 * `${dims}0…` (int uniforms) and adding coordinate × stride to each walked offset. `tag` keeps the
 * temporaries of several walks in one function apart.
 */
export function walk(rank: number, index: string, dims: string, operands: readonly Walked[], tag = ''): string {
  const q = `q${tag}_`, c = `c${tag}_`;
  const lines = [`int ${q} = ${index};`];
  if (rank > 1) lines.push(`int ${c};`);
  for (let d = rank - 1; d >= 1; d--) {
    const n = u(`${dims}${d}`);
    lines.push(`${c} = ${q} - (${q} / ${n}) * ${n}; ${q} = ${q} / ${n};`);
    for (const o of operands) lines.push(`${o.offset} += ${c} * ${u(`${o.strides}${d}`)};`);
  }
  if (rank >= 1) for (const o of operands) lines.push(`${o.offset} += ${q} * ${u(`${o.strides}0`)};`);
  return lines.join('\n  ');
}

/** Argument names `${prefix}0` … `${prefix}${rank-1}`. */
export const names = (prefix: string, rank: number): string[] => Array.from({ length: rank }, (_, d) => `${prefix}${d}`);
