export { LoraAdapter, withTokenMask, type LoraOptions } from './lora.ts';
export { linearRanks, uniformRanks } from './schedule.ts';
export { DEFAULT_TARGETS, isTarget, patternKey, patternValue, layerIndex } from './targets.ts';
export { Pruner, pruneMask, isPruneStep, validatePruneOptions, type PruneOptions, type PruneMode, type Importance, type PruneEvent } from './pruner.ts';
export { applyMethod, paramGroups, isNoDecay, rankSummary, METHODS, ADAPTER_DEFAULTS, type Method, type MethodSetup, type AdapterOptions } from './methods.ts';
export { exportPeft, importPeft, peftConfig, peftTensors } from './peft.ts';
