/**
 * `prilora merge`: an adapter folded into its base model, written as a HuggingFace model directory
 * (config.json, model.safetensors, tokenizer files) that `train --model`, `predict --model` and
 * transformers load; the directory is read back and its logits checked against base + adapter.
 */
import { ConfigError } from '../core/errors.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bool, resolve, str } from '../core/spine.ts';
import { mergeAdapted } from '../train/merge.ts';
import type { Command } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';
import { openFromFlags, SOURCE_SPINE } from './sources.ts';

export const MERGE_SPINE = {
  out: str({ help: 'the model directory to write' }),
  force: bool({ help: 'replace a model already in --out', default: false }),
} as const;

/** Logits of the directory read back may differ from base + adapter by float32 rounding only. */
const TOLERANCE = 1e-4;

export const mergeCommand: Command = {
  usage: 'merge [--model M] --adapter DIR|RUN --out DIR [--task T]',
  summary: 'fold an adapter into its base model: a HuggingFace model directory',
  spines: [SOURCE_SPINE, MERGE_SPINE, DEVICE_SPINE],
  async run({ given: [src, opts, device], positionals, json }, io) {
    if (positionals.length) throw new ConfigError(`merge: unexpected argument ${positionals[0]}`);
    const f = resolve(SOURCE_SPINE, src);
    const o = resolve(MERGE_SPINE, opts);
    if (f.adapter === undefined) throw new ConfigError('adapter is required: merge folds an adapter into its base model', 'adapter');
    const present = ['config.json', 'model.safetensors'].filter((n) => existsSync(join(o.out, n)));
    if (present.length && !o.force) throw new ConfigError(`out: ${o.out} already holds ${present.join(' and ')}; pass --force to replace them`, 'out');
    const { backend } = await useDevice(device);
    const { adapted } = await openFromFlags(f, backend, io, { tokenizer: false });
    const r = await mergeAdapted(adapted, o.out, { backend, provenance: { model: f.model ?? adapted.run.dir, adapter: f.adapter } });
    for (const n of r.notes) io.error(`note: ${n}`);
    io.log(`merged ${r.adapters} adapters into ${r.out} (${adapted.numLabels} output(s)${adapted.task ? `, ${adapted.task}` : ''}); logits read back vs base + adapter: ${r.logitsRelative.toExponential(2)} relative`);
    if (json) io.log(JSON.stringify({ out: r.out, files: r.files, adapters: r.adapters, logitsRelative: r.logitsRelative }));
    if (r.logitsRelative > TOLERANCE) {
      io.error(`prilora merge: the merged model's logits differ from base + adapter by ${r.logitsRelative} (relative), more than float32 rounding explains`);
      return 1;
    }
    return 0;
  },
};
