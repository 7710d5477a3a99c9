export { Module, type LoadOptions, type LoadReport, type StateValue } from './module.ts';
export { Linear, Embedding, LayerNorm, Dropout, type LinearDelta, type ParamOptions } from './layers.ts';
export {
  BertModel, BertForSequenceClassification, BertLayer, ModuleList, parseBertConfig, additiveMask, sequenceLoss,
  type BertConfig, type EncoderInputs, type EncoderOutput, type ClassifierOutput, type ModelOptions,
} from './bert.ts';
export { loadBertForSequenceClassification, checkpointState, legacyName, type LoadedModel } from './pretrained.ts';
export { readJsonFile, ConfigReader } from './config.ts';
export { DebertaV2Model, DebertaV2ForSequenceClassification, DebertaV2Layer } from './deberta.ts';
export { DisentangledSelfAttention, type RelativeContext } from './deberta-attention.ts';
export { parseDebertaV2Config, type DebertaV2Config, type RelativeAttentionConfig } from './deberta-config.ts';
export { loadDebertaV2ForSequenceClassification } from './deberta-pretrained.ts';
export { logBucketPosition, buildRelativePosition, relativeIndex, type RelativeIndex } from './relative-position.ts';
export { loadSequenceClassifier, createSequenceClassifier, sequenceClassifierFromCheckpoint, type SequenceClassifier, type FamilyLoader } from './auto.ts';
