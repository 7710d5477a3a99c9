/** What every command is: its usage line, its option spines (flags and --help derive from them), its run. */
import type { Spine } from '../core/spine.ts';
import type { Parsed } from './flags.ts';

export interface CommandIO {
  log(line: string): void;
  error(line: string): void;
}

export interface Command {
  /** after `prilora `, e.g. `train --task T [options]` */
  usage: string;
  summary: string;
  spines: readonly Spine[];
  run(p: Parsed, io: CommandIO): Promise<number>;
}
