/**
 * The messages between the page (main.ts) and the training worker (worker.ts). Everything the page shows
 * arrives as one of these, so the page never touches a tensor and never waits on a kernel.
 */

export type BackendChoice = 'auto' | 'webgpu' | 'cpu';
export type Method = 'full' | 'lora' | 'prilora';

/** One run's settings, as the controls give them (the worker checks them through the library's options). */
export interface RunSettings {
  method: Method;
  /** LoRA's uniform rank */
  rank: number;
  /** PRILoRA's ranks at the first and the last layer */
  rankStart: number;
  rankEnd: number;
  /** prune A (on by default for prilora; lora may add it; full refuses it) */
  prune: boolean;
  pruneRatio: number;
  pruneEvery: number;
  lr: number;
  batch: number;
  maxLen: number;
  /** optimiser steps; the schedule (warm-up 6 %, linear decay) spans them */
  steps: number;
  /** the first N training examples (the epochs cycle over them) */
  trainLimit: number;
  /** the first N dev examples, evaluated every `evalEvery` steps and at the end */
  evalLimit: number;
  evalEvery: number;
  seed: number;
}

/** An adapted module: its place in the heatmap (layer × kind) and its rank. */
export interface ModuleCell {
  name: string;
  layer: number;
  /** the module's name inside its layer (attention.self.query, …, output.dense) */
  kind: string;
  rank: number;
}

export type ToWorker =
  /** threads: the CPU path's wasm threads (0: every core but one, which stays with the page) */
  | { type: 'init'; backend: BackendChoice; threads: number }
  | { type: 'dataset'; name: string; text: string }
  | { type: 'train'; settings: RunSettings }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'predict'; id: number; texts: string[] }
  | { type: 'export' };

export type RunState = 'loading' | 'ready' | 'training' | 'paused' | 'done' | 'failed';

export interface Prediction {
  text: string;
  label: string;
  probabilities: number[];
  logits: number[];
}

/** What the debug panel shows: live engine objects, to see that memory stays flat over a run. */
export interface DebugInfo {
  step: number;
  liveTensors: number;
  liveBuffers: number;
  /** backend-specific figures (GPU buffer pool, wasm heap), by name */
  detail: Record<string, number | string>;
}

export type FromWorker =
  | { type: 'state'; state: RunState; note?: string }
  | { type: 'ready'; backend: string; kind: 'webgpu' | 'cpu'; note: string; model: { layers: number; hidden: number; vocab: number; parameters: number }; data: { source: string; train: number; dev: number } }
  | { type: 'setup'; method: Method; trainable: number; totalSteps: number; warmup: number; modules: ModuleCell[]; summary: string }
  | { type: 'step'; step: number; epoch: number; loss: number; lr: number; gradNorm: number; seqPerS: number; seconds: number; elapsed: number; eta: number }
  | { type: 'eval'; step: number; metrics: Record<string, number> }
  /**
   * A's sparsity per module (ModuleCell order); `pruned`: measured right after a pruning, and `before`
   * just before it (in temporary mode pruned entries regrow in between)
   */
  | { type: 'sparsity'; step: number; values: number[]; pruned: boolean; before?: number[] }
  | { type: 'debug'; info: DebugInfo }
  /** stopReceivedAt: the steps completed when the worker got Stop (the run then ends after the step in progress) */
  | { type: 'done'; steps: number; seconds: number; metrics: Record<string, number>; stopped: boolean; stopReceivedAt: number | null }
  | { type: 'prediction'; id: number; results: Prediction[] }
  | { type: 'adapter'; config: string; weights: Uint8Array }
  | { type: 'error'; message: string };
