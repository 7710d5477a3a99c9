/**
 * `prilora predict`: labels and probabilities for sentences given on the command line or in a TSV file,
 * one JSON line per input, from a model with or without an adapter (a PEFT directory, a training run, or
 * either as a hub id).
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../core/errors.ts';
import { int, optional, resolve, str } from '../core/spine.ts';
import { parseGlueTsv } from '../data/glue.ts';
import { glueTaskSpec, type GlueTask } from '../data/glue-tasks.ts';
import { predictRows } from '../train/predict.ts';
import type { Command } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';
import { openFromFlags, SOURCE_SPINE } from './sources.ts';

export const PREDICT_SPINE = {
  input: optional(str({ help: 'a TSV file (- for stdin): one input per line, text or text<TAB>second text, or a GLUE file of the task' })),
  batch: int({ help: 'sequences per forward pass', default: 32, min: 1 }),
  maxLen: optional(int({ help: 'tokens per sequence (default: the run\'s, else 128, at most the model\'s position table)', min: 2 })),
} as const;

type Pair = [string, string?];

/** Inputs from a file: the task's GLUE format when it parses as one, else 1 or 2 tab-separated columns per line. */
export function readInputs(path: string, task: GlueTask | undefined, pair: boolean): Pair[] {
  const text = readFileSync(path === '-' ? 0 : path, 'utf8');
  if (task) {
    try {
      return parseGlueTsv(task, text, path).map((e) => (e.textB === undefined ? [e.textA] : [e.textA, e.textB]));
    } catch {
      // not a GLUE file: plain lines
    }
  }
  const out: Pair[] = [];
  text.replace(/^\uFEFF/, '').split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const cols = line.split('\t');
    if (cols.length > 2 || (!pair && cols.length === 2)) {
      throw new ConfigError(`${path}:${i + 1}: ${cols.length} tab-separated columns; ${pair ? 'a pair task takes text<TAB>second text' : 'this task takes one text per line'}`, 'input');
    }
    out.push(pair ? [cols[0], cols[1] ?? ''] : [cols[0]]);
  });
  return out;
}

/** Positional inputs: one text each, or for a pair task two at a time. */
function positionalInputs(texts: string[], pair: boolean): Pair[] {
  if (!pair) return texts.map((t) => [t]);
  if (texts.length % 2) throw new ConfigError(`a pair task takes its inputs two at a time (first, second, first, second, …); got ${texts.length}`);
  const out: Pair[] = [];
  for (let i = 0; i < texts.length; i += 2) out.push([texts[i], texts[i + 1]]);
  return out;
}

export const predictCommand: Command = {
  usage: 'predict [--model M] [--adapter DIR|RUN] [--task T] "text" … | --input FILE.tsv',
  summary: 'labels and probabilities of new inputs, one JSON line each',
  spines: [SOURCE_SPINE, PREDICT_SPINE, DEVICE_SPINE],
  async run({ given: [src, opts, device], positionals, json }, io) {
    const f = resolve(SOURCE_SPINE, src);
    const o = resolve(PREDICT_SPINE, opts);
    const batch = o.batch;
    if ((o.input === undefined) === (positionals.length === 0)) throw new ConfigError('predict: give the inputs as arguments or with --input FILE, one of the two');
    const { backend } = await useDevice(device);
    const t0 = performance.now();
    const { adapted: a } = await openFromFlags(f, backend, io);
    const spec = a.task ? glueTaskSpec(a.task) : null;
    const pair = spec?.pair ?? false;
    const regression = spec ? spec.regression : a.numLabels === 1;
    const id2label = (a.run.config.id2label ?? {}) as Record<string, string>;
    const labels = spec?.labelNames.length ? spec.labelNames : Array.from({ length: a.numLabels }, (_, i) => id2label[String(i)] ?? String(i));
    const inputs = o.input !== undefined ? readInputs(o.input, a.task, pair) : positionalInputs(positionals, pair);
    const maxLen = Math.min(o.maxLen ?? a.runOptions?.maxLen ?? 128, a.run.maxPositions);
    const tok = a.tokenizer!;
    const rows = inputs.map(([x, y]) => tok.encode(x, y, { maxLength: maxLen }));
    const preds = await predictRows(a.run.model, rows, { batch, padId: tok.padId, backend, regression, labels });
    preds.forEach((p, i) => {
      const [x, y] = inputs[i];
      io.log(JSON.stringify({ text: x, ...(y === undefined ? {} : { text_b: y }), ...p }));
    });
    const seconds = (performance.now() - t0) / 1000;
    if (json) io.log(JSON.stringify({ predictions: preds.length, task: a.task ?? null, model: a.run.dir, adapter: f.adapter ?? null, seconds }));
    return 0;
  },
};
