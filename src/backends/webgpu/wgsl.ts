/**
 * WGSL building blocks shared by every generated shader: the helper functions the pointwise expressions
 * of ../pointwise.ts name, the parameter block, thread indexing and strided-offset code.
 *
 * Non-finite values are built and tested through bit patterns: WGSL rejects an infinite constant
 * expression, and a compiler may assume `x != x` is false, so neither `1.0 / 0.0` nor `x != x` is safe.
 */
import type { DType } from '../../core/dtype.ts';

/** WGSL element type of a storage dtype (float64 never reaches a shader: allocation refuses it). */
export function wgslType(dtype: DType): 'f32' | 'i32' {
  return dtype === 'int32' ? 'i32' : 'f32';
}

interface Helper {
  name: string;
  needs: string[];
  code: string;
}

const HELPERS: Helper[] = [
  {
    name: 'inf_',
    needs: [],
    // a `let` keeps the bitcast out of constant evaluation, where an infinite f32 is an error
    code: 'fn inf_() -> f32 { let bits = 0x7f800000u; return bitcast<f32>(bits); }',
  },
  {
    name: 'nan_',
    needs: [],
    code: 'fn nan_() -> f32 { let bits = 0x7fc00000u; return bitcast<f32>(bits); }',
  },
  {
    name: 'is_nan_',
    needs: [],
    code: 'fn is_nan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }',
  },
  {
    name: 'max_',
    needs: ['is_nan_'],
    // NaN in either operand wins, as torch.maximum (a NaN b fails a >= b and yields b)
    code: 'fn max_(a: f32, b: f32) -> f32 { return select(b, a, is_nan_(a) || a >= b); }',
  },
  {
    name: 'min_',
    needs: ['is_nan_'],
    code: 'fn min_(a: f32, b: f32) -> f32 { return select(b, a, is_nan_(a) || a <= b); }',
  },
  {
    name: 'exp_shifted_',
    needs: [],
    // exp of (x − max) for softmax: below -104 the float32 result is 0, and returning it explicitly keeps
    // masked entries (-inf, -1e9, -3.4e38) at exactly 0 whatever the device's exp does far out
    code: 'fn exp_shifted_(d: f32) -> f32 { return select(exp(d), 0.0, d < -104.0); }',
  },
  {
    name: 'tanh_',
    needs: [],
    // the builtin overflows to NaN on some drivers for large |x| and loses relative accuracy near 0:
    // a Taylor series below 0.4 (next term < 3e-8) and 1 − 2/(e^{2|x|} + 1) above, saturating past 9.1
    code: `fn tanh_(x: f32) -> f32 {
  let ax = abs(x);
  if (ax < 0.4) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.3333333333333333 + x2 * (0.13333333333333333 + x2 * (-0.05396825396825397
      + x2 * (0.021869488536155203 - x2 * 0.008863235529902197)))));
  }
  if (ax > 9.1) { return sign(x); }
  let t = 1.0 - 2.0 / (exp(2.0 * ax) + 1.0);
  return select(t, -t, x < 0.0);
}`,
  },
  {
    name: 'erf_parts_',
    needs: [],
    // the CPU fast path's fits (cpu/wasm/simdmath.ts), so both float32 paths agree: erf(z) = z + z·P(z²) on
    // |z| < 1 (≈ 1 ulp), else erfc(|z|) = e^{−z²}·Q(1/|z| − 0.55) (≈ 2e-7 relative); |error| ≤ 1e-7. Returns
    // (z·P(z²), erfc(|z|), e^{−z²}, 1 when |z| < 1): no loop, one exp, one division on the tail only
    code: `fn erf_parts_(z: f32) -> vec4f {
  let a = abs(z);
  let s = z * z;
  let ez = exp(-s);
  if (a < 1.0) {
    let p = (((((7.854221621528268e-05 * s - 0.0008010311285033822) * s + 0.005188342649489641) * s - 0.02685382030904293) * s
      + 0.1128358542919159) * s - 0.3761262595653534) * s + 0.12837916612625122;
    return vec4f(z * p, 0.0, ez, 1.0);
  }
  let t = 1.0 / a - 0.55;
  var q = -0.04826129600405693;
  q = q * t + 0.063336580991745; q = q * t - 0.019546989351511; q = q * t - 0.02585257962346077;
  q = q * t + 0.0569981187582016; q = q * t - 0.06928006559610367; q = q * t + 0.04496718943119049;
  q = q * t + 0.033722829073667526; q = q * t - 0.1812347024679184; q = q * t + 0.40883421897888184;
  q = q * t + 0.27629438042640686;
  return vec4f(0.0, q * ez, ez, 0.0);
}`,
  },
  {
    name: 'erf_',
    needs: ['erf_parts_'],
    code: `fn erf_(x: f32) -> f32 {
  let e = erf_parts_(x);
  if (e.w == 1.0) { return x + e.x; }
  let r = 1.0 - e.y;
  return select(r, -r, x < 0.0);
}`,
  },
  {
    name: 'gelu_phi2_',
    needs: ['erf_parts_'],
    // 2Φ(x) = 1 + erf(x/√2), from erfc's tail for x ≤ −√2 so that the negative side keeps its relative
    // accuracy (1 + erf would cancel); .y is e^{−x²/2} for the derivative
    code: `fn gelu_phi2_(x: f32) -> vec2f {
  let z = x * 0.7071067811865476;
  let e = erf_parts_(z);
  var phi2 = 1.0 + z + e.x;
  if (e.w != 1.0) { phi2 = select(2.0 - e.y, e.y, z < 0.0); }
  return vec2f(phi2, e.z);
}`,
  },
  {
    name: 'gelu_',
    needs: ['gelu_phi2_'],
    code: 'fn gelu_(x: f32) -> f32 { return 0.5 * x * gelu_phi2_(x).x; }',
  },
  {
    name: 'gelu_grad_',
    needs: ['gelu_phi2_'],
    // GELU'(x) = Φ(x) + x·φ(x)
    code: 'fn gelu_grad_(x: f32) -> f32 { let p = gelu_phi2_(x); return 0.5 * p.x + 0.3989422804014327 * x * p.y; }',
  },
  {
    name: 'pow_',
    needs: ['inf_', 'nan_', 'is_nan_'],
    // WGSL's pow is undefined for a base ≤ 0; Math.pow's cases: integer exponents of negative bases,
    // zero bases, and NaN unless the exponent is 0
    code: `fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (is_nan_(a) || is_nan_(b)) { return nan_(); }
  let ab = abs(a);
  let odd = floor(b) == b && abs(b) < 16777216.0 && fract(b * 0.5) != 0.0;
  var r: f32;
  if (ab == 0.0) {
    r = select(0.0, inf_(), b < 0.0);
  } else {
    r = exp2(b * log2(ab));
  }
  if (a > 0.0 || (a == 0.0 && bitcast<u32>(a) == 0u)) { return r; }
  if (ab != 0.0 && floor(b) != b) { return nan_(); }
  return select(r, -r, odd);
}`,
  },
  {
    name: 'gelu_tanh_grad_',
    needs: ['tanh_'],
    code: `fn gelu_tanh_grad_(x: f32) -> f32 {
  let k = 0.7978845608028654;
  let t = tanh_(k * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x);
}`,
  },
];

/** The helper definitions `body` calls (and theirs), in dependency order. */
export function helpersFor(body: string): string {
  const wanted = new Set<string>();
  const visit = (name: string) => {
    if (wanted.has(name)) return;
    const h = HELPERS.find((x) => x.name === name)!;
    h.needs.forEach(visit);
    wanted.add(name);
  };
  for (const h of HELPERS) if (new RegExp(`\\b${h.name}\\(`).test(body)) visit(h.name);
  return HELPERS.filter((h) => wanted.has(h.name)).map((h) => h.code).join('\n');
}

/**
 * Kernel parameters travel in a uniform block of u32s (float values as their bits): a storage buffer would
 * count against the 8 storage buffers per stage that compatibility mode allows, and layer norm alone
 * needs six.
 */
export function paramsBlock(binding: number, count: number): string {
  return `@group(0) @binding(${binding}) var<uniform> P: array<vec4u, ${Math.max(1, Math.ceil(count / 4))}>;
fn p(i: u32) -> u32 { return P[i / 4u][i % 4u]; }`;
}

/** Entry point of a kernel with one invocation per item; `i` is the item, past `p(0)` items return. */
export function flatEntry(workgroupSize: number, body: string): string {
  return `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${workgroupSize}u;
  if (i >= p(0u)) { return; }
${body}
}`;
}

/**
 * Storage offsets of item `i` for several strided layouts over one shape: the row-major index is peeled
 * dim by dim (innermost first). `shapeAt` is the parameter index of shape[0]; `layouts` give, per layout,
 * the parameter index of its strides[0] and of its offset (or null: starts at 0) and the variable to set.
 * `skipDim` leaves one dim's coordinate out (gather / scatter handle their axis themselves).
 */
export function stridedOffsets(
  rank: number,
  shapeAt: number,
  layouts: { name: string; stridesAt: number; offsetAt: number | null }[],
  index = 'i',
  skipDim = -1,
): string {
  const lines = layouts.map((l) => `  var ${l.name} = ${l.offsetAt === null ? '0u' : `p(${l.offsetAt}u)`};`);
  if (rank > 0) lines.push(`  var rem = ${index};`);
  for (let d = rank - 1; d >= 0; d--) {
    if (d === skipDim) {
      if (d > 0) lines.push(`  rem = rem / p(${shapeAt + d}u);`);
      continue;
    }
    lines.push(d === 0 ? `  { let c = rem;` : `  { let c = rem % p(${shapeAt + d}u); rem = rem / p(${shapeAt + d}u);`);
    for (const l of layouts) lines.push(`    ${l.name} += c * p(${l.stridesAt + d}u);`);
    lines.push('  }');
  }
  return lines.join('\n');
}

/** Grid for `items` invocations of `workgroupSize`: x up to the per-dimension limit, the rest in y. */
export function gridFor(items: number, workgroupSize: number, maxPerDim: number): [number, number, number] {
  const groups = Math.ceil(items / workgroupSize);
  if (groups <= maxPerDim) return [Math.max(groups, 1), 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y, 1];
}
