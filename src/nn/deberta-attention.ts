/**
 * DeBERTa's disentangled self-attention (transformers' `DisentangledSelfAttention`): content-to-content
 * scores plus content→position (c2p) and position→content (p2c) terms read off the relative-embedding
 * table with gathers, so gradients reach the table, the projections and the content alike.
 */
import { add, div, where } from '../ops/elementwise.ts';
import { matmul } from '../ops/matmul.ts';
import { softmax } from '../ops/nn.ts';
import { expand, gather, permute, reshape, transpose } from '../ops/shape.ts';
import type { DType } from '../core/dtype.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { paramOptions, type ModelOptions } from './bert.ts';
import type { DebertaV2Config } from './deberta-config.ts';
import { Dropout, Linear } from './layers.ts';
import { Module } from './module.ts';

/** What every layer's attention shares for one forward pass (built once by the encoder). */
export interface RelativeContext {
  /** the used rows of the (normalised) relative-embedding table: [rows, hidden] */
  embeddings: Tensor;
  /** int32 [1, 1, T, T] gather indices into those rows (see relativeIndex) */
  c2pIndex: Tensor;
  p2cIndex: Tensor;
}

/** torch.finfo(dtype).min, the value transformers' masked_fill writes into masked scores. */
export function lowest(dtype: DType): number {
  return dtype === 'float64' ? -Number.MAX_VALUE : -3.4028234663852886e38;
}

export class DisentangledSelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly posKey: Linear | null;
  readonly posQuery: Linear | null;
  readonly posDropout: Dropout;
  readonly dropout: Dropout;
  /** sqrt(head_dim · (1 + number of relative terms)), as torch rounds it (see constructor) */
  readonly scale: number;

  constructor(readonly cfg: DebertaV2Config, o: ModelOptions) {
    super();
    const p = paramOptions(cfg, o);
    const h = cfg.hiddenSize;
    const rel = cfg.relative;
    this.query = this.module('query_proj', new Linear(h, h, p));
    this.key = this.module('key_proj', new Linear(h, h, p));
    this.value = this.module('value_proj', new Linear(h, h, p));
    this.posKey = !rel.shareAttKey && rel.c2p ? this.module('pos_key_proj', new Linear(h, h, p)) : null;
    this.posQuery = !rel.shareAttKey && rel.p2c ? this.module('pos_query_proj', new Linear(h, h, p)) : null;
    this.posDropout = this.module('pos_dropout', new Dropout(cfg.hiddenDropout));
    this.dropout = this.module('dropout', new Dropout(cfg.attentionDropout));
    const factor = 1 + Number(rel.c2p) + Number(rel.p2c);
    // transformers takes the square root of a float32 tensor and only then casts it to the model's dtype, so
    // even a float64 model divides by the float32-rounded value (with the exact root, float64 results sit
    // ~1e-12 away from the fixture instead of ~1e-16)
    this.scale = Math.fround(Math.sqrt((h / cfg.numHeads) * factor));
  }

  /**
   * x: [B, T, hidden]; mask: [B, 1, T, T], nonzero where query i may attend to key j (null: all); rel: the
   * relative context (null: content scores only). Returns the context [B, T, hidden] and the attention
   * probabilities [B, heads, T, T] as used (after dropout).
   */
  forward(x: Tensor, mask: Tensor | null, rel: RelativeContext | null): { context: Tensor; probs: Tensor } {
    const [b, t, h] = x.shape;
    const heads = this.cfg.numHeads;
    const split = (y: Tensor) => permute(reshape(y, [b, t, heads, h / heads]), [0, 2, 1, 3]);
    const q = split(this.query.forward(x));
    const k = split(this.key.forward(x));
    const v = split(this.value.forward(x));
    // the key is divided before the product, as transformers does, so float32 rounds the same way
    let scores = matmul(q, div(transpose(k), this.scale));
    if (rel && (this.cfg.relative.c2p || this.cfg.relative.p2c)) scores = add(scores, this.relativeScores(q, k, rel));
    // masked_fill, not an additive mask: a padding query's row is all finfo.min and softmax makes it
    // uniform (the fixture's attentions show 1/T there), while its gradient stops at the fill
    if (mask) scores = where(mask, scores, lowest(scores.dtype));
    const probs = this.dropout.forward(softmax(scores, -1));
    const context = reshape(permute(matmul(probs, v), [0, 2, 1, 3]), [b, t, h]);
    return { context, probs };
  }

  /** The c2p and p2c terms [B, heads, T, T], each divided by the same scale as the content scores. */
  private relativeScores(q: Tensor, k: Tensor, rel: RelativeContext): Tensor {
    const [b, heads, t, d] = q.shape;
    const e = this.posDropout.forward(rel.embeddings);
    const rows = e.shape[0];
    // projected positions [heads, rows, d], broadcast over the batch by matmul
    const posHeads = (y: Tensor) => permute(reshape(y, [rows, heads, d]), [1, 0, 2]);
    const full = [b, heads, t, t];
    let score: Tensor | null = null;
    if (this.cfg.relative.c2p) {
      const posK = posHeads((this.posKey ?? this.key).forward(e));
      // query i against the embedding of its distance to key j
      const c2p = gather(matmul(q, transpose(posK)), -1, expand(rel.c2pIndex, full));
      score = div(c2p, this.scale);
    }
    if (this.cfg.relative.p2c) {
      const posQ = posHeads((this.posQuery ?? this.query).forward(e));
      // key j against the embedding of the distance from query i, gathered per key row, then transposed
      const p2c = transpose(gather(matmul(k, transpose(posQ)), -1, expand(rel.p2cIndex, full)));
      const term = div(p2c, this.scale);
      score = score ? add(score, term) : term;
    }
    return score!;
  }
}
