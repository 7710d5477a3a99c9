/**
 * Neural-network ops: fused softmax / log-softmax and layer norm with their own gradient rules (their
 * unfused twins, built from primitives, are in composite.ts and serve as cross-checks), embedding lookup,
 * dropout and the losses.
 */
import { record } from '../autograd/record.ts';
import { DTypeError, ShapeError, fmtShape } from '../core/errors.ts';
import { rand, zeros } from '../tensor/create.ts';
import { assertFloat } from '../core/dtype.ts';
import { normAxis } from '../core/layout.ts';
import type { Generator } from '../core/random.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { cast, div, exp, ge, mul, ne, neg, sub, where } from './elementwise.ts';
import { mean, sum } from './reduce.ts';
import { concat, contiguous, expand, gather, permute, reshape } from './shape.ts';
import { layerNormGrad, softmaxGrad } from './fused.ts';
import { operands, wrap } from './util.ts';

/** Apply a last-axis row kernel along any axis: move the axis last, run on [rows, cols], move it back. */
function alongAxis(x: Tensor, axis: number, op: string, kernel: (rows2d: Tensor) => Tensor): Tensor {
  const a = normAxis(op, axis, x.ndim);
  const perm = [...Array(x.ndim).keys()].filter((d) => d !== a).concat(a);
  const moved = a === x.ndim - 1 ? x : permute(x, perm);
  const cols = x.shape[a];
  const rows2d = reshape(contiguous(moved), [moved.size / Math.max(cols, 1), cols]);
  const y = reshape(kernel(rows2d), moved.shape);
  return a === x.ndim - 1 ? y : permute(y, perm.map((_, i) => perm.indexOf(i)));
}

/** Softmax along `axis`; masked entries (-inf, -1e9, -3.4e38) give 0 and a fully masked row gives zeros. */
export function softmax(x: Tensor, axis = -1): Tensor {
  assertFloat('softmax', x.dtype);
  return alongAxis(x, axis, 'softmax', (x2) => {
    const y = wrap(x2.backend, x2.backend.softmax(x2.view('softmax'), false), x2.shape);
    return record('softmax', y, [x2], (g) => [softmaxGrad(y, g, false)]);
  });
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  assertFloat('logSoftmax', x.dtype);
  return alongAxis(x, axis, 'logSoftmax', (x2) => {
    const y = wrap(x2.backend, x2.backend.softmax(x2.view('logSoftmax'), true), x2.shape);
    return record('logSoftmax', y, [x2], (g) => [softmaxGrad(y, g, true)]);
  });
}

/** Layer normalisation over the last dim (biased variance, as torch), fused forward and backward. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-12): Tensor {
  operands('layerNorm', [x, weight, bias]);
  assertFloat('layerNorm', x.dtype);
  const cols = x.shape[x.ndim - 1];
  if (weight.ndim !== 1 || weight.shape[0] !== cols || bias.ndim !== 1 || bias.shape[0] !== cols) {
    throw new ShapeError(`layerNorm: weight ${fmtShape(weight.shape)} / bias ${fmtShape(bias.shape)} do not match input ${fmtShape(x.shape)}`);
  }
  const x2 = reshape(contiguous(x), [x.size / Math.max(cols, 1), cols]);
  const r = x.backend.layerNorm(x2.view('layerNorm'), weight.view('layerNorm'), bias.view('layerNorm'), eps);
  const rows = x2.shape[0];
  const y = wrap(x.backend, r.y, x2.shape);
  const mu = wrap(x.backend, r.mean, [rows, 1]);
  const rstd = wrap(x.backend, r.rstd, [rows, 1]);
  const out = record('layerNorm', y, [x2, weight, bias], (g) => {
    const fused = layerNormGrad(g, x2, weight, mu, rstd, { weight: weight.requiresGrad, bias: bias.requiresGrad });
    if (fused) return fused;
    const xhat = mul(sub(x2, mu), rstd);
    const dxhat = mul(g, weight);
    const dx = mul(rstd, sub(sub(dxhat, mean(dxhat, -1, true)), mul(xhat, mean(mul(dxhat, xhat), -1, true))));
    return [dx, weight.requiresGrad ? sum(mul(g, xhat), 0) : null, bias.requiresGrad ? sum(g, 0) : null];
  });
  return reshape(out, x.shape);
}

/** Rows of `weight` ([vocab, dim]) picked by int32 `ids` of any shape → [...ids.shape, dim]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (ids.dtype !== 'int32') throw new DTypeError(`embedding: ids must be int32, got ${ids.dtype}`);
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be [vocab, dim], got ${fmtShape(weight.shape)}`);
  const dim = weight.shape[1];
  const index = expand(reshape(ids, [ids.size, 1]), [ids.size, dim]);
  return reshape(gather(weight, 0, index), [...ids.shape, dim]);
}

export interface DropoutOptions {
  training: boolean;
  generator?: Generator;
}

/** Inverted dropout: zero with probability p, scale the rest by 1/(1-p); the identity outside training. */
export function dropout(x: Tensor, p: number, opts: DropoutOptions): Tensor {
  if (!(p >= 0 && p < 1)) throw new ShapeError(`dropout: p must be in [0, 1), got ${p}`);
  if (!opts.training || p === 0) return mul(x, 1);
  const keepMask = ge(rand(x.shape, { dtype: x.dtype, backend: x.backend, generator: opts.generator }), p);
  return mul(x, div(keepMask, 1 - p));
}

export interface CrossEntropyOptions {
  /** targets equal to this are skipped (default -100, as torch) */
  ignoreIndex?: number;
  /** mix the one-hot target with the uniform distribution (torch's label_smoothing) */
  labelSmoothing?: number;
}

/** Mean cross-entropy of logits [N, C] against int32 class ids [N], as torch.nn.functional.cross_entropy. */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const ignore = opts.ignoreIndex ?? -100;
  const eps = opts.labelSmoothing ?? 0;
  if (labels.dtype !== 'int32') throw new DTypeError(`crossEntropy: labels must be int32, got ${labels.dtype}`);
  if (logits.ndim !== 2 || labels.ndim !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new ShapeError(`crossEntropy: logits ${fmtShape(logits.shape)} and labels ${fmtShape(labels.shape)} must be [N, C] and [N]`);
  }
  const logp = logSoftmax(logits, -1);
  const valid = ne(labels, ignore);
  const safe = where(valid, labels, 0);
  const picked = reshape(gather(logp, 1, reshape(safe, [labels.shape[0], 1])), [labels.shape[0]]);
  let perRow = neg(picked);
  if (eps > 0) perRow = sub(mul(perRow, 1 - eps), mul(mean(logp, -1), eps));
  const w = cast(valid, logits.dtype);
  // as torch: the mean over non-ignored rows; NaN when every row is ignored
  return div(sum(mul(perRow, w)), sum(w));
}

/**
 * Mean binary cross-entropy of logits [N] against int32 labels [N] (1 positive, 0 negative, `ignoreIndex`
 * skipped), i.e. torch's binary_cross_entropy_with_logits over the kept rows. The logit z is the second
 * of two logits [0, z], whose softmax is [1 − σ(z), σ(z)], so this is crossEntropy's stable path and rule.
 */
export function binaryCrossEntropyWithLogits(logits: Tensor, labels: Tensor, opts: Pick<CrossEntropyOptions, 'ignoreIndex'> = {}): Tensor {
  if (logits.ndim !== 1 || labels.ndim !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new ShapeError(`binaryCrossEntropyWithLogits: logits ${fmtShape(logits.shape)} and labels ${fmtShape(labels.shape)} must both be [N]`);
  }
  const z = reshape(logits, [logits.shape[0], 1]);
  return crossEntropy(concat([zeros(z.shape, { dtype: z.dtype, backend: z.backend }), z], 1), labels, opts);
}

/** Mean squared error, as torch.nn.functional.mse_loss. */
export function mseLoss(pred: Tensor, target: Tensor): Tensor {
  if (pred.size !== target.size) throw new ShapeError(`mseLoss: pred ${fmtShape(pred.shape)} and target ${fmtShape(target.shape)} differ in size`);
  const d = sub(pred, reshape(target, pred.shape));
  return mean(mul(d, d));
}

