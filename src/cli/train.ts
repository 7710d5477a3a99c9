/** `prilora train`: fine-tune and evaluate on a GLUE task (CLI.md), every option of TrainOptions a flag. */
import { parseGlueTask } from '../data/glue-tasks.ts';
import { ConfigError } from '../errors.ts';
import { METHODS, type Method } from '../prilora/methods.ts';
import { defaultOptions, kebab, type TrainOptions } from '../train/options.ts';
import { train } from '../train/trainer.ts';
import { backendFlag, choiceFlag, parseFlags, type Flags } from './args.ts';
import type { CommandIO } from './main.ts';

type Kind = 'int' | 'float' | 'bool' | 'string' | readonly string[];

/** Flags that set TrainOptions fields of the same (camelCase) name. */
const FIELDS: Partial<Record<keyof TrainOptions, Kind>> = {
  model: 'string', data: 'string', out: 'string', seed: 'int', lr: 'float', epochs: 'int', maxSteps: 'int',
  batch: 'int', maxLen: 'int', warmup: 'float', weightDecay: 'float', clip: 'float', trainLimit: 'int',
  evalLimit: 'int', bucket: 'bool', saveEvery: 'int', evalEvery: 'int', eps: 'float', rank: 'int',
  rankStart: 'int', rankEnd: 'int', alphaPerRank: 'bool', loraDropout: 'float', statDecay: 'float',
  pruneEvery: 'int', pruneStart: 'int', pruneEnd: 'int', pruneRatio: 'float', pruneMode: ['temporary', 'permanent'],
  importance: ['weight-times-stat', 'weight'], resume: 'bool', logEvery: 'int',
};
/** Flags whose names differ from their field. */
const ALIASES: Record<string, keyof TrainOptions> = { 'lora-alpha': 'alpha' };

export function trainFlagSpec(): Record<string, { type: 'string' | 'boolean' }> {
  const spec: Record<string, { type: 'string' | 'boolean' }> = {
    task: { type: 'string' }, method: { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' },
    'no-prune': { type: 'boolean' }, 'lora-alpha': { type: 'string' }, threads: { type: 'string' },
  };
  for (const [k, kind] of Object.entries(FIELDS)) spec[kebab(k)] = { type: kind === 'bool' ? 'boolean' : 'string' };
  return spec;
}

function value(name: string, raw: string | boolean, kind: Kind): unknown {
  if (kind === 'bool' || typeof raw === 'boolean') return raw;
  if (kind === 'string') return raw;
  if (Array.isArray(kind)) {
    if (!kind.includes(raw)) throw new ConfigError(`--${name} must be one of ${kind.join(', ')}, got "${raw}"`);
    return raw;
  }
  const n = Number(raw);
  if (!Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n))) throw new ConfigError(`--${name} must be ${kind === 'int' ? 'an integer' : 'a number'}, got "${raw}"`);
  return n;
}

export function trainOptionsFromFlags(flags: Flags): TrainOptions {
  if (typeof flags.task !== 'string') throw new ConfigError('train: --task is required (cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli)');
  const task = parseGlueTask(flags.task);
  const method = choiceFlag<Method>(flags, 'method', METHODS, 'prilora');
  const o = defaultOptions(task, method) as unknown as Record<string, unknown>;
  for (const [k, kind] of Object.entries(FIELDS)) {
    const raw = flags[kebab(k)];
    if (raw !== undefined) o[k] = value(kebab(k), raw, kind);
  }
  for (const [flag, field] of Object.entries(ALIASES)) if (flags[flag] !== undefined) o[field] = value(flag, flags[flag]!, 'float');
  if (flags['no-prune']) o.prune = false;
  return o as unknown as TrainOptions;
}

export async function trainCommand(argv: string[], io: CommandIO): Promise<number> {
  const { flags } = parseFlags('train', argv, trainFlagSpec());
  const o = trainOptionsFromFlags(flags);
  o.backend = await backendFlag(flags);
  const r = await train(o, { print: (l) => io.log(l) });
  const shown = Object.entries(r.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
  io.log(`${o.task} ${o.method}: ${shown} after ${r.steps} steps in ${r.seconds.toFixed(1)} s (${r.trainable.toLocaleString('en')} trainable parameters); run in ${o.out}`);
  if (flags.json) io.log(JSON.stringify({ task: o.task, method: o.method, metrics: r.metrics, trainable: r.trainable, seconds: r.seconds, steps: r.steps, best: r.best, out: o.out }));
  return 0;
}
