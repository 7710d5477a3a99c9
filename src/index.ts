/** prilora: a tensor engine with verified autograd, and PRILoRA fine-tuning on top of it. */
import './backends/cpu/index.ts';
import './ops/index.ts';

export * from './errors.ts';
export { getBackend, initBackend, registerBackend, registeredBackends, setDefaultBackend, defaultBackendName } from './backends/backend.ts';
export type { Backend, Storage, View, ReduceOp, RandomKind, LayerNormResult } from './backends/backend.ts';
export { CpuBackend } from './backends/cpu/index.ts';
export { Tensor, type GradNode, type NestedArray } from './tensor/tensor.ts';
export type { DType, FloatDType, TypedArray } from './tensor/dtype.ts';
export type { Layout } from './tensor/layout.ts';
export * from './tensor/create.ts';
export { tidy, keep, liveTensors, beginScope } from './tensor/scope.ts';
export { Generator, manualSeed, defaultGenerator } from './tensor/random.ts';
export { noGrad, isGradEnabled, backward, type BackwardOptions } from './autograd/engine.ts';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './autograd/gradcheck.ts';
export * as ops from './ops/index.ts';
export * from './ops/index.ts';
export * from './nn/index.ts';
export * from './data/glue.ts';
export * from './data/metrics.ts';
export { DataError } from './data/errors.ts';
export * from './data/tokenizer.ts';
export * from './io/safetensors.ts';
export * from './prilora/index.ts';
export { AdamW, clipGradNorm, type ParamGroup, type AdamWOptions, type AdamWState } from './optim/adamw.ts';
export { linearWarmupDecay } from './optim/schedule.ts';
