/**
 * BERT (Devlin et al.) with transformers' module tree and parameter names, so that `BertModel` /
 * `BertForSequenceClassification` checkpoints load key for key and reproduce transformers' numbers.
 */
import { add, cast, mul, sub, tanh } from '../ops/elementwise.ts';
import { attention } from '../ops/composite.ts';
import { crossEntropy, mseLoss } from '../ops/nn.ts';
import { permute, reshape, slice, squeeze } from '../ops/shape.ts';
import { arange, zeros } from '../tensor/create.ts';
import type { DType } from '../core/dtype.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { ConfigError, ShapeError, fmtShape } from '../core/errors.ts';
import { ConfigReader, checkModelSize, type Json } from './config.ts';
import { Dropout, Embedding, LayerNorm, Linear } from './layers.ts';
import { Module } from './module.ts';
import { ACTIVATIONS, Intermediate, ResidualOutput, paramOptions, type Activation, type ModelOptions } from './blocks.ts';

export { ACTIVATIONS, activation, paramOptions, type Activation, type ModelOptions } from './blocks.ts';

export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  hiddenAct: Activation;
  layerNormEps: number;
  maxPositions: number;
  typeVocabSize: number;
  hiddenDropout: number;
  attentionDropout: number;
  classifierDropout: number;
  numLabels: number;
  problemType: 'single_label_classification' | 'regression';
  initializerRange: number;
  padTokenId: number;
}

export function parseBertConfig(json: Json, file = 'config.json'): BertConfig {
  const r = new ConfigReader(json, file);
  if (r.str('model_type', 'bert') !== 'bert') throw new ConfigError(`${file}: model_type "${json.model_type}" is not bert`);
  r.oneOf('position_embedding_type', ['absolute'], 'absolute');
  const hidden = r.int('hidden_size', undefined, 1);
  const heads = r.int('num_attention_heads', undefined, 1);
  if (hidden % heads) throw new ConfigError(`${file}: hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`);
  const numLabels = r.numLabels();
  const problemType = json.problem_type ?? (numLabels === 1 ? 'regression' : 'single_label_classification');
  if (problemType !== 'regression' && problemType !== 'single_label_classification') {
    throw new ConfigError(`${file}: unsupported problem_type "${String(problemType)}" (supported: single_label_classification, regression)`);
  }
  const hiddenDropout = r.prob('hidden_dropout_prob', 0.1);
  const cfg: BertConfig = {
    vocabSize: r.int('vocab_size', undefined, 1),
    hiddenSize: hidden,
    numLayers: r.int('num_hidden_layers', undefined, 1),
    numHeads: heads,
    intermediateSize: r.int('intermediate_size', undefined, 1),
    hiddenAct: r.oneOf('hidden_act', ACTIVATIONS, 'gelu'),
    layerNormEps: r.positive('layer_norm_eps', 1e-12),
    maxPositions: r.int('max_position_embeddings', undefined, 1),
    typeVocabSize: r.int('type_vocab_size', 2, 0),
    hiddenDropout,
    attentionDropout: r.prob('attention_probs_dropout_prob', 0.1),
    classifierDropout: json.classifier_dropout == null ? hiddenDropout : r.prob('classifier_dropout', 0),
    numLabels,
    problemType,
    initializerRange: r.positive('initializer_range', 0.02),
    padTokenId: r.int('pad_token_id', 0),
  };
  if (cfg.padTokenId >= cfg.vocabSize) throw new ConfigError(`${file}: pad_token_id ${cfg.padTokenId} is outside the vocabulary (vocab_size ${cfg.vocabSize})`);
  const { vocabSize: v, hiddenSize: h, intermediateSize: f, numLayers: l, maxPositions: p, typeVocabSize: t } = cfg;
  checkModelSize(file, {
    'the word embeddings (vocab_size × hidden_size)': v * h, 'the position embeddings (max_position_embeddings × hidden_size)': p * h,
    'each FFN matrix (intermediate_size × hidden_size)': f * h, 'the classifier (num_labels × hidden_size)': numLabels * h,
  }, (v + p + t) * h + l * (4 * h * h + 2 * h * f) + h * h + numLabels * h);
  return cfg;
}

export interface EncoderInputs {
  /** int32 [batch, seq] */
  inputIds: Tensor;
  /** int32 [batch, seq], 1 for real tokens and 0 for padding (default: all 1) */
  attentionMask?: Tensor;
  /** int32 [batch, seq] (default: all 0) */
  tokenTypeIds?: Tensor;
  outputHiddenStates?: boolean;
  outputAttentions?: boolean;
}

export interface EncoderOutput {
  lastHiddenState: Tensor;
  pooled: Tensor | null;
  /** embeddings output, then one per layer (when asked) */
  hiddenStates: Tensor[];
  /** softmax probabilities [batch, heads, seq, seq] per layer (when asked) */
  attentions: Tensor[];
}

/** transformers' additive mask: 0 where attended, the dtype's most negative finite value elsewhere. */
export function additiveMask(mask: Tensor, dtype: DType): Tensor {
  const [b, t] = mask.shape;
  const min = dtype === 'float64' ? -Number.MAX_VALUE : -3.4028234663852886e38;
  return reshape(mul(sub(1, cast(mask, dtype)), min), [b, 1, 1, t]);
}

class BertEmbeddings extends Module {
  readonly word: Embedding;
  readonly position: Embedding;
  readonly tokenType: Embedding | null;
  readonly norm: LayerNorm;
  readonly dropout: Dropout;
  constructor(cfg: BertConfig, o: ModelOptions) {
    super();
    const p = paramOptions(cfg, o);
    this.word = this.module('word_embeddings', new Embedding(cfg.vocabSize, cfg.hiddenSize, p));
    this.position = this.module('position_embeddings', new Embedding(cfg.maxPositions, cfg.hiddenSize, p));
    this.tokenType = cfg.typeVocabSize > 0 ? this.module('token_type_embeddings', new Embedding(cfg.typeVocabSize, cfg.hiddenSize, p)) : null;
    this.norm = this.module('LayerNorm', new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, p));
    this.dropout = this.module('dropout', new Dropout(cfg.hiddenDropout));
  }
  forward(ids: Tensor, typeIds: Tensor | undefined): Tensor {
    const [, t] = ids.shape;
    if (t > this.position.numEmbeddings) throw new ShapeError(`bert: sequence length ${t} exceeds max_position_embeddings ${this.position.numEmbeddings}`);
    let x = add(this.word.forward(ids), this.position.forward(arange(t, undefined, 1, { backend: ids.backend })));
    if (this.tokenType) x = add(x, this.tokenType.forward(typeIds ?? zeros(ids.shape, { dtype: 'int32', backend: ids.backend })));
    return this.dropout.forward(this.norm.forward(x));
  }
}

class BertSelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly dropout: Dropout;
  constructor(readonly cfg: BertConfig, o: ModelOptions) {
    super();
    const p = paramOptions(cfg, o);
    this.query = this.module('query', new Linear(cfg.hiddenSize, cfg.hiddenSize, p));
    this.key = this.module('key', new Linear(cfg.hiddenSize, cfg.hiddenSize, p));
    this.value = this.module('value', new Linear(cfg.hiddenSize, cfg.hiddenSize, p));
    this.dropout = this.module('dropout', new Dropout(cfg.attentionDropout));
  }
  forward(x: Tensor, mask: Tensor | null): { context: Tensor; probs: Tensor } {
    const [b, t, h] = x.shape;
    const heads = this.cfg.numHeads;
    const split = (y: Tensor) => permute(reshape(y, [b, t, heads, h / heads]), [0, 2, 1, 3]);
    const { out, probs } = attention(split(this.query.forward(x)), split(this.key.forward(x)), split(this.value.forward(x)), mask, (p) => this.dropout.forward(p));
    return { context: reshape(permute(out, [0, 2, 1, 3]), [b, t, h]), probs };
  }
}

class BertAttention extends Module {
  readonly self: BertSelfAttention;
  readonly output: ResidualOutput;
  constructor(cfg: BertConfig, o: ModelOptions) {
    super();
    this.self = this.module('self', new BertSelfAttention(cfg, o));
    this.output = this.module('output', new ResidualOutput(cfg, cfg.hiddenSize, o));
  }
}

export class BertLayer extends Module {
  readonly attention: BertAttention;
  readonly intermediate: Intermediate;
  readonly output: ResidualOutput;
  constructor(cfg: BertConfig, o: ModelOptions) {
    super();
    this.attention = this.module('attention', new BertAttention(cfg, o));
    this.intermediate = this.module('intermediate', new Intermediate(cfg, o));
    this.output = this.module('output', new ResidualOutput(cfg, cfg.intermediateSize, o));
  }
  forward(x: Tensor, mask: Tensor | null): { hidden: Tensor; probs: Tensor } {
    const { context, probs } = this.attention.self.forward(x, mask);
    const attended = this.attention.output.forward(context, x);
    return { hidden: this.output.forward(this.intermediate.forward(attended), attended), probs };
  }
}

class BertEncoder extends Module {
  readonly layers: BertLayer[];
  constructor(cfg: BertConfig, o: ModelOptions) {
    super();
    const list = this.module('layer', new ModuleList());
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => list.push(`${i}`, new BertLayer(cfg, o)));
  }
}

/** A numbered container, so children are named `layer.0`, `layer.1`, … as in torch.nn.ModuleList. */
export class ModuleList extends Module {
  push<M extends Module>(name: string, m: M): M {
    return this.module(name, m);
  }
}

class BertPooler extends Module {
  readonly dense: Linear;
  constructor(cfg: BertConfig, o: ModelOptions) {
    super();
    this.dense = this.module('dense', new Linear(cfg.hiddenSize, cfg.hiddenSize, paramOptions(cfg, o)));
  }
  forward(hidden: Tensor): Tensor {
    return tanh(this.dense.forward(squeeze(slice(hidden, 1, 0, 1), 1)));
  }
}

export class BertModel extends Module {
  readonly embeddings: BertEmbeddings;
  readonly encoder: BertEncoder;
  readonly pooler: BertPooler | null;
  constructor(readonly cfg: BertConfig, o: ModelOptions & { pooler?: boolean } = {}) {
    super();
    this.embeddings = this.module('embeddings', new BertEmbeddings(cfg, o));
    this.encoder = this.module('encoder', new BertEncoder(cfg, o));
    this.pooler = o.pooler === false ? null : this.module('pooler', new BertPooler(cfg, o));
  }

  forward(inp: EncoderInputs): EncoderOutput {
    const ids = inp.inputIds;
    if (ids.dtype !== 'int32' || ids.ndim !== 2) throw new ShapeError(`bert: inputIds must be int32 [batch, seq], got ${ids.dtype} ${fmtShape(ids.shape)}`);
    const dtype = this.embeddings.word.weight.dtype;
    const mask = inp.attentionMask ? additiveMask(inp.attentionMask, dtype) : null;
    let x = this.embeddings.forward(ids, inp.tokenTypeIds);
    const hiddenStates = inp.outputHiddenStates ? [x] : [];
    const attentions: Tensor[] = [];
    for (const layer of this.encoder.layers) {
      const r = layer.forward(x, mask);
      x = r.hidden;
      if (inp.outputHiddenStates) hiddenStates.push(x);
      if (inp.outputAttentions) attentions.push(r.probs);
    }
    return { lastHiddenState: x, pooled: this.pooler ? this.pooler.forward(x) : null, hiddenStates, attentions };
  }
}

export interface ClassifierOutput extends EncoderOutput {
  logits: Tensor;
  loss: Tensor | null;
}

/** The loss transformers picks: MSE for one regression output, else cross-entropy. */
export function sequenceLoss(logits: Tensor, labels: Tensor, problemType: BertConfig['problemType']): Tensor {
  if (problemType === 'regression') return mseLoss(squeeze(logits, -1), labels.dtype === 'int32' ? cast(labels, logits.dtype) : labels);
  if (labels.dtype !== 'int32') throw new ShapeError(`classification labels must be int32 class ids, got ${labels.dtype}`);
  return crossEntropy(logits, labels);
}

export class BertForSequenceClassification extends Module {
  readonly family = 'bert';
  readonly bert: BertModel;
  readonly dropout: Dropout;
  readonly classifier: Linear;
  constructor(readonly cfg: BertConfig, o: ModelOptions = {}) {
    super();
    this.bert = this.module('bert', new BertModel(cfg, o));
    this.dropout = this.module('dropout', new Dropout(cfg.classifierDropout));
    this.classifier = this.module('classifier', new Linear(cfg.hiddenSize, cfg.numLabels, paramOptions(cfg, o)));
  }

  get numLayers(): number {
    return this.cfg.numLayers;
  }
  get numLabels(): number {
    return this.cfg.numLabels;
  }

  forward(inp: EncoderInputs & { labels?: Tensor }): ClassifierOutput {
    const enc = this.bert.forward(inp);
    const logits = this.classifier.forward(this.dropout.forward(enc.pooled!));
    return { ...enc, logits, loss: inp.labels ? sequenceLoss(logits, inp.labels, this.cfg.problemType) : null };
  }
}
