/**
 * The one interface every backend implements (cpu/, webgpu/, gpujs/), in the spirit of jax-js: a handful
 * of storage calls plus the primitive kernels, and a few documented optional members (fused kernels, device
 * description, threads, fallback counters). Ops and autograd talk only to this interface; library code
 * receives Backend objects (never names: only the CLI maps names to backends, src/cli/devices.ts).
 *
 * Conventions for every kernel:
 * - Inputs arrive as views (storage + layout). Layouts may be non-contiguous, broadcast (stride 0) or
 *   offset; the kernel must honour them rather than assume row-major.
 * - Every kernel returns freshly allocated, contiguous storage of the documented shape; inputs are never
 *   written. The only mutating call is `assign`, which writes into a view of existing storage.
 * - Float results are computed at least in the precision of the dtype; CPU accumulates in float64.
 */
import type { DType, TypedArray } from '../core/dtype.ts';
import type { Layout } from '../core/layout.ts';
import type { BinaryOp, TernaryOp, UnaryOp } from './pointwise.ts';

/** Backend-owned memory holding `length` elements of `dtype`. Opaque outside its backend. */
export interface Storage {
  readonly dtype: DType;
  readonly length: number;
}

export interface View {
  readonly storage: Storage;
  readonly layout: Layout;
}

export type ReduceOp = 'sum' | 'max' | 'min';
export type RandomKind = 'uniform' | 'normal';

export interface LayerNormResult {
  /** normalised, scaled and shifted output, same shape as x */
  y: Storage;
  /** per-row mean and 1/sqrt(var + eps), shape [rows] */
  mean: Storage;
  rstd: Storage;
}

/** Hyper-parameters of one fused AdamW update (torch.optim.AdamW's arithmetic). */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** bias corrections of this step t: 1 − β1ᵗ and √(1 − β2ᵗ) */
  bc1: number;
  bc2Sqrt: number;
}

export interface AdamWResult {
  p: Storage;
  m: Storage;
  v: Storage;
}

export interface Backend {
  readonly name: string;

  /** Allocate zero-filled storage. */
  alloc(dtype: DType, length: number): Storage;
  /** Release storage; later use of it is an error. Called exactly once per `alloc` by the tensor layer. */
  free(storage: Storage): void;
  /** Copy host data into storage, starting at element `offset`. */
  write(storage: Storage, data: TypedArray, offset?: number): void;
  /** Copy the whole storage back to the host. */
  read(storage: Storage): Promise<TypedArray>;
  /** Synchronous read where the backend can do it (CPU); undefined otherwise. */
  readSync?(storage: Storage): TypedArray;
  /** Number of storages allocated and not yet freed (leak tests). */
  liveBuffers(): number;

  /** out = f(x) elementwise; out has x's shape and `outDtype`. */
  unary(op: UnaryOp, x: View, outDtype: DType): Storage;
  /** out = f(a, b); both layouts are already broadcast to out's shape (a.layout.shape). */
  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage;
  /** out = f(a, b, c); all three layouts already broadcast to out's shape. */
  ternary(op: TernaryOp, a: View, b: View, c: View, outDtype: DType): Storage;
  /** Contiguous copy of a view, converted to `outDtype` (float → int32 truncates toward zero). */
  copy(x: View, outDtype: DType): Storage;
  /** Write `src` (already broadcast to `dst`'s shape) into the view `dst` of existing storage. */
  assign(dst: View, src: View): void;
  /** Reduce over `axes` (sorted, unique); out has x's shape with those dims set to 1. */
  reduce(op: ReduceOp, x: View, axes: readonly number[]): Storage;
  /**
   * Batched matrix product. a: [...batch, m, k], b: [...batch, k, n] with identical batch dims (already
   * broadcast, possibly stride 0); any strides, so transposed operands need no copy. out: [...batch, m, n].
   */
  matmul(a: View, b: View): Storage;
  /**
   * out[i] = x[i with dim `axis` replaced by index[i]] (torch.gather). index is int32 with x's rank and
   * index.shape[d] ≤ x.shape[d] for d ≠ axis; out has index's shape. Indices are range-checked by the caller.
   */
  gather(x: View, axis: number, index: View): Storage;
  /** The adjoint of gather: zeros of `shape`, then out[i with axis ← index[i]] += src[i]. */
  scatterAdd(shape: readonly number[], dtype: DType, axis: number, index: View, src: View): Storage;
  /**
   * Softmax (or log-softmax) over the last dim of a contiguous [rows, cols] input. Stable for masks: a row's
   * max is taken over finite entries; a row with no finite entry gives zeros (softmax) or -inf (log-softmax);
   * a row containing NaN gives NaN.
   */
  softmax(x: View, log: boolean): Storage;
  /** Layer normalisation over the last dim of a contiguous [rows, cols] input, with weight and bias [cols]. */
  layerNorm(x: View, weight: View, bias: View, eps: number): LayerNormResult;
  /**
   * Counter-based random numbers (Philox-4x32-10, see tensor/random.ts): element i of the result uses block
   * `offset + ⌊i/4⌋`, lane i mod 4, with key `seed`. The same (seed, offset) gives the same numbers on every
   * backend.
   */
  random(kind: RandomKind, dtype: DType, length: number, seed: number, offset: number): Storage;
  /**
   * Optional: one AdamW update of a parameter in a single pass (the optimiser's hot loop on a GPU). All
   * views are contiguous (offsets allowed) with p's shape and dtype; `mask` (0/1, optional) zeroes the new
   * parameter and both moments where it is 0. Per element, in this order:
   *   m' = β1·m + (1−β1)·g;  v' = β2·v + (1−β2)·g²;  p' = p·(1 − lr·wd) − (m' / (√v'/bc2Sqrt + eps))·(lr/bc1).
   * Returns fresh storages, or null where this device cannot run it; backends without it (or returning null)
   * get the same arithmetic as pointwise ops (optim/adamw-step.ts).
   */
  adamw?(p: View, g: View, m: View, v: View, mask: View | null, h: AdamWStep): AdamWResult | null;
  /**
   * Optional: PRILoRA's input statistics in one pass. x: contiguous [rows, cols]; rowMask: contiguous [rows]
   * of 0/1 in x's dtype, or null; prev: contiguous [cols]. Returns [cols]:
   *   β·prev[c] + (1 − β)·√(Σ_r mask[r]·x[r, c]²), rows with mask 0 skipped (not multiplied by 0).
   * Null where this device cannot; the caller then uses ops (prilora/statistics.ts).
   */
  columnNormEma?(x: View, rowMask: View | null, prev: View, beta: number): Storage | null;

  /** Optional: one line naming where the kernels run (vendor, architecture, API), for logs. */
  describe?(): string;
  /** Optional: the number of worker threads the kernels use (the CPU fast path); n ≥ 1. */
  setThreads?(n: number): void;
  /**
   * Optional, for backends that may run work elsewhere than they claim: the kernel mode proven at start
   * (gpu.js can silently fall back to CPU kernels) and the ops run on the host instead, counted per op
   * since start or the last reset.
   */
  readonly kernelMode?: { mode: string; kernelClass: string };
  fallbackCounts?(): Record<string, number>;
  resetFallbackCounts?(): void;
}
