/** `prilora export-peft <run dir> <out dir>`: a finished (or checkpointed) run's adapter in PEFT's files. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { bool, resolve } from '../core/spine.ts';
import { glueTaskSpec } from '../data/glue-tasks.ts';
import { AdamW } from '../optim/adamw.ts';
import { paramGroups } from '../optim/param-groups.ts';
import { applyMethod } from '../prilora/methods.ts';
import { exportPeft } from '../prilora/peft.ts';
import { loadCheckpoint, readCheckpoint } from '../train/checkpoint.ts';
import { loadRunModel } from '../train/model.ts';
import type { TrainOptions } from '../train/options.ts';
import { keepsStats } from '../train/trainer.ts';
import type { Command } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';

const EXPORT_SPINE = { force: bool({ help: 'replace adapter files already in <out dir>', default: false }) } as const;

export const exportPeftCommand: Command = {
  usage: 'export-peft <run dir> <out dir>',
  summary: 'the adapter of a run as adapter_config.json + adapter_model.safetensors, PEFT\'s key names',
  spines: [EXPORT_SPINE, DEVICE_SPINE],
  async run({ given: [opts, device], positionals, json }, io) {
    const [runDir, outDir] = positionals;
    if (!runDir || !outDir || positionals.length !== 2) throw new ConfigError('export-peft: expected <run dir> <out dir>');
    const runFile = join(runDir, 'run.json');
    if (!existsSync(runFile)) throw new ConfigError(`export-peft: ${runDir} is not a training run (no run.json)`);
    const files = ['adapter_config.json', 'adapter_model.safetensors'].filter((f) => existsSync(join(outDir, f)));
    if (files.length && !resolve(EXPORT_SPINE, opts).force) throw new ConfigError(`export-peft: ${outDir} already holds ${files.join(' and ')}; pass --force to replace them`);
    const { backend } = await useDevice(device);
    const run = JSON.parse(readFileSync(runFile, 'utf8')) as { options: TrainOptions; modelDir: string };
    // the run's options as the trainer resolved them: the adapter is rebuilt exactly as it was built
    const o = run.options;
    if (!o.adapter || !o.prune) throw new ConfigError(`export-peft: ${runFile} comes from an older prilora (no adapter/prune option groups); rerun the training`);
    const { model } = loadRunModel(run.modelDir, glueTaskSpec(o.task).numLabels, { backend, seed: o.seed });
    const setup = applyMethod(model, o.method, o.adapter, { seed: o.seed, keepStats: keepsStats(o) });
    const opt = new AdamW(paramGroups(model, o.weightDecay), { lr: o.lr });
    const ckpt = join(runDir, 'checkpoint');
    const progress = loadCheckpoint(ckpt, model, setup.adapters, opt, readCheckpoint(ckpt).stored.fingerprint);
    const written = await exportPeft(model, setup, outDir);
    io.log(`exported the ${o.method} adapter of ${runDir} (step ${progress.step}) to ${outDir}`);
    if (json) io.log(JSON.stringify({ files: written }));
    return 0;
  },
};
