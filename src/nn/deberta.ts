/**
 * DeBERTa-v2/v3 (He et al.) with transformers' module tree and parameter names, so that `DebertaV2Model` /
 * `DebertaV2ForSequenceClassification` checkpoints load key for key and reproduce transformers' numbers.
 * The attention itself is in deberta-attention.ts, the relative positions in relative-position.ts.
 */
import { noGrad } from '../autograd/record.ts';
import { ShapeError, fmtShape } from '../core/errors.ts';
import { add, cast, eq, ge, mul, tanh, where } from '../ops/elementwise.ts';
import { reshape, slice, squeeze } from '../ops/shape.ts';
import { arange, tensor, zeros } from '../tensor/create.ts';
import type { Tensor } from '../tensor/tensor.ts';
import {
  ModuleList, activation, paramOptions, sequenceLoss,
  type ClassifierOutput, type EncoderInputs, type EncoderOutput, type ModelOptions,
} from './bert.ts';
import { DisentangledSelfAttention, type RelativeContext } from './deberta-attention.ts';
import type { DebertaV2Config } from './deberta-config.ts';
import { Dropout, Embedding, LayerNorm, Linear } from './layers.ts';
import { Module } from './module.ts';
import { Intermediate, ResidualOutput } from './blocks.ts';
import { relativeIndex } from './relative-position.ts';

class DebertaV2Embeddings extends Module {
  readonly word: Embedding;
  readonly position: Embedding | null;
  readonly tokenType: Embedding | null;
  readonly embedProj: Linear | null;
  readonly norm: LayerNorm;
  readonly dropout: Dropout;
  constructor(readonly cfg: DebertaV2Config, o: ModelOptions) {
    super();
    const p = paramOptions(cfg, o);
    const e = cfg.embeddingSize;
    this.word = this.module('word_embeddings', new Embedding(cfg.vocabSize, e, p));
    this.position = cfg.positionBiasedInput ? this.module('position_embeddings', new Embedding(cfg.maxPositions, e, p)) : null;
    this.tokenType = cfg.typeVocabSize > 0 ? this.module('token_type_embeddings', new Embedding(cfg.typeVocabSize, e, p)) : null;
    this.embedProj = e !== cfg.hiddenSize ? this.module('embed_proj', new Linear(e, cfg.hiddenSize, { ...p, bias: false })) : null;
    this.norm = this.module('LayerNorm', new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, p));
    this.dropout = this.module('dropout', new Dropout(cfg.hiddenDropout));
  }

  /** mask: [B, T] in the model's dtype, or null when every token is real. */
  forward(ids: Tensor, typeIds: Tensor | undefined, mask: Tensor | null): Tensor {
    const [b, t] = ids.shape;
    let x = this.words(ids);
    if (this.position) {
      if (t > this.position.numEmbeddings) throw new ShapeError(`deberta-v2: sequence length ${t} exceeds max_position_embeddings ${this.position.numEmbeddings}`);
      x = add(x, this.position.forward(arange(t, undefined, 1, { backend: ids.backend })));
    }
    if (this.tokenType) x = add(x, this.tokenType.forward(typeIds ?? zeros(ids.shape, { dtype: 'int32', backend: ids.backend })));
    if (this.embedProj) x = this.embedProj.forward(x);
    x = this.norm.forward(x);
    // transformers zeroes the padding positions of the embedding output (after the LayerNorm)
    if (mask) x = mul(x, reshape(mask, [b, t, 1]));
    return this.dropout.forward(x);
  }

  /**
   * The word embeddings with nn.Embedding's padding_idx: the pad token's row receives no gradient, even
   * where a real (unmasked) position holds the pad id.
   */
  private words(ids: Tensor): Tensor {
    const live = this.word.forward(ids);
    const frozen = noGrad(() => this.word.forward(ids));
    return where(reshape(eq(ids, this.cfg.padTokenId), [...ids.shape, 1]), frozen, live);
  }
}

class DebertaV2Attention extends Module {
  readonly self: DisentangledSelfAttention;
  readonly output: ResidualOutput;
  constructor(cfg: DebertaV2Config, o: ModelOptions) {
    super();
    this.self = this.module('self', new DisentangledSelfAttention(cfg, o));
    this.output = this.module('output', new ResidualOutput(cfg, cfg.hiddenSize, o));
  }
}

export class DebertaV2Layer extends Module {
  readonly attention: DebertaV2Attention;
  readonly intermediate: Intermediate;
  readonly output: ResidualOutput;
  constructor(cfg: DebertaV2Config, o: ModelOptions) {
    super();
    this.attention = this.module('attention', new DebertaV2Attention(cfg, o));
    this.intermediate = this.module('intermediate', new Intermediate(cfg, o));
    this.output = this.module('output', new ResidualOutput(cfg, cfg.intermediateSize, o));
  }
  forward(x: Tensor, mask: Tensor | null, rel: RelativeContext): { hidden: Tensor; probs: Tensor } {
    const { context, probs } = this.attention.self.forward(x, mask, rel);
    const attended = this.attention.output.forward(context, x);
    return { hidden: this.output.forward(this.intermediate.forward(attended), attended), probs };
  }
}

class DebertaV2Encoder extends Module {
  readonly layers: DebertaV2Layer[];
  readonly relEmbeddings: Embedding;
  readonly norm: LayerNorm | null;
  constructor(readonly cfg: DebertaV2Config, o: ModelOptions) {
    super();
    const list = this.module('layer', new ModuleList());
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => list.push(`${i}`, new DebertaV2Layer(cfg, o)));
    const p = paramOptions(cfg, o);
    this.relEmbeddings = this.module('rel_embeddings', new Embedding(2 * cfg.relative.span, cfg.hiddenSize, p));
    this.norm = cfg.relative.normRelEmbeddings ? this.module('LayerNorm', new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, p)) : null;
  }

  /** The table rows and gather indices for `t` tokens, shared by every layer of one forward pass. */
  relativeContext(t: number, backend: Tensor['backend']): RelativeContext {
    const rel = this.cfg.relative;
    // rebuilt per call: O(T²) integer work, nothing next to one layer's O(T²·hidden) products
    const idx = relativeIndex(t, rel.span, rel.buckets, rel.maxRelative);
    // LayerNorm is per row, so normalising only the rows in use gives the same values as transformers
    const rows = slice(this.relEmbeddings.weight, 0, idx.lo, idx.lo + idx.rows);
    const index = (data: Int32Array) => tensor(data, { shape: [1, 1, t, t], backend });
    return { embeddings: this.norm ? this.norm.forward(rows) : rows, c2pIndex: index(idx.c2p), p2cIndex: index(idx.p2c) };
  }
}

export class DebertaV2Model extends Module {
  readonly embeddings: DebertaV2Embeddings;
  readonly encoder: DebertaV2Encoder;
  constructor(readonly cfg: DebertaV2Config, o: ModelOptions = {}) {
    super();
    this.embeddings = this.module('embeddings', new DebertaV2Embeddings(cfg, o));
    this.encoder = this.module('encoder', new DebertaV2Encoder(cfg, o));
  }

  /** `pooled` is null: DeBERTa's ContextPooler belongs to the task heads, not to the encoder. */
  forward(inp: EncoderInputs): EncoderOutput {
    const ids = inp.inputIds;
    if (ids.dtype !== 'int32' || ids.ndim !== 2) throw new ShapeError(`deberta-v2: inputIds must be int32 [batch, seq], got ${ids.dtype} ${fmtShape(ids.shape)}`);
    const [b, t] = ids.shape;
    const m = inp.attentionMask;
    if (m && (m.ndim !== 2 || m.shape[0] !== b || m.shape[1] !== t)) {
      throw new ShapeError(`deberta-v2: attentionMask ${fmtShape(m.shape)} does not match inputIds ${fmtShape(ids.shape)}`);
    }
    const mask = m ? cast(m, this.embeddings.word.weight.dtype) : null;
    let x = this.embeddings.forward(ids, inp.tokenTypeIds, mask);
    // query i may attend to key j when both are real tokens: padding rows are masked entirely
    const mask4 = mask ? mul(reshape(mask, [b, 1, 1, t]), reshape(mask, [b, 1, t, 1])) : null;
    const rel = this.encoder.relativeContext(t, ids.backend);
    const hiddenStates = inp.outputHiddenStates ? [x] : [];
    const attentions: Tensor[] = [];
    for (const layer of this.encoder.layers) {
      const r = layer.forward(x, mask4, rel);
      x = r.hidden;
      if (inp.outputHiddenStates) hiddenStates.push(x);
      if (inp.outputAttentions) attentions.push(r.probs);
    }
    return { lastHiddenState: x, pooled: null, hiddenStates, attentions };
  }
}

/** transformers' ContextPooler: dropout → dense → activation on the first token. */
class ContextPooler extends Module {
  readonly dense: Linear;
  readonly dropout: Dropout;
  constructor(readonly cfg: DebertaV2Config, o: ModelOptions) {
    super();
    this.dense = this.module('dense', new Linear(cfg.hiddenSize, cfg.hiddenSize, paramOptions(cfg, o)));
    this.dropout = this.module('dropout', new Dropout(cfg.poolerDropout));
  }
  forward(hidden: Tensor): Tensor {
    const y = this.dense.forward(this.dropout.forward(squeeze(slice(hidden, 1, 0, 1), 1)));
    return this.cfg.poolerAct === 'tanh' ? tanh(y) : activation(this.cfg.poolerAct, y);
  }
}

export class DebertaV2ForSequenceClassification extends Module {
  readonly family = 'deberta-v2';
  readonly deberta: DebertaV2Model;
  readonly pooler: ContextPooler;
  readonly classifier: Linear;
  readonly dropout: Dropout;
  constructor(readonly cfg: DebertaV2Config, o: ModelOptions = {}) {
    super();
    this.deberta = this.module('deberta', new DebertaV2Model(cfg, o));
    this.pooler = this.module('pooler', new ContextPooler(cfg, o));
    this.classifier = this.module('classifier', new Linear(cfg.hiddenSize, cfg.numLabels, paramOptions(cfg, o)));
    this.dropout = this.module('dropout', new Dropout(cfg.classifierDropout));
  }

  get numLayers(): number {
    return this.cfg.numLayers;
  }
  get numLabels(): number {
    return this.cfg.numLabels;
  }

  forward(inp: EncoderInputs & { labels?: Tensor }): ClassifierOutput {
    const enc = this.deberta.forward(inp);
    const pooled = this.pooler.forward(enc.lastHiddenState);
    const logits = this.classifier.forward(this.dropout.forward(pooled));
    let labels = inp.labels;
    // without a problem_type, transformers keeps only the rows whose label is ≥ 0 in the cross-entropy
    if (labels && this.cfg.implicitProblemType && this.cfg.problemType !== 'regression' && labels.dtype === 'int32') {
      labels = where(ge(labels, 0), labels, -100);
    }
    return { ...enc, pooled, logits, loss: labels ? sequenceLoss(logits, labels, this.cfg.problemType) : null };
  }
}
