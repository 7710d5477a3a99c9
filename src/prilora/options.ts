/**
 * The method's options, declared once (core/spine.ts): the adapter group (LoRA's rank and alpha,
 * PRILoRA's rank schedule, the input statistics) and the pruning group. Defaults are our reading of the
 * method (docs/METHOD.md); the trainer passes each group whole to applyMethod and the Pruner.
 */
import { ConfigError } from '../core/errors.ts';
import { bool, choice, int, list, nullable, num, resolve, str, type Given, type Values } from '../core/spine.ts';
import { DEFAULT_TARGETS } from './targets.ts';

export const METHODS = ['full', 'lora', 'prilora'] as const;
export type Method = (typeof METHODS)[number];

export const ADAPTER_SPINE = {
  rank: int({ help: "LoRA's uniform rank (method lora)", default: 8, min: 1 }),
  alpha: num({ help: 'lora_alpha: the update is scaled by alpha / r', default: 16, min: 0, minExclusive: true, flag: 'lora-alpha' }),
  rankStart: int({ help: "PRILoRA's rank at the first layer", default: 4, min: 1 }),
  rankEnd: int({ help: "PRILoRA's rank at the last layer", default: 12, min: 1 }),
  alphaPerRank: bool({ help: "alpha_l = alpha · r_l / mean rank, so every layer's scaling is alpha / mean rank (PEFT: alpha / r_l)", default: false }),
  dropout: num({ help: 'dropout on the adapter input (PEFT lora_dropout)', default: 0, min: 0, max: 1, maxExclusive: true, flag: 'lora-dropout' }),
  targets: str({ help: 'modules that get adapters: a regex matching the whole module name (PEFT target_modules)', default: DEFAULT_TARGETS }),
  statDecay: num({ help: 'β of the input statistics s ← β s + (1 − β) ‖X_:,j‖', default: 0.9, min: 0, max: 1, maxExclusive: true }),
  modulesToSave: list<string>({ help: "modules trained in full beside the adapters (PEFT modules_to_save); default: the model directory's prilora.json recommendation, else the classifier", default: ['classifier'] }),
} as const;

export const PRUNE_MODES = ['temporary', 'permanent'] as const;
export type PruneMode = (typeof PRUNE_MODES)[number];
export const IMPORTANCES = ['weight-times-stat', 'weight'] as const;
export type Importance = (typeof IMPORTANCES)[number];

export const PRUNE_SPINE = {
  enabled: bool({ help: 'prune A on the schedule below (any LoRA method; on for prilora)', default: (c) => c.method === 'prilora', defaultHelp: 'on for prilora', flag: 'prune' }),
  every: int({ help: 'prune every this many optimiser steps', default: 10, min: 1, flag: 'prune-every' }),
  start: nullable(int({ help: 'first step that may prune (default: the end of warm-up)', min: 0, flag: 'prune-start' })),
  end: nullable(int({ help: 'last step that may prune (default: 80 % of training)', min: 0, flag: 'prune-end' })),
  ratio: num({ help: 'fraction of each row of A zeroed', default: 0.5, min: 0, max: 1, maxExclusive: true, flag: 'prune-ratio' }),
  mode: choice(PRUNE_MODES, { help: 'temporary: pruned entries may regrow; permanent: a mask also zeroes their gradients and moments', default: 'temporary', flag: 'prune-mode' }),
  importance: choice(IMPORTANCES, { help: 'importance of A_ij: |A_ij|·s_j or |A_ij|', default: 'weight-times-stat' }),
} as const;

export type AdapterOptions = Omit<Values<typeof ADAPTER_SPINE>, 'targets'> & {
  /** a regex (full match) or a list of name suffixes, as PEFT's target_modules */
  targets: string | readonly string[];
};
export type PruneSettings = Values<typeof PRUNE_SPINE>;

/** The adapter group with defaults filled in and every value checked. */
export function adapterOptions(given: Given<typeof ADAPTER_SPINE> | Partial<AdapterOptions> = {}, prefix = 'adapter'): AdapterOptions {
  const { targets, ...rest } = given as Partial<AdapterOptions>;
  const o = resolve(ADAPTER_SPINE, typeof targets === 'string' ? { ...rest, targets } : rest, {}, prefix) as AdapterOptions;
  if (Array.isArray(targets)) o.targets = [...targets];
  return o;
}

/** Pruning settings for `method`, checked against it. */
export function pruneSettings(method: Method, given: Given<typeof PRUNE_SPINE> = {}, prefix = 'prune'): PruneSettings {
  const p = resolve(PRUNE_SPINE, given, { method }, prefix);
  if (p.enabled && method === 'full') throw new ConfigError(`${prefix}.enabled: method full has no adapters to prune`, `${prefix}.enabled`);
  if (p.start !== null && p.end !== null && p.end < p.start) throw new ConfigError(`${prefix}.end (${p.end}) is before ${prefix}.start (${p.start})`, `${prefix}.end`);
  return p;
}
