/** `prilora export-peft <run dir> <out dir>`: a finished (or checkpointed) run's adapter in PEFT's files. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { bool, resolve } from '../core/spine.ts';
import { hubIdOfSnapshot } from '../hub/model.ts';
import { exportPeft } from '../prilora/peft.ts';
import { openAdapted } from '../train/inference.ts';
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
    if (!existsSync(join(runDir, 'run.json'))) throw new ConfigError(`export-peft: ${runDir} is not a training run (no run.json)`);
    const present = ['adapter_config.json', 'adapter_model.safetensors'].filter((f) => existsSync(join(outDir, f)));
    if (present.length && !resolve(EXPORT_SPINE, opts).force) throw new ConfigError(`export-peft: ${outDir} already holds ${present.join(' and ')}; pass --force to replace them`);
    const { backend } = await useDevice(device);
    // the run rebuilt exactly as the trainer built it, with the checkpoint's trained weights
    const a = openAdapted({ adapter: runDir, backend, tokenizer: false });
    const setup = a.setup!;
    // weights the base lacked and training left as drawn (a fresh pooler) travel with the adapter, so that
    // loading it onto the same base gives the run's model whatever the seed
    const saved = setup.options.modulesToSave;
    const alsoSave = [...new Set(a.run.missing.filter((n) => !saved.some((h) => n.startsWith(`${h}.`))).map((n) => n.slice(0, n.lastIndexOf('.'))))];
    const hub = hubIdOfSnapshot(a.run.dir);
    const files = await exportPeft(a.run.model, setup, outDir, { alsoSave, baseModel: hub?.repo ?? a.run.dir, revision: hub?.commit ?? null });
    io.log(`exported the ${a.runOptions!.method} adapter of ${runDir} to ${outDir}${alsoSave.length ? ` (with ${alsoSave.join(', ')}, which the base model lacks)` : ''}`);
    if (json) io.log(JSON.stringify({ files }));
    return 0;
  },
};
