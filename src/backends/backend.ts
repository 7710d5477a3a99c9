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

/** Gradients of layer norm: dx [rows, cols]; dweight and dbias [cols], null when not asked for. */
export interface LayerNormGrads {
  dx: Storage;
  dweight: Storage | null;
  dbias: Storage | null;
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

/** One parameter of a multi-tensor AdamW update (Backend.adamwAll): adamw's operands and its group's decay. */
export interface AdamWItem {
  p: View;
  g: View;
  m: View;
  v: View;
  mask: View | null;
  weightDecay: number;
  /**
   * p, m and v are held by nothing but the caller's tensors: the backend may update them where they are and
   * return their own storages as the result (the caller then keeps its tensors as they are).
   */
  inPlace?: boolean;
}

export interface AdamWResult {
  p: Storage;
  m: Storage;
  v: Storage;
}

/** What Backend.matmulEpilogue does to a product besides computing it; absent members do nothing. */
export interface MatmulEpilogue {
  scale?: number;
  /** 1-d [n] (any stride), added to every row */
  bias?: View | null;
  /** a contiguous view (offset allowed) of the output's shape [...batch, m, n] */
  addend?: View | null;
  /** a second product of the output's shape, a: [...batch, m, k2], b: [...batch, k2, n] (any strides) */
  plus?: { a: View; b: View } | null;
}

/** One row of a kernel census: the dispatches of one kernel variant on operands of one shape. */
export interface CensusRow {
  /** the kernel variant the backend chose (e.g. 'matmul tiled 128x128x8') */
  kernel: string;
  /** operand shapes as the backend states them (e.g. '4096x768 · 768x768ᵀ') */
  shape: string;
  count: number;
  /** summed over the dispatches: floating-point operations (multiply-add = 2) and bytes moved (each operand element once) */
  flops: number;
  bytes: number;
  /** summed GPU time from timestamp queries; null where the device has none (or in a dry run) */
  seconds: number | null;
}

export interface CensusReport {
  dispatches: number;
  /** where the times come from */
  timing: 'timestamp-query' | 'none';
  /** true when nothing ran: kernels were chosen and counted only */
  dryRun: boolean;
  rows: CensusRow[];
}

/** What a recorded region reports when it ends (StepReplays.record). */
export interface RegionResult {
  /** the storages a replay hands back, in this order */
  outputs: readonly Storage[];
  /** everything else a replay must reproduce on the host side (layouts, which parameters got gradients) */
  signature: string;
  /** how far each random generator advanced during the region (a replay's random offsets move by these) */
  strides: readonly number[];
}

/** Recorded-step replay, like CUDA graphs (src/backends/webgpu/replay.ts says what makes it safe). */
export interface StepReplays {
  /**
   * Run `region` (synchronous) live, recording the commands it issues under `key`; `inputs`: storages made
   * before it that a replay refreshes. Once two consecutive recordings under a key agree, it is replayable.
   */
  record(key: string, inputs: readonly Storage[], region: () => RegionResult): void;
  /**
   * Re-issue the replayable recording under `key` with `inputs` copied into the recorded inputs: its output
   * storages (lent by the recording, valid until its next replay) and signature, or null where it may not.
   */
  replay(key: string, inputs: readonly Storage[]): { outputs: Storage[]; signature: string } | null;
  /** Drop every recording (the host decides differently from now on, e.g. pruning added masks). */
  invalidate(reason: string): void;
  /** regions recorded and replayed since start, and why the last replay was refused */
  readonly stats: { recorded: number; replayed: number; refused: string | null };
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
   * Optional fused kernels of the forward and backward pass; each returns null where this device cannot
   * run it, and the ops then compose the same arithmetic from the primitives above (ops/fused.ts).
   *
   * matmulEpilogue: out = scale·(a @ b + plus.a @ plus.b) + bias + addend, operands as for `matmul` (see
   * MatmulEpilogue for the others).
   */
  matmulEpilogue?(a: View, b: View, e: MatmulEpilogue): Storage | null;
  /**
   * softmax(scale·x + mask) over the last dim of a contiguous [rows, cols] x, with `softmax`'s handling of
   * masked and non-finite entries; mask (or null) has shape [...d, cols] with Π d = rows, any strides
   * (attention's [batch, 1, 1, keys] padding mask expanded to [batch, heads, queries, keys]).
   */
  scaledMaskedSoftmax?(x: View, scale: number, mask: View | null): Storage | null;
  /**
   * The VJP of softmax (log-softmax with `log`) over the last dim of [rows, cols], from its output y and the
   * incoming gradient g, times `scale`: softmax dx = scale·y·(g − Σ g·y), log-softmax scale·(g − e^y Σ g).
   */
  softmaxBackward?(y: View, g: View, log: boolean, scale: number): Storage | null;
  /**
   * The VJP of `layerNorm` from its saved mean and rstd ([rows]): dx = rstd·(d − mean(d) − x̂·mean(d·x̂))
   * with x̂ = (x − mean)·rstd and d = g·weight; with `paramGrads` also Σ_rows g·x̂ and Σ_rows g.
   */
  layerNormBackward?(g: View, x: View, weight: View, mean: View, rstd: View, paramGrads: boolean): LayerNormGrads | null;
  /**
   * Optional multi-tensor kernels (gradient clipping over every gradient of a model in a few dispatches).
   * Inputs are contiguous float32 views (offsets allowed); null where the device cannot or will not.
   * sumOfSquares: Σ over every x of Σ x², as one-element storage. scaleAll: x · factor for every x, fresh
   * contiguous storages in order; factor is a one-element view.
   */
  sumOfSquares?(xs: readonly View[]): Storage | null;
  scaleAll?(xs: readonly View[], factor: View): Storage[] | null;
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
   * inPlace: no other view shares prev's storage, so the result may be written there and that storage
   * returned (a training step then binds the same buffer every time). Null where this device cannot; the
   * caller then uses ops (prilora/statistics.ts).
   */
  columnNormEma?(x: View, rowMask: View | null, prev: View, beta: number, inPlace?: boolean): Storage | null;
  /**
   * Optional: `adamw` for many parameters in few dispatches (multi-tensor), each item with its own weight
   * decay (h.weightDecay is not used); results in the items' order. Null where the device cannot (the
   * caller then updates parameter by parameter).
   */
  adamwAll?(items: readonly AdamWItem[], h: AdamWStep): AdamWResult[] | null;

  /**
   * Optional (device backends that queue work): resolves when every kernel recorded so far has run on the
   * device. Benchmarks time with it instead of reading a result back.
   */
  idle?(): Promise<void>;
  /** Optional: kernel dispatches recorded since start (benchmarks report them per step). */
  readonly dispatchCount?: number;
  /**
   * Optional: host seconds spent handing recorded work to the driver since start (part of the time ops
   * take to return; on a software device the driver runs the kernels there, so benchmarks subtract it).
   */
  readonly submitSeconds?: number;
  /**
   * Optional: start a per-kernel census of the dispatches that follow (a started census starts over).
   * `dryRun`: storages allocated from now on are placeholders and nothing is sent to the device — kernels
   * are only chosen and counted, so the census of a model too big or too slow for this device can still be
   * taken; every result is garbage (reads give zeros) until those storages are freed. `timestamps`: time
   * each dispatch where the device can (a pass per dispatch, so slower). Ends with `stopCensus`.
   */
  startCensus?(opts?: { dryRun?: boolean; timestamps?: boolean }): void;
  stopCensus?(): Promise<CensusReport>;
  /** Optional: recorded-step replay (src/train/replayed-step.ts drives it). */
  readonly replays?: StepReplays;

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
