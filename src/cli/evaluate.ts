/**
 * `prilora evaluate`: GLUE dev metrics of a model with an adapter (a PEFT directory, a training run, or a
 * hub id), computed by the same evaluation the trainer runs after each epoch.
 */
import { ConfigError } from '../core/errors.ts';
import { choice, int, optional, resolve, str } from '../core/spine.ts';
import { loadGlueSplit } from '../data/glue.ts';
import { glueTaskSpec, type GlueSplit } from '../data/glue-tasks.ts';
import { encodeExamples } from '../train/batches.ts';
import { evaluate } from '../train/evaluate.ts';
import type { Command } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';
import { openFromFlags, SOURCE_SPINE } from './sources.ts';

const SPLITS = ['dev', 'dev_matched', 'dev_mismatched', 'train'] as const satisfies readonly GlueSplit[];

export const EVALUATE_SPINE = {
  data: optional(str({ help: "GLUE data directory (<dir>/<Task>/<split>.tsv); default: the run's, else the bundled data" })),
  split: optional(choice(SPLITS, { help: "the split to score (default: the task's dev split; MNLI: dev_matched)" })),
  evalLimit: optional(int({ help: 'score only the first N examples', min: 1 })),
  batch: int({ help: 'sequences per forward pass', default: 32, min: 1 }),
  maxLen: optional(int({ help: "tokens per sequence (default: the run's, else 128, at most the model's position table)", min: 2 })),
} as const;

export const evaluateCommand: Command = {
  usage: 'evaluate [--model M] --adapter DIR|RUN --task T [--data DIR] [--split S] [--eval-limit N]',
  summary: 'GLUE dev metrics of a model with an adapter (PEFT directory, run, or hub id)',
  spines: [SOURCE_SPINE, EVALUATE_SPINE, DEVICE_SPINE],
  async run({ given: [src, opts, device], positionals, json }, io) {
    if (positionals.length) throw new ConfigError(`evaluate: unexpected argument ${positionals[0]}`);
    const f = resolve(SOURCE_SPINE, src);
    const o = resolve(EVALUATE_SPINE, opts);
    const { backend } = await useDevice(device);
    const t0 = performance.now();
    const { adapted: a } = await openFromFlags(f, backend, io);
    if (!a.task) throw new ConfigError('task is required (the model and adapter do not say which GLUE task they are for)', 'task');
    const spec = glueTaskSpec(a.task);
    const split = o.split ?? spec.devSplits[0];
    const examples = loadGlueSplit(a.task, split, { dataDir: o.data ?? a.runOptions?.data }).slice(0, o.evalLimit);
    const maxLen = Math.min(o.maxLen ?? a.runOptions?.maxLen ?? 128, a.run.maxPositions);
    const tok = a.tokenizer!;
    const rows = encodeExamples(tok, examples, maxLen);
    const metrics = (await evaluate(a.run.model, spec, rows, { batch: o.batch, padId: tok.padId, backend })) as Record<string, number>;
    const seconds = (performance.now() - t0) / 1000;
    const shown = Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
    io.log(`${a.task} ${split}: ${shown} on ${rows.length} examples in ${seconds.toFixed(1)} s`);
    if (json) io.log(JSON.stringify({ task: a.task, split, metrics, examples: rows.length, model: a.run.dir, adapter: f.adapter ?? null, seconds }));
    return 0;
  },
};
