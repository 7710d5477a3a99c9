/**
 * A pretraining state small enough to commit beside the model it produced, so that a fresh clone can
 * continue pretraining instead of starting again: the checkpoint (weights in float16, AdamW moments in
 * bfloat16 — their range matters more than their precision — and the place in the data) as
 * `pretrain-state.safetensors` in the model directory, whose tokenizer and pretrain-log.jsonl come with it.
 * Continuing from it is not bit-identical to never having stopped (the weights were rounded once).
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { CHECKPOINT_FILE, readCheckpoint, writeCheckpointFile } from '../train/checkpoint.ts';

export const PACKED_FILE = 'pretrain-state.safetensors';
const TOKENIZER_FILES = ['tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

/** A model directory's tokenizer files, copied into `to` (made if absent). */
export function copyTokenizer(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of TOKENIZER_FILES) copyFileSync(join(from, f), join(to, f));
}

/** Pack the checkpoint of pretraining run `runDir` into model directory `modelDir`. */
export function packState(runDir: string, modelDir: string): string {
  const { file, stored } = readCheckpoint(join(runDir, 'checkpoint'));
  const entries = [...file.tensors].map(([name, info]) => ({
    name, dtype: name.startsWith('adam_') ? ('BF16' as const) : ('F16' as const), shape: info.shape, data: file.getFloat32(name),
  }));
  const path = join(modelDir, PACKED_FILE);
  writeCheckpointFile(path, entries, stored);
  return path;
}

/** Lay out a packed state as a resumable run in `out` (checkpoint, tokenizer, log). */
export function unpackState(modelDir: string, out: string): void {
  const packed = join(modelDir, PACKED_FILE);
  if (!existsSync(packed)) throw new ConfigError(`from: ${modelDir} has no ${PACKED_FILE}`, 'from');
  mkdirSync(join(out, 'checkpoint'), { recursive: true });
  copyFileSync(packed, join(out, 'checkpoint', CHECKPOINT_FILE));
  copyTokenizer(modelDir, join(out, 'tokenizer'));
  if (existsSync(join(modelDir, 'pretrain-log.jsonl'))) copyFileSync(join(modelDir, 'pretrain-log.jsonl'), join(out, 'log.jsonl'));
  readCheckpoint(join(out, 'checkpoint')); // verified before any step runs
}
