/**
 * Method-call sugar on Tensor (`x.add(y).sum()`), installed on the prototype here so that tensor.ts stays
 * about data and lifetime and imports no op. Every method is exactly the same-named function in src/ops.
 */
import { backward, type BackwardOptions } from '../autograd/engine.ts';
import type { DType } from '../tensor/dtype.ts';
import { Tensor } from '../tensor/tensor.ts';
import * as E from './elementwise.ts';
import { linear, matmul } from './matmul.ts';
import * as N from './nn.ts';
import * as R from './reduce.ts';
import * as S from './shape.ts';
import type { TensorLike } from './util.ts';

type Axes = R.Axes;

declare module '../tensor/tensor.ts' {
  interface Tensor {
    add(b: TensorLike): Tensor;
    sub(b: TensorLike): Tensor;
    mul(b: TensorLike): Tensor;
    div(b: TensorLike): Tensor;
    pow(b: TensorLike): Tensor;
    maximum(b: TensorLike): Tensor;
    minimum(b: TensorLike): Tensor;
    neg(): Tensor;
    abs(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    tanh(): Tensor;
    erf(): Tensor;
    clamp(lo?: number, hi?: number): Tensor;
    eq(b: TensorLike): Tensor;
    ne(b: TensorLike): Tensor;
    lt(b: TensorLike): Tensor;
    le(b: TensorLike): Tensor;
    gt(b: TensorLike): Tensor;
    ge(b: TensorLike): Tensor;
    cast(dtype: DType): Tensor;
    maskedFill(mask: Tensor, value: number): Tensor;
    sum(axes?: Axes, keepdim?: boolean): Tensor;
    mean(axes?: Axes, keepdim?: boolean): Tensor;
    max(axes?: Axes, keepdim?: boolean): Tensor;
    min(axes?: Axes, keepdim?: boolean): Tensor;
    variance(axes?: Axes, keepdim?: boolean, correction?: number): Tensor;
    matmul(b: Tensor): Tensor;
    linear(weight: Tensor, bias?: Tensor | null): Tensor;
    reshape(shape: readonly number[]): Tensor;
    permute(perm: readonly number[]): Tensor;
    transpose(d0?: number, d1?: number): Tensor;
    expand(shape: readonly number[]): Tensor;
    unsqueeze(axis: number): Tensor;
    squeeze(axis: number): Tensor;
    slice(axis: number, start?: number, end?: number, step?: number): Tensor;
    contiguous(): Tensor;
    gather(axis: number, index: Tensor): Tensor;
    indexSelect(axis: number, index: Tensor): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    gelu(): Tensor;
    /** Reverse-mode gradient of this tensor into the `.grad` of every leaf that requires grad. */
    backward(seed?: Tensor, opts?: BackwardOptions): void;
    /** A view of the same storage, cut from the autograd graph. */
    detach(): Tensor;
  }
}

type AnyFn = (self: Tensor, ...args: never[]) => Tensor;
const methods: Record<string, AnyFn> = {
  add: E.add, sub: E.sub, mul: E.mul, div: E.div, pow: E.pow, maximum: E.maximum, minimum: E.minimum,
  neg: E.neg, abs: E.abs, exp: E.exp, log: E.log, sqrt: E.sqrt, rsqrt: E.rsqrt, tanh: E.tanh, erf: E.erf,
  clamp: E.clamp, eq: E.eq, ne: E.ne, lt: E.lt, le: E.le, gt: E.gt, ge: E.ge, cast: E.cast, gelu: E.gelu,
  maskedFill: E.maskedFill,
  sum: R.sum, mean: R.mean, max: R.max, min: R.min, variance: R.variance,
  matmul, linear,
  reshape: S.reshape, permute: S.permute, transpose: S.transpose, expand: S.expand, unsqueeze: S.unsqueeze,
  squeeze: S.squeeze, slice: S.slice, contiguous: S.contiguous, gather: S.gather, indexSelect: S.indexSelect,
  softmax: N.softmax, logSoftmax: N.logSoftmax,
};

const proto = Tensor.prototype as unknown as Record<string, unknown>;
for (const [name, fn] of Object.entries(methods)) {
  proto[name] = function (this: Tensor, ...args: never[]) {
    return fn(this, ...args);
  };
}
Tensor.prototype.backward = function (this: Tensor, seed?: Tensor, opts?: BackwardOptions) {
  backward(this, seed, opts);
};
Tensor.prototype.detach = function (this: Tensor) {
  return this.withLayout(this.layout);
};
