/**
 * Which model and tokenizer a run uses: a checkpoint directory, or the bundled default. A directory whose
 * config.json carries `"prilora_init": {"seed": N}` and no weights is a randomly initialised model, built
 * from the config with that seed (for experiments that need an untrained encoder).
 */
import type { Backend } from '../backends/backend.ts';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../core/errors.ts';
import { TextTokenizer, defaultVocabDir } from '../data/tokenizer.ts';
import { createSequenceClassifier, loadSequenceClassifier, type SequenceClassifier } from '../nn/auto.ts';
import { readConfig, setNumLabels } from '../nn/pretrained.ts';
import type { FloatDType } from '../core/dtype.ts';
import { Generator } from '../core/random.ts';

export function defaultModelDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../assets/models/default');
}

export interface RunModel {
  model: SequenceClassifier;
  tokenizer: TextTokenizer;
  dir: string;
  /** weights drawn at random rather than loaded */
  randomInit: boolean;
  /** parameters the checkpoint lacked (a fresh head) */
  missing: string[];
  /** the position table's length (max_position_embeddings): the longest sequence the model reads */
  maxPositions: number;
}

export function loadRunModel(dir: string | undefined, numLabels: number, o: { dtype?: FloatDType; backend?: Backend; seed: number }): RunModel {
  const modelDir = resolve(dir ?? defaultModelDir());
  if (!existsSync(join(modelDir, 'config.json'))) throw new ConfigError(`model ${modelDir}: no config.json there`, 'model');
  const json = readConfig(modelDir);
  const init = json.prilora_init as { seed?: number } | undefined;
  let model: SequenceClassifier;
  let missing: string[] = [];
  const randomInit = !existsSync(join(modelDir, 'model.safetensors')) && init !== undefined;
  if (randomInit) {
    setNumLabels(json, numLabels);
    model = createSequenceClassifier(json, { dtype: o.dtype, backend: o.backend, generator: new Generator(init.seed ?? 0) }, join(modelDir, 'config.json'));
  } else {
    const loaded = loadSequenceClassifier(modelDir, { numLabels, dtype: o.dtype, backend: o.backend, seed: o.seed });
    model = loaded.model;
    missing = loaded.report.missing;
  }
  const maxPositions = Number(json.max_position_embeddings ?? 512);
  return { model, tokenizer: runTokenizer(modelDir, Number(json.vocab_size)), dir: modelDir, randomInit, missing, maxPositions };
}

/** The model's own tokenizer.json, else bert-base-uncased's when the vocabulary sizes agree. */
function runTokenizer(modelDir: string, vocabSize: number): TextTokenizer {
  if (existsSync(join(modelDir, 'tokenizer.json'))) return TextTokenizer.fromFile(join(modelDir, 'tokenizer.json'));
  const fallback = TextTokenizer.fromFile(join(defaultVocabDir(), 'tokenizer.json'));
  if (fallback.vocabSize !== vocabSize) {
    throw new ConfigError(`${modelDir}: no tokenizer.json, and the model's vocab_size ${vocabSize} is not bert-base-uncased's ${fallback.vocabSize}`);
  }
  return fallback;
}
