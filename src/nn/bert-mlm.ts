/**
 * BertForMaskedLM with transformers' names (`cls.predictions.transform.*`, `cls.predictions.bias`) and the
 * decoder tied to the word embeddings, as `tie_word_embeddings` makes it. The loss is computed only at the
 * masked positions, so the vocabulary projection costs (masked tokens × vocab) instead of (all tokens × vocab).
 * With `nextSentence` it is BertForPreTraining: the pooler and `cls.seq_relationship` also predict whether
 * segment B followed A, and that loss is added.
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

class PreTrainingHeads extends Module {
  readonly predictions: LMPredictionHead;
  readonly seqRelationship: Linear | null;
  constructor(cfg: BertConfig, o: ModelOptions, nextSentence: boolean) {
    super();
    this.predictions = this.module('predictions', new LMPredictionHead(cfg, o));
    this.seqRelationship = nextSentence ? this.module('seq_relationship', new Linear(cfg.hiddenSize, 2, paramOptions(cfg, o))) : null;
  }
}

export interface MaskedLMInputs extends EncoderInputs {
  /** int32 [M]: flat indices (b · seq + t) of the masked positions */
  maskedPositions: Tensor;
  /** int32 [M]: the original token ids there */
  maskedLabels?: Tensor;
  /** int32 [batch]: 0 where segment B followed A, 1 where it is random (with `nextSentence`) */
  nextLabels?: Tensor;
}

export class BertForMaskedLM extends Module {
  readonly bert: BertModel;
  readonly cls: PreTrainingHeads;
  constructor(readonly cfg: BertConfig, o: ModelOptions & { nextSentence?: boolean } = {}) {
    super();
    const nextSentence = o.nextSentence ?? false;
    this.bert = this.module('bert', new BertModel(cfg, { ...o, pooler: nextSentence }));
    this.cls = this.module('cls', new PreTrainingHeads(cfg, o, nextSentence));
  }

  get numLayers(): number {
    return this.cfg.numLayers;
  }

  /**
   * Logits [M, vocab] at the masked positions (and [batch, 2] next-sentence logits with that head), and the
   * mean cross-entropy when labels are given: the sum of both objectives' where both have labels.
   */
  forward(inp: MaskedLMInputs): { logits: Tensor; nextLogits: Tensor | null; loss: Tensor | null } {
    const out = this.bert.forward(inp);
    const flat = reshape(out.lastHiddenState, [-1, this.cfg.hiddenSize]);
    const picked = this.cls.predictions.transform.forward(indexSelect(flat, 0, inp.maskedPositions));
    const logits = add(matmul(picked, transpose(this.bert.embeddings.word.weight)), this.cls.predictions.bias);
    const head = this.cls.seqRelationship;
    const nextLogits = head && out.pooled ? head.forward(out.pooled) : null;
    let loss = inp.maskedLabels ? crossEntropy(logits, inp.maskedLabels) : null;
    if (loss && nextLogits && inp.nextLabels) loss = add(loss, crossEntropy(nextLogits, inp.nextLabels));
    return { logits, nextLogits, loss };
  }
}
