/**
 * Training options: every PRILoRA constant is an option (PRILORA.md), and each GLUE task has defaults
 * from the reference hyper-parameters (§7, AdaLoRA's DeBERTaV3-base scripts) scaled for small models on a
 * CPU: epochs capped, warm-up capped at 6 % (10 % for MRPC, as there) of the run, lengths capped by the
 * model's position table. Full fine-tuning uses a lower rate than the adapter methods.
 */
import { ConfigError } from '../errors.ts';
import type { GlueTask } from '../data/glue-tasks.ts';
import type { Method } from '../prilora/methods.ts';
import type { Importance, PruneMode } from '../prilora/pruner.ts';

export interface TaskDefaults {
  lr: number;
  epochs: number;
  maxLen: number;
  /** warm-up in steps, or a fraction of the total when < 1 */
  warmup: number;
  weightDecay: number;
}

/** PRILORA.md §7 as written (batch 32 there). */
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

export const SMALL_MODEL_EPOCH_CAP = 3;
export const FULL_FINETUNE_LR = 1e-4;

export interface TrainOptions {
  task: GlueTask;
  method: Method;
  /** model directory (config.json + model.safetensors); the bundled default when absent */
  model?: string;
  /** GLUE data directory (<dir>/<Task>/<split>.tsv); the bundled data when absent */
  data?: string;
  out: string;
  seed: number;
  backend: string;
  lr: number;
  epochs: number;
  /** stop after this many optimiser steps (the schedule still spans `epochs` unless this is shorter) */
  maxSteps?: number;
  batch: number;
  maxLen: number;
  warmup: number;
  weightDecay: number;
  clip: number;
  trainLimit?: number;
  evalLimit?: number;
  /** sort each chunk of batches by length to cut padding */
  bucket: boolean;
  /** save a checkpoint every this many steps (and at every evaluation) */
  saveEvery: number;
  /** evaluate on dev every this many steps (0: at epoch ends only) */
  evalEvery: number;
  betas: [number, number];
  eps: number;
  rank: number;
  alpha: number;
  rankStart: number;
  rankEnd: number;
  alphaPerRank: boolean;
  loraDropout: number;
  statDecay: number;
  prune: boolean;
  pruneEvery: number;
  /** null: after warm-up */
  pruneStart: number | null;
  /** null: at 80 % of training */
  pruneEnd: number | null;
  pruneRatio: number;
  pruneMode: PruneMode;
  importance: Importance;
  resume: boolean;
  /** log a plain line every this many steps when stdout is not a terminal */
  logEvery: number;
}

export function defaultOptions(task: GlueTask, method: Method): TrainOptions {
  const ref = REFERENCE[task];
  return {
    task,
    method,
    out: `runs/${task}-${method}`,
    seed: 0,
    backend: 'cpu',
    lr: method === 'full' ? FULL_FINETUNE_LR : ref.lr,
    epochs: Math.min(ref.epochs, SMALL_MODEL_EPOCH_CAP),
    batch: 32,
    maxLen: Math.min(ref.maxLen, 128),
    warmup: ref.warmup < 1 ? ref.warmup : 0.06,
    weightDecay: ref.weightDecay,
    clip: 1.0,
    bucket: false,
    saveEvery: 100,
    evalEvery: 0,
    betas: [0.9, 0.999],
    eps: 1e-6,
    rank: 8,
    alpha: 16,
    rankStart: 4,
    rankEnd: 12,
    alphaPerRank: false,
    loraDropout: 0,
    statDecay: 0.9,
    prune: method === 'prilora',
    pruneEvery: 10,
    pruneStart: null,
    pruneEnd: null,
    pruneRatio: 0.5,
    pruneMode: 'temporary',
    importance: 'weight-times-stat',
    resume: false,
    logEvery: 10,
  };
}

/** Warm-up in steps for a run of `total` steps (a fraction < 1 is a share of the run, capped at 6 %). */
export function warmupSteps(o: TrainOptions, total: number, referenceWarmup: number): number {
  if (o.warmup >= 1) return Math.min(Math.round(o.warmup), total);
  const share = Math.round(o.warmup * total);
  return Math.min(share, referenceWarmup >= 1 ? referenceWarmup : share);
}

export function checkOptions(o: TrainOptions): void {
  const positive: (keyof TrainOptions)[] = ['batch', 'maxLen', 'epochs', 'rank', 'rankStart', 'rankEnd', 'pruneEvery', 'saveEvery', 'logEvery'];
  for (const k of positive) {
    const v = o[k] as number;
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`--${kebab(k)} must be a positive integer, got ${v}`);
  }
  if (!(o.lr > 0)) throw new ConfigError(`--lr must be positive, got ${o.lr}`);
  if (!(o.pruneRatio >= 0 && o.pruneRatio < 1)) throw new ConfigError(`--prune-ratio must be in [0, 1), got ${o.pruneRatio}`);
  if (!(o.statDecay >= 0 && o.statDecay < 1)) throw new ConfigError(`--stat-decay must be in [0, 1), got ${o.statDecay}`);
  if (o.maxSteps !== undefined && (!Number.isInteger(o.maxSteps) || o.maxSteps < 1)) throw new ConfigError(`--max-steps must be a positive integer, got ${o.maxSteps}`);
}

export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
