/**
 * BertForMaskedLM with transformers' names (`cls.predictions.transform.*`, `cls.predictions.bias`) and the
 * decoder tied to the word embeddings, as `tie_word_embeddings` makes it. The loss is computed only at the
 * masked positions, so the vocabulary projection costs (masked tokens × vocab) instead of (all tokens × vocab).
 */
import { add } from '../ops/elementwise.ts';
import { matmul } from '../ops/matmul.ts';
import { crossEntropy } from '../ops/nn.ts';
import { indexSelect, reshape, transpose } from '../ops/shape.ts';
import { zeros } from '../tensor/create.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { BertModel, activation, paramOptions, type BertConfig, type EncoderInputs, type ModelOptions } from './bert.ts';
import { LayerNorm, Linear } from './layers.ts';
import { Module } from './module.ts';

class PredictionTransform extends Module {
  readonly dense: Linear;
  readonly norm: LayerNorm;
  constructor(readonly cfg: BertConfig, o: ModelOptions) {
    super();
    const p = paramOptions(cfg, o);
    this.dense = this.module('dense', new Linear(cfg.hiddenSize, cfg.hiddenSize, p));
    this.norm = this.module('LayerNorm', new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, p));
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(activation(this.cfg.hiddenAct, this.dense.forward(x)));
  }
}

class LMPredictionHead extends Module {
  readonly transform: PredictionTransform;
  readonly bias: Tensor;
  constructor(cfg: BertConfig, o: ModelOptions) {
    super();
    this.transform = this.module('transform', new PredictionTransform(cfg, o));
    this.bias = this.param('bias', zeros([cfg.vocabSize], { dtype: o.dtype ?? 'float32', backend: o.backend }));
  }
}

class MLMHeads extends Module {
  readonly predictions: LMPredictionHead;
  constructor(cfg: BertConfig, o: ModelOptions) {
    super();
    this.predictions = this.module('predictions', new LMPredictionHead(cfg, o));
  }
}

export interface MaskedLMInputs extends EncoderInputs {
  /** int32 [M]: flat indices (b · seq + t) of the masked positions */
  maskedPositions: Tensor;
  /** int32 [M]: the original token ids there */
  maskedLabels?: Tensor;
}

export class BertForMaskedLM extends Module {
  readonly bert: BertModel;
  readonly cls: MLMHeads;
  constructor(readonly cfg: BertConfig, o: ModelOptions = {}) {
    super();
    this.bert = this.module('bert', new BertModel(cfg, { ...o, pooler: false }));
    this.cls = this.module('cls', new MLMHeads(cfg, o));
  }

  get numLayers(): number {
    return this.cfg.numLayers;
  }

  /** Logits [M, vocab] at the masked positions, and the mean cross-entropy when labels are given. */
  forward(inp: MaskedLMInputs): { logits: Tensor; loss: Tensor | null } {
    const hidden = this.bert.forward(inp).lastHiddenState;
    const flat = reshape(hidden, [-1, this.cfg.hiddenSize]);
    const picked = this.cls.predictions.transform.forward(indexSelect(flat, 0, inp.maskedPositions));
    const logits = add(matmul(picked, transpose(this.bert.embeddings.word.weight)), this.cls.predictions.bias);
    return { logits, loss: inp.maskedLabels ? crossEntropy(logits, inp.maskedLabels) : null };
  }
}
