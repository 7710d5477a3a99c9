/**
 * Loading `deberta-v2` checkpoints (DeBERTa-v2 and v3) into DebertaV2ForSequenceClassification, with the
 * name handling transformers applies to them: checkpoints of the bare encoder (no `deberta.` prefix),
 * pre-training heads (`lm_predictions.*`, `mask_predictions.*`, `cls.*`), the `position_ids` buffer, and
 * the absolute `position_embeddings` that DeBERTa-v3 checkpoints carry but never use
 * (`_keys_to_ignore_on_load_unexpected`). Everything else loads strictly.
 */
import { join } from 'node:path';
import { Generator } from '../core/random.ts';
import type { ModelOptions } from './bert.ts';
import { parseDebertaV2Config, type DebertaV2Config } from './deberta-config.ts';
import { DebertaV2ForSequenceClassification } from './deberta.ts';
import type { TensorSource } from '../io/sharded.ts';
import type { Json } from './config.ts';
import { checkpointState, legacyName, readConfig, setNumLabels, weightsFile, type LoadedModel } from './pretrained.ts';

const PRETRAINING_HEADS = /^(lm_predictions|mask_predictions|cls)\./;

/**
 * A checkpoint of the bare encoder or of a pre-training head loads too: the pooler and classifier it lacks
 * are initialised as transformers would (normal(0, initializer_range)) from `seed`, and listed in
 * `report.missing`.
 */
export function loadDebertaV2ForSequenceClassification(
  dir: string,
  o: ModelOptions & { numLabels?: number; seed?: number } = {},
): LoadedModel<DebertaV2ForSequenceClassification, DebertaV2Config> {
  const json = readConfig(dir);
  if (o.numLabels !== undefined) setNumLabels(json, o.numLabels);
  return debertaV2FromCheckpoint(json, weightsFile(dir), o, join(dir, 'config.json'));
}

/** The same from a config already read (num_labels set) and weights already open (no file system). */
export function debertaV2FromCheckpoint(
  json: Json,
  file: TensorSource,
  o: ModelOptions & { seed?: number } = {},
  configName = 'config.json',
): LoadedModel<DebertaV2ForSequenceClassification, DebertaV2Config> {
  const config = parseDebertaV2Config(json, configName);
  const names = [...file.tensors.keys()];
  const bare = !names.some((n) => n.startsWith('deberta.'));
  const hasHead = names.some((n) => n.startsWith('classifier.'));
  const model = new DebertaV2ForSequenceClassification(config, { ...o, generator: hasHead ? undefined : new Generator(o.seed ?? 0) });
  const state = checkpointState(file, o.dtype === 'float64' ? 'float64' : 'float32', (name) => {
    if (PRETRAINING_HEADS.test(name) || name.endsWith('position_ids')) return null;
    const n = legacyName(name);
    const full = bare && /^(embeddings|encoder)\./.test(n) ? `deberta.${n}` : n;
    if (!config.positionBiasedInput && full === 'deberta.embeddings.position_embeddings.weight') return null;
    return full;
  });
  const optionalHead = (n: string) => !hasHead && (n.startsWith('classifier.') || n.startsWith('pooler.'));
  const report = model.loadStateDict(state, { allowMissing: optionalHead });
  return { model, config, report };
}
