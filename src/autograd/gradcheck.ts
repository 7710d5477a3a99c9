/**
 * gradcheck: compares autograd's gradients with central finite differences in float64. The function's
 * output is projected on a fixed random direction w (L = Σ w·f(x)), so one backward pass checks the full
 * vector-Jacobian product and every input element gets its own two-sided difference quotient.
 */
import { DTypeError } from '../errors.ts';
import { randn, tensor } from '../tensor/create.ts';
import { isFloat, type TypedArray } from '../tensor/dtype.ts';
import { Generator } from '../tensor/random.ts';
import { tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { mul } from '../ops/elementwise.ts';
import { sum } from '../ops/reduce.ts';
import { noGrad } from './engine.ts';

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
  input: number;
  index: number;
  analytic: number;
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
