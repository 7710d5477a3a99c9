/** The building blocks: Linear, Embedding, LayerNorm, Dropout (parameter names as in torch.nn). */
import type { Backend } from '../backends/backend.ts';
import { add } from '../ops/elementwise.ts';
import { linear } from '../ops/matmul.ts';
import { dropout, embedding, layerNorm } from '../ops/nn.ts';
import { full, randn, zeros } from '../tensor/create.ts';
import type { DType } from '../core/dtype.ts';
import { defaultGenerator, type Generator } from '../core/random.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { sameShape } from '../core/layout.ts';
import { mul } from '../ops/elementwise.ts';
import { Module } from './module.ts';

export interface ParamOptions {
  dtype?: DType;
  backend?: Backend;
  /** weights are drawn from N(0, std²) with this generator; zeros when absent (e.g. before loading) */
  init?: { std: number; generator: Generator };
}

function weight(shape: number[], o: ParamOptions): Tensor {
  const opts = { dtype: o.dtype ?? 'float32', backend: o.backend };
  if (!o.init) return zeros(shape, opts);
  const r = randn(shape, { ...opts, generator: o.init.generator });
  const w = mul(r, o.init.std);
  r.dispose();
  return w;
}

/**
 * A term added to a Linear's output, computed from the same input: LoRA adapters plug in here, so any
 * model built from these layers can be adapted without editing the model.
 */
export interface LinearDelta {
  delta(x: Tensor): Tensor;
  /**
   * The linear's whole output with this term (and the residual, of the output's shape, where given) in it
   * as one op, or null (the linear then adds `delta`).
   */
  fused?(x: Tensor, weight: Tensor, bias: Tensor | null, residual: Tensor | null): Tensor | null;
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly deltas: LinearDelta[] = [];

  constructor(readonly inFeatures: number, readonly outFeatures: number, o: ParamOptions & { bias?: boolean } = {}) {
    super();
    this.weight = this.param('weight', weight([outFeatures, inFeatures], o));
    this.bias = o.bias === false ? null : this.param('bias', zeros([outFeatures], { dtype: o.dtype ?? 'float32', backend: o.backend }));
  }

  /** x Wᵀ + b + every delta, + `residual` (any shape that broadcasts to the output) where given. */
  forward(x: Tensor, residual: Tensor | null = null): Tensor {
    const fits = residual && sameShape(residual.shape, [...x.shape.slice(0, -1), this.outFeatures]) ? residual : null;
    const fused = this.deltas[0]?.fused?.(x, this.weight, this.bias, fits) ?? null;
    let y = fused ?? linear(x, this.weight, this.bias, fits);
    for (const d of fused ? this.deltas.slice(1) : this.deltas) y = add(y, d.delta(x));
    return residual && !fits ? add(y, residual) : y;
  }
}

export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(readonly numEmbeddings: number, readonly dim: number, o: ParamOptions = {}) {
    super();
    this.weight = this.param('weight', weight([numEmbeddings, dim], o));
  }
  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly dim: number, readonly eps: number, o: ParamOptions = {}) {
    super();
    const opts = { dtype: o.dtype ?? 'float32', backend: o.backend };
    this.weight = this.param('weight', full([dim], 1, opts));
    this.bias = this.param('bias', zeros([dim], opts));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class Dropout extends Module {
  /** draws masks from this generator (the global one when null) */
  generator: Generator | null = null;
  /** the drop probability (settable: a run may override the checkpoint's config) */
  constructor(public p: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return dropout(x, this.p, { training: true, generator: this.generator ?? defaultGenerator() });
  }
}
