/**
 * Pointwise ops with their gradient rules, one place per op (micrograd style). Broadcasting follows NumPy;
 * the autograd engine sums gradients back over broadcast dims, so the rules below are written as if the
 * shapes matched.
 */
import { record } from '../autograd/record.ts';
import type { BinaryOp, UnaryOp } from '../backends/pointwise.ts';
import { DTypeError } from '../core/errors.ts';
import { assertFloat, isFloat, type DType } from '../core/dtype.ts';
import { broadcastShapes, expandLayout } from '../core/layout.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { adoptScalars, operands, scalarLike, wrap, type TensorLike } from './util.ts';

function unaryRaw(op: UnaryOp, x: Tensor, name: string = op): Tensor {
  assertFloat(name, x.dtype);
  return wrap(x.backend, x.backend.unary(op, x.view(name), x.dtype), x.shape);
}

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor, name: string = op): Tensor {
  const shape = broadcastShapes(name, a.shape, b.shape);
  const va = { storage: a.view(name).storage, layout: expandLayout(name, a.layout, shape) };
  const vb = { storage: b.view(name).storage, layout: expandLayout(name, b.layout, shape) };
  return adoptScalars(wrap(a.backend, a.backend.binary(op, va, vb, a.dtype), shape), a, b);
}

function floatOperands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  const [x, y] = operands(op, [a, b]);
  if (!isFloat(x.dtype) && (x.requiresGrad || y.requiresGrad)) throw new DTypeError(`${op}: int32 operands cannot require grad`);
  return [x, y];
}

export function add(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = floatOperands('add', a, b);
  return record('add', binaryRaw('add', x, y), [x, y], (g) => [g, g]);
}

export function sub(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = floatOperands('sub', a, b);
  return record('sub', binaryRaw('sub', x, y), [x, y], (g) => [g, y.requiresGrad ? neg(g) : null]);
}

export function mul(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = floatOperands('mul', a, b);
  return record('mul', binaryRaw('mul', x, y), [x, y], (g) => [x.requiresGrad ? mul(g, y) : null, y.requiresGrad ? mul(g, x) : null]);
}

export function div(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = floatOperands('div', a, b);
  const out = binaryRaw('div', x, y);
  return record('div', out, [x, y], (g) => [
    x.requiresGrad ? div(g, y) : null,
    y.requiresGrad ? neg(div(mul(g, out), y)) : null,
  ]);
}

export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = floatOperands('pow', a, b);
  assertFloat('pow', x.dtype);
  const out = binaryRaw('pow', x, y);
  return record('pow', out, [x, y], (g) => [
    x.requiresGrad ? mul(g, mul(y, pow(x, sub(y, 1)))) : null,
    y.requiresGrad ? mul(g, mul(out, log(x))) : null,
  ]);
}

/** Elementwise maximum; where a == b the gradient is split evenly, as in torch.maximum. */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return extremum('maximum', a, b);
}

export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return extremum('minimum', a, b);
}

function extremum(op: 'maximum' | 'minimum', a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = floatOperands(op, a, b);
  const out = binaryRaw(op, x, y);
  return record(op, out, [x, y], (g) => {
    const share = (u: Tensor, v: Tensor) => mul(g, add(binaryRaw('gt', op === 'maximum' ? u : v, op === 'maximum' ? v : u), mul(binaryRaw('eq', u, v), 0.5)));
    return [x.requiresGrad ? share(x, y) : null, y.requiresGrad ? share(y, x) : null];
  });
}

/** Clamp into [lo, hi] (either bound optional); the gradient passes where lo ≤ x ≤ hi. */
export function clamp(x: Tensor, lo?: number, hi?: number): Tensor {
  operands('clamp', [x]);
  const lower = lo === undefined ? null : binaryRaw('maximum', x, scalarLike(x, lo), 'clamp');
  const upper = hi === undefined ? null : binaryRaw('minimum', lower ?? x, scalarLike(x, hi), 'clamp');
  if (upper) lower?.dispose();
  const out = upper ?? lower ?? x.withLayout(x.layout);
  return record('clamp', out, [x], (g) => {
    const inLo = lo === undefined ? null : binaryRaw('ge', x, scalarLike(x, lo));
    const inHi = hi === undefined ? null : binaryRaw('le', x, scalarLike(x, hi));
    const mask = inLo && inHi ? binaryRaw('mul', inLo, inHi) : inLo ?? inHi;
    return [mask ? mul(g, mask) : g];
  });
}

export const neg = (x: Tensor): Tensor => record('neg', unaryRaw('neg', x), [x], (g) => [neg(g)]);
export const abs = (x: Tensor): Tensor => record('abs', unaryRaw('abs', x), [x], (g) => [mul(g, unaryRaw('sign', x))]);
export function exp(x: Tensor): Tensor {
  const out = unaryRaw('exp', x);
  return record('exp', out, [x], (g) => [mul(g, out)]);
}
export const log = (x: Tensor): Tensor => record('log', unaryRaw('log', x), [x], (g) => [div(g, x)]);
export function sqrt(x: Tensor): Tensor {
  const out = unaryRaw('sqrt', x);
  return record('sqrt', out, [x], (g) => [div(mul(g, 0.5), out)]);
}
export function rsqrt(x: Tensor): Tensor {
  const out = unaryRaw('rsqrt', x);
  return record('rsqrt', out, [x], (g) => [mul(g, mul(pow(out, 3), -0.5))]);
}
export function tanh(x: Tensor): Tensor {
  const out = unaryRaw('tanh', x);
  return record('tanh', out, [x], (g) => [mul(g, sub(1, mul(out, out)))]);
}
/** d erf(x)/dx = 2/√π · e^{-x²} */
export const erf = (x: Tensor): Tensor =>
  record('erf', unaryRaw('erf', x), [x], (g) => [mul(g, mul(exp(neg(mul(x, x))), 1.1283791670955126))]);
/** sign has zero gradient almost everywhere; it is recorded so graphs through it stay connected. */
export const sign = (x: Tensor): Tensor => record('sign', unaryRaw('sign', x), [x], () => [null]);
export const floor = (x: Tensor): Tensor => record('floor', unaryRaw('floor', x), [x], () => [null]);

/** GELU, exact erf form x·Φ(x) as in BERT (fused kernel with its own gradient rule). */
export const gelu = (x: Tensor): Tensor => record('gelu', unaryRaw('gelu', x), [x], (g) => [binaryRaw('gelu_backward', x, g, 'gelu')]);
/** GELU, tanh approximation ("gelu_new" / "gelu_pytorch_tanh"). */
export const geluTanh = (x: Tensor): Tensor =>
  record('gelu_tanh', unaryRaw('gelu_tanh', x), [x], (g) => [binaryRaw('gelu_tanh_backward', x, g, 'gelu_tanh')]);

function compare(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands(op, [a, b]);
  return binaryRaw(op, x, y);
}
/** Comparisons give 1/0 in the operands' dtype and have no gradient. */
export const eq = (a: TensorLike, b: TensorLike): Tensor => compare('eq', a, b);
export const ne = (a: TensorLike, b: TensorLike): Tensor => compare('ne', a, b);
export const lt = (a: TensorLike, b: TensorLike): Tensor => compare('lt', a, b);
export const le = (a: TensorLike, b: TensorLike): Tensor => compare('le', a, b);
export const gt = (a: TensorLike, b: TensorLike): Tensor => compare('gt', a, b);
export const ge = (a: TensorLike, b: TensorLike): Tensor => compare('ge', a, b);

/** cond ≠ 0 ? a : b, broadcasting all three; cond may have any dtype. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = floatOperands('where', a, b);
  operands('where', [cond, x], { sameDtype: false });
  const shape = broadcastShapes('where', cond.shape, x.shape, y.shape);
  const v = (t: Tensor) => ({ storage: t.view('where').storage, layout: expandLayout('where', t.layout, shape) });
  const out = adoptScalars(wrap(x.backend, x.backend.ternary('where', v(cond), v(x), v(y), x.dtype), shape), x, y);
  return record('where', out, [x, y], (g) => {
    const zero = scalarLike(g, 0);
    return [x.requiresGrad ? where(cond, g, zero) : null, y.requiresGrad ? where(cond, zero, g) : null];
  });
}

/** x with `value` where mask ≠ 0 (torch.masked_fill). */
export const maskedFill = (x: Tensor, mask: Tensor, value: number): Tensor => where(mask, value, x);

/** Convert to another dtype; float → float conversions pass gradients back (cast to the input's dtype). */
export function cast(x: Tensor, dtype: DType): Tensor {
  const out = wrap(x.backend, x.backend.copy(x.view('cast'), dtype), x.shape);
  if (!isFloat(dtype)) return out;
  return record('cast', out, [x], (g) => [cast(g, x.dtype)]);
}

/** 1 where x is finite, else 0 (no gradient). */
export function isFiniteMask(x: Tensor): Tensor {
  // x - x is 0 for finite x and NaN for ±inf / NaN; NaN == NaN is false
  const d = binaryRaw('sub', x, x, 'isFinite');
  const m = binaryRaw('eq', d, d, 'isFinite');
  d.dispose();
  return m;
}
