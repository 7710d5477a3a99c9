/**
 * The three training methods over any model built from src/nn: `full` (everything trains), `lora`
 * (uniform rank) and `prilora` (linearly increasing ranks, input statistics, pruning). In the adapter
 * methods the classifier head trains too, as PEFT's `modules_to_save` does for sequence classification.
 */
import { ConfigError } from '../core/errors.ts';
import { Linear } from '../nn/layers.ts';
import type { Module } from '../nn/module.ts';
import { Generator } from '../core/random.ts';
import { LoraAdapter } from './lora.ts';
import { linearRanks, uniformRanks } from './schedule.ts';
import { adapterOptions, METHODS, type AdapterOptions, type Method } from './options.ts';
import { isTarget, layerIndex } from './targets.ts';

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

export interface ApplyOptions {
  /** draws A's initial values (default 0) */
  seed?: number;
  /** keep PRILoRA's input statistics (default: for prilora; the trainer asks whenever pruning reads them) */
  keepStats?: boolean;
  /**
   * Parameters the checkpoint lacked (drawn fresh, e.g. the pooler of a masked-LM checkpoint): their modules
   * train alongside the head (modules_to_save), since frozen random weights would only stand in the way.
   */
  fresh?: readonly string[];
}

/**
 * Freeze or unfreeze, attach adapters; returns what was attached. `adapter` is the adapter group of the
 * options (defaults from ./options.ts); a rank wider than a target's smaller side is refused.
 */
export function applyMethod(model: Module & { numLayers: number }, method: Method, adapter: Partial<AdapterOptions> = {}, a: ApplyOptions = {}): MethodSetup {
  if (!METHODS.includes(method)) throw new ConfigError(`method must be one of ${METHODS.join(', ')}, got "${method}"`, 'method');
  const o = adapterOptions(adapter);
  const freshModules = (a.fresh ?? []).map((n) => n.slice(0, n.lastIndexOf('.'))).filter((m) => !o.modulesToSave.some((h) => m === h || m.startsWith(`${h}.`)));
  if (freshModules.length) o.modulesToSave = [...o.modulesToSave, ...new Set(freshModules)];
  const setup: MethodSetup = { method, adapters: [], ranks: new Map(), defaultRank: o.rank, defaultAlpha: o.alpha, options: o };
  if (method === 'full') {
    for (const p of model.parameters()) p.requiresGrad = true;
    return setup;
  }
  for (const p of model.parameters()) p.requiresGrad = false;
  const layerRanks = method === 'lora' ? uniformRanks(model.numLayers, o.rank) : linearRanks(model.numLayers, o.rankStart, o.rankEnd);
  const meanRank = layerRanks.reduce((s, r) => s + r, 0) / layerRanks.length;
  setup.defaultRank = Math.round(meanRank);
  const gen = new Generator(a.seed ?? 0);
  const statDecay = (a.keepStats ?? method === 'prilora') ? o.statDecay : undefined;
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear) || !isTarget(o.targets, name)) continue;
    const layer = layerIndex(name);
    const rank = layer === null ? setup.defaultRank : layerRanks[Math.min(layer, layerRanks.length - 1)];
    const width = Math.min(m.inFeatures, m.outFeatures);
    if (rank > width) {
      const field = method === 'lora' ? 'adapter.rank' : rank === o.rankEnd ? 'adapter.rankEnd' : 'adapter.rankStart';
      throw new ConfigError(`${field}: rank ${rank} exceeds ${name}'s width ${width} (${m.inFeatures} → ${m.outFeatures})`, field);
    }
    const alpha = o.alphaPerRank ? (o.alpha * rank) / meanRank : o.alpha;
    setup.adapters.push(new LoraAdapter(name, m, { rank, alpha, dropout: o.dropout, generator: gen, statDecay }));
    setup.ranks.set(name, { rank, alpha, layer });
  }
  if (!setup.adapters.length) throw new ConfigError(`adapter.targets: no module matches ${JSON.stringify(o.targets)}`, 'adapter.targets');
  for (const ad of setup.adapters) for (const p of [ad.A.weight, ad.B.weight]) p.requiresGrad = true;
  for (const [name, p] of model.namedParameters()) {
    if (o.modulesToSave.some((h) => name === h || name.startsWith(`${h}.`))) p.requiresGrad = true;
  }
  return setup;
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
