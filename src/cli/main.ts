/** The `prilora` command line: dispatch, error reporting and the JSON-last-line convention (CLI.md). */
import '../index.ts';
import { PriloraError } from '../errors.ts';
import { benchCommand } from './bench.ts';
import { checkFixtureCommand } from './check-fixture.ts';
import { exportPeftCommand } from './export-peft.ts';
import { gradcheckCommand } from './gradcheck.ts';
import { pretrainCommand } from './pretrain.ts';
import { trainCommand } from './train.ts';

export interface CommandIO {
  log(line: string): void;
  error(line: string): void;
}

const consoleIO: CommandIO = { log: (l) => console.log(l), error: (l) => console.error(l) };

const COMMANDS: Record<string, { run: (argv: string[], io: CommandIO) => Promise<number>; help: string }> = {
  train: {
    run: trainCommand,
    help: 'train --task T [--method prilora|lora|full] [--model DIR] [--data DIR] [--out DIR] [--seed N] [--max-steps N] [--epochs N] [--lr X] [--batch N] [--max-len N] [--train-limit N] [--resume] [--json] …',
  },
  pretrain: {
    run: pretrainCommand,
    help: 'pretrain [--out DIR] [--steps N] [--minutes M] [--batch N] [--lr X] [--hidden N] [--layers N] [--vocab-size N] [--resume] [--json]   masked-LM pretraining on the bundled corpus',
  },
  'export-peft': { run: exportPeftCommand, help: 'export-peft <run dir> <out dir> [--json]   the adapter as adapter_config.json + adapter_model.safetensors' },
  gradcheck: { run: gradcheckCommand, help: 'gradcheck [--seed N] [--backend cpu] [--json]   every differentiable op vs finite differences' },
  'check-fixture': {
    run: checkFixtureCommand,
    help: 'check-fixture <dir | metrics.json> [--dtype f32|f64] [--backend cpu] [--json]   compare with HF float64 references',
  },
  bench: { run: benchCommand, help: 'bench matmul --n N | train-step --size tiny|mini|base --method lora|prilora|full [--backend B] [--threads T] [--json]' },
};

function usage(): string {
  return ['usage: prilora <command> [flags]', '', ...Object.values(COMMANDS).map((c) => `  prilora ${c.help}`)].join('\n');
}

/** Run one command; returns the exit status. Typed errors become one clear line, not a stack trace. */
export async function main(argv: string[], io: CommandIO = consoleIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.error(`prilora: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof PriloraError) {
      io.error(`prilora ${name}: ${e.name}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
