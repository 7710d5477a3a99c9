/**
 * config.json of transformers' `deberta-v2` model type (DeBERTa-v2 and DeBERTa-v3), read with the same
 * defaults as `DebertaV2Config` and the `getattr(config, …, default)` calls of modeling_deberta_v2.py, so
 * a config means here what it means there. Options whose layers this project does not build are errors.
 */
import { ConfigError } from '../core/errors.ts';
import { ACTIVATIONS, type Activation } from './bert.ts';
import { ConfigReader, checkModelSize, type Json } from './config.ts';

/** The pooler accepts the encoder's activations and plain tanh (ACT2FN names). */
export const POOLER_ACTIVATIONS = [...ACTIVATIONS, 'tanh'] as const;
export type PoolerActivation = (typeof POOLER_ACTIVATIONS)[number];

export interface RelativeAttentionConfig {
  /** position_buckets (≤ 0: no log-bucketing) */
  buckets: number;
  /** max_relative_positions, or max_position_embeddings when that is < 1 */
  maxRelative: number;
  /** attention span: buckets when bucketing, else maxRelative; the table has 2·span rows */
  span: number;
  c2p: boolean;
  p2c: boolean;
  /** project positions with query_proj / key_proj instead of their own pos_*_proj maps */
  shareAttKey: boolean;
  /** LayerNorm on the relative-embedding table (norm_rel_ebd contains "layer_norm") */
  normRelEmbeddings: boolean;
}

export interface DebertaV2Config {
  vocabSize: number;
  hiddenSize: number;
  /** width of the token embeddings; an `embed_proj` maps them to hiddenSize when they differ */
  embeddingSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  hiddenAct: Activation;
  layerNormEps: number;
  maxPositions: number;
  /** absolute position embeddings added to the input (false in DeBERTa-v3) */
  positionBiasedInput: boolean;
  typeVocabSize: number;
  relative: RelativeAttentionConfig;
  hiddenDropout: number;
  attentionDropout: number;
  poolerAct: PoolerActivation;
  poolerDropout: number;
  classifierDropout: number;
  numLabels: number;
  problemType: 'single_label_classification' | 'regression';
  /**
   * problem_type was absent: transformers then drops rows whose label is negative from the classification
   * loss (not only -100) and computes MSE for one label
   */
  implicitProblemType: boolean;
  initializerRange: number;
  padTokenId: number;
}

const POS_ATT_TYPES = ['c2p', 'p2c'] as const;

/** An integer of either sign (transformers uses -1 for "off" / "use the default"). */
function signedInt(r: ConfigReader, name: string, fallback: number): number {
  const v = r.json[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConfigError(`${r.file}: "${name}" must be an integer, got ${JSON.stringify(v)}`);
  return v;
}

function bool(r: ConfigReader, name: string, fallback: boolean): boolean {
  const v = r.json[name] ?? fallback;
  if (typeof v !== 'boolean') throw new ConfigError(`${r.file}: "${name}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** pos_att_type as DebertaV2Config accepts it: a list, a "p2c|c2p" string (older configs) or null. */
function posAttTypes(r: ConfigReader): Set<string> {
  const raw = r.json.pos_att_type ?? [];
  const list = typeof raw === 'string' ? raw.toLowerCase().split('|').map((s) => s.trim()) : raw;
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) {
    throw new ConfigError(`${r.file}: "pos_att_type" must be a list of strings, got ${JSON.stringify(raw)}`);
  }
  for (const x of list as string[]) {
    if (!(POS_ATT_TYPES as readonly string[]).includes(x)) {
      throw new ConfigError(`${r.file}: unsupported pos_att_type entry "${x}" (supported: ${POS_ATT_TYPES.join(', ')})`);
    }
  }
  return new Set(list as string[]);
}

function normRelEmbeddings(r: ConfigReader): boolean {
  const parts = r.str('norm_rel_ebd', 'none').toLowerCase().split('|').map((s) => s.trim());
  const bad = parts.find((p) => p !== 'none' && p !== 'layer_norm');
  if (bad !== undefined) throw new ConfigError(`${r.file}: unsupported norm_rel_ebd "${bad}" (supported: none, layer_norm)`);
  return parts.includes('layer_norm');
}

function relativeConfig(r: ConfigReader, maxPositions: number): RelativeAttentionConfig {
  const file = r.file;
  if (!bool(r, 'relative_attention', false)) {
    throw new ConfigError(`${file}: relative_attention false is not supported (only DeBERTa's disentangled relative attention is built)`);
  }
  const rawMax = signedInt(r, 'max_relative_positions', -1);
  const maxRelative = rawMax < 1 ? maxPositions : rawMax;
  const buckets = signedInt(r, 'position_buckets', -1);
  if (buckets > 0) {
    // mid = buckets/2 must be ≥ 1, and log((maxRelative − 1)/mid) must not be 0 (torch would divide by 0)
    if (buckets < 2) throw new ConfigError(`${file}: position_buckets must be ≥ 2 (or ≤ 0 for no bucketing), got ${buckets}`);
    if (maxRelative - 1 <= Math.floor(buckets / 2)) {
      throw new ConfigError(`${file}: max_relative_positions ${maxRelative} must exceed position_buckets/2 + 1 = ${Math.floor(buckets / 2) + 1}`);
    }
  }
  const types = posAttTypes(r);
  return {
    buckets,
    maxRelative,
    span: buckets > 0 ? buckets : maxRelative,
    c2p: types.has('c2p'),
    p2c: types.has('p2c'),
    shareAttKey: bool(r, 'share_att_key', false),
    normRelEmbeddings: normRelEmbeddings(r),
  };
}

export function parseDebertaV2Config(json: Json, file = 'config.json'): DebertaV2Config {
  const r = new ConfigReader(json, file);
  if (json.model_type !== 'deberta-v2') throw new ConfigError(`${file}: model_type "${String(json.model_type)}" is not deberta-v2`);
  const conv = signedInt(r, 'conv_kernel_size', 0);
  if (conv > 0) throw new ConfigError(`${file}: conv_kernel_size ${conv}: DeBERTa's convolution layer is not supported`);
  const hidden = r.int('hidden_size', undefined, 1);
  const heads = r.int('num_attention_heads', undefined, 1);
  if (hidden % heads) throw new ConfigError(`${file}: hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`);
  if (json.attention_head_size != null && r.int('attention_head_size', undefined, 1) !== hidden / heads) {
    throw new ConfigError(`${file}: attention_head_size ${String(json.attention_head_size)} ≠ hidden_size / num_attention_heads is not supported`);
  }
  if (r.int('pooler_hidden_size', hidden, 1) !== hidden) {
    // ContextPooler maps pooler_hidden_size to itself but is fed hidden_size features
    throw new ConfigError(`${file}: pooler_hidden_size ${String(json.pooler_hidden_size)} must equal hidden_size ${hidden}`);
  }
  const numLabels = r.numLabels();
  const implicitProblemType = json.problem_type == null;
  const problemType = json.problem_type ?? (numLabels === 1 ? 'regression' : 'single_label_classification');
  if (problemType !== 'regression' && problemType !== 'single_label_classification') {
    throw new ConfigError(`${file}: unsupported problem_type "${String(problemType)}" (supported: single_label_classification, regression)`);
  }
  const maxPositions = r.int('max_position_embeddings', 512, 1);
  const hiddenDropout = r.prob('hidden_dropout_prob', 0.1);
  const cfg: DebertaV2Config = {
    vocabSize: r.int('vocab_size', undefined, 1),
    hiddenSize: hidden,
    embeddingSize: r.int('embedding_size', hidden, 1),
    numLayers: r.int('num_hidden_layers', undefined, 1),
    numHeads: heads,
    intermediateSize: r.int('intermediate_size', undefined, 1),
    hiddenAct: r.oneOf('hidden_act', ACTIVATIONS, 'gelu'),
    layerNormEps: r.positive('layer_norm_eps', 1e-7),
    maxPositions,
    positionBiasedInput: bool(r, 'position_biased_input', true),
    typeVocabSize: r.int('type_vocab_size', 0, 0),
    relative: relativeConfig(r, maxPositions),
    hiddenDropout,
    attentionDropout: r.prob('attention_probs_dropout_prob', 0.1),
    poolerAct: r.oneOf('pooler_hidden_act', POOLER_ACTIVATIONS, 'gelu'),
    poolerDropout: r.prob('pooler_dropout', 0),
    classifierDropout: json.cls_dropout == null ? hiddenDropout : r.prob('cls_dropout', 0),
    numLabels,
    problemType,
    implicitProblemType,
    initializerRange: r.positive('initializer_range', 0.02),
    padTokenId: r.int('pad_token_id', 0),
  };
  if (cfg.padTokenId >= cfg.vocabSize) throw new ConfigError(`${file}: pad_token_id ${cfg.padTokenId} is outside the vocabulary (vocab_size ${cfg.vocabSize})`);
  const { vocabSize: v, hiddenSize: h, embeddingSize: e, intermediateSize: f, numLayers: l, maxPositions: p } = cfg;
  checkModelSize(file, {
    'the word embeddings (vocab_size × embedding_size)': v * e, 'the position embeddings (max_position_embeddings × hidden_size)': p * h,
    'each FFN matrix (intermediate_size × hidden_size)': f * h, 'the classifier (num_labels × hidden_size)': numLabels * h,
  }, v * e + p * h + l * (4 * h * h + 2 * h * f) + h * h + numLabels * h);
  return cfg;
}
