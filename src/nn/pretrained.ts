/**
 * Loading HuggingFace checkpoints (config.json + model.safetensors) into the modules, with the name
 * mapping transformers itself applies: old LayerNorm names (gamma/beta), checkpoints saved from the bare
 * encoder (no `bert.` prefix), heads of other tasks (`cls.*`, ELECTRA's `discriminator_predictions.*`) and
 * non-parameter buffers.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { readSafetensorsFile } from '../io/safetensors.ts';
import { ShardedSafetensors, type TensorSource } from '../io/sharded.ts';
import { Generator } from '../core/random.ts';
import { BertForSequenceClassification, parseBertConfig, type BertConfig, type ModelOptions } from './bert.ts';
import { readJsonFile, type Json } from './config.ts';
import type { LoadReport, Module, StateValue } from './module.ts';

/** Checkpoint values as float arrays in the model's dtype, under the names the model uses. */
export function checkpointState(file: TensorSource, dtype: 'float32' | 'float64', rename: (name: string) => string | null): Map<string, StateValue> {
  const out = new Map<string, StateValue>();
  for (const [name, info] of file.tensors) {
    const target = rename(name);
    if (target === null) continue;
    // float32 models still take F64 checkpoints (rounded once, when the tensor is created)
    const data = dtype === 'float64' || info.dtype === 'F64' ? file.getFloat64(name) : file.getFloat32(name);
    // a NaN weight would otherwise surface only as "loss is NaN" steps later
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new ConfigError(`${file.fileName}: ${name} holds ${data[i]} at element ${i}`);
    out.set(target, { data, shape: info.shape });
  }
  return out;
}

/** transformers' legacy renames: `LayerNorm.gamma` → `.weight`, `.beta` → `.bias`. */
export function legacyName(name: string): string {
  return name.replace(/\.gamma$/, '.weight').replace(/\.beta$/, '.bias');
}

/** A head of `numLabels` outputs, with the problem type transformers then infers (1 → regression). */
export function setNumLabels(json: Json, numLabels: number): void {
  json.num_labels = numLabels;
  delete json.id2label;
  if (numLabels === 1) json.problem_type = 'regression';
  else if (json.problem_type === 'regression') delete json.problem_type;
}

export interface LoadedModel<M extends Module, C> {
  model: M;
  config: C;
  report: LoadReport;
}

export function readConfig(dir: string): Json {
  return readJsonFile(join(dir, 'config.json'));
}

/**
 * The weights of a checkpoint directory: model.safetensors, or the shards model.safetensors.index.json
 * names; a hint when only a pickle checkpoint is there.
 */
export function weightsFile(dir: string): TensorSource {
  const path = join(dir, 'model.safetensors');
  if (existsSync(path)) return readSafetensorsFile(path);
  if (existsSync(join(dir, 'model.safetensors.index.json'))) return new ShardedSafetensors(join(dir, 'model.safetensors.index.json'));
  const hint = existsSync(join(dir, 'pytorch_model.bin')) || existsSync(join(dir, 'pytorch_model.bin.index.json'))
    ? ' (pytorch_model.bin is a Python pickle, which is not loaded: convert it to safetensors)'
    : '';
  throw new ConfigError(`${dir}: no model.safetensors${hint}`);
}

/**
 * BertForSequenceClassification from a checkpoint directory. A checkpoint of the bare encoder or of
 * another head (masked LM) loads too: the pooler and classifier it lacks are initialised as transformers
 * would (normal(0, initializer_range)) from `seed`, and listed in `report.missing`.
 */
export function loadBertForSequenceClassification(
  dir: string,
  o: ModelOptions & { numLabels?: number; seed?: number } = {},
): LoadedModel<BertForSequenceClassification, BertConfig> {
  const json = readConfig(dir);
  if (o.numLabels !== undefined) setNumLabels(json, o.numLabels);
  return bertFromCheckpoint(json, weightsFile(dir), o, join(dir, 'config.json'));
}

/**
 * The same from a config already read (num_labels set) and weights already open: no file system, so a
 * browser that fetched the files builds the model through this.
 */
export function bertFromCheckpoint(
  json: Json,
  file: TensorSource,
  o: ModelOptions & { seed?: number } = {},
  configName = 'config.json',
): LoadedModel<BertForSequenceClassification, BertConfig> {
  const config = parseBertConfig(json, configName);
  const names = [...file.tensors.keys()];
  const bare = !names.some((n) => n.startsWith('bert.'));
  const hasHead = names.some((n) => n.startsWith('classifier.'));
  const model = new BertForSequenceClassification(config, { ...o, generator: hasHead ? undefined : new Generator(o.seed ?? 0) });
  const state = checkpointState(file, o.dtype === 'float64' ? 'float64' : 'float32', (name) => {
    if (name.startsWith('cls.') || name.startsWith('discriminator_predictions.') || name.endsWith('position_ids')) return null;
    const n = legacyName(name);
    return bare && /^(embeddings|encoder|pooler)\./.test(n) ? `bert.${n}` : n;
  });
  const optionalHead = (n: string) => !hasHead && (n.startsWith('classifier.') || n.startsWith('bert.pooler.'));
  const report = model.loadStateDict(state, { allowMissing: optionalHead });
  return { model, config, report };
}
