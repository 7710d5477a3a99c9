/** The `prilora` command line: dispatch, --help, error reporting and the JSON-last-line convention (docs/CLI.md). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, PriloraError } from '../core/errors.ts';
import { benchMatmulCommand, benchTrainStepCommand } from './bench.ts';
import { checkFixtureCommand } from './check-fixture.ts';
import type { Command, CommandIO } from './command.ts';
import { exportPeftCommand } from './export-peft.ts';
import { helpText, inFlagTerms, parseFlags } from './flags.ts';
import { evaluateCommand } from './evaluate.ts';
import { gradcheckCommand } from './gradcheck.ts';
import { mergeCommand } from './merge.ts';
import { predictCommand } from './predict.ts';
import { pretrainCommand } from './pretrain.ts';
import { trainCommand } from './train.ts';

const consoleIO: CommandIO = { log: (l) => console.log(l), error: (l) => console.error(l) };

/** Commands by name; `bench` has two, named with their second word. */
export const COMMANDS: Record<string, Command> = {
  train: trainCommand,
  pretrain: pretrainCommand,
  predict: predictCommand,
  evaluate: evaluateCommand,
  merge: mergeCommand,
  'export-peft': exportPeftCommand,
  gradcheck: gradcheckCommand,
  'check-fixture': checkFixtureCommand,
  'bench matmul': benchMatmulCommand,
  'bench train-step': benchTrainStepCommand,
};

function usage(): string {
  const rows = Object.values(COMMANDS).map((c) => `  prilora ${c.usage}\n      ${c.summary}`);
  return ['usage: prilora <command> [flags]   (prilora <command> --help lists every flag; prilora --version)', '', ...rows].join('\n');
}

/** The package's version, from its package.json (two levels up from src/cli and from dist/cli alike). */
export function version(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

/** Run one command; returns the exit status. Typed errors become one clear line, not a stack trace. */
export async function main(argv: string[], io: CommandIO = consoleIO): Promise<number> {
  const [first, ...rest] = argv;
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    io.log(usage());
    return first ? 0 : 2;
  }
  if (first === '--version' || first === '-v') {
    io.log(`prilora ${version()}`);
    return 0;
  }
  const name = first === 'bench' && rest[0] && !rest[0].startsWith('-') ? `bench ${rest.shift()}` : first;
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.error(`prilora: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  try {
    const parsed = parseFlags(name, rest, cmd.spines);
    if (parsed.help) {
      io.log(helpText(`prilora ${cmd.usage}`, cmd.spines));
      return 0;
    }
    return await cmd.run(parsed, io);
  } catch (e) {
    if (e instanceof PriloraError) {
      const told = e instanceof ConfigError ? inFlagTerms(e, cmd.spines) : e;
      io.error(`prilora ${name}: ${told.name}: ${told.message}`);
      return 1;
    }
    throw e;
  }
}
