/**
 * The blocks BERT and DeBERTa share word for word (transformers names them BertIntermediate / BertOutput /
 * BertSelfOutput and DebertaV2Intermediate / …): the FFN input map with its activation, and
 * dense → dropout → residual → LayerNorm.
 */
import type { Backend } from '../backends/backend.ts';
import { add, gelu, geluTanh, maximum } from '../ops/elementwise.ts';
import type { DType } from '../core/dtype.ts';
import type { Generator } from '../core/random.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Dropout, LayerNorm, Linear, type ParamOptions } from './layers.ts';
import { Module } from './module.ts';

export const ACTIVATIONS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export function activation(name: Activation, x: Tensor): Tensor {
  switch (name) {
    case 'gelu':
      return gelu(x);
    case 'relu':
      return maximum(x, 0);
    default:
      return geluTanh(x);
  }
}

export interface ModelOptions {
  dtype?: DType;
  backend?: Backend;
  /** draw weights as BERT initialises them (N(0, initializer_range²)); zeros when absent (to be loaded) */
  generator?: Generator;
}

export function paramOptions(cfg: { initializerRange: number }, o: ModelOptions): ParamOptions {
  return { dtype: o.dtype, backend: o.backend, init: o.generator ? { std: cfg.initializerRange, generator: o.generator } : undefined };
}

export interface BlockConfig {
  hiddenSize: number;
  intermediateSize: number;
  hiddenAct: Activation;
  layerNormEps: number;
  hiddenDropout: number;
  initializerRange: number;
}

export class ResidualOutput extends Module {
  readonly dense: Linear;
  readonly norm: LayerNorm;
  readonly dropout: Dropout;
  constructor(cfg: BlockConfig, inFeatures: number, o: ModelOptions) {
    super();
    const p = paramOptions(cfg, o);
    this.dense = this.module('dense', new Linear(inFeatures, cfg.hiddenSize, p));
    this.norm = this.module('LayerNorm', new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, p));
    this.dropout = this.module('dropout', new Dropout(cfg.hiddenDropout));
  }
  forward(x: Tensor, residual: Tensor): Tensor {
    // without dropout between them, the residual is added in the dense layer's product
    if (!this.dropout.training || this.dropout.p === 0) return this.norm.forward(this.dense.forward(x, residual));
    return this.norm.forward(add(this.dropout.forward(this.dense.forward(x)), residual));
  }
}

export class Intermediate extends Module {
  readonly dense: Linear;
  constructor(readonly cfg: BlockConfig, o: ModelOptions) {
    super();
    this.dense = this.module('dense', new Linear(cfg.hiddenSize, cfg.intermediateSize, paramOptions(cfg, o)));
  }
  forward(x: Tensor): Tensor {
    return activation(this.cfg.hiddenAct, this.dense.forward(x));
  }
}
