/**
 * A run's output directory is claimed before anything is written: a fresh run refuses a directory that
 * holds an earlier run's files unless told to replace them (`force`), and a resumed run needs its
 * checkpoint. Files that are not the run's are never touched.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { hasCheckpoint } from './checkpoint.ts';

/** What runs write into their directory (fine-tuning and pretraining alike). */
const RUN_FILES = ['run.json', 'log.jsonl', 'checkpoint', 'report.html', 'model', 'tokenizer'];

export function claimRunDir(out: string, o: { resume: boolean; force: boolean }): void {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new ConfigError(`out: ${out} exists and is not a directory`, 'out');
  if (o.resume) {
    if (!hasCheckpoint(join(out, 'checkpoint'))) throw new ConfigError(`resume: there is no checkpoint in ${join(out, 'checkpoint')} to resume from`, 'resume');
    return;
  }
  const earlier = RUN_FILES.filter((f) => existsSync(join(out, f)));
  if (earlier.length && !o.force) {
    throw new ConfigError(`out: ${out} holds an earlier run (${earlier.join(', ')}); pass --resume to continue it, --force to replace it, or another --out`, 'out');
  }
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new ConfigError(`out: cannot create ${out}: ${(e as Error).message}`, 'out');
  }
}
