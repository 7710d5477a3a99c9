/** `prilora train`: fine-tune and evaluate on a GLUE task (docs/CLI.md); every training option is a flag. */
import type { GlueTask } from '../data/glue-tasks.ts';
import { TRAIN_SPINE, type TrainInput } from '../train/options.ts';
import { train } from '../train/trainer.ts';
import type { Command } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';

export const trainCommand: Command = {
  usage: 'train --task T [--method prilora|lora|full] [--model DIR] [--data DIR] [--out DIR] [--seed N] [options]',
  summary: 'fine-tune and evaluate on a GLUE task',
  spines: [TRAIN_SPINE, DEVICE_SPINE],
  async run({ given: [opts, device], json }, io) {
    const { backend } = await useDevice(device);
    const r = await train(opts as TrainInput & { task: GlueTask }, { backend, print: (l) => io.log(l) });
    const o = r.options;
    const shown = Object.entries(r.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
    io.log(`${o.task} ${o.method}: ${shown} after ${r.steps} steps in ${r.seconds.toFixed(1)} s (${r.trainable.toLocaleString('en')} trainable parameters); run in ${o.out}`);
    if (json) io.log(JSON.stringify({ task: o.task, method: o.method, metrics: r.metrics, trainable: r.trainable, seconds: r.seconds, steps: r.steps, best: r.best, out: o.out, options: o }));
    return 0;
  },
};
