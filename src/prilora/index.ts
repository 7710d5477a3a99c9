export { LoraAdapter, withTokenMask, type LoraOptions } from './lora.ts';
export { linearRanks, uniformRanks } from './schedule.ts';
export { DEFAULT_TARGETS, isTarget, patternKey, patternValue, layerIndex } from './targets.ts';
export { Pruner, pruneMask, isPruneStep, type PruneOptions, type PruneEvent } from './pruner.ts';
export { applyMethod, rankSummary, type MethodSetup, type ApplyOptions } from './methods.ts';
export { ADAPTER_SPINE, PRUNE_SPINE, METHODS, adapterOptions, pruneSettings, type Method, type AdapterOptions, type PruneSettings, type PruneMode, type Importance } from './options.ts';
export { exportPeft, importPeft, peftConfig, peftFiles, peftTensors } from './peft.ts';
