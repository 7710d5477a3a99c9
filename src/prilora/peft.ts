/**
 * PEFT's on-disk adapter format: adapter_config.json + adapter_model.safetensors with keys
 * `base_model.model.<module>.lora_A.weight` / `lora_B.weight` and the saved head under its own name
 * (`base_model.model.classifier.weight`). Export writes what PEFT writes; import accepts what PEFT wrote.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { readSafetensorsFile, serializeSafetensors, writeSafetensorsFile, type SafetensorEntry } from '../io/safetensors.ts';
import { Linear } from '../nn/layers.ts';
import type { Module } from '../nn/module.ts';
import { readJsonFile } from '../nn/config.ts';
import { Generator } from '../core/random.ts';
import { LoraAdapter } from './lora.ts';
import type { MethodSetup } from './methods.ts';
import { isTarget, layerIndex, patternValue } from './targets.ts';

const PREFIX = 'base_model.model.';

/** rank_pattern / alpha_pattern keys in the style PEFT users write them: one regex per layer. */
function layerKey(layer: number): string {
  return `layer\\.${layer}\\.[a-z_.]+`;
}

export interface PeftExportOptions {
  /** more modules saved whole beside the heads (weights the base lacks and nothing trained, e.g. a fresh pooler) */
  alsoSave?: readonly string[];
  /** base_model_name_or_path and revision, as PEFT records them */
  baseModel?: string | null;
  revision?: string | null;
}

const savedModules = (setup: MethodSetup, o: PeftExportOptions) => [...new Set([...setup.options.modulesToSave, ...(o.alsoSave ?? [])])];

export function peftConfig(setup: MethodSetup, taskType = 'SEQ_CLS', o: PeftExportOptions = {}): Record<string, unknown> {
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  const entries = [...setup.ranks.values()].filter((e) => e.layer !== null);
  // as PRILoRA users write them for PEFT: every layer listed once any layer differs from the default
  if (entries.some((e) => e.rank !== setup.defaultRank)) for (const e of entries) rankPattern[layerKey(e.layer!)] = e.rank;
  if (entries.some((e) => e.alpha !== setup.defaultAlpha)) for (const e of entries) alphaPattern[layerKey(e.layer!)] = e.alpha;
  return {
    peft_type: 'LORA',
    task_type: taskType,
    r: setup.defaultRank,
    lora_alpha: setup.defaultAlpha,
    lora_dropout: setup.options.dropout,
    target_modules: setup.options.targets,
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    modules_to_save: savedModules(setup, o),
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
    inference_mode: true,
    base_model_name_or_path: o.baseModel ?? null,
    revision: o.revision ?? null,
    layers_to_transform: null,
    layers_pattern: null,
  };
}

/** The adapter and head tensors under PEFT's file names. */
export async function peftTensors(model: Module, setup: MethodSetup, o: PeftExportOptions = {}): Promise<SafetensorEntry[]> {
  const saved = savedModules(setup, o);
  const entries: SafetensorEntry[] = [];
  for (const ad of setup.adapters) {
    for (const [part, lin] of [['lora_A', ad.A], ['lora_B', ad.B]] as const) {
      entries.push({ name: `${PREFIX}${ad.name}.${part}.weight`, dtype: 'F32', shape: lin.weight.shape, data: Float32Array.from(await lin.weight.data()) });
    }
  }
  for (const [name, p] of model.namedParameters()) {
    if (saved.some((h) => name.startsWith(`${h}.`))) {
      entries.push({ name: `${PREFIX}${name}`, dtype: 'F32', shape: p.shape, data: Float32Array.from(await p.data()) });
    }
  }
  return entries;
}

/** Write adapter_config.json + adapter_model.safetensors into `dir` (each file atomically). */
export async function exportPeft(model: Module, setup: MethodSetup, dir: string, o: PeftExportOptions = {}): Promise<string[]> {
  if (setup.method === 'full') throw new ConfigError('export-peft: a full fine-tuning run has no adapter to export');
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, 'adapter_config.json');
  writeFileSync(`${configPath}.tmp`, `${JSON.stringify(peftConfig(setup, 'SEQ_CLS', o), null, 2)}\n`);
  renameSync(`${configPath}.tmp`, configPath);
  const weightsPath = join(dir, 'adapter_model.safetensors');
  writeSafetensorsFile(weightsPath, await peftTensors(model, setup, o), { format: 'pt' });
  return [configPath, weightsPath];
}

/**
 * The two files of exportPeft as bytes in memory, for callers without a file system (a browser offers
 * them as downloads); the same config and tensors, so Node's importPeft reads them back alike.
 */
export async function peftFiles(model: Module, setup: MethodSetup, o: PeftExportOptions = {}): Promise<{ config: string; weights: Uint8Array }> {
  if (setup.method === 'full') throw new ConfigError('export-peft: a full fine-tuning run has no adapter to export');
  const config = `${JSON.stringify(peftConfig(setup, 'SEQ_CLS', o), null, 2)}\n`;
  return { config, weights: serializeSafetensors(await peftTensors(model, setup, o), { format: 'pt' }) };
}

/**
 * Attach the adapter stored in `dir` (as PEFT saved it) to `model`: targets, ranks and alphas from the
 * config (patterns matched as PEFT matches them), then A, B and the saved head from the weights.
 */
export function importPeft(model: Module, dir: string, opts: { statDecay?: number } = {}): MethodSetup {
  const cfgPath = join(dir, 'adapter_config.json');
  const cfg = readJsonFile(cfgPath);
  if (cfg.peft_type !== 'LORA') throw new ConfigError(`${cfgPath}: peft_type ${JSON.stringify(cfg.peft_type) ?? 'missing'} is not LORA`);
  for (const [k, v] of [['use_dora', false], ['use_rslora', false], ['fan_in_fan_out', false], ['bias', 'none']] as const) {
    if (cfg[k] !== undefined && cfg[k] !== v) throw new ConfigError(`${cfgPath}: ${k} = ${JSON.stringify(cfg[k])} is not supported`);
  }
  const fail = (field: string, want: string) => {
    throw new ConfigError(`${cfgPath}: ${field} must be ${want}, got ${JSON.stringify(cfg[field]) ?? 'nothing'}`);
  };
  const r = cfg.r as number;
  if (!Number.isInteger(r) || r < 1) fail('r', 'a positive integer');
  const alpha = (cfg.lora_alpha ?? r) as number;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) fail('lora_alpha', 'a positive number');
  const dropout = (cfg.lora_dropout ?? 0) as number;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) fail('lora_dropout', 'a number in [0, 1)');
  const targets = cfg.target_modules as string | string[];
  if (typeof targets !== 'string' && !(Array.isArray(targets) && targets.every((t) => typeof t === 'string'))) fail('target_modules', 'a string or a list of strings');
  const pattern = (field: string, integer: boolean): Record<string, number> => {
    const v = cfg[field] ?? {};
    const ok = typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((x) => typeof x === 'number' && x > 0 && (!integer || Number.isInteger(x)));
    if (!ok) fail(field, `an object of ${integer ? 'positive integers' : 'positive numbers'}`);
    return v as Record<string, number>;
  };
  const rankPattern = pattern('rank_pattern', true);
  const alphaPattern = pattern('alpha_pattern', false);
  const saved = cfg.modules_to_save ?? [];
  if (!Array.isArray(saved) || !saved.every((m) => typeof m === 'string')) fail('modules_to_save', 'null or a list of module names');
  const moduleNames = new Set([...model.namedModules()].map(([n]) => n));
  // PEFT lists both "classifier" and "score" for SEQ_CLS; keep the heads this model has
  const modulesToSave = (saved as string[]).filter((m) => moduleNames.has(m));
  const setup: MethodSetup = {
    method: Object.keys(rankPattern).length ? 'prilora' : 'lora',
    adapters: [],
    ranks: new Map(),
    defaultRank: r,
    defaultAlpha: alpha,
    options: {
      rank: r, alpha, rankStart: r, rankEnd: r, alphaPerRank: false, dropout,
      targets, statDecay: opts.statDecay ?? 0.9, modulesToSave,
    },
  };
  for (const p of model.parameters()) p.requiresGrad = false;
  const gen = new Generator(0);
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear) || !isTarget(targets, name)) continue;
    const rank = patternValue(rankPattern, name, r);
    const a = patternValue(alphaPattern, name, alpha);
    setup.adapters.push(new LoraAdapter(name, m, { rank, alpha: a, dropout: setup.options.dropout, generator: gen, statDecay: opts.statDecay }));
    setup.ranks.set(name, { rank, alpha: a, layer: layerIndex(name) });
  }
  if (!setup.adapters.length) throw new ConfigError(`${cfgPath}: target_modules match no module of the model`);
  const file = readSafetensorsFile(join(dir, 'adapter_model.safetensors'));
  const state = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, info] of file.tensors) {
    if (!name.startsWith(PREFIX)) throw new ConfigError(`${file.fileName}: key ${name} does not start with ${PREFIX}`);
    state.set(name.slice(PREFIX.length), { data: file.getFloat32(name), shape: info.shape });
  }
  const own = new Set<string>();
  for (const ad of setup.adapters) {
    own.add(`${ad.name}.lora_A.weight`);
    own.add(`${ad.name}.lora_B.weight`);
  }
  for (const key of own) if (!state.has(key)) throw new ConfigError(`${file.fileName}: missing ${PREFIX}${key}`);
  model.loadStateDict(state, { allowMissing: (n) => !own.has(n) && !modulesToSave.some((h) => n.startsWith(`${h}.`)) });
  for (const ad of setup.adapters) for (const p of [ad.A.weight, ad.B.weight]) p.requiresGrad = true;
  for (const [name, p] of model.namedParameters()) if (modulesToSave.some((h) => name.startsWith(`${h}.`))) p.requiresGrad = true;
  return setup;
}
