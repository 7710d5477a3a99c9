/**
 * Model-family dispatch on config.json's model_type: everything outside src/nn (trainer, fixture checks,
 * adapters) works with this interface and never names BERT or DeBERTa.
 */
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { BertForSequenceClassification, parseBertConfig, type ClassifierOutput, type EncoderInputs, type ModelOptions } from './bert.ts';
import type { Json } from './config.ts';
import { parseDebertaV2Config } from './deberta-config.ts';
import { debertaV2FromCheckpoint, loadDebertaV2ForSequenceClassification } from './deberta-pretrained.ts';
import { DebertaV2ForSequenceClassification } from './deberta.ts';
import type { Module } from './module.ts';
import { bertFromCheckpoint, loadBertForSequenceClassification, readConfig, type LoadedModel } from './pretrained.ts';
import type { TensorSource } from '../io/sharded.ts';

/** A sequence classifier / regressor with transformers' parameter names. */
export interface SequenceClassifier extends Module {
  readonly family: string;
  readonly numLayers: number;
  readonly numLabels: number;
  forward(inp: EncoderInputs & { labels?: Tensor }): ClassifierOutput;
}

export interface FamilyLoader {
  /** a fresh model from a config (weights drawn from `o.generator`) */
  create(json: Json, file: string, o: ModelOptions): SequenceClassifier;
  /** a model from a checkpoint directory */
  load(dir: string, o: ModelOptions & { numLabels?: number; seed?: number }): LoadedModel<SequenceClassifier, unknown>;
  /** a model from a config (num_labels set) and weights already in memory (no file system: browsers) */
  fromCheckpoint(json: Json, file: TensorSource, o: ModelOptions & { seed?: number }, configName: string): LoadedModel<SequenceClassifier, unknown>;
}

/** The model families by config.json's model_type. */
const FAMILIES = new Map<string, FamilyLoader>([
  ['bert', {
    create: (json, file, o) => new BertForSequenceClassification(parseBertConfig(json, file), o),
    load: (dir, o) => loadBertForSequenceClassification(dir, o),
    fromCheckpoint: (json, file, o, name) => bertFromCheckpoint(json, file, o, name),
  }],
  ['deberta-v2', {
    create: (json, file, o) => new DebertaV2ForSequenceClassification(parseDebertaV2Config(json, file), o),
    load: (dir, o) => loadDebertaV2ForSequenceClassification(dir, o),
    fromCheckpoint: (json, file, o, name) => debertaV2FromCheckpoint(json, file, o, name),
  }],
]);

function family(json: Json, file: string): FamilyLoader {
  const type = String(json.model_type ?? '');
  const f = FAMILIES.get(type);
  if (!f) throw new ConfigError(`${file}: unsupported model_type "${type}" (supported: ${[...FAMILIES.keys()].join(', ')})`);
  return f;
}

export function createSequenceClassifier(json: Json, o: ModelOptions, file = 'config.json'): SequenceClassifier {
  return family(json, file).create(json, file, o);
}

export function loadSequenceClassifier(dir: string, o: ModelOptions & { numLabels?: number; seed?: number } = {}): LoadedModel<SequenceClassifier, unknown> {
  return family(readConfig(dir), join(dir, 'config.json')).load(dir, o);
}

/**
 * A classifier from config.json's object (num_labels set) and its weights already open, by model_type:
 * what loadSequenceClassifier does after reading the directory, for callers without a file system.
 */
export function sequenceClassifierFromCheckpoint(json: Json, file: TensorSource, o: ModelOptions & { seed?: number } = {}, configName = 'config.json'): LoadedModel<SequenceClassifier, unknown> {
  return family(json, configName).fromCheckpoint(json, file, o, configName);
}
