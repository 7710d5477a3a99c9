/** `prilora export-peft <run dir> <out dir>`: a finished (or checkpointed) run's adapter in PEFT's files. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { glueTaskSpec } from '../data/glue-tasks.ts';
import { AdamW } from '../optim/adamw.ts';
import { applyMethod, paramGroups } from '../prilora/methods.ts';
import { exportPeft } from '../prilora/peft.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { loadRunModel } from '../train/model.ts';
import type { TrainOptions } from '../train/options.ts';
import { initBackend } from '../backends/backend.ts';
import { parseFlags } from './args.ts';
import type { CommandIO } from './main.ts';

export async function exportPeftCommand(argv: string[], io: CommandIO): Promise<number> {
  const { flags, positionals } = parseFlags('export-peft', argv, { json: { type: 'boolean' } });
  const [runDir, outDir] = positionals;
  if (!runDir || !outDir || positionals.length !== 2) throw new ConfigError('export-peft: expected <run dir> <out dir>');
  const runFile = join(runDir, 'run.json');
  if (!existsSync(runFile)) throw new ConfigError(`export-peft: ${runDir} is not a training run (no run.json)`);
  const run = JSON.parse(readFileSync(runFile, 'utf8')) as { options: TrainOptions; modelDir: string };
  const o = run.options;
  await initBackend(o.backend);
  const { model } = loadRunModel(run.modelDir, glueTaskSpec(o.task).numLabels, { backend: o.backend, seed: o.seed });
  const setup = applyMethod(model, o.method, {
    rank: o.rank, alpha: o.alpha, rankStart: o.rankStart, rankEnd: o.rankEnd, alphaPerRank: o.alphaPerRank,
    dropout: o.loraDropout, statDecay: o.statDecay, seed: o.seed,
  });
  const opt = new AdamW(paramGroups(model, o.weightDecay), { lr: o.lr });
  const { fingerprint } = JSON.parse(readFileSync(join(runDir, 'checkpoint', 'state.json'), 'utf8')) as { fingerprint: string };
  const progress = loadCheckpoint(join(runDir, 'checkpoint'), model, setup.adapters, opt, fingerprint);
  const files = await exportPeft(model, setup, outDir);
  io.log(`exported the ${o.method} adapter of ${runDir} (step ${progress.step}) to ${outDir}`);
  if (flags.json) io.log(JSON.stringify({ files }));
  return 0;
}
