/**
 * gradcheck: compares autograd's gradients with central finite differences in float64. The function's
 * output is projected on a fixed random direction w (L = Σ w·f(x)), so one backward pass checks the full
 * vector-Jacobian product and every input element gets its own two-sided difference quotient.
 */
import { cpuBackend } from '../backends/cpu/index.ts';
import { DTypeError } from '../core/errors.ts';
import { randn, tensor } from '../tensor/create.ts';
import { isFloat, type TypedArray } from '../core/dtype.ts';
import { Generator } from '../core/random.ts';
import { beginScope, tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { mul } from '../ops/elementwise.ts';
import { sum } from '../ops/reduce.ts';
import { noGrad } from '../autograd/record.ts';

export interface GradcheckOptions {
  /** finite-difference step (default 1e-6) */
  eps?: number;
  /** absolute tolerance (default 1e-5) */
  atol?: number;
  /** relative tolerance (default 1e-4) */
  rtol?: number;
  /** seed of the projection direction (default 0) */
  seed?: number;
}

export interface GradcheckWorst {
  /** |analytic − numeric| / (atol + rtol·|numeric|); the check passes when this is ≤ 1 everywhere */
  ratio: number;
  absError: number;
  /** the input whose gradient this is; -1 for the function's output (device checks compare it too) */
  input: number;
  index: number;
  /** autograd's value (on a device check: the device's value) */
  analytic: number;
  /** the finite difference (on a device check: the float64 CPU reference) */
  numeric: number;
}

export interface GradcheckResult {
  pass: boolean;
  /** number of gradient elements compared */
  checked: number;
  worst: GradcheckWorst;
}

/**
 * Check `fn`'s gradients with respect to every float input. Inputs must be float64 (int32 inputs, such as
 * indices, are passed through and not differentiated). `fn` must be deterministic.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const eps = opts.eps ?? 1e-6, atol = opts.atol ?? 1e-5, rtol = opts.rtol ?? 1e-4;
  for (const x of inputs) {
    if (isFloat(x.dtype) && x.dtype !== 'float64') throw new DTypeError(`gradcheck: float inputs must be float64, got ${x.dtype}`);
  }
  const host = inputs.map((x) => x.dataSync());
  const shapes = inputs.map((x) => x.shape);
  const backend = inputs[0]?.backend;
  const rebuild = (data: TypedArray[], grad: boolean) =>
    data.map((d, i) => tensor(d, { shape: shapes[i], backend, requiresGrad: grad && isFloat(inputs[i].dtype) }));

  const outShape = tidy(() => noGrad(() => [...fn(...rebuild(host, false)).shape]));
  const w = randn(outShape, { dtype: 'float64', backend, generator: new Generator(opts.seed ?? 0) });
  const wHost = w.dataSync();

  const analytic = tidy(() => {
    const xs = rebuild(host, true);
    sum(mul(fn(...xs), w)).backward();
    return xs.map((x) => (x.grad ? x.grad.dataSync() : new Float64Array(x.size)));
  });

  const worst: GradcheckWorst = { ratio: 0, absError: 0, input: -1, index: -1, analytic: 0, numeric: 0 };
  let checked = 0;
  noGrad(() => {
    host.forEach((data, i) => {
      if (!isFloat(inputs[i].dtype)) return;
      for (let j = 0; j < data.length; j++) {
        const orig = data[j];
        const at = (v: number) => {
          data[j] = v;
          return tidy(() => fn(...rebuild(host, false)).dataSync());
        };
        // difference the outputs before projecting on w: entries such as -1e9 masks then cancel exactly
        // instead of drowning the quotient in the rounding of a huge sum
        const plus = at(orig + eps), minus = at(orig - eps);
        let numeric = 0;
        for (let o = 0; o < plus.length; o++) if (plus[o] !== minus[o]) numeric += (wHost[o] * (plus[o] - minus[o])) / (2 * eps);
        data[j] = orig;
        const a = analytic[i][j];
        const absError = Math.abs(a - numeric);
        const ratio = Number.isNaN(absError) ? Infinity : absError / (atol + rtol * Math.abs(numeric));
        checked++;
        if (ratio > worst.ratio || worst.index < 0) Object.assign(worst, { ratio, absError, input: i, index: j, analytic: a, numeric });
      }
    });
  });
  w.dispose();
  return { pass: worst.ratio <= 1, checked, worst };
}

/**
 * Tolerances of a float32 device evaluation against the float64 reference. Most ops agree to ~1e-6, but
 * the masked softmax cases compute `x + (-1e4)`, which float32 holds to ±5e-4; a fully masked row then
 * carries that error into outputs and gradients (up to ~6e-4 over seeds 0–19). A kernel that reads or
 * writes a wrong element is off by O(1), far outside.
 */
export const DEVICE_TOLERANCE = { atol: 1e-3, rtol: 1e-3 };

/**
 * gradcheck for backends without float64 (GPUs), where finite differences in float32 would drown in
 * rounding. `fn` runs on the device at `inputs` (float32; int32 ones pass through); `reference` — the
 * same function built on the CPU in float64 — runs at the same values, read back and widened. The
 * forward values and the vector-Jacobian products for one random direction w are compared element by
 * element; w is drawn on the device and reused by the reference. Check `reference` itself with
 * `gradcheck` to close the chain device → CPU float64 → finite differences.
 */
export async function gradcheckOnDevice(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  reference: (...xs: Tensor[]) => Tensor,
  opts: GradcheckOptions = {},
): Promise<GradcheckResult> {
  const atol = opts.atol ?? DEVICE_TOLERANCE.atol, rtol = opts.rtol ?? DEVICE_TOLERANCE.rtol;
  const host = await Promise.all(inputs.map((x) => x.data()));
  const shapes = inputs.map((x) => x.shape);
  const differentiable = inputs.map((x) => isFloat(x.dtype));
  const backend = inputs[0]?.backend;

  const scope = beginScope();
  let device: { y: TypedArray; w: TypedArray; grads: (TypedArray | null)[] };
  try {
    const xs = host.map((d, i) => tensor(d, { shape: shapes[i], backend, dtype: inputs[i].dtype, requiresGrad: differentiable[i] }));
    const y = fn(...xs);
    const w = randn(y.shape, { dtype: y.dtype, backend, generator: new Generator(opts.seed ?? 0) });
    sum(mul(y, w)).backward();
    device = { y: await y.data(), w: await w.data(), grads: await Promise.all(xs.map((x) => (x.grad ? x.grad.data() : null))) };
    for (const x of xs) x.grad?.dispose();
  } finally {
    scope.end();
  }

  const ref = tidy(() => {
    const xs = host.map((d, i) =>
      differentiable[i]
        ? tensor(Float64Array.from(d), { shape: shapes[i], backend: cpuBackend(), requiresGrad: true })
        : tensor(d, { shape: shapes[i], backend: cpuBackend() }),
    );
    const y = reference(...xs);
    const w = tensor(Float64Array.from(device.w), { shape: y.shape, backend: cpuBackend() });
    sum(mul(y, w)).backward();
    const grads = xs.map((x) => (x.grad ? x.grad.dataSync() : null));
    xs.forEach((x) => x.grad?.dispose());
    return { y: y.dataSync(), grads };
  });

  const worst: GradcheckWorst = { ratio: 0, absError: 0, input: -1, index: -1, analytic: 0, numeric: 0 };
  let checked = 0;
  const compare = (got: ArrayLike<number>, want: ArrayLike<number>, input: number) => {
    for (let j = 0; j < want.length; j++) {
      const a = got[j], r = want[j];
      const absError = Math.abs(a - r);
      // non-finite references (masked -inf) must be matched exactly
      const ratio = !Number.isFinite(r) ? (a === r ? 0 : Infinity) : Number.isNaN(absError) ? Infinity : absError / (atol + rtol * Math.abs(r));
      checked++;
      if (ratio > worst.ratio || worst.index < 0) Object.assign(worst, { ratio, absError, input, index: j, analytic: a, numeric: r });
    }
  };
  compare(device.y, ref.y, -1);
  ref.grads.forEach((g, i) => {
    if (!g) return;
    compare(device.grads[i] ?? new Float32Array(g.length), g, i);
  });
  return { pass: worst.ratio <= 1, checked, worst };
}
