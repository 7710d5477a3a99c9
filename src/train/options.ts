/**
 * The fine-tuner's options, declared once (core/spine.ts): every PRILoRA constant is an option
 * (docs/METHOD.md), and each GLUE task has defaults from the reference hyper-parameters (§7 there,
 * AdaLoRA's DeBERTaV3-base scripts) scaled for small models on a CPU: epochs capped (SST-2, 67k
 * sentences, at one, so a run fits 15 minutes on 2 cores), warm-up capped at 6 % (10 % for MRPC, as there)
 * of the run, lengths capped by 128. Learning rates were chosen for the bundled model on a held-out 10 %
 * of SST-2's training split (never dev; 20,000 sentences, one epoch, bench/glue/README.md): the adapter
 * methods 2e-3 (8e-4: 70.1 %, 2e-3: 72.8 %, 4e-3: collapsed to 54 %), full fine-tuning 3e-4 (1e-4: 79.0 %,
 * 3e-4: 83.0 %). The adapter and pruning groups are the method's own (prilora/options.ts).
 */
import { ConfigError } from '../core/errors.ts';
import { bool, choice, int, nullable, num, optional, resolve, str, type Given, type SpineContext, type Values } from '../core/spine.ts';
import { GLUE_TASKS, parseGlueTask, type GlueTask } from '../data/glue-tasks.ts';
import { ADAPTER_SPINE, METHODS, PRUNE_SPINE, pruneSettings, type Method } from '../prilora/options.ts';
import { checkContinued } from './continue.ts';

export interface TaskDefaults {
  /** the reference's rate, for the record: the small bundled model wants others (ADAPTER_LR, FULL_FINETUNE_LR) */
  lr: number;
  epochs: number;
  maxLen: number;
  /** warm-up in steps, or a fraction of the total when < 1 */
  warmup: number;
  weightDecay: number;
}

/** docs/METHOD.md §7 as written (batch 32 there). */
export const REFERENCE: Record<GlueTask, TaskDefaults> = {
  mnli: { lr: 5e-4, epochs: 7, maxLen: 256, warmup: 1000, weightDecay: 0 },
  sst2: { lr: 8e-4, epochs: 24, maxLen: 128, warmup: 1000, weightDecay: 0.01 },
  cola: { lr: 8e-4, epochs: 25, maxLen: 64, warmup: 100, weightDecay: 0 },
  qqp: { lr: 8e-4, epochs: 5, maxLen: 320, warmup: 2000, weightDecay: 0.01 },
  qnli: { lr: 5e-4, epochs: 5, maxLen: 512, warmup: 500, weightDecay: 0.01 },
  rte: { lr: 1.2e-3, epochs: 50, maxLen: 320, warmup: 200, weightDecay: 0.01 },
  mrpc: { lr: 1e-3, epochs: 30, maxLen: 320, warmup: 0.1, weightDecay: 0.01 },
  stsb: { lr: 2.2e-3, epochs: 25, maxLen: 128, warmup: 100, weightDecay: 0.1 },
  wnli: { lr: 1e-3, epochs: 5, maxLen: 128, warmup: 0.06, weightDecay: 0.01 },
};

const SMALL_MODEL_EPOCH_CAP = 3;
const EPOCH_CAPS: Partial<Record<GlueTask, number>> = { sst2: 1, qqp: 1, mnli: 1, qnli: 1 };
export const FULL_FINETUNE_LR = 3e-4;
export const ADAPTER_LR = 2e-3;

const ref = (c: SpineContext) => REFERENCE[c.task as GlueTask];

export const TRAIN_SPINE = {
  task: choice(GLUE_TASKS, { help: 'the GLUE task' }),
  method: choice(METHODS, { help: 'full fine-tuning, uniform LoRA or PRILoRA', default: 'prilora' }),
  model: optional(str({ help: 'model directory (config.json + model.safetensors) or hub id (org/name[@revision]); default: the bundled model' })),
  adapterDir: optional(str({ help: 'continue training this PEFT LoRA adapter (a directory with adapter_config.json, or a hub id) instead of fresh adapters', flag: 'adapter' })),
  data: optional(str({ help: 'GLUE data directory (<dir>/<Task>/<split>.tsv); default: the bundled data' })),
  out: str({ help: 'run directory', default: (c) => `runs/${c.task}-${c.method}`, defaultHelp: 'runs/<task>-<method>' }),
  seed: int({ help: 'seed of the data order, dropout, fresh heads and adapters', default: 0, min: 0 }),
  lr: num({ help: 'peak learning rate', default: (c) => (c.method === 'full' ? FULL_FINETUNE_LR : ADAPTER_LR), defaultHelp: 'full 3e-4, lora/prilora 2e-3', min: 0, minExclusive: true }),
  embeddingLr: nullable(num({ help: "peak learning rate of the embedding layer where it trains (full fine-tuning, or in modules_to_save); default: --lr or the model's prilora.json", min: 0, minExclusive: true })),
  epochs: int({ help: 'passes over the training set', default: (c) => Math.min(ref(c).epochs, EPOCH_CAPS[c.task as GlueTask] ?? SMALL_MODEL_EPOCH_CAP), defaultHelp: 'per task, at most 3 (SST-2, QQP, MNLI, QNLI: 1)', min: 1 }),
  maxSteps: optional(int({ help: 'stop after this many optimiser steps (the schedule spans the shorter of the two)', min: 1 })),
  batch: int({ help: 'sequences per step', default: 32, min: 1 }),
  maxLen: int({ help: 'tokens per sequence, at most the model position table', default: (c) => Math.min(ref(c).maxLen, 128), defaultHelp: 'per task, at most 128', min: 2 }),
  warmup: num({ help: 'linear warm-up: steps, or a share of the run when < 1', default: (c) => (ref(c).warmup < 1 ? ref(c).warmup : 0.06), defaultHelp: 'per task (6 %, MRPC 10 %)', min: 0 }),
  weightDecay: num({ help: 'AdamW weight decay (not on biases and LayerNorm)', default: (c) => ref(c).weightDecay, defaultHelp: 'per task', min: 0 }),
  clip: num({ help: 'global gradient-norm clipping threshold', default: 1, min: 0, minExclusive: true }),
  beta1: num({ help: "AdamW's β1", default: 0.9, min: 0, max: 1, maxExclusive: true }),
  beta2: num({ help: "AdamW's β2", default: 0.999, min: 0, max: 1, maxExclusive: true }),
  eps: num({ help: "AdamW's ε", default: 1e-6, min: 0, minExclusive: true }),
  trainLimit: optional(int({ help: 'use only the first N training examples', min: 1 })),
  evalLimit: optional(int({ help: 'evaluate on the first N dev examples', min: 1 })),
  bucket: bool({ help: 'sort chunks of the epoch by length, so batches pad little', default: true }),
  padTo: int({ help: "pad each batch's length up to a multiple of N (at most --max-len): fewer batch shapes, so that more steps are replayed (webgpu); 1: to the longest sequence", default: 1, min: 1 }),
  replay: bool({ help: "replay each batch shape's recorded forward, backward and clipping where the backend records steps (webgpu): the same numbers, a fraction of the host time", default: true }),
  dropout: nullable(num({ help: "the encoder's hidden and attention dropout (default: the model config's)", min: 0, max: 1, maxExclusive: true })),
  holdout: optional(num({ help: "evaluate on this share of the training set's whole texts, held out (fixed draw; training examples inside them dropped), instead of dev: for choosing hyper-parameters without looking at dev", min: 0, max: 1, minExclusive: true, maxExclusive: true })),
  saveEvery: int({ help: 'checkpoint every N steps (and at every epoch end)', default: 100, min: 1 }),
  evalEvery: int({ help: 'evaluate every N steps (0: at epoch ends only)', default: 0, min: 0 }),
  logEvery: int({ help: 'a plain progress line every N steps when stdout is not a terminal', default: 10, min: 1 }),
  resume: bool({ help: 'continue the run in --out from its checkpoint', default: false }),
  force: bool({ help: 'replace an earlier run in --out (without it, a fresh run refuses one)', default: false }),
  adapter: ADAPTER_SPINE,
  prune: PRUNE_SPINE,
} as const;

export type TrainOptions = Values<typeof TRAIN_SPINE>;
export type TrainInput = Given<typeof TRAIN_SPINE> & { task: GlueTask };

/** Defaults filled in (the task's and the method's) and every value checked, fields named in errors. */
export function trainOptions(input: TrainInput): TrainOptions {
  if (input.task === undefined) throw new ConfigError('task is required (one of cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli)', 'task');
  const given = { ...input, task: parseGlueTask(input.task) };
  const method: Method = given.method ?? 'prilora';
  const o = resolve(TRAIN_SPINE, given, { task: given.task, method });
  o.prune = pruneSettings(o.method, given.prune);
  // an option the method would ignore is refused, so a typo'd experiment never runs as another one
  const ignored: Record<Method, readonly string[]> = { full: Object.keys(ADAPTER_SPINE), lora: ['rankStart', 'rankEnd'], prilora: ['rank'] };
  const given_ = Object.keys(given.adapter ?? {}).filter((k) => ignored[o.method].includes(k));
  if (given_.length) throw new ConfigError(`adapter.${given_[0]} has no effect with method ${o.method}`, `adapter.${given_[0]}`);
  if (o.adapterDir !== undefined) checkContinued(o.method, given.adapter);
  return o;
}

/** Warm-up in steps for a run of `total` steps (a fraction < 1 is a share of the run, capped at 6 %). */
export function warmupSteps(o: TrainOptions, total: number): number {
  if (o.warmup >= 1) return Math.min(Math.round(o.warmup), total);
  const share = Math.round(o.warmup * total);
  const reference = REFERENCE[o.task].warmup;
  return Math.min(share, reference >= 1 ? reference : share);
}
