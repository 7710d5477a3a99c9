/**
 * Which model and tokenizer a run uses: a checkpoint directory, or the bundled default. A directory whose
 * config.json carries `"prilora_init": {"seed": N}` and no weights is a randomly initialised model, built
 * from the config with that seed (for experiments that need an untrained encoder).
 */
import type { Backend } from '../backends/backend.ts';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../core/errors.ts';
import { TextTokenizer, defaultVocabDir } from '../data/tokenizer.ts';
import { createSequenceClassifier, loadSequenceClassifier, type SequenceClassifier } from '../nn/auto.ts';
import { readConfig, setNumLabels } from '../nn/pretrained.ts';
import type { FloatDType } from '../core/dtype.ts';
import type { Json } from '../nn/config.ts';
import { Generator } from '../core/random.ts';

export function defaultModelDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../assets/models/default');
}

const RECOMMENDATIONS_FILE = 'prilora.json';

export interface Recommendations {
  /** modules to train in full beside the adapters (`modules_to_save`) */
  modulesToSave?: string[];
  /** the embedding layer's peak learning rate where it trains (`embedding_lr`) */
  embeddingLr?: number;
}

/**
 * What a model directory recommends for fine-tuning it (`prilora.json`: `{"modules_to_save": [...],
 * "embedding_lr": x}`, each optional). The bundled model names its word embeddings there, with a rate of
 * their own: too small and too briefly pretrained to carry SST-2's lexical sentiment, it needs them
 * trained, and at the adapters' rate they memorise (README's GLUE section has the measurements). A hub id
 * or a directory without the file recommends nothing.
 */
export function recommendations(dir: string | undefined): Recommendations {
  const file = join(resolve(dir ?? defaultModelDir()), RECOMMENDATIONS_FILE);
  if (!existsSync(file)) return {};
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${file}: not JSON (${(e as Error).message})`, 'model');
  }
  const { modules_to_save: list, embedding_lr: lr } = (json ?? {}) as { modules_to_save?: unknown; embedding_lr?: unknown };
  if (list !== undefined && (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x.length > 0))) {
    throw new ConfigError(`${file}: modules_to_save must be a list of module names`, 'model');
  }
  if (lr !== undefined && !(typeof lr === 'number' && lr > 0 && Number.isFinite(lr))) throw new ConfigError(`${file}: embedding_lr must be a positive number`, 'model');
  return { ...(list && { modulesToSave: list as string[] }), ...(lr !== undefined && { embeddingLr: lr }) };
}

export interface RunModel {
  model: SequenceClassifier;
  tokenizer: TextTokenizer;
  dir: string;
  /** config.json as read (num_labels set to the head's) */
  config: Json;
  /** weights drawn at random rather than loaded */
  randomInit: boolean;
  /** parameters the checkpoint lacked (a fresh head) */
  missing: string[];
  /** the position table's length (max_position_embeddings): the longest sequence the model reads */
  maxPositions: number;
}

/** The model of a run without its tokenizer (merging needs no tokenizer; a model may have none). */
export type RunWeights = Omit<RunModel, 'tokenizer'>;

export function loadRunModel(dir: string | undefined, numLabels: number, o: { dtype?: FloatDType; backend?: Backend; seed: number }): RunModel {
  const w = loadRunWeights(dir, numLabels, o);
  const tokenizer = runTokenizer(w.dir, Number(w.config.vocab_size));
  const rows = Number(w.config.vocab_size);
  if (tokenizer.vocabSize > rows) throw new ConfigError(`${w.dir}: the tokenizer has ${tokenizer.vocabSize} tokens but the embedding table only ${rows} rows (vocab_size): ids from ${rows} on would index past it`, 'model');
  return { ...w, tokenizer };
}

export function loadRunWeights(dir: string | undefined, numLabels: number, o: { dtype?: FloatDType; backend?: Backend; seed: number }): RunWeights {
  const modelDir = resolve(dir ?? defaultModelDir());
  if (!existsSync(join(modelDir, 'config.json'))) throw new ConfigError(`model ${modelDir}: no config.json there`, 'model');
  const json = readConfig(modelDir);
  const init = json.prilora_init as { seed?: number } | undefined;
  let model: SequenceClassifier;
  let missing: string[] = [];
  const weights = ['model.safetensors', 'model.safetensors.index.json'].some((f) => existsSync(join(modelDir, f)));
  const randomInit = !weights && init !== undefined;
  setNumLabels(json, numLabels);
  if (randomInit) {
    model = createSequenceClassifier(json, { dtype: o.dtype, backend: o.backend, generator: new Generator(init.seed ?? 0) }, join(modelDir, 'config.json'));
  } else {
    const loaded = loadSequenceClassifier(modelDir, { numLabels, dtype: o.dtype, backend: o.backend, seed: o.seed });
    model = loaded.model;
    missing = loaded.report.missing;
  }
  const maxPositions = Number(json.max_position_embeddings ?? 512);
  return { model, dir: modelDir, config: json, randomInit, missing, maxPositions };
}

/** The model's own tokenizer.json, else bert-base-uncased's when the vocabulary sizes agree. */
export function runTokenizer(modelDir: string, vocabSize: number): TextTokenizer {
  if (existsSync(join(modelDir, 'tokenizer.json'))) return TextTokenizer.fromFile(join(modelDir, 'tokenizer.json'));
  const fallback = TextTokenizer.fromFile(join(defaultVocabDir(), 'tokenizer.json'));
  if (fallback.vocabSize !== vocabSize) {
    const spm = existsSync(join(modelDir, 'spm.model'))
      ? ' (spm.model is there: write tokenizer.json once with python -c "from transformers import AutoTokenizer; AutoTokenizer.from_pretrained(\'DIR\').save_pretrained(\'DIR\')")'
      : '';
    throw new ConfigError(`${modelDir}: no tokenizer.json, and the model's vocab_size ${vocabSize} is not bert-base-uncased's ${fallback.vocabSize}${spm}`);
  }
  return fallback;
}
