/** `prilora train`: fine-tune and evaluate on a GLUE task (docs/CLI.md); every training option is a flag. */
import type { GlueTask } from '../data/glue-tasks.ts';
import { TRAIN_SPINE, type TrainInput } from '../train/options.ts';
import { train } from '../train/trainer.ts';
import type { Command } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';
import { resolveSource } from './sources.ts';

export const trainCommand: Command = {
  usage: 'train --task T [--method prilora|lora|full] [--model DIR|ID] [--adapter DIR|ID] [--data DIR] [--out DIR] [--seed N] [options]',
  summary: 'fine-tune and evaluate on a GLUE task',
  spines: [TRAIN_SPINE, DEVICE_SPINE],
  async run({ given: [opts, device], json }, io) {
    const given = { ...(opts as TrainInput & { task: GlueTask }) };
    // hub ids become directories of the shared cache before the trainer sees them
    if (given.model !== undefined) given.model = (await resolveSource(given.model, 'model', io)).dir;
    if (given.adapterDir !== undefined) given.adapterDir = (await resolveSource(given.adapterDir, 'adapter', io, 'adapterDir')).dir;
    const { backend } = await useDevice(device);
    const r = await train(given, { backend, print: (l) => io.log(l) });
    const o = r.options;
    const shown = Object.entries(r.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
    io.log(`${o.task} ${o.method}: ${shown} after ${r.steps} steps in ${r.seconds.toFixed(1)} s (${r.trainable.toLocaleString('en')} trainable parameters); run in ${o.out}`);
    if (json) io.log(JSON.stringify({ task: o.task, method: o.method, metrics: r.metrics, trainable: r.trainable, seconds: r.seconds, steps: r.steps, best: r.best, out: o.out, options: o }));
    return 0;
  },
};
