/**
 * Method-call sugar on Tensor (`x.add(y).sum()`), installed on the prototype here so that tensor.ts stays
 * about data and lifetime and imports no op. Every method is exactly the same-named function in src/ops.
 * ./util.ts (which every op module imports) imports this file, so the methods exist whenever any op does.
 * Functions are looked up at call time: this module is evaluated inside the op modules' import cycle,
 * before some of their `const` exports are initialised.
 */
import { backward, type BackwardOptions } from '../autograd/backward.ts';
import type { DType } from '../core/dtype.ts';
import { Tensor } from '../tensor/tensor.ts';
import * as E from './elementwise.ts';
import * as M from './matmul.ts';
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
/** Method names by the module that defines the same-named function. */
const GROUPS: [Record<string, unknown>, readonly string[]][] = [
  [E, ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'erf',
    'clamp', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'cast', 'gelu', 'maskedFill']],
  [R, ['sum', 'mean', 'max', 'min', 'variance']],
  [M, ['matmul', 'linear']],
  [S, ['reshape', 'permute', 'transpose', 'expand', 'unsqueeze', 'squeeze', 'slice', 'contiguous', 'gather', 'indexSelect']],
  [N, ['softmax', 'logSoftmax']],
];

const proto = Tensor.prototype as unknown as Record<string, unknown>;
for (const [ns, names] of GROUPS) {
  for (const name of names) {
    proto[name] = function (this: Tensor, ...args: never[]) {
      return (ns[name] as AnyFn)(this, ...args);
    };
  }
}
Tensor.prototype.backward = function (this: Tensor, seed?: Tensor, opts?: BackwardOptions) {
  backward(this, seed, opts);
};
Tensor.prototype.detach = function (this: Tensor) {
  return this.withLayout(this.layout);
};
