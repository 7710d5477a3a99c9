/**
 * `prilora pretrain`'s options, declared once (core/spine.ts): the model's shape, the masked-LM recipe,
 * the schedule and the run's cadence.
 */
import { ConfigError } from '../core/errors.ts';
import { bool, int, list, num, optional, resolve, str, type Given, type Values } from '../core/spine.ts';
import { BUNDLED_SOURCES, CORPUS_SOURCES } from './corpus.ts';

export const PRETRAIN_SPINE = {
  out: str({ help: 'run directory (checkpoint, log, tokenizer, and the model in <out>/model)', default: 'runs/pretrain' }),
  seed: int({ help: 'seed of the initial weights, masks, data order and dropout', default: 0, min: 0 }),
  vocabSize: int({ help: 'WordPiece vocabulary size (chosen from bert-base-uncased by corpus frequency)', default: 8192, min: 8 }),
  hidden: int({ help: 'hidden size', default: 128, min: 1 }),
  layers: int({ help: 'encoder layers', default: 4, min: 1 }),
  heads: int({ help: 'attention heads (must divide the hidden size)', default: 2, min: 1 }),
  ffn: int({ help: 'feed-forward (intermediate) size', default: 512, min: 1 }),
  positions: int({ help: 'position table length (max_position_embeddings): the longest sequence fine-tuning can use', default: 128, min: 2, max: 4096 }),
  maxLen: int({ help: 'tokens per pretraining instance, at most the position table', default: 128, min: 8 }),
  batch: int({ help: 'instances per step', default: 32, min: 1 }),
  lr: num({ help: 'peak learning rate', default: 5e-4, min: 0, minExclusive: true }),
  steps: int({ help: 'planned optimiser steps (the schedule\'s length; may change on resume)', default: 20000, min: 1 }),
  warmup: int({ help: 'linear warm-up steps', default: 500, min: 0 }),
  weightDecay: num({ help: 'AdamW weight decay (not on biases and LayerNorm)', default: 0.01, min: 0 }),
  maskProb: num({ help: 'share of tokens predicted (80 % [MASK], 10 % random, 10 % kept)', default: 0.15, min: 0, max: 1, minExclusive: true, maxExclusive: true }),
  nsp: bool({ help: "also train next-sentence prediction on the pooled [CLS] (did segment B follow A, or come from another document?): BERT's second objective; the model is exported with its pooler", default: false }),
  generator: optional(str({ help: "replaced-token detection (ELECTRA) instead of masked LM: this masked-LM model directory, frozen, fills the masked positions with samples of its predictions, and the model learns to tell at every token whether it is the original. Take a generator weaker than the model (ELECTRA's are a quarter to half its size; e.g. a 2-layer × 64 `pretrain` run): samples of the model's own predictions leave it little to detect. The export keeps ELECTRA's detection head (discriminator_predictions.*), which fine-tuning drops" })),
  pairOverlap: num({ help: 'share of training instances whose segment B is a noisy copy of A (15 % of tokens dropped, 10 % replaced): masked tokens of one segment are then found in the other, a reward for matching across segments. On the bundled model it lifted STS-B and RTE by less than a seed\'s spread and lowered MRPC (assets/models/default/README.md)', default: 0, min: 0, max: 1 }),
  dropout: num({ help: 'dropout while pretraining, and in the exported config (fine-tuning uses it)', default: 0.1, min: 0, max: 1, maxExclusive: true }),
  corpus: list({ help: `text sources (${CORPUS_SOURCES.join(', ')}; imdb needs scripts/fetch-corpus.ts)`, default: BUNDLED_SOURCES, choices: CORPUS_SOURCES }),
  minutes: optional(num({ help: 'stop (checkpoint and model exported) after this many minutes; --resume continues', min: 0, minExclusive: true })),
  evalEvery: int({ help: 'held-out evaluation every N steps', default: 500, min: 1 }),
  saveEvery: int({ help: 'checkpoint every N steps', default: 200, min: 1 }),
  logEvery: int({ help: 'a plain progress line every N steps when stdout is not a terminal', default: 20, min: 1 }),
  resume: bool({ help: 'continue the run in --out from its checkpoint', default: false }),
  init: optional(str({ help: "start from the weights and tokenizer of this model directory (e.g. assets/models/default) instead of fresh ones: a new run with its own schedule, e.g. another objective on a pretrained model; heads the directory lacks are drawn fresh" })),
  from: optional(str({ help: 'continue a packed pretraining state instead (a model directory with pretrain-state.safetensors, e.g. assets/models/default) in a fresh --out; the recipe flags must be the same' })),
  force: bool({ help: 'replace an earlier run in --out (without it, a fresh run refuses one)', default: false }),
} as const;

export type PretrainOptions = Values<typeof PRETRAIN_SPINE>;

/**
 * What a resume must agree on: the recipe, not the run's length, cadence, place, device or starting
 * weights. `nsp` and `pairOverlap` appear only when on and `generator` only when given, so states saved
 * before they existed (the committed packed state) match.
 */
export function pretrainFingerprint(o: PretrainOptions, backendName: string): string {
  const { resume: _r, force: _f, from: _from, init: _init, minutes: _m, logEvery: _l, evalEvery: _e, saveEvery: _s, steps: _n, out: _o, nsp, pairOverlap, ...recipe } = o;
  const addedLater = Object.entries({ nsp, pairOverlap }).filter(([, on]) => on);
  return JSON.stringify({ ...recipe, ...Object.fromEntries(addedLater), backend: backendName });
}

export function pretrainOptions(given: Given<typeof PRETRAIN_SPINE> = {}): PretrainOptions {
  const o = resolve(PRETRAIN_SPINE, given);
  if (o.maxLen > o.positions) throw new ConfigError(`maxLen ${o.maxLen} exceeds positions ${o.positions} (the model's max_position_embeddings)`, 'maxLen');
  if (o.hidden % o.heads !== 0) throw new ConfigError(`heads ${o.heads} does not divide hidden ${o.hidden}`, 'heads');
  if (o.generator !== undefined && o.nsp) throw new ConfigError('generator and nsp exclude each other: replaced-token detection has no next-sentence head', 'generator');
  if (o.pairOverlap > 0 && o.nsp) throw new ConfigError('pairOverlap and nsp exclude each other: a copied B is neither the text that followed A nor a random one', 'pairOverlap');
  if (o.init !== undefined && o.from !== undefined) throw new ConfigError('init and from exclude each other: from continues a packed run, init starts a new one from weights', 'init');
  return o;
}
