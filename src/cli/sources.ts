/**
 * `--model` and `--adapter` values as the commands take them: a directory, or a hub id fetched into the
 * shared HuggingFace cache with a progress bar per file on a terminal (stderr, so stdout keeps its JSON
 * contract) and one line per finished download otherwise. Then the model with its adapter, opened for
 * predict / evaluate / merge / export-peft.
 */
import cliProgress from 'cli-progress';
import type { Backend } from '../backends/backend.ts';
import { ConfigError } from '../core/errors.ts';
import { choice, int, optional, str } from '../core/spine.ts';
import { GLUE_TASKS } from '../data/glue-tasks.ts';
import type { GlueTask } from '../data/glue-tasks.ts';
import type { FileProgress, HubOptions } from '../hub/download.ts';
import { parseHubId, resolveModelSource, type Resolved } from '../hub/model.ts';
import { hubSettings } from '../hub/settings.ts';
import { adapterKind, openAdapted, peftBaseModel, type Adapted } from '../train/inference.ts';
import type { CommandIO } from './command.ts';
import { existsSync } from 'node:fs';

/** Options shared by predict, evaluate and merge: what to load. */
export const SOURCE_SPINE = {
  model: optional(str({ help: 'base model: a directory or a hub id (org/name[@revision]); default: the run\'s, the adapter\'s base_model_name_or_path, else the bundled model' })),
  adapter: optional(str({ help: 'a PEFT adapter directory (adapter_config.json), a training run directory (run.json), or a hub id of a PEFT adapter' })),
  task: optional(choice(GLUE_TASKS, { help: 'the GLUE task: its labels, and whether inputs are pairs (default: the run\'s, or the config\'s finetuning_task)' })),
  seed: optional(int({ help: 'draws weights neither the base nor the adapter holds, e.g. a fresh pooler (default: the run\'s seed, else 0)', min: 0 })),
} as const;

const mb = (n: number | null) => (n === null ? '?' : (n / 1e6).toFixed(1));

function hubOptions(io: CommandIO): HubOptions & { stop(): void } {
  const settings = hubSettings();
  const tty = Boolean(process.stderr.isTTY) && settings.progressBars;
  let multi: cliProgress.MultiBar | null = null;
  const bars = new Map<string, cliProgress.SingleBar>();
  const onProgress = (p: FileProgress) => {
    const key = `${p.repo}/${p.file}`;
    if (!tty) {
      if (p.done) io.error(`downloaded ${p.repo} ${p.file} (${mb(p.received)} MB${p.resumedFrom ? `, resumed at ${mb(p.resumedFrom)} MB` : ''})`);
      return;
    }
    multi ??= new cliProgress.MultiBar({ format: '{file} |{bar}| {percentage}% | {got}/{all} MB', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
    let bar = bars.get(key);
    if (!bar) {
      bar = multi.create(p.total ?? p.received, p.received, { file: key, got: mb(p.received), all: mb(p.total) });
      bars.set(key, bar);
    }
    bar.update(p.received, { got: mb(p.received), all: mb(p.total) });
  };
  return {
    settings,
    onProgress,
    note: (line) => (multi ? multi.log(`note: ${line}\n`) : io.error(`note: ${line}`)),
    stop: () => multi?.stop(),
  };
}

/** A directory, or a hub id fetched into the cache (field: the option, for error messages). */
export async function resolveSource(value: string, kind: 'model' | 'adapter', io: CommandIO, field: string = kind): Promise<Resolved> {
  const o = hubOptions(io);
  try {
    return await resolveModelSource(value, kind, { ...o, field });
  } finally {
    o.stop();
  }
}

export interface SourceFlags {
  model?: string;
  adapter?: string;
  task?: GlueTask;
  seed?: number;
}

/**
 * The model and adapter the flags name. Without --model: a run's own model, a PEFT adapter's
 * base_model_name_or_path when it names one, else the bundled model.
 */
export async function openFromFlags(f: SourceFlags, backend: Backend, io: CommandIO, o: { tokenizer?: boolean } = {}): Promise<{ adapted: Adapted; adapterDir?: string }> {
  const adapterDir = f.adapter === undefined ? undefined : (await resolveSource(f.adapter, 'adapter', io)).dir;
  let modelDir = f.model === undefined ? undefined : (await resolveSource(f.model, 'model', io)).dir;
  if (modelDir === undefined && adapterDir !== undefined && adapterKind(adapterDir) === 'peft') {
    const base = peftBaseModel(adapterDir);
    if (base !== null) {
      if (!existsSync(base) && !parseHubId(base)) throw new ConfigError(`the adapter's base_model_name_or_path ${base} is neither a directory here nor a hub id: pass --model`, 'model');
      io.error(`note: no --model: using the adapter's base model ${base}`);
      modelDir = (await resolveSource(base, 'model', io, 'model')).dir;
    }
  }
  const adapted = openAdapted({ model: modelDir, adapter: adapterDir, task: f.task, seed: f.seed, backend, tokenizer: o.tokenizer });
  for (const n of adapted.notes) io.error(`note: ${n}`);
  return { adapted, adapterDir };
}
