/** `prilora pretrain`: masked-LM pretraining of a small BERT on the corpus (see src/pretrain). */
import { PRETRAIN_SPINE } from '../pretrain/options.ts';
import { pretrain } from '../pretrain/pretrainer.ts';
import type { Command } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';

export const pretrainCommand: Command = {
  usage: 'pretrain [--out DIR] [--steps N] [--minutes M] [--corpus brown,wikitext,glue,imdb] [--resume] [options]',
  summary: 'masked-LM pretraining of a small BERT, ending in a model directory `train --model` loads',
  spines: [PRETRAIN_SPINE, DEVICE_SPINE],
  async run({ given: [opts, device], json }, io) {
    const { backend } = await useDevice(device);
    const r = await pretrain(opts, { backend, print: (l) => io.log(l) });
    if (json) io.log(JSON.stringify({ steps: r.step, metrics: r.metrics, model: `${r.options.out}/model`, options: r.options }));
    return 0;
  },
};
