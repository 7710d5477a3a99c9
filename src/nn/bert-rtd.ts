/**
 * ELECTRA's discriminator on a BERT encoder: every token is classified as the original or as one a
 * generator put there (replaced-token detection), with ELECTRA's head (`discriminator_predictions.dense`,
 * the activation, `.dense_prediction` to one logit) beside transformers' BERT names for the encoder, so a
 * classifier loads the encoder and drops the head. Unlike masked LM, the loss covers every real token.
 */
import { binaryCrossEntropyWithLogits } from '../ops/nn.ts';
import { reshape } from '../ops/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { BertModel, activation, paramOptions, type BertConfig, type EncoderInputs, type ModelOptions } from './bert.ts';
import { Linear } from './layers.ts';
import { Module } from './module.ts';

class DiscriminatorPredictions extends Module {
  readonly dense: Linear;
  readonly densePrediction: Linear;
  constructor(readonly cfg: BertConfig, o: ModelOptions) {
    super();
    const p = paramOptions(cfg, o);
    this.dense = this.module('dense', new Linear(cfg.hiddenSize, cfg.hiddenSize, p));
    this.densePrediction = this.module('dense_prediction', new Linear(cfg.hiddenSize, 1, p));
  }
  forward(x: Tensor): Tensor {
    return this.densePrediction.forward(activation(this.cfg.hiddenAct, this.dense.forward(x)));
  }
}

export interface TokenDetectionInputs extends EncoderInputs {
  /** int32 [batch · seq]: 1 where the token was replaced, 0 where it is the original, -100 (ignored) at padding */
  replaced?: Tensor;
}

export class BertForTokenDetection extends Module {
  readonly bert: BertModel;
  readonly discriminatorPredictions: DiscriminatorPredictions;
  constructor(readonly cfg: BertConfig, o: ModelOptions = {}) {
    super();
    this.bert = this.module('bert', new BertModel(cfg, { ...o, pooler: false }));
    this.discriminatorPredictions = this.module('discriminator_predictions', new DiscriminatorPredictions(cfg, o));
  }

  /** Logits [batch · seq] that a token was replaced, and the mean binary cross-entropy when labels are given. */
  forward(inp: TokenDetectionInputs): { logits: Tensor; loss: Tensor | null } {
    const h = this.bert.forward(inp).lastHiddenState;
    const logits = reshape(this.discriminatorPredictions.forward(h), [-1]);
    return { logits, loss: inp.replaced ? binaryCrossEntropyWithLogits(logits, inp.replaced) : null };
  }
}
