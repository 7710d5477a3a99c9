/**
 * A model with its adapter, for prediction, evaluation, merging and export: the adapter is a PEFT
 * directory (adapter_config.json + adapter_model.safetensors, as Python PEFT or `export-peft` writes it:
 * LoRA with rank_pattern / alpha_pattern and modules_to_save) or a training run of this project
 * (run.json + checkpoint/), rebuilt as the trainer built it and given the checkpoint's trained weights.
 * Weights the base model lacks and nothing restores (a fresh pooler) are drawn from the seed; `notes`
 * says so, since results then depend on it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backends/backend.ts';
import type { FloatDType } from '../core/dtype.ts';
import { ConfigError } from '../core/errors.ts';
import { GLUE_TASKS, glueTaskSpec, type GlueTask } from '../data/glue-tasks.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import { readSafetensorsFile } from '../io/safetensors.ts';
import { CHECKPOINT_FILE, hasCheckpoint, readCheckpoint } from './checkpoint.ts';
import { readJsonFile, type Json } from '../nn/config.ts';
import { readConfig } from '../nn/pretrained.ts';
import { applyMethod, type MethodSetup } from '../prilora/methods.ts';
import { importPeft } from '../prilora/peft.ts';
import { defaultModelDir, loadRunWeights, runTokenizer, type RunWeights } from './model.ts';
import type { TrainOptions } from './options.ts';

export type AdapterKind = 'peft' | 'run';

/** What kind of adapter directory `dir` is (field: the option that named it). */
export function adapterKind(dir: string, field = 'adapter'): AdapterKind {
  if (existsSync(join(dir, 'adapter_config.json'))) return 'peft';
  if (existsSync(join(dir, 'run.json'))) return 'run';
  throw new ConfigError(`${field} ${dir}: neither a PEFT adapter (adapter_config.json) nor a training run (run.json)`, field);
}

export interface RunRecord {
  options: TrainOptions;
  modelDir: string;
}

export function readRun(dir: string): RunRecord {
  const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunRecord;
  if (!run.options?.adapter || !run.options?.prune) throw new ConfigError(`${join(dir, 'run.json')} comes from an older prilora (no adapter/prune option groups); rerun the training`);
  return run;
}

/** base_model_name_or_path of a PEFT adapter (a hub id or a path), when it names one. */
export function peftBaseModel(dir: string): string | null {
  const v = readJsonFile(join(dir, 'adapter_config.json')).base_model_name_or_path;
  return typeof v === 'string' && v.trim() ? v.trim() : null;
}

const PEFT_PREFIX = 'base_model.model.';

/** The number of outputs of the head a PEFT adapter saved (modules_to_save), or null when it saved none. */
export function peftNumLabels(dir: string): number | null {
  const cfg = readJsonFile(join(dir, 'adapter_config.json'));
  const heads = Array.isArray(cfg.modules_to_save) ? (cfg.modules_to_save as string[]) : [];
  const file = readSafetensorsFile(join(dir, 'adapter_model.safetensors'));
  for (const h of heads) {
    const info = file.tensors.get(`${PEFT_PREFIX}${h}.weight`) ?? file.tensors.get(`${PEFT_PREFIX}${h}.out_proj.weight`);
    if (info && info.shape.length === 2) return info.shape[0];
  }
  return null;
}

/** num_labels of a config (id2label's size when only that is there); 2 as transformers' default. */
export function configNumLabels(json: Json): number {
  if (typeof json.num_labels === 'number') return json.num_labels;
  if (json.id2label && typeof json.id2label === 'object') return Object.keys(json.id2label).length;
  return 2;
}

/** config.json's finetuning_task when it is a GLUE task (merge writes it). */
export function configTask(json: Json): GlueTask | undefined {
  const t = String(json.finetuning_task ?? '').toLowerCase().replace('-', '');
  return (GLUE_TASKS as readonly string[]).includes(t) ? (t as GlueTask) : undefined;
}

export interface OpenOptions {
  /** base model directory (default: the run's model for a run, else the bundled model) */
  model?: string;
  /** a PEFT adapter directory or a run directory */
  adapter?: string;
  task?: GlueTask;
  /** draws what neither the base nor the adapter holds (default: the run's seed, else 0) */
  seed?: number;
  backend?: Backend;
  dtype?: FloatDType;
  /** load the tokenizer too (default true) */
  tokenizer?: boolean;
}

export interface Adapted {
  run: RunWeights;
  tokenizer: TextTokenizer | null;
  setup: MethodSetup | null;
  kind: AdapterKind | null;
  /** the task: given, the run's, or the config's finetuning_task */
  task: GlueTask | undefined;
  numLabels: number;
  seed: number;
  /** the run's options, for a run */
  runOptions: TrainOptions | null;
  notes: string[];
}

/** Parameters the base lacked that neither training nor the adapter restores, by module. */
function unrestored(run: RunWeights, restored: (name: string) => boolean): string[] {
  const mods = new Set(run.missing.filter((n) => !restored(n)).map((n) => n.slice(0, n.lastIndexOf('.'))));
  return [...mods];
}

export function openAdapted(o: OpenOptions): Adapted {
  const kind = o.adapter === undefined ? null : adapterKind(o.adapter);
  const notes: string[] = [];
  const load = (dir: string | undefined, numLabels: number, seed: number) => loadRunWeights(dir, numLabels, { backend: o.backend, dtype: o.dtype, seed });
  let run: RunWeights, setup: MethodSetup | null = null, task = o.task, seed = o.seed ?? 0, runOptions: TrainOptions | null = null;
  if (kind === 'run') {
    const rec = readRun(o.adapter!);
    runOptions = rec.options;
    if (task !== undefined && task !== rec.options.task) throw new ConfigError(`task ${task}: the run in ${o.adapter} was trained on ${rec.options.task}`, 'task');
    task = rec.options.task;
    seed = o.seed ?? rec.options.seed;
    run = load(o.model ?? rec.modelDir, glueTaskSpec(task).numLabels, seed);
    const ro = rec.options;
    setup = ro.adapterDir !== undefined ? importPeft(run.model, ro.adapterDir) : applyMethod(run.model, ro.method, ro.adapter, { seed: ro.seed, keepStats: false, fresh: run.missing });
    restoreRunParams(join(o.adapter!, 'checkpoint'), run);
    const fresh = unrestored(run, (n) => setup!.method === 'full' || setup!.options.modulesToSave.some((h) => n.startsWith(`${h}.`)));
    if (fresh.length && seed !== rec.options.seed) notes.push(`${fresh.join(', ')}: not in the base model nor trained; drawn from seed ${seed}, not the run's ${rec.options.seed}, so results differ from the run's`);
  } else {
    const baseDir = o.model ?? defaultModelDir();
    const json = readConfig(baseDir);
    task ??= configTask(json);
    const heads = kind === 'peft' ? peftNumLabels(o.adapter!) : null;
    const wanted = task === undefined ? null : glueTaskSpec(task).numLabels;
    if (heads !== null && wanted !== null && heads !== wanted) throw new ConfigError(`task ${task} has ${wanted} label(s), but the adapter's saved head has ${heads} output(s)`, 'task');
    const numLabels = wanted ?? heads ?? configNumLabels(json);
    run = load(baseDir, numLabels, seed);
    if (kind === 'peft') setup = importPeft(run.model, o.adapter!);
    const saved = setup?.options.modulesToSave ?? [];
    const fresh = unrestored(run, (n) => saved.some((h) => n.startsWith(`${h}.`)));
    if (fresh.length) {
      notes.push(`${fresh.join(', ')}: not in the base model${kind === 'peft' ? ' nor in the adapter' : ''}, so drawn at random (seed ${seed}); results depend on --seed${kind === 'peft' ? '' : ' and the head is untrained'}`);
    }
  }
  const tokenizer = o.tokenizer === false ? null : runTokenizer(run.dir, Number(run.config.vocab_size));
  return { run, tokenizer, setup, kind, task, numLabels: run.model.numLabels, seed, runOptions, notes };
}

/**
 * The trained parameters of a run's checkpoint (`param.*` of checkpoint/state.safetensors) into the
 * rebuilt model; every trainable parameter must be there.
 */
export function restoreRunParams(checkpointDir: string, run: RunWeights): void {
  if (!hasCheckpoint(checkpointDir)) throw new ConfigError(`${checkpointDir}: no checkpoint (${CHECKPOINT_FILE}): the run ended before saving one`, 'adapter');
  const { file } = readCheckpoint(checkpointDir); // verified: format, sha256 of the tensor bytes
  const state = new Map<string, { data: Float32Array | Float64Array; shape: readonly number[] }>();
  for (const [name, info] of file.tensors) {
    if (!name.startsWith('param.')) continue;
    state.set(name.slice(6), { data: info.dtype === 'F64' ? file.getFloat64(name) : file.getFloat32(name), shape: info.shape });
  }
  const trainable = new Set([...run.model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n));
  const lacking = [...trainable].filter((n) => !state.has(n));
  if (lacking.length) throw new ConfigError(`${file.fileName}: lacks ${lacking.length} trained parameter(s) of the run (${lacking.slice(0, 3).join(', ')}); was the run's model or adapter changed?`, 'adapter');
  run.model.loadStateDict(state, { allowMissing: (n) => !trainable.has(n) });
}
