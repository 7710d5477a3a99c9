/**
 * The three training methods over any model built from src/nn: `full` (everything trains), `lora`
 * (uniform rank) and `prilora` (linearly increasing ranks, input statistics, pruning). In the adapter
 * methods the classifier head trains too, as PEFT's `modules_to_save` does for sequence classification.
 */
import { ConfigError } from '../errors.ts';
import { Linear } from '../nn/layers.ts';
import type { Module } from '../nn/module.ts';
import type { ParamGroup } from '../optim/adamw.ts';
import { Generator } from '../tensor/random.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { LoraAdapter } from './lora.ts';
import { linearRanks, uniformRanks } from './schedule.ts';
import { DEFAULT_TARGETS, isTarget, layerIndex } from './targets.ts';

export const METHODS = ['full', 'lora', 'prilora'] as const;
export type Method = (typeof METHODS)[number];

export interface AdapterOptions {
  /** LoRA's uniform rank (default 8) */
  rank: number;
  /** lora_alpha (default 16) */
  alpha: number;
  /** PRILoRA's rank at the first and last layer (defaults 4 and 12) */
  rankStart: number;
  rankEnd: number;
  /** keep scaling alpha / r̄ equal across layers (alpha_l = alpha · r_l / r̄) instead of PEFT's alpha / r_l */
  alphaPerRank: boolean;
  dropout: number;
  /** PEFT target_modules: a regex (full match) or a list of name suffixes */
  targets: string | readonly string[];
  /** β of the input statistics EMA (default 0.9); statistics are kept for prilora only */
  statDecay: number;
  /** module names trained in full alongside the adapters (PEFT modules_to_save) */
  modulesToSave: readonly string[];
  seed: number;
}

export const ADAPTER_DEFAULTS: AdapterOptions = {
  rank: 8,
  alpha: 16,
  rankStart: 4,
  rankEnd: 12,
  alphaPerRank: false,
  dropout: 0,
  targets: DEFAULT_TARGETS,
  statDecay: 0.9,
  modulesToSave: ['classifier'],
  seed: 0,
};

export interface MethodSetup {
  method: Method;
  adapters: LoraAdapter[];
  /** rank and alpha of each adapted module, by module name */
  ranks: Map<string, { rank: number; alpha: number; layer: number | null }>;
  /** the default rank/alpha written to adapter_config.json; modules that differ go into the patterns */
  defaultRank: number;
  defaultAlpha: number;
  options: AdapterOptions;
}

/** Freeze or unfreeze, attach adapters; returns what was attached. */
export function applyMethod(model: Module & { numLayers: number }, method: Method, options: Partial<AdapterOptions> = {}): MethodSetup {
  const o = { ...ADAPTER_DEFAULTS, ...options };
  const setup: MethodSetup = { method, adapters: [], ranks: new Map(), defaultRank: o.rank, defaultAlpha: o.alpha, options: o };
  if (!METHODS.includes(method)) throw new ConfigError(`unknown method "${method}" (available: ${METHODS.join(', ')})`);
  if (method === 'full') {
    for (const p of model.parameters()) p.requiresGrad = true;
    return setup;
  }
  for (const p of model.parameters()) p.requiresGrad = false;
  const layerRanks = method === 'lora' ? uniformRanks(model.numLayers, o.rank) : linearRanks(model.numLayers, o.rankStart, o.rankEnd);
  const meanRank = layerRanks.reduce((s, r) => s + r, 0) / layerRanks.length;
  setup.defaultRank = Math.round(meanRank);
  const gen = new Generator(o.seed);
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear) || !isTarget(o.targets, name)) continue;
    const layer = layerIndex(name);
    const rank = layer === null ? setup.defaultRank : layerRanks[Math.min(layer, layerRanks.length - 1)];
    const alpha = o.alphaPerRank ? (o.alpha * rank) / meanRank : o.alpha;
    const statDecay = method === 'prilora' ? o.statDecay : undefined;
    setup.adapters.push(new LoraAdapter(name, m, { rank, alpha, dropout: o.dropout, generator: gen, statDecay }));
    setup.ranks.set(name, { rank, alpha, layer });
  }
  if (!setup.adapters.length) throw new ConfigError(`no module matches the LoRA targets ${JSON.stringify(o.targets)}`);
  for (const ad of setup.adapters) for (const p of [ad.A.weight, ad.B.weight]) p.requiresGrad = true;
  for (const [name, p] of model.namedParameters()) {
    if (o.modulesToSave.some((h) => name === h || name.startsWith(`${h}.`))) p.requiresGrad = true;
  }
  return setup;
}

/** Names that AdamW leaves undecayed: biases and LayerNorm weights (the usual BERT recipe). */
export function isNoDecay(name: string): boolean {
  return name.endsWith('.bias') || /(^|\.)(LayerNorm|layer_norm|norm)\./.test(name);
}

/** AdamW parameter groups over the trainable parameters: decay `weightDecay` on weights, 0 on the rest. */
export function paramGroups(model: Module, weightDecay: number): ParamGroup[] {
  const decay: Tensor[] = [];
  const none: Tensor[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (!p.requiresGrad) continue;
    (isNoDecay(name) ? none : decay).push(p);
  }
  return [
    { params: decay, weightDecay },
    { params: none, weightDecay: 0 },
  ];
}

/** A human-readable table of every adapted module's rank (the "model summary"). */
export function rankSummary(setup: MethodSetup): string {
  if (setup.method === 'full') return 'method full: every parameter trains';
  const lines = [`method ${setup.method}: ${setup.adapters.length} adapters`];
  const byLayer = new Map<string, string[]>();
  for (const [name, r] of setup.ranks) {
    const key = r.layer === null ? '-' : String(r.layer);
    const short = name.replace(/^.*layer\.\d+\./, '');
    byLayer.set(key, [...(byLayer.get(key) ?? []), `${short}=${r.rank}`]);
  }
  for (const [layer, mods] of byLayer) lines.push(`  layer ${layer}: ${mods.join(' ')}`);
  return lines.join('\n');
}
